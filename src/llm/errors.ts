// Upstream failures with their context (url, status, body, retryable), so a caller
// can decide to retry and a client gets a clear `error` event. One table of codes.
import { egressDenial } from './egress.ts';
import type { UpstreamErrorInfo } from './types.ts';

export const upstreamCodes = {
  upstream_auth: { retryable: false, message: 'The model provider rejected the credentials.' },
  upstream_bad_request: { retryable: false, message: 'The model provider rejected the request.' },
  upstream_rate_limited: { retryable: true, message: 'The model provider is rate limiting.' },
  upstream_quota: { retryable: false, message: 'The model provider account has no quota left.' },
  upstream_unavailable: { retryable: true, message: 'The model provider failed or is unavailable.' },
  upstream_timeout: { retryable: true, message: 'The model sent no token in time.' },
  upstream_network: { retryable: true, message: 'The connection to the model provider broke.' },
  upstream_protocol: { retryable: false, message: 'The model provider sent something unreadable.' },
  upstream_content_filter: { retryable: false, message: 'The model provider stopped the answer (content filter).' },
  upstream_error: { retryable: false, message: 'The model provider reported an error.' },
  // AGENTMEM_EGRESS refused the connection: retrying cannot change that.
  egress_denied: { retryable: false, message: "This server's egress policy refuses the model provider's address." },
} as const;

export type UpstreamCode = keyof typeof upstreamCodes;

export class UpstreamError extends Error {
  readonly code: UpstreamCode;
  readonly retryable: boolean;
  readonly status?: number;
  readonly providerCode?: string;
  readonly url?: string;
  /** the provider's answer, capped */
  readonly body?: string;
  /** from Retry-After, when the provider sent one */
  readonly retryAfterMs?: number;

  constructor(
    code: UpstreamCode,
    message: string = upstreamCodes[code].message,
    ctx: { status?: number; providerCode?: string; url?: string; body?: string; retryAfterMs?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: ctx.cause });
    this.name = 'UpstreamError';
    this.code = code;
    this.retryable = ctx.retryable ?? upstreamCodes[code].retryable;
    this.status = ctx.status;
    this.providerCode = ctx.providerCode;
    this.url = ctx.url;
    this.body = ctx.body;
    this.retryAfterMs = ctx.retryAfterMs;
  }

  toInfo(): UpstreamErrorInfo {
    return { code: this.code, message: this.message, retryable: this.retryable, status: this.status, provider_code: this.providerCode };
  }
}

/** The usual meaning of an HTTP status from a model provider. */
export function codeForStatus(status: number): UpstreamCode {
  if (status === 401 || status === 403) return 'upstream_auth';
  if (status === 429) return 'upstream_rate_limited';
  if (status === 408 || status >= 500) return 'upstream_unavailable';
  return 'upstream_bad_request';
}

/** A transport failure (refused, reset, closed mid-body) as an UpstreamError. */
export function networkError(err: unknown, url: string): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const denied = egressDenial(err);
  if (denied) return new UpstreamError('egress_denied', denied.message, { url, cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new UpstreamError('upstream_network', `The connection to the model provider failed: ${message}`, { url, cause: err });
}

/** Retry-After as milliseconds (seconds or an HTTP date), capped. */
export function retryAfterMs(header: string | string[] | undefined, capMs = 30_000): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (!v) return undefined;
  const seconds = Number(v);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(v) - Date.now();
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, capMs) : undefined;
}

/** An error that travelled as a stream part, thrown again with its meaning intact. */
export function fromInfo(info: UpstreamErrorInfo): UpstreamError {
  const code = (info.code in upstreamCodes ? info.code : 'upstream_error') as UpstreamCode;
  return new UpstreamError(code, info.message, { status: info.status, providerCode: info.provider_code, retryable: info.retryable });
}

/** The `{"error": {code, message, type}}` body most providers answer with, if that is what it is. */
export function parseErrorBody(body: string): ProviderError | undefined {
  try {
    return providerError((JSON.parse(body) as { error?: unknown } | null)?.error);
  } catch {
    return undefined;
  }
}

export interface ProviderError {
  message?: string;
  code?: string;
  type?: string;
}

/** A provider's error object (an HTTP body's `error`, a stream's error event), its fields checked; undefined when it is not an object. */
export function providerError(e: unknown): ProviderError | undefined {
  if (!e || typeof e !== 'object') return undefined;
  const { message, code, type } = e as Record<string, unknown>;
  return {
    message: typeof message === 'string' ? message : undefined,
    code: code == null ? undefined : String(code),
    type: typeof type === 'string' ? type : undefined,
  };
}
