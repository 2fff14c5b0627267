// One upstream connection pool, owned by the app: an undici Agent with keep-alive per
// origin. `warm` opens a connection to an origin that has no idle one, so a cold start
// pays the TCP/TLS handshake while memory is being recalled, not after. Every connection
// it opens passes the egress policy (egress.ts): model providers, embedders, HTTP tools,
// and the MCP servers to come, all through `dispatcher` (or `fetchVia(dispatcher)`).
import { Agent, fetch, type Dispatcher, type Pool as UndiciPool } from 'undici';
import { egressConnector, type EgressPolicy } from './egress.ts';

export interface UpstreamPool {
  readonly dispatcher: Dispatcher;
  /** open upstream connections, and how many of them are idle, over all origins */
  stats(): { open: number; idle: number };
  /** Opens a keep-alive connection to `origin` unless one is idle there or being warmed. Never throws. */
  warm(origin: string): Promise<void>;
  close(): Promise<void>;
}

export function createPool(opts: { keepAliveMs?: number; warmTimeoutMs?: number; egress?: EgressPolicy } = {}): UpstreamPool {
  const agent = new Agent({
    connect: egressConnector(opts.egress ?? { kind: 'any' }),
    keepAliveTimeout: opts.keepAliveMs ?? 60_000,
    keepAliveMaxTimeout: 10 * 60_000,
    // Streams can be silent for a long time (a slow model's first token): the
    // first-token deadline lives in the provider layer, not in socket timeouts.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  const warming = new Map<string, Promise<void>>();

  async function handshake(origin: string): Promise<void> {
    try {
      // reset: false, or undici closes the socket after a HEAD (and after any bodiless request)
      const res = await agent.request({ origin, path: '/', method: 'HEAD', reset: false, signal: AbortSignal.timeout(opts.warmTimeoutMs ?? 5_000) });
      await res.body.dump();
      // The body closes a moment before the pool marks its connection free again: a
      // request sent right now would open a second one.
      await new Promise((resolve) => setImmediate(resolve));
    } catch {
      // Warming is an optimization: the real request reports any real failure.
    }
  }

  return {
    dispatcher: agent,
    warm(origin) {
      // An idle connection is there to be used. (A connection that a concurrent request is
      // opening is that request's: it does not count.) The Agent keeps one Pool per origin.
      const here = (agent.stats as Record<string, UndiciPool['stats'] | undefined>)[origin];
      if (here && here.free > 0) return Promise.resolve();
      let pending = warming.get(origin);
      if (!pending) {
        pending = handshake(origin).finally(() => warming.delete(origin));
        warming.set(origin, pending);
      }
      return pending;
    },
    stats() {
      let open = 0;
      let idle = 0;
      // The Agent keeps one Pool per origin.
      for (const s of Object.values(agent.stats) as UndiciPool['stats'][]) {
        open += s.connected;
        idle += s.free;
      }
      return { open, idle };
    },
    close: () => agent.close(),
  };
}

/**
 * fetch through a dispatcher (the pool's), so its requests obey the egress policy.
 * HTTP tools use it; an MCP client's HTTP transport is to be given this same fetch.
 */
export function fetchVia(dispatcher: Dispatcher): typeof fetch {
  return (input, init) => fetch(input, { ...init, dispatcher });
}
