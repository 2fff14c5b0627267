// Cache invalidation across instances. Every in-process cache drops an entry the
// moment its row changes here; with REDIS_URL the same message reaches every
// other instance through Redis pub/sub, so no cache is ever left to expire wrong.
//
// Pub/sub delivers only to who is listening: while this instance cannot hear the
// channel (Redis down, a connection lost, its own heartbeat not coming back), a
// change made elsewhere would be missed. So the bus is then not `trusted()`, and the
// caches that depend on it answer from the database instead (CacheGuard); once it
// hears the channel again it clears every cache before trusting them again.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

export type CacheKind = 'agent' | 'api_key' | 'session' | 'user' | 'memories' | 'working';

/** What a cache asks before it answers from memory or keeps what it loaded. */
export interface CacheGuard {
  /** false while changes made on other instances may go unheard */
  trusted(): boolean;
  /** changes whenever trust is lost or regained: a load that spans a change is not kept */
  epoch(): number;
}

/** A cache guard that is always trusted (one instance, or a test). */
export const alwaysTrusted: CacheGuard = { trusted: () => true, epoch: () => 0 };

export type BusEvent =
  | { type: 'error'; connection: 'publish' | 'subscribe'; err: Error }
  /** the channel went deaf: caches now answer from the database */
  | { type: 'down'; reason: string }
  /** the channel is heard again; every cache was cleared */
  | { type: 'up'; downMs: number }
  | { type: 'publish_failed'; err: Error }
  /** another instance could not publish a change earlier and asked every cache cleared */
  | { type: 'cleared' };

/**
 * What changed, beside the key: lets a subscriber apply the change instead of dropping the
 * entry (a memory scope: the versions the write moved it through and the ids it touched).
 */
export interface Delta {
  /** the scope's version before the write */
  from: number;
  /** its version after it */
  to: number;
  ids: string[];
}

/**
 * What changed in a session, beside its id: lets an instance that holds the session's history
 * window patch it instead of reading it again (memory/session-deltas.ts). Without one, a
 * 'session' message means "drop it", as before (an older instance ignores `d`, and drops).
 */
export type SessionDelta =
  | {
      t: 'append';
      /** whose session it is (the message index files the messages under the user) */
      org: string;
      agent: string;
      user: string | null;
      /** the seq of the session's newest finished message before these (0: none), as the write saw it */
      after: number;
      /** the finished rows, oldest first (created_at as its JSON string) */
      m: unknown[];
    }
  /** the history window now starts at this seq (sessions.window_seq) */
  | { t: 'window'; seq: number };

/** The delta each kind of message may carry. */
export interface Deltas {
  memories: Delta;
  session: SessionDelta;
}
export type DeltaOf<K extends CacheKind> = K extends keyof Deltas ? Deltas[K] : never;

export type Subscriber<K extends CacheKind = CacheKind> = (id: string, delta?: DeltaOf<K>) => void;

export interface InvalidationBus extends CacheGuard {
  /** Drops `id` from every subscriber here and (with Redis) on every other instance. */
  publish<K extends CacheKind>(kind: K, id: string, delta?: DeltaOf<K>): void;
  /** Only the other instances: this one's cache was updated in place. */
  broadcast<K extends CacheKind>(kind: K, id: string, delta?: DeltaOf<K>): void;
  subscribe<K extends CacheKind>(kind: K, fn: Subscriber<K>): void;
  /** resolves once the Redis subscription is live (at once without Redis) */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export interface BusOptions {
  /** AGENTMEM_REDIS_PREFIX: two deployments sharing one Redis never hear each other */
  prefix?: string;
  onEvent?: (e: BusEvent) => void;
  /** how often this instance publishes a heartbeat to itself */
  heartbeatMs?: number;
  /** no heartbeat heard back for this long: the channel is deaf (a silent partition) */
  deafAfterMs?: number;
}

interface Message {
  /** the instance that sent it */
  o: string;
  /** '*': every kind (a sender whose publishes failed owes everyone a full clear); 'beat': heartbeat */
  k: CacheKind | '*' | 'beat';
  i: string;
  d?: Delta | SessionDelta;
}

export function createInvalidationBus(redisUrl?: string, opts: BusOptions = {}): InvalidationBus {
  const origin = randomUUID();
  const subscribers = new Map<CacheKind, Subscriber[]>();
  const deliver = (kind: CacheKind, id: string, delta?: Delta | SessionDelta) => {
    for (const fn of subscribers.get(kind) ?? []) (fn as (id: string, delta?: Delta | SessionDelta) => void)(id, delta);
  };
  const clearAll = () => {
    for (const kind of subscribers.keys()) deliver(kind, '*');
  };
  const subscribe = <K extends CacheKind>(kind: K, fn: Subscriber<K>) => void subscribers.set(kind, [...(subscribers.get(kind) ?? []), fn as Subscriber]);

  if (!redisUrl) {
    return { publish: deliver, broadcast: () => {}, subscribe, ready: async () => {}, close: async () => {}, ...alwaysTrusted };
  }

  const emit = opts.onEvent ?? (() => {});
  const channel = `${opts.prefix ?? 'agentmem:'}invalidate`;
  const heartbeatMs = opts.heartbeatMs ?? 1_000;
  const deafAfterMs = opts.deafAfterMs ?? 5_000;

  const pub = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 });
  const sub = new Redis(redisUrl, { lazyConnect: false });
  pub.on('error', (err: Error) => emit({ type: 'error', connection: 'publish', err }));
  sub.on('error', (err: Error) => emit({ type: 'error', connection: 'subscribe', err }));

  // Trusted only between a confirmed (re)subscription followed by a full clear, and the
  // first sign of deafness. `epoch` counts those transitions.
  let listening = false;
  let epoch = 0;
  let lastBeat = 0;
  let downSince: number | undefined = Date.now();
  // A publish failed: the others may have missed one of our changes, so once we can
  // publish again we tell them to clear everything.
  let owed = false;
  let closed = false;

  const goDeaf = (reason: string) => {
    if (!listening || closed) return;
    listening = false;
    epoch++;
    downSince = Date.now();
    emit({ type: 'down', reason });
  };
  const hear = () => {
    lastBeat = Date.now();
    if (listening) return;
    // Whatever changed while deaf was not heard: drop it all, then trust again.
    clearAll();
    listening = true;
    epoch++;
    const downMs = downSince === undefined ? 0 : Date.now() - downSince;
    downSince = undefined;
    // The first connect is news only when Redis was not there at start.
    if (epoch > 1 || downMs >= 1_000) emit({ type: 'up', downMs });
  };

  const send = (msg: Message) =>
    pub.publish(channel, JSON.stringify(msg)).then(
      () => {
        if (owed && msg.k !== '*') {
          owed = false;
          void send({ o: origin, k: '*', i: '*' });
        }
      },
      (err: Error) => {
        if (msg.k !== 'beat') {
          owed = true;
          emit({ type: 'publish_failed', err });
        }
      },
    );

  // (Re)subscribes explicitly on every connect, and trusts the caches only once Redis
  // confirmed it: a message sent before that moment is covered by the clear in hear().
  const subscribed = new Promise<void>((resolve) => {
    const onReady = () => {
      sub.subscribe(channel).then(
        () => {
          hear();
          resolve();
        },
        () => {}, // the connection went again; the next 'ready' retries
      );
    };
    sub.on('ready', onReady);
  });
  sub.on('close', () => goDeaf('connection to Redis closed'));
  pub.on('close', () => goDeaf('publishing connection to Redis closed'));
  sub.on('message', (_channel: string, raw: string) => {
    let msg: Message;
    try {
      msg = JSON.parse(raw) as Message;
    } catch {
      return; // not ours
    }
    if (msg.o === origin) {
      if (msg.k === 'beat' && pub.status === 'ready') hear();
      return;
    }
    if (msg.k === 'beat') return;
    if (msg.k !== '*') return deliver(msg.k, msg.i, msg.d);
    clearAll();
    emit({ type: 'cleared' });
  });

  // The heartbeat: our own message coming back proves both connections carry traffic,
  // which a socket that looks open (a silent partition) does not.
  const beat = setInterval(() => {
    if (closed) return;
    if (listening && Date.now() - lastBeat > deafAfterMs) goDeaf(`no heartbeat for ${deafAfterMs} ms`);
    if (pub.status === 'ready') void send({ o: origin, k: 'beat', i: '' });
  }, heartbeatMs);
  beat.unref();

  const broadcast = (kind: CacheKind, id: string, delta?: Delta | SessionDelta) =>
    void send(delta ? { o: origin, k: kind, i: id, d: delta } : { o: origin, k: kind, i: id });
  return {
    publish(kind, id, delta) {
      deliver(kind, id, delta);
      broadcast(kind, id, delta);
    },
    broadcast,
    subscribe,
    ready: () => subscribed,
    trusted: () => listening && pub.status === 'ready',
    epoch: () => epoch,
    async close() {
      closed = true;
      clearInterval(beat);
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}
