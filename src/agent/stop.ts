// A turn stopped by the server rather than by its client: shutting down, or a client
// whose socket stayed full too long. It is the reason of the turn's AbortSignal, so the
// run can tell it from a client leaving: the answer is stored incomplete with this code
// and the client (if it still listens) gets an `error` event, not silence.
export class TurnStop extends Error {
  constructor(
    readonly code: 'shutting_down' | 'client_stalled',
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'TurnStop';
  }
  toInfo(): { code: string; message: string; retryable: boolean } {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

/** The server's reason for an aborted signal, if it was one. */
export function stopOf(signal: AbortSignal): { code: string; message: string; retryable: boolean } | undefined {
  const r: unknown = signal.aborted ? signal.reason : undefined;
  return r instanceof TurnStop ? r.toInfo() : undefined;
}

export const shuttingDown = () => new TurnStop('shutting_down', 'The server is shutting down; send the message again (another instance will answer).', true);
