// Errors as values with the server's code: every 4xx/5xx answer is `{error: {code, message}}`
// (the server's one table of codes, generated into schema.ts as ErrorCode).
import type { components } from './schema.ts';

/** A code of the server's error table, or another a failed turn reported (upstream_error, client_aborted, …). */
export type ErrorCode = components['schemas']['ErrorCode'] | (string & {});

export type ErrorBody = components['schemas']['ErrorBody'];

export class AgentmemError extends Error {
  override readonly name = 'AgentmemError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** the HTTP status (0: no answer came, the network failed) */
    readonly status: number,
    /** worth sending again (a 429, 503 or 504, or a stream error that says so) */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export const isAgentmemError = (err: unknown, code?: ErrorCode): err is AgentmemError =>
  err instanceof AgentmemError && (code === undefined || err.code === code);

const retryableStatus = (status: number) => status === 429 || status === 503 || status === 504;

/** The error a non-2xx response carries (its body read here). */
export async function errorOf(res: Response): Promise<AgentmemError> {
  let body: Partial<ErrorBody> | undefined;
  try {
    body = (await res.json()) as Partial<ErrorBody>;
  } catch {}
  const code = body?.error?.code ?? (res.status === 404 ? 'not_found' : 'internal_error');
  return new AgentmemError(code, body?.error?.message ?? `${res.status} ${res.statusText}`, res.status, retryableStatus(res.status));
}

/** The error an openapi-fetch answer carries in `error`, as an AgentmemError. */
export function toAgentmemError(error: unknown, res: Response): AgentmemError {
  const e = (error as Partial<ErrorBody> | undefined)?.error;
  return new AgentmemError(e?.code ?? 'internal_error', e?.message ?? `${res.status} ${res.statusText}`, res.status, retryableStatus(res.status));
}
