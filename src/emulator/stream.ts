// A streamed answer as a list of timed steps (plan), then played onto the socket.
// Planning is pure, so faults are just different plans: cut after half the tokens,
// end with a broken line, an error event, another finish reason, or a destroyed socket.
// Playing stops the moment the client leaves: every wait takes the request's signal.
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { completionTokens } from './answer.ts';
import type { Turn } from './turn.ts';
import type { Fault } from './faults.ts';
import {
  closingFrames,
  errorFrame,
  finishReasonFor,
  MALFORMED,
  openingFrames,
  reasoningFrame,
  textFrame,
  toolFrames,
  type Ident,
  type Usage,
} from './formats.ts';
import type { Pacing, PromptCount } from './profiles.ts';
import { writeFrame, type WriteMeter, type WriteMode } from './writer.ts';

export interface Step {
  /** ms to wait before writing */
  delay: number;
  data: string;
}

export interface Plan {
  /** played in order; lazy, so a `~repeat`ed answer of many MB costs no memory up front */
  steps: Iterable<Step>;
  /** 'destroy' drops the connection without ending the chunked body */
  ending: 'end' | 'destroy';
}

export function planStream(t: Ident, turn: Turn, prompt: PromptCount, pacing: Pacing, fault?: Fault): Plan {
  const usage = (completion: number): Usage => ({
    prompt_tokens: prompt.tokens,
    completion_tokens: completion,
    total_tokens: prompt.tokens + completion,
    cached_tokens: prompt.cached,
  });
  // The reasoning first, then one pass of the answer's frames; a repeated text plays it `repeat` times over.
  const thoughts = turn.reasoning.map((tok) => reasoningFrame(t, tok));
  const frames = turn.kind === 'text' ? turn.tokens.map((tok) => textFrame(t, tok)) : toolFrames(t, turn.calls);
  const total = thoughts.length + frames.length * (turn.kind === 'text' ? turn.repeat : 1);
  const frameAt = (i: number) => (i < thoughts.length ? thoughts[i]! : frames[(i - thoughts.length) % frames.length]!);
  let count = total;
  const finish = finishReasonFor(t.format, turn.kind === 'tools' ? 'tool_calls' : 'stop');
  let close = closingFrames(t, finish, usage(completionTokens(turn)), turn.kind === 'tools' ? turn.calls : []);
  let ending: Plan['ending'] = 'end';

  const half = total <= 1 ? total : Math.floor(total / 2);
  switch (fault) {
    case 'disconnect_mid':
      [count, close, ending] = [half, [], 'destroy'];
      break;
    case 'malformed_json':
      [count, close] = [half, [MALFORMED]];
      break;
    case 'error_event':
      [count, close] = [half, [errorFrame(t)]];
      break;
    case 'sensitive':
    case 'network_error':
      [count, close] = [half, closingFrames(t, finishReasonFor(t.format, fault), usage(half))];
      break;
  }

  function* steps(): Generator<Step> {
    for (const data of openingFrames(t, turn)) yield { delay: 0, data };
    for (let i = 0; i < count; i++) yield { delay: i === 0 ? pacing.firstTokenMs() : pacing.gapMs(), data: frameAt(i) };
    for (let i = 0; i < close.length; i++) yield { delay: i > 0 ? 0 : count ? pacing.gapMs() : pacing.firstTokenMs(), data: close[i]! };
  }
  return { steps: steps(), ending };
}

const BURST = 64;
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Writes the plan; returns early (no throw) once `signal` fires. `meter` counts what was written and the waits for `drain`. */
export async function playStream(res: ServerResponse, plan: Plan, mode: WriteMode, signal: AbortSignal, meter?: WriteMeter): Promise<void> {
  try {
    let burst = 0;
    for (const step of plan.steps) {
      if (step.delay > 0) {
        await sleep(step.delay, undefined, { signal });
        burst = 0;
      } else if (++burst >= BURST) {
        // unpaced: still let the event loop run now and then, so a hang-up is noticed
        burst = 0;
        await tick();
      }
      if (signal.aborted) return;
      await writeFrame(res, step.data, mode, signal, meter);
    }
    if (signal.aborted) return;
    if (plan.ending === 'destroy') dropConnection(res);
    else res.end();
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}

/** Resolves when the client leaves; holds no timer. */
export const untilAborted = (signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));

/** Cuts the connection mid-body (no chunked terminator), after what was written has left:
 *  a bare destroy() could discard it still queued. */
export function dropConnection(res: ServerResponse): void {
  const socket = res.socket;
  if (!socket) return;
  socket.end(() => socket.destroy());
}
