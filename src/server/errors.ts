// One table of error codes: HTTP status and default message. Every error a client
// sees is `{error: {code, message}}` or an `error` event with one of these codes;
// client-error.ts gives every error class from below the server its code here, in one
// place. A turn that fails once running reports one of its own codes (TurnErrorCode,
// agent/turn-errors.ts), all in this table too; client-error.ts failedTurnStatus gives the
// status of a JSON answer that ended so.
import { upstreamCodes, type UpstreamCode } from '../llm/errors.ts';
import type { TurnErrorCode } from '../agent/turn-errors.ts';

type Entry = { status: number; message: string };
const upstream = (code: UpstreamCode, status = 502): Entry => ({ status, message: upstreamCodes[code].message });

export const errorCodes = {
  bad_request: { status: 400, message: 'The request is invalid.' },
  invalid_json: { status: 400, message: 'The body is not valid JSON.' },
  validation_error: { status: 400, message: 'The request failed validation.' },
  context_too_long: { status: 400, message: "The message does not fit the model's context window with the system prompt." },
  egress_denied: { status: 400, message: "A target is refused by this server's egress policy (AGENTMEM_EGRESS)." },
  unauthorized: { status: 401, message: 'A valid API key is required (Authorization: Bearer <key>).' },
  forbidden: { status: 403, message: 'This API key may not do that.' },
  not_found: { status: 404, message: 'Not found.' },
  method_not_allowed: { status: 405, message: 'Method not allowed.' },
  conflict: { status: 409, message: 'The resource already exists.' },
  payload_too_large: { status: 413, message: 'The body is larger than the configured limit.' },
  unsupported_media_type: { status: 415, message: 'Send the body as application/json.' },
  rate_limited: { status: 429, message: 'Too many requests.' },
  internal_error: { status: 500, message: 'Internal error.' },
  upstream_error: { status: 502, message: 'The model provider failed.' },
  upstream_timeout: { status: 504, message: 'The model sent no token in time.' },
  unavailable: { status: 503, message: 'The server is shutting down.' },
  storage_unavailable: { status: 503, message: 'The store is unavailable; retry after the time in Retry-After.' },
  shutting_down: { status: 503, message: 'The server is shutting down; retry (another instance will answer).' },
  // A turn's own codes, once it runs (in its stream, or its JSON answer).
  upstream_auth: upstream('upstream_auth'),
  upstream_bad_request: upstream('upstream_bad_request'),
  upstream_rate_limited: upstream('upstream_rate_limited'),
  upstream_quota: upstream('upstream_quota'),
  upstream_unavailable: upstream('upstream_unavailable'),
  upstream_network: upstream('upstream_network'),
  upstream_protocol: upstream('upstream_protocol'),
  upstream_content_filter: upstream('upstream_content_filter'),
  client_stalled: { status: 503, message: 'The client read too slowly; the answer was cut off.' },
  client_aborted: { status: 499, message: 'The client went away; the answer was cut off.' },
  cancelled: { status: 499, message: 'The turn was cancelled.' },
} as const satisfies Record<string, Entry> & Record<TurnErrorCode, Entry>;

export type ErrorCode = keyof typeof errorCodes;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message?: string) {
    super(message ?? errorCodes[code].message);
    this.code = code;
    this.status = errorCodes[code].status;
  }
}

/** A 404 that keeps what was not found (OpenAI's error codes name it: session_not_found). */
export class NotFoundError extends AppError {
  constructor(readonly what: string) {
    super('not_found', `${what} not found.`);
  }
}

export const notFound = (what: string) => new NotFoundError(what);

export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}
