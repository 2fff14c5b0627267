// In-process BM25 indexes, one per scope (organization, agent, user), kept current in place.
//
// A scope is read from the store the first time a search needs it (a whole organization
// when a search spans it) and from then on every committed write here is applied to it
// directly: add, replace, remove — no re-index. A write on another instance (reported
// through the invalidation bus) marks its scope stale; the next search reads that one
// scope again. Writes that land while a scope is being read are queued and applied after
// the read, so the index never misses one (applying a write twice is harmless).
import { Bm25Index, searchIndexes, type Bm25Hit, type RankingOptions } from './bm25.ts';

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

export interface Corpus<D extends Indexed> {
  /** every document of one scope, or of the whole org (agentId undefined) */
  load(orgId: string, leaf?: { agentId: string | null; userId: string | null }): Promise<D[]>;
  /** the terms a document is indexed under */
  terms(doc: D): string[];
  /** how searches rank (bm25.ts); default: plain BM25 */
  ranking?: RankingOptions;
}

// `again`: an invalidation that arrived during a read, marked again after it (the read may predate the change).
type Change<D> = { put: D } | { remove: string; agentId: string | null; userId: string | null } | { again: () => void };

interface OrgState<D> {
  leaves: Map<string, Bm25Index<D>>;
  /** every scope of the org is loaded (a missing leaf is an empty one) */
  full: boolean;
  stale: Set<string>;
  /** reads in flight, and the writes that arrived meanwhile */
  loading: number;
  queued: Array<Change<D>>;
  lock: Promise<unknown>;
}

const leafKey = (agentId: string | null, userId: string | null) => `${agentId ?? ''}\u0001${userId ?? ''}`;

export function createScopeIndexes<D extends Indexed>(corpus: Corpus<D>) {
  const orgs = new Map<string, OrgState<D>>();

  const org = (orgId: string) => {
    let s = orgs.get(orgId);
    if (!s) orgs.set(orgId, (s = { leaves: new Map(), full: false, stale: new Set(), loading: 0, queued: [], lock: Promise.resolve() }));
    return s;
  };

  function applyTo(s: OrgState<D>, c: Change<D>): void {
    if ('again' in c) return c.again();
    const key = 'put' in c ? leafKey(c.put.agent_id, c.put.user_id) : leafKey(c.agentId, c.userId);
    let ix = s.leaves.get(key);
    if (!ix) {
      if (!s.full || s.stale.has(key)) return; // read in full when needed
      s.leaves.set(key, (ix = new Bm25Index<D>()));
    }
    if ('put' in c) ix.put(c.put.id, c.put, corpus.terms(c.put));
    else ix.remove(c.remove);
  }

  function build(docs: D[]): Map<string, Bm25Index<D>> {
    const leaves = new Map<string, Bm25Index<D>>();
    for (const d of docs) {
      const key = leafKey(d.agent_id, d.user_id);
      let ix = leaves.get(key);
      if (!ix) leaves.set(key, (ix = new Bm25Index<D>()));
      ix.put(d.id, d, corpus.terms(d));
    }
    return leaves;
  }

  /** Runs a read of the store under the org's lock, queueing writes meanwhile. */
  async function reading(s: OrgState<D>, work: () => Promise<void>): Promise<void> {
    const run = s.lock.then(async () => {
      s.loading++;
      try {
        await work();
      } finally {
        if (--s.loading === 0) {
          const queued = s.queued.splice(0);
          for (const c of queued) applyTo(s, c);
        }
      }
    });
    s.lock = run.catch(() => {});
    return run;
  }

  async function ensureLeaf(orgId: string, agentId: string | null, userId: string | null): Promise<Bm25Index<D> | undefined> {
    const s = org(orgId);
    const key = leafKey(agentId, userId);
    const ready = () => !s.stale.has(key) && (s.leaves.has(key) || s.full);
    if (!ready()) {
      await reading(s, async () => {
        if (ready()) return;
        const docs = await corpus.load(orgId, { agentId, userId });
        s.leaves.set(key, build(docs).get(key) ?? new Bm25Index<D>());
        s.stale.delete(key);
      });
    }
    return s.leaves.get(key);
  }

  async function ensureOrg(orgId: string): Promise<OrgState<D>> {
    const s = org(orgId);
    if (!s.full) {
      await reading(s, async () => {
        if (s.full) return;
        const leaves = build(await corpus.load(orgId));
        // scopes read before and kept current since are as new as this read (or newer)
        for (const [key, ix] of leaves) if (!s.leaves.has(key) || s.stale.has(key)) s.leaves.set(key, ix);
        for (const key of s.leaves.keys()) if (!leaves.has(key) && s.stale.has(key)) s.leaves.delete(key);
        s.stale.clear();
        s.full = true;
      });
    }
    for (const key of [...s.stale]) {
      const [a, u] = key.split('\u0001');
      await ensureLeaf(orgId, a || null, u || null);
    }
    return s;
  }

  return {
    /** The best `limit` documents of the scope for the query terms; `allow` restricts them. */
    async search(scope: IndexScope, terms: string[], limit: number, allow?: (doc: D) => boolean): Promise<Array<Bm25Hit<D>>> {
      let indexes: Array<Bm25Index<D>>;
      if (scope.agentId !== undefined && scope.userId !== undefined) {
        if (scope.agentIds && !scope.agentIds.includes(scope.agentId)) return [];
        const ix = await ensureLeaf(scope.orgId, scope.agentId, scope.userId);
        indexes = ix ? [ix] : [];
      } else {
        const s = await ensureOrg(scope.orgId);
        indexes = [];
        for (const [key, ix] of s.leaves) {
          const [a, u] = key.split('\u0001');
          const agent = a || null;
          const user = u || null;
          if (scope.agentId !== undefined && agent !== scope.agentId) continue;
          if (scope.agentIds && (agent === null || !scope.agentIds.includes(agent))) continue;
          if (scope.userId !== undefined && user !== scope.userId) continue;
          indexes.push(ix);
        }
      }
      return searchIndexes(indexes, terms, limit, allow, corpus.ranking);
    },

    /**
     * A committed write here: applied in place — and, while the org is being read, again after
     * the read (a scope already loaded is searched meanwhile; the one being read is replaced).
     */
    put(orgId: string, doc: D): void {
      const s = orgs.get(orgId);
      if (!s) return;
      if (s.loading) s.queued.push({ put: doc });
      applyTo(s, { put: doc });
    },

    remove(orgId: string, doc: Pick<D, 'id' | 'agent_id' | 'user_id'>): void {
      const s = orgs.get(orgId);
      if (!s) return;
      const c: Change<D> = { remove: doc.id, agentId: doc.agent_id, userId: doc.user_id };
      if (s.loading) s.queued.push(c);
      applyTo(s, c);
    },

    /** Whether writes to this scope reach its index (it is loaded, or being read). */
    tracks(orgId: string, agentId: string | null, userId: string | null): boolean {
      const s = orgs.get(orgId);
      if (!s) return false;
      const key = leafKey(agentId, userId);
      return s.loading > 0 || (!s.stale.has(key) && (s.leaves.has(key) || s.full));
    },

    /** A document by id, if its scope is loaded. */
    get(orgId: string, agentId: string | null, userId: string | null, id: string): D | undefined {
      return orgs.get(orgId)?.leaves.get(leafKey(agentId, userId))?.get(id);
    },

    /** Another instance changed this scope (agentId '*': every agent of the user; org '*': everything). */
    invalidate(orgId: string, agentId: string | null | '*', userId: string | null): void {
      if (orgId === '*') return orgs.clear();
      const s = orgs.get(orgId);
      if (!s) return;
      const mark = () => {
        if (agentId === '*') {
          for (const key of s.leaves.keys()) if (key.split('\u0001')[1] === (userId ?? '')) s.stale.add(key);
          // a scope this instance never read may exist: an org-wide search must read it
          s.full = false;
        } else s.stale.add(leafKey(agentId, userId));
      };
      mark();
      if (s.loading) s.queued.push({ again: mark });
    },

    /** Forgets what org-wide reads kept (the bus was deaf); single scopes stay, each checked on next use. */
    dropWide(): void {
      for (const [orgId, s] of orgs) if (s.full) orgs.delete(orgId);
    },

    /** Forgets the org's scopes: read again on next use (an org-wide search while the bus is deaf). */
    dropOrg(orgId: string): void {
      orgs.delete(orgId);
    },
  };
}

export type ScopeIndexes<D extends Indexed> = ReturnType<typeof createScopeIndexes<D>>;
