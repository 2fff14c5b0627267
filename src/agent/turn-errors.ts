// How a turn fails. Before any byte streams: a ChatInputError (answered 4xx). Once running:
// one of TurnErrorCode, carried by the `error` event (events.ts) and RunResult.error, and
// each in the server's error table (server/errors.ts) with its status.
import { upstreamCodes, type UpstreamCode } from '../llm/errors.ts';

/** The server stopped the turn (stop.ts): shutting down, or a client whose socket stayed full too long. */
export type StopCode = 'shutting_down' | 'client_stalled';

/** Why a request cannot run (ChatInputError): answered 4xx, or, found once its stream is open, as its `error` event. */
export type InputErrorCode = 'not_found' | 'bad_request' | 'context_too_long';

export type TurnErrorCode =
  | UpstreamCode
  | StopCode
  /** the session was deleted (through another instance) as the turn began */
  | InputErrorCode
  /** the user's message or the answer could not be stored */
  | 'storage_unavailable'
  /** the client went away (the answer is stored incomplete; a resumed stream is told) */
  | 'client_aborted'
  /** a WebSocket client cancelled its turn */
  | 'cancelled'
  | 'internal_error';

export interface TurnError {
  code: TurnErrorCode;
  message: string;
  retryable: boolean;
}

/** A request that cannot run (unknown session, wrong user, too long): answered 4xx before any byte streams. */
export class ChatInputError extends Error {
  constructor(
    readonly code: InputErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ChatInputError';
  }
}

/** A code a provider's stream part carries (a string on the wire between the llm layer's parts). */
export const isUpstreamCode = (code: string): code is UpstreamCode => Object.hasOwn(upstreamCodes, code);
