// The streaming run: one chat turn from the user's message to the stored answer, in three
// phases: begin the turn (turn-begin.ts), stream the steps (turn-steps.ts), finish the
// turn (turn-finish.ts). Independent work (storing the user's message, recall, making the
// upstream connection ready) runs at once; nothing waits that the first token does not need.
// The types the phases share are in turn-types.ts; imports run one way, from here down.
import type { Timings } from '../trace/timings.ts';
import type { ReadyAgent } from './cache.ts';
import type { EventSink } from './events.ts';
import { beginTurn } from './turn-begin.ts';
import { turnContext } from './turn-context.ts';
import { finishTurn } from './turn-finish.ts';
import { streamSteps } from './turn-steps.ts';
import type { ChatInput, RunDeps, RunResult } from './turn-types.ts';

/**
 * Runs one turn, its events to `sink`. Throws a ChatInputError (turn-errors.ts) when the
 * request cannot run, before any event; once running, a failure ends in an `error` event
 * and RunResult.error.
 */
export async function runChat(deps: RunDeps, agent: ReadyAgent, input: ChatInput, sink: EventSink, signal: AbortSignal, timings: Timings): Promise<RunResult> {
  const turn = turnContext(deps, agent, input, sink, signal, timings);
  try {
    const begun = await beginTurn(turn);
    const answer = await streamSteps(turn, begun);
    return await finishTurn(turn, begun, answer);
  } finally {
    turn.end();
  }
}
