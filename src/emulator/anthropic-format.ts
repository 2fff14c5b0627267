// Anthropic's Messages API, byte for byte: named SSE events (`event: <type>` then
// `data: {"type": <type>, …}`), in this order: message_start (the prompt's usage, cache
// fields included, output_tokens 1), ping, then per content block content_block_start /
// content_block_delta… / content_block_stop (thinking first: thinking_delta then one
// signature_delta; text: text_delta; tool_use: input_json_delta, an empty one first),
// message_delta (stop_reason, output_tokens), message_stop. Errors mid-stream are an
// `error` event. Pacing and faults as in stream.ts; only the shapes live here.
import { randomBytes } from 'node:crypto';
import { completionTokens } from './answer.ts';
import type { CacheUsage } from './anthropic-cache.ts';
import type { Fault } from './faults.ts';
import type { Ident } from './formats.ts';
import type { Pacing } from './profiles.ts';
import type { Plan, Step } from './stream.ts';
import { tokenize } from './tokens.ts';
import type { Turn } from './turn.ts';

export const event = (data: { type: string; [field: string]: unknown }): string => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
/** a `data:` line cut off inside its JSON (fault `malformed_json`) */
const MALFORMED = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"\n\n';

export type Outcome = 'stop' | 'tool_calls' | 'sensitive' | 'length';

/** The stop reason each outcome has (`sensitive`: the streaming classifiers' refusal; `length`: max_tokens reached). */
export function stopReasonFor(outcome: Outcome): string {
  return outcome === 'tool_calls' ? 'tool_use' : outcome === 'sensitive' ? 'refusal' : outcome === 'length' ? 'max_tokens' : 'end_turn';
}

const usageOf = (c: CacheUsage, output: number) => ({
  input_tokens: c.input_tokens,
  cache_creation_input_tokens: c.cache_creation_input_tokens,
  cache_read_input_tokens: c.cache_read_input_tokens,
  output_tokens: output,
  service_tier: 'standard',
});

const signature = () => randomBytes(48).toString('base64');

export function errorEvent(type = 'overloaded_error', message = 'Overloaded'): string {
  return event({ type: 'error', error: { type, message } });
}

/** The stream of one answer as timed steps; lazy, so a `~repeat`ed answer costs no memory up front. */
/** `cut`: the answer was cut at max_tokens. */
export function planMessagesStream(t: Ident, turn: Turn, cache: CacheUsage, pacing: Pacing, fault?: Fault, cut = false): Plan {
  const thinks = turn.reasoning.length > 0;
  const first = thinks ? 1 : 0; // index of the answer's first block
  const pieces = turn.kind === 'tools' ? turn.calls.map((c) => argumentPieces(c.arguments)) : [];
  const answerUnits = turn.kind === 'text' ? turn.tokens.length * turn.repeat : pieces.reduce((n, p) => n + p.length + 1, 0);
  const total = turn.reasoning.length + answerUnits;
  let count = total;
  let outcome: Outcome = cut ? 'length' : turn.kind === 'tools' ? 'tool_calls' : 'stop';
  let close: 'finish' | 'malformed' | 'error' | 'api_error' | 'none' = 'finish';
  let ending: Plan['ending'] = 'end';
  const half = total <= 1 ? total : Math.floor(total / 2);
  switch (fault) {
    case 'disconnect_mid':
      [count, close, ending] = [half, 'none', 'destroy'];
      break;
    case 'malformed_json':
      [count, close] = [half, 'malformed'];
      break;
    case 'error_event':
      [count, close] = [half, 'error'];
      break;
    case 'network_error':
      [count, close] = [half, 'api_error'];
      break;
    case 'sensitive':
      [count, outcome] = [half, 'sensitive'];
      break;
  }

  /** Each unit: the events of one paced step, and the block left open after it. */
  function* units(): Generator<{ data: string; open: number }> {
    let i = 0;
    for (const tok of turn.reasoning) {
      const start = i++ === 0 ? event({ type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }) : '';
      yield { data: start + event({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: tok } }), open: 0 };
    }
    const endThinking = thinks
      ? event({ type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: signature() } }) +
        event({ type: 'content_block_stop', index: 0 })
      : '';
    if (turn.kind === 'text') {
      let opened = false;
      for (let r = 0; r < turn.repeat; r++) {
        for (const tok of turn.tokens) {
          const start = opened ? '' : endThinking + event({ type: 'content_block_start', index: first, content_block: { type: 'text', text: '' } });
          opened = true;
          yield { data: start + event({ type: 'content_block_delta', index: first, delta: { type: 'text_delta', text: tok } }), open: first };
        }
      }
      return;
    }
    let before = endThinking;
    for (let k = 0; k < turn.calls.length; k++) {
      const call = turn.calls[k]!;
      const index = first + k;
      const start = event({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: call.id, name: call.name, input: {} } });
      yield { data: before + start + inputDelta(index, ''), open: index };
      before = '';
      for (const piece of pieces[k]!) yield { data: inputDelta(index, piece), open: index };
      before = event({ type: 'content_block_stop', index });
    }
  }

  function* steps(): Generator<Step> {
    yield { delay: 0, data: event({ type: 'message_start', message: messageShell(t, usageOf(cache, 1)) }) + event({ type: 'ping' }) };
    let open = -1;
    let n = 0;
    for (const u of units()) {
      if (n >= count) break;
      yield { delay: n === 0 ? pacing.firstTokenMs() : pacing.gapMs(), data: u.data };
      open = u.open;
      n++;
    }
    const delay = count ? pacing.gapMs() : pacing.firstTokenMs();
    if (close === 'none') return;
    if (close === 'malformed') return void (yield { delay, data: MALFORMED });
    if (close === 'error') return void (yield { delay, data: errorEvent() });
    if (close === 'api_error') return void (yield { delay, data: errorEvent('api_error', 'Internal server error') });
    const output = outcome === 'sensitive' ? half : completionTokens(turn);
    yield {
      delay,
      data:
        (open >= 0 ? event({ type: 'content_block_stop', index: open }) : '') +
        event({ type: 'message_delta', delta: { stop_reason: stopReasonFor(outcome), stop_sequence: null }, usage: { output_tokens: output } }) +
        event({ type: 'message_stop' }),
    };
  }
  return { steps: steps(), ending };
}

/** The non-stream answer (`stream` false or absent). */
export function messageBody(t: Ident, turn: Turn, cache: CacheUsage, cut = false): string {
  const content: unknown[] = [];
  if (turn.reasoning.length) content.push({ type: 'thinking', thinking: turn.reasoning.join(''), signature: signature() });
  if (turn.kind === 'text') content.push({ type: 'text', text: turn.text.repeat(turn.repeat) });
  else for (const c of turn.calls) content.push({ type: 'tool_use', id: c.id, name: c.name, input: JSON.parse(c.arguments || '{}') });
  return JSON.stringify({
    ...messageShell(t, usageOf(cache, completionTokens(turn))),
    content,
    stop_reason: stopReasonFor(cut ? 'length' : turn.kind === 'tools' ? 'tool_calls' : 'stop'),
  });
}

function messageShell(t: Ident, usage: ReturnType<typeof usageOf>) {
  return { id: t.id, type: 'message', role: 'assistant', model: t.model, content: [], stop_reason: null, stop_sequence: null, usage };
}

const inputDelta = (index: number, partial: string) =>
  event({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: partial } });

/** The arguments in a few pieces, never splitting a character. */
function argumentPieces(args: string): string[] {
  const tokens = tokenize(args);
  const size = Math.max(1, Math.ceil(tokens.length / 3));
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i += size) out.push(tokens.slice(i, i + size).join(''));
  return out;
}
