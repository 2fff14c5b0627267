// What every wire format is: a function of the one event union (agent/events.ts) to the
// objects it sends, each one SSE `data:` frame (stream-turn.ts) or one WebSocket message
// (ws.ts). State a format needs (OpenAI's chunk id, the UI stream's open blocks) lives in
// the closure, one per response; an encoder writes nothing itself.
import type { AgentEvent } from '../../agent/events.ts';

export type Encoder = (event: AgentEvent) => readonly unknown[];

/** Native SSE and WebSocket: the event as it is. */
export const nativeEvents = (): Encoder => (event) => [event];
