// Fault injection, chosen per request with `~fault=` and limited with `~fail_times=N`
// (only the first N requests carrying the same option set fail; later ones succeed,
// which is how retries get tested).
import type { ErrorKind } from './errors.ts';
import { optionsKey } from './options.ts';

export const FAULTS = [
  '401',
  '429',
  '500',
  '503',
  /** accept the request, then send nothing at all until the client leaves */
  'hang_before_first_token',
  /** about half the tokens, then the socket is destroyed (no [DONE]) */
  'disconnect_mid',
  /** about half the tokens, then a `data:` line with broken JSON, then the end */
  'malformed_json',
  /** every SSE event written in pieces split inside multi-byte UTF-8 sequences */
  'split_utf8',
  /** the whole body written one byte per write */
  'drip',
  /** Zhipu: some tokens, then finish_reason "sensitive" (OpenAI format: "content_filter") */
  'sensitive',
  /** Zhipu: some tokens, then finish_reason "network_error" */
  'network_error',
  /** some tokens, then `data: {"error": …}` and the end */
  'error_event',
] as const;

export type Fault = (typeof FAULTS)[number];

/** Faults answered with an HTTP error before any stream starts. */
export const HTTP_FAULTS: Partial<Record<Fault, ErrorKind>> = {
  '401': 'auth_invalid',
  '429': 'rate_limited',
  '500': 'server_error',
  '503': 'unavailable',
};

const isFault = (x: string | undefined): x is Fault => (FAULTS as readonly string[]).includes(x as string);

/** Decides, request by request, whether the requested fault applies; counts per option set. */
export function createFaultGate(): (options: Record<string, string>) => Fault | undefined {
  const seen = new Map<string, number>();
  return (options) => {
    const fault = options.fault;
    if (!isFault(fault)) return undefined;
    if (options.fail_times === undefined) return fault;
    const key = optionsKey(options);
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    return n <= Number(options.fail_times) ? fault : undefined;
  };
}
