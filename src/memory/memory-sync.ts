// Keeps this instance's memory indexes (memory-index.ts) current with writes made on other
// instances, by deltas rather than reloads, and proves them current before a search.
//
// Every write to a scope's memories bumps the scope's version in its transaction (migration
// 014) and the bus carries {from, to, ids}. Here each loaded scope has the version it is
// current to: a delta that continues it (from ≤ version < to) is applied — the named rows
// read again by id, put or removed — in order, one scope at a time; one that arrives while
// the scope is being read waits for the read's version and is applied after it. A search
// first compares the scope's version with the store's (one primary-key read; with
// `check: 'bus-down'` only while the bus cannot be trusted, or once after it comes back) and
// reads the scope again only when they differ: a delta the bus lost, or that came out of
// order, costs one reload, never a stale answer.
import { LRUCache } from 'lru-cache';
import type { Db } from '../store/db.ts';
import type { CacheGuard, Delta } from '../store/invalidation.ts';
import { groupCommit } from '../store/group-commit.ts';
import { memoryDocsByIds, scopeVersion, scopeVersions, type ScopeRef } from '../store/repos/scope-versions.ts';
import type { IndexScope } from './lexical/scope-indexes.ts';
import type { MemoryIndex } from './memory-index.ts';
import { scopeKey } from './predictive.ts';
import * as keys from '../keys.ts';

/** A delta naming more ids than this is not read row by row: the scope is read again. */
export const MAX_DELTA_IDS = 500;

/** Deltas kept per scope while an earlier one has not been applied yet. */
const MAX_AHEAD = 64;

/** How long a search waits for this instance's own committed write to reach its index before reading the scope again. */
export const OWN_WRITE_WAIT_MS = 1_000;

export interface MemorySyncOptions {
  db: Db;
  guard: CacheGuard;
  /** 'always': every search of a scope checks its version (a store shared by instances); 'bus-down': only while the bus is deaf */
  check: 'always' | 'bus-down';
  /** scopes whose version is remembered (an LRU; a forgotten one is read again on next use) */
  maxScopes: number;
}

type Sync = Pick<MemoryIndex, 'put' | 'remove' | 'tracks' | 'invalidate' | 'dropWide' | 'dropOrg'>;

interface Own {
  /** the highest version this instance's writes in flight move the scope to */
  to: number;
  timer: NodeJS.Timeout;
  /** searches whose version read saw one of these writes committed */
  waiting: Array<{ version: number; resolve(): void }>;
}

interface Known {
  version: number;
  /** the recovery epoch it was last checked in */
  epoch: number;
}

export function createMemorySync(opts: MemorySyncOptions) {
  const { db, guard } = opts;
  // The version reads (one per search on PostgreSQL) grouped like the turn's writes: alone at
  // once, those asked while one is out together as the next statement, which begins after they
  // asked — so many streams take one pool connection for their reads, not one each.
  const readVersion = groupCommit<ScopeRef & { orgId: string }, number>({
    one: (s) => scopeVersion(db, s.orgId, s.agentId, s.userId),
    many: (scopes) => scopeVersions(db, scopes),
    inflight: 1,
    maxBatch: 256,
  });
  let index: Sync | undefined;
  // Deltas applied ahead of the version a scope is current to (two writes to one scope can
  // announce out of order): from → to, per scope, taken up once the gap before them closes.
  // At most MAX_AHEAD a scope; beyond, they are dropped (the next check reads the scope again,
  // as for any gap). A scope's entry leaves with its version (read again, reloaded, evicted).
  const ahead = new Map<string, Map<number, number>>();
  const known = new LRUCache<string, Known>({ max: opts.maxScopes, dispose: (_k, key) => ahead.delete(key) });
  // scopes whose version is being read (a load's start): the deltas that arrive meanwhile
  const reading = new Map<string, Array<{ delta: Delta; local: boolean }>>();
  // one chain of deltas per scope, so they apply in order; gone once idle
  const chains = new Map<string, Promise<void>>();
  // This instance's own writes between their version bump (in the transaction) and their delta
  // applied here: a version read can see the commit before the write's caller announces it,
  // and that is no reason to read the scope again — the search waits for that version instead.
  // One entry per scope being written (the highest version, and the searches waiting), gone
  // once it is applied or OWN_WRITE_WAIT_MS after the newest write began (a rolled-back one).
  const own = new Map<string, Own>();
  let epoch = 0;
  const stats = { applied: 0, reloads: 0, checks: 0 };

  function expectOwn(key: string, to: number): void {
    const o = own.get(key);
    // (from the newest write: many writes to one scope queue on its version row)
    if (o) return void ((o.to = Math.max(o.to, to)), o.timer.refresh());
    const timer = setTimeout(() => ownApplied(key, Infinity), OWN_WRITE_WAIT_MS).unref();
    own.set(key, { to, timer, waiting: [] });
  }

  /** This instance's writes to the scope are applied through `version`: the searches waiting for them go on. */
  function ownApplied(key: string, version: number): void {
    const o = own.get(key);
    if (!o) return;
    const done = version >= o.to;
    if (done) {
      clearTimeout(o.timer);
      own.delete(key);
    }
    o.waiting = o.waiting.filter((w) => (!done && w.version > version) || void w.resolve());
  }

  /** Waits until this instance's own write of `version` is applied (undefined: not one of ours in flight). */
  function ownWrite(key: string, version: number): Promise<void> | undefined {
    const o = own.get(key);
    if (!o || version > o.to) return undefined;
    return new Promise((resolve) => o.waiting.push({ version, resolve }));
  }

  const split = (key: string) => {
    const { orgId, agentId, userId } = keys.readScopeKey(key);
    return { orgId, agentId: agentId ?? null, userId: userId ?? null };
  };

  function reload(key: string): void {
    const { orgId, agentId, userId } = split(key);
    known.delete(key);
    stats.reloads++;
    index?.invalidate(orgId, agentId, userId);
  }

  async function applyDelta(key: string, delta: Delta, local: boolean): Promise<void> {
    if (!index) return;
    const { orgId, agentId, userId } = split(key);
    const held = reading.get(key);
    if (held) return void held.push({ delta, local });
    const k = known.get(key);
    if (!k) {
      // loaded by an org-wide read (or its version forgotten): its place in the order is unknown
      if (!local && index.tracks(orgId, agentId, userId)) reload(key);
      return;
    }
    if (delta.to <= k.version) return;
    if (!local) {
      if (!delta.ids.length || delta.ids.length > MAX_DELTA_IDS) return reload(key);
      const rows = await memoryDocsByIds(db, orgId, delta.ids);
      const found = new Set(rows.map((r) => r.id));
      // put/remove are queued by the index while it reads the scope, and applied after the read
      for (const r of rows) index.put(orgId, r);
      for (const id of delta.ids) if (!found.has(id)) index.remove(orgId, { id, agent_id: agentId, user_id: userId });
      stats.applied++;
    }
    // current to `to` only if it was current to `from`; a delta past a gap waits for the gap
    const now = known.get(key);
    if (!now) return;
    if (now.version < delta.from) return keepAhead(key, delta);
    if (now.version < delta.to) now.version = delta.to;
    const next = ahead.get(key);
    for (let to = next?.get(now.version); to !== undefined; to = next!.get(now.version)) {
      next!.delete(now.version);
      now.version = Math.max(now.version, to);
    }
    if (next && !next.size) ahead.delete(key);
  }

  function keepAhead(key: string, delta: Delta): void {
    let kept = ahead.get(key);
    if (!kept) ahead.set(key, (kept = new Map()));
    if (kept.size < MAX_AHEAD) kept.set(delta.from, Math.max(delta.to, kept.get(delta.from) ?? 0));
  }

  function enqueue(key: string, delta: Delta, local: boolean): void {
    const prev = chains.get(key) ?? Promise.resolve();
    const next = prev
      .then(() => applyDelta(key, delta, local))
      .catch(() => reload(key)) // the store did not answer: read the scope again on next use
      .finally(() => {
        if (chains.get(key) === next) chains.delete(key);
        // (past a gap the scope's version stays behind, and so do its waiters, until it closes)
        ownApplied(key, known.get(key)?.version ?? delta.to);
      });
    chains.set(key, next);
  }

  return {
    /** The index this keeps current (created with `beforeLoad` below). */
    attach(ix: Sync): void {
      index = ix;
    },

    /** memory-index.ts's beforeLoad: the version a scope's read is current to, read before its rows. */
    async beforeLoad(orgId: string, leaf?: { agentId: string | null; userId: string | null }): Promise<void> {
      if (!leaf) return; // an org-wide read: its scopes are checked on their own next use
      const key = scopeKey(orgId, leaf.agentId, leaf.userId);
      reading.set(key, []);
      try {
        const version = await readVersion({ orgId, ...leaf });
        known.set(key, { version, epoch });
        ownApplied(key, version); // (read again: the searches waiting for a version it holds go on)
      } finally {
        const held = reading.get(key) ?? [];
        reading.delete(key);
        for (const h of held) enqueue(key, h.delta, h.local);
      }
    },

    /** In a write's transaction here: its scope's version moves to `to` (its `local` follows the commit). */
    writing(orgId: string, agentId: string | null, userId: string | null, to: number): void {
      expectOwn(scopeKey(orgId, agentId, userId), to);
    },

    /** A write committed here (already applied to the index by memories.ts). */
    local(orgId: string, agentId: string | null, userId: string | null, delta: Delta): void {
      enqueue(scopeKey(orgId, agentId, userId), delta, true);
    },

    /** A write committed on another instance (the bus's 'memories' message). */
    remote(key: string, delta: Delta): void {
      enqueue(key, delta, false);
    },

    /** The bus was deaf: each scope is checked once on its next use; org-wide reads are dropped. */
    recheckAll(): void {
      epoch++;
      index?.dropWide();
    },

    /** Before a search: a scope that cannot be shown current is read again (org-wide: while the bus is deaf). */
    async verify(scope: IndexScope): Promise<void> {
      if (!index) return;
      if (scope.agentId === undefined || scope.userId === undefined) {
        if (!guard.trusted()) index.dropOrg(scope.orgId);
        return;
      }
      const { orgId, agentId, userId } = scope;
      if (!index.tracks(orgId, agentId, userId)) return; // read on this search, version first
      const key = scopeKey(orgId, agentId, userId);
      // being read right now, its version first: this search waits for that read (reading it
      // again would throw it away, and under many streams each search would restart the last one's)
      if (reading.has(key)) return;
      const k = known.get(key);
      // read by an org-wide search: with the bus heard, any delta to it since made it re-read (applyDelta)
      if (!k) return opts.check === 'bus-down' && guard.trusted() ? undefined : reload(key);
      if (opts.check === 'bus-down' && guard.trusted() && k.epoch === epoch) return;
      stats.checks++;
      const version = await readVersion({ orgId, agentId, userId });
      // our own commit, seen before its delta was applied: wait for it, not for a reload
      if ((known.get(key)?.version ?? Infinity) < version) await ownWrite(key, version);
      const now = known.get(key);
      // Dropped meanwhile (another search's reload, or being read again): this search reads it
      // afresh, version first. Still kept but forgotten (the versions' LRU): read it again.
      if (!now) return index.tracks(orgId, agentId, userId) && !reading.has(key) ? reload(key) : undefined;
      // Ahead of the read (our own writes applied since it began, in order): current.
      if (now.version < version) {
        // a delta on its way (its version not yet applied) also lands here: one reload
        if (!chains.has(key)) return reload(key);
        await chains.get(key);
        if ((known.get(key)?.version ?? -1) < version) return reload(key);
      }
      const after = known.get(key);
      if (after) after.epoch = epoch;
    },

    /**
     * Scopes whose version is remembered, what the deltas did, and what waits: deltas kept
     * ahead of a gap, scopes with this instance's writes in flight (for /metrics).
     */
    stats: () => ({ scopes: known.size, ...stats, ahead: [...ahead.values()].reduce((n, kept) => n + kept.size, 0), ownWrites: own.size }),
  };
}
