// Cache invalidation across instances. Every in-process cache drops an entry the
// moment its row changes here; with REDIS_URL the same message reaches every
// other instance through Redis pub/sub, so no cache is ever left to expire wrong.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

export type CacheKind = 'agent' | 'api_key' | 'session' | 'user' | 'memories' | 'working';

export interface InvalidationBus {
  /** Drops `id` from every subscriber here and (with Redis) on every other instance. */
  publish(kind: CacheKind, id: string): void;
  /** Only the other instances: this one's cache was updated in place. */
  broadcast(kind: CacheKind, id: string): void;
  subscribe(kind: CacheKind, fn: (id: string) => void): void;
  /** resolves once the Redis subscription is live (at once without Redis) */
  ready(): Promise<void>;
  close(): Promise<void>;
}

const channel = 'agentmem:invalidate';

export function createInvalidationBus(redisUrl?: string, onError: (err: Error) => void = () => {}): InvalidationBus {
  const origin = randomUUID();
  const subscribers = new Map<CacheKind, Array<(id: string) => void>>();
  const deliver = (kind: CacheKind, id: string) => {
    for (const fn of subscribers.get(kind) ?? []) fn(id);
  };

  if (!redisUrl) {
    return {
      publish: deliver,
      broadcast: () => {},
      subscribe: (kind, fn) => void subscribers.set(kind, [...(subscribers.get(kind) ?? []), fn]),
      ready: async () => {},
      close: async () => {},
    };
  }

  const pub = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 });
  const sub = new Redis(redisUrl, { lazyConnect: false });
  pub.on('error', onError);
  sub.on('error', onError);
  const subscribed = sub.subscribe(channel).then(() => {});
  // A reconnect may have missed messages: drop everything rather than trust stale entries.
  sub.on('ready', () => {
    for (const kind of subscribers.keys()) deliver(kind, '*');
  });
  sub.on('message', (_channel: string, raw: string) => {
    try {
      const msg = JSON.parse(raw) as { o: string; k: CacheKind; i: string };
      if (msg.o !== origin) deliver(msg.k, msg.i);
    } catch {
      // not ours
    }
  });

  return {
    publish(kind, id) {
      deliver(kind, id);
      this.broadcast(kind, id);
    },
    broadcast(kind, id) {
      pub.publish(channel, JSON.stringify({ o: origin, k: kind, i: id })).catch(onError);
    },
    subscribe: (kind, fn) => void subscribers.set(kind, [...(subscribers.get(kind) ?? []), fn]),
    ready: () => subscribed,
    async close() {
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}
