// A turn stopped by the server rather than by its client: shutting down, or a client
// whose socket stayed full too long. It is the reason of the turn's AbortSignal, so the
// run can tell it from a client leaving: the answer is stored incomplete with this code
// and the client (if it still listens) gets an `error` event, not silence.
import type { StopCode, TurnError } from './turn-errors.ts';

export class TurnStop extends Error {
  constructor(
    readonly code: StopCode,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'TurnStop';
  }
  toInfo(): TurnError {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

/** The server's reason for an aborted signal, if it was one. */
export function stopOf(signal: AbortSignal): TurnError | undefined {
  const r: unknown = signal.aborted ? signal.reason : undefined;
  return r instanceof TurnStop ? r.toInfo() : undefined;
}

export const shuttingDown = () => new TurnStop('shutting_down', 'The server is shutting down; send the message again (another instance will answer).', true);
