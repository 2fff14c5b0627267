// What the three phases of a turn share (turn-begin, turn-steps, turn-finish): who asks,
// where the events go, the turn's own abort, and its place at the first-token gate.
import { linkAbort } from '../abort.ts';
import type { Timings } from '../trace/timings.ts';
import type { ReadyAgent } from './cache.ts';
import type { EventSink } from './events.ts';
import type { ChatInput, RunDeps } from './turn-types.ts';

export interface TurnContext {
  readonly deps: RunDeps;
  readonly agent: ReadyAgent;
  readonly input: ChatInput;
  readonly sink: EventSink;
  readonly timings: Timings;
  /** the request's signal: the client leaving, or the server stopping the turn (stop.ts) */
  readonly request: AbortSignal;
  /** the turn's own abort: the request's, or the user's message failing to store. Every stage before the first token stops on it. */
  readonly signal: AbortSignal;
  abort(): void;
  /** the user's message could not be stored: the answer is kept as incomplete */
  storeFailed: boolean;
  /** no part of the model's answer yet */
  waiting: boolean;
  /** The first part came (or the turn ended without one): leaves the gate, once. */
  firstToken(): void;
  /** Leaves the gate if still there, detaches from the request's signal. */
  end(): void;
}

/** Enters the gate; the request's signal, perhaps already fired (the client gone during auth), aborts the turn. */
export function turnContext(deps: RunDeps, agent: ReadyAgent, input: ChatInput, sink: EventSink, request: AbortSignal, timings: Timings): TurnContext {
  const link = linkAbort(request);
  const turn: TurnContext = {
    deps,
    agent,
    input,
    sink,
    timings,
    request,
    signal: link.signal,
    abort: link.abort,
    storeFailed: false,
    waiting: true,
    firstToken() {
      if (!turn.waiting) return;
      turn.waiting = false;
      deps.gate?.leave();
    },
    end() {
      turn.firstToken();
      link.release();
    },
  };
  deps.gate?.enter();
  return turn;
}
