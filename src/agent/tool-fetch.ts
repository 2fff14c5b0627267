// An HTTP tool's request with its redirects followed by hand. fetch's own following drops
// only `authorization` and `cookie` when a redirect leaves the origin, and would hand every
// other header — an `x-api-key` stored as the tool's secret — to wherever the Location
// points. Here each hop is a new request through the caller's fetch (the app's pool, so every
// connection passes AGENTMEM_EGRESS), and the tool's stored headers ride only the hops on the
// origin of its `url`, the one they are bound to (security.md, provider secrets).
import type { Response, fetch as undiciFetch } from 'undici';
import { egressDenial } from '../llm/egress.ts';

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface ToolRequest {
  url: URL;
  method: string;
  /** JSON, or undefined (GET, DELETE: the arguments are in the query) */
  body?: string;
  /** the tool's stored headers: sent only to `url`'s origin */
  secrets: Record<string, string>;
  signal: AbortSignal;
}

export type ToolResponse =
  /** `withheld`: the origin a redirect led to, where the stored headers were not sent */
  { res: Response; withheld?: string } | { error: string };

/** The final answer after at most 5 redirects, or why a redirect was not followed. Throws when the first request fails. */
export async function fetchFollowing(fetch: typeof undiciFetch, req: ToolRequest): Promise<ToolResponse> {
  const home = req.url.origin;
  let { url, method, body } = req;
  let withheld: string | undefined;
  for (let hops = 0; ; hops++) {
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(url.origin === home ? req.secrets : {}) },
        body,
        signal: req.signal,
        redirect: 'manual',
      });
    } catch (err) {
      const denied = hops > 0 && egressDenial(err);
      if (denied) return { error: `The tool's redirect to ${url.origin} was not followed: ${denied.message}` };
      throw err;
    }
    const location = REDIRECTS.has(res.status) ? res.headers.get('location') : null;
    if (location === null) return { res, withheld };
    await res.body?.cancel().catch(() => {});
    if (hops === MAX_REDIRECTS) return { error: `The tool redirected more than ${MAX_REDIRECTS} times.` };
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      return { error: `The tool redirected to an unreadable location: ${location.slice(0, 200)}` };
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') return { error: `The tool redirected to a ${next.protocol} URL, which is not followed.` };
    // As fetch does: a 303 (and a 301 or 302 after a POST) becomes a GET without a body.
    if ((res.status === 303 && method !== 'GET' && method !== 'HEAD') || ((res.status === 301 || res.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
    }
    url = next;
    if (url.origin !== home && Object.keys(req.secrets).length) withheld = url.origin;
  }
}
