// In-process BM25 indexes of the scopes searched lately, within a budget in bytes.
//
// What a search spans is read from the store once, as a group of leaf indexes (one per
// (agent, user) scope): one scope when the search names an agent and a user, all of a
// user's scopes when it names only the user, and so on down to a whole organization. The
// groups live in an LRU bounded in bytes (each group's size is its indexes' estimate,
// bm25.ts): the least recently used leave when a new one would not fit; a group larger than
// the whole budget answers its search and is not kept; a group with no documents is never
// kept (searching random user ids must not grow the heap). An evicted group is read again
// when next searched.
//
// Every committed write here is applied in place to each kept group that covers it: add,
// replace, remove — no re-index. A write on another instance (reported through the
// invalidation bus) drops the groups it touches; the next search reads them again. Writes
// that land while a group is being read are queued and applied after the read; an
// invalidation during a read keeps its result from being kept. The read is built in chunks
// that yield to the event loop, so a large scope's load does not hold up other requests
// (nor recall's budget timer).
import { LRUCache } from 'lru-cache';
import { Bm25Index, searchIndexesInSteps, type Bm25Hit, type RankingOptions } from './bm25.ts';
import * as keys from '../../keys.ts';

/** Which scopes a search spans: agentId/userId undefined: any; userId null: those without a user. */
export interface IndexScope {
  orgId: string;
  agentId?: string;
  agentIds?: string[];
  userId?: string | null;
}

export interface Indexed {
  id: string;
  agent_id: string | null;
  user_id: string | null;
}

/** The documents a load reads: agentId/userId undefined: any; null: none. */
export interface LoadScope {
  agentId?: string | null;
  userId?: string | null;
}

export interface Corpus<D extends Indexed> {
  /** every document of the scope */
  load(orgId: string, scope: LoadScope): Promise<D[]>;
  /** the terms a document is indexed under */
  terms(doc: D): string[];
  /** the bytes the index keeps for a document (the object and its strings), estimated */
  bytes(doc: D): number;
  /** how searches rank (bm25.ts); default: plain BM25 */
  ranking?: RankingOptions;
}

export interface IndexBounds {
  /** the budget of all kept groups together, in bytes (their estimate) */
  maxBytes: number;
}

export interface IndexStats {
  /** estimated bytes of the groups kept */
  bytes: number;
  /** groups kept (a scope, a user's scopes, an organization: what searches spanned) */
  entries: number;
  /** groups dropped to make room, since start */
  evictions: number;
  /** reads from the store, since start */
  loads: number;
}

type Change<D> = { put: D } | { remove: string; agentId: string | null; userId: string | null };

interface Group<D> {
  orgId: string;
  agentId: string | null | undefined;
  userId: string | null | undefined;
  leaves: Map<string, Bm25Index<D>>;
}

interface Load<D> {
  orgId: string;
  agentId: string | null | undefined;
  userId: string | null | undefined;
  promise: Promise<Group<D>>;
  queued: Array<Change<D>>;
  /** invalidated while reading: answer the search, do not keep */
  stale: boolean;
}

// Documents built between two yields to the event loop (~1–2 ms of work).
const BUILD_CHUNK = 500;
// A kept group's own cost beside its leaves (the LRU's entry, the Map, the key).
const GROUP_BYTES = 300;

// a group: the scope a search names (undefined: every agent / user); a leaf: one (agent, user) in it
const groupKey = keys.scopeKey;
const { leafKey } = keys;
const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export function createScopeIndexes<D extends Indexed>(corpus: Corpus<D>, bounds: IndexBounds) {
  let evictions = 0;
  let loads = 0;
  const groupBytes = (g: Group<D>) => {
    let n = GROUP_BYTES;
    for (const ix of g.leaves.values()) n += ix.bytes;
    return n;
  };
  // group keys kept, per organization: what an invalidation of one org walks
  const byOrg = new Map<string, Set<string>>();
  const cache = new LRUCache<string, Group<D>>({
    maxSize: Math.max(1, bounds.maxBytes),
    sizeCalculation: (g) => Math.max(1, groupBytes(g)),
    dispose: (g, key, reason) => {
      if (reason === 'evict') evictions++;
      if (reason === 'set') return; // the same group, its size recomputed
      const keys = byOrg.get(g.orgId);
      keys?.delete(key);
      if (keys && !keys.size) byOrg.delete(g.orgId);
    },
  });
  const loading = new Map<string, Load<D>>();

  function keep(key: string, g: Group<D>): void {
    if (!g.leaves.size) {
      cache.delete(key);
      return;
    }
    cache.set(key, g);
    if (!cache.has(key)) return void byOrg.get(g.orgId)?.delete(key); // larger than the whole budget
    let keys = byOrg.get(g.orgId);
    if (!keys) byOrg.set(g.orgId, (keys = new Set()));
    keys.add(key);
  }

  function applyTo(g: Group<D>, c: Change<D>): void {
    const key = 'put' in c ? leafKey(c.put.agent_id, c.put.user_id) : leafKey(c.agentId, c.userId);
    let ix = g.leaves.get(key);
    if ('put' in c) {
      if (!ix) g.leaves.set(key, (ix = new Bm25Index<D>(undefined, corpus.bytes)));
      ix.put(c.put.id, c.put, corpus.terms(c.put));
    } else if (ix) {
      ix.remove(c.remove);
      if (!ix.size) g.leaves.delete(key);
    }
  }

  /** The four group patterns that can hold a scope's documents. */
  const patterns = (orgId: string, agent: string | null, user: string | null) => [
    groupKey(orgId, agent, user),
    groupKey(orgId, undefined, user),
    groupKey(orgId, agent, undefined),
    groupKey(orgId, undefined, undefined),
  ];

  function change(orgId: string, agent: string | null, user: string | null, c: Change<D>): void {
    for (const key of patterns(orgId, agent, user)) {
      const l = loading.get(key);
      if (l) l.queued.push(c);
      const g = cache.peek(key);
      if (!g) continue;
      applyTo(g, c);
      keep(key, g);
    }
  }

  function load(orgId: string, agentId: string | null | undefined, userId: string | null | undefined): Load<D> {
    const key = groupKey(orgId, agentId, userId);
    const l: Load<D> = { orgId, agentId, userId, queued: [], stale: false, promise: undefined! };
    loading.set(key, l);
    loads++;
    l.promise = (async () => {
      try {
        const docs = await corpus.load(orgId, { agentId, userId });
        const g: Group<D> = { orgId, agentId, userId, leaves: new Map() };
        for (let i = 0; i < docs.length; i++) {
          applyTo(g, { put: docs[i]! });
          if (i % BUILD_CHUNK === BUILD_CHUNK - 1) await yieldTurn();
        }
        // writes committed meanwhile (applying one twice is harmless)
        for (const c of l.queued) applyTo(g, c);
        if (!l.stale) keep(key, g);
        return g;
      } finally {
        loading.delete(key);
      }
    })();
    return l;
  }

  function group(orgId: string, agentId: string | null | undefined, userId: string | null | undefined): Promise<Group<D>> | Group<D> {
    const key = groupKey(orgId, agentId, userId);
    return cache.get(key) ?? (loading.get(key) ?? load(orgId, agentId, userId)).promise;
  }

  /** Kept groups of the org (and loads in flight) matching `match`: dropped, or read again. */
  function drop(orgId: string, match: (g: { agentId: string | null | undefined; userId: string | null | undefined }) => boolean): void {
    for (const key of [...(byOrg.get(orgId) ?? [])]) {
      const g = cache.peek(key);
      if (g && match(g)) cache.delete(key);
    }
    for (const l of loading.values()) if ((orgId === '*' || l.orgId === orgId) && match(l)) l.stale = true;
  }

  return {
    /** The best `limit` documents of the scope for the query terms; `allow` restricts them. */
    async search(scope: IndexScope, terms: string[], limit: number, allow?: (doc: D) => boolean): Promise<Array<Bm25Hit<D>>> {
      if (scope.agentId !== undefined && scope.agentIds && !scope.agentIds.includes(scope.agentId)) return [];
      const g = await group(scope.orgId, scope.agentId, scope.userId);
      const indexes: Array<Bm25Index<D>> = [];
      for (const [key, ix] of g.leaves) {
        const agent = keys.agentOfLeafKey(key);
        if (scope.agentIds && (agent === null || !scope.agentIds.includes(agent))) continue;
        indexes.push(ix);
      }
      return searchIndexesInSteps(indexes, terms, limit, allow, corpus.ranking);
    },

    /** Whether the scope's documents are in memory (a search of it reads no store). */
    warm(scope: IndexScope): boolean {
      return cache.has(groupKey(scope.orgId, scope.agentId, scope.userId));
    },

    /** Starts reading the scope into memory, unless it is there or on its way. */
    warmUp(scope: IndexScope): Promise<unknown> {
      return Promise.resolve(group(scope.orgId, scope.agentId, scope.userId));
    },

    /** A committed write here: applied in place to every kept group holding its scope (or queued while one is being read). */
    put(orgId: string, doc: D): void {
      change(orgId, doc.agent_id, doc.user_id, { put: doc });
    },

    remove(orgId: string, doc: Pick<D, 'id' | 'agent_id' | 'user_id'>): void {
      change(orgId, doc.agent_id, doc.user_id, { remove: doc.id, agentId: doc.agent_id, userId: doc.user_id });
    },

    /** Every kept document of the org that `match` picks leaves; groups being read are read again. */
    removeWhere(orgId: string, match: (doc: D) => boolean): void {
      for (const key of [...(byOrg.get(orgId) ?? [])]) {
        const g = cache.peek(key);
        if (!g) continue;
        for (const ix of g.leaves.values())
          for (const d of [...ix.values()]) if (match(d)) applyTo(g, { remove: d.id, agentId: d.agent_id, userId: d.user_id });
        keep(key, g);
      }
      for (const l of loading.values()) if (l.orgId === orgId) l.stale = true;
    },

    /** Whether writes to this scope reach an index (one holding it is kept, or being read). */
    tracks(orgId: string, agentId: string | null, userId: string | null): boolean {
      return patterns(orgId, agentId, userId).some((key) => cache.has(key) || loading.has(key));
    },

    /** The scope's kept index, if any group holding it is kept. */
    leaf(orgId: string, agentId: string | null, userId: string | null): Bm25Index<D> | undefined {
      for (const key of patterns(orgId, agentId, userId)) {
        const g = cache.peek(key);
        if (g) return g.leaves.get(leafKey(agentId, userId));
      }
      return undefined;
    },

    /** A document by id, if its scope is kept. */
    get(orgId: string, agentId: string | null, userId: string | null, id: string): D | undefined {
      return this.leaf(orgId, agentId, userId)?.get(id);
    },

    /** Forgets what reads wider than one scope kept (the bus was deaf); single scopes stay, each checked on next use (memory-sync.ts). */
    dropWide(): void {
      for (const orgId of [...byOrg.keys()]) drop(orgId, (g) => g.agentId === undefined || g.userId === undefined);
    },

    /** Forgets the org's scopes: read again on next use (an org-wide search while the bus is deaf). */
    dropOrg(orgId: string): void {
      drop(orgId, () => true);
    },

    /** Another instance changed this scope (agentId '*': every agent of the user; org '*': everything). */
    invalidate(orgId: string, agentId: string | null | '*', userId: string | null): void {
      if (orgId === '*') {
        cache.clear();
        for (const l of loading.values()) l.stale = true;
        return;
      }
      drop(orgId, (g) => (agentId === '*' || g.agentId === undefined || g.agentId === agentId) && (g.userId === undefined || g.userId === userId));
    },

    stats(): IndexStats {
      return { bytes: cache.calculatedSize, entries: cache.size, evictions, loads };
    },
  };
}
