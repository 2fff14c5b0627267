// The JSON API client of tests, the bench and the scripts: one request, the answer's
// status, headers and parsed body (the raw text when it is not JSON). It never throws on
// a status: callers assert what they expect.
export interface ApiOptions {
  /** another key than the default one; null: no authorization header */
  key?: string | null;
  body?: unknown;
  /** a body sent as is (malformed JSON, another content type) */
  raw?: string;
  headers?: Record<string, string>;
}

export type Api = (method: string, path: string, opts?: ApiOptions) => Promise<ApiAnswer>;

export interface ApiAnswer {
  status: number;
  // Deliberately loose: whatever JSON the route answered, read by tests, the bench and the
  // scripts as they expect it (and asserted there); typing each route's answer here would
  // duplicate the server's schemas.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  headers: Headers;
}

export function apiClient(url: string, defaultKey: string): Api {
  return async (method, path, opts = {}) => {
    const key = opts.key === undefined ? defaultKey : opts.key;
    const headers: Record<string, string> = { ...opts.headers };
    if (key) headers.authorization = `Bearer ${key}`;
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers };
  };
}
