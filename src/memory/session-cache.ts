// The in-process copy of hot sessions: each session's row and the tail of its finished
// messages, so a turn's history window costs no database round trip. It is kept exact by
// patching: this instance's own writes and other instances' deltas (session-deltas.ts) append
// in place when they continue the tail the entry holds; anything else drops the entry and the
// next read loads it again. A read that spans a change is answered, not kept.
import { LRUCache } from 'lru-cache';
import type { Db } from '../store/db.ts';
import type { CacheGuard } from '../store/invalidation.ts';
import * as messages from '../store/repos/messages.ts';
import type { Message } from '../store/repos/messages.ts';
import * as sessions from '../store/repos/sessions.ts';
import type { Session, SessionMark } from '../store/repos/sessions.ts';
import { cachedCount } from '../llm/token-count.ts';
import { messageTokens } from './window-messages.ts';

export interface Entry {
  session: Session;
  /** the session's last messages, oldest first (finished ones only) */
  messages: Message[];
  /** how many of the newest messages `messages` is known to hold (Infinity: all) */
  depth: number;
}

/** messages kept per session, at most */
const KEEP = 200;

/** The seq of the newest finished message an entry holds (0: none). */
export const newestSeq = (entry: Entry): number => entry.messages.at(-1)?.seq ?? 0;

/**
 * Appends `rows` (oldest first) if they continue the entry: `after`, the seq of the session's
 * newest finished message before them as their write saw it, is the newest the entry holds.
 * A row the entry already holds is replaced in place (the same write, heard twice, or a final
 * write over a swept row). False when they do not continue it: the caller drops the entry.
 */
export function appendRows(entry: Entry, after: number, rows: Message[]): boolean {
  const fresh = rows.filter((row) => {
    // (a row written again is among the newest: looked for from the end)
    const i = entry.messages.findLastIndex((m) => m.id === row.id);
    if (i >= 0) entry.messages[i] = row;
    return i < 0;
  });
  if (!fresh.length) return true;
  if (newestSeq(entry) !== after) return false;
  for (const row of fresh) {
    entry.messages.push(row);
    if (entry.depth !== Infinity) entry.depth++;
  }
  if (entry.messages.length > KEEP) {
    entry.messages.splice(0, entry.messages.length - KEEP);
    entry.depth = KEEP;
  }
  return true;
}

export interface SessionCacheOptions {
  maxSessions: number;
  guard: CacheGuard;
  /**
   * The session's mark in the store (undefined: gone), asked beside each turn served from a
   * kept copy when instances share the store: a change through another instance reaches this
   * one by the bus, which a request sent right after the change can overtake.
   */
  probe?: (orgId: string, sessionId: string) => Promise<SessionMark | undefined>;
}

/** A kept copy checked against the store: as it is, deleted meanwhile, or behind (read it again). */
export type Freshness = 'current' | 'gone' | 'stale';

/** A window: the session and its last messages, and, served from a kept copy, how it compares with the store. */
export interface SessionWindow {
  session: Session;
  messages: Message[];
  /** undefined: read from the store just now; 'gone' and 'stale' have dropped the copy */
  freshness?: Promise<Freshness>;
}

export function createSessionCache(db: Db, opts: SessionCacheOptions) {
  const { guard } = opts;
  const cache = new LRUCache<string, Entry>({ max: opts.maxSessions });
  // Loads in flight, per session, and how many changes each has seen meanwhile: a load that
  // saw one is answered but not kept (its rows may predate the change). Only while loading.
  const loading = new Map<string, { loads: number; changes: number }>();
  // Changes that touch every session (a user forgotten, everything cleared).
  let generation = 0;

  /** Something about the session changed: a load in flight will not keep what it read. */
  function touch(sessionId: string): void {
    const l = loading.get(sessionId);
    if (l) l.changes++;
  }

  /**
   * Compares a kept copy, as the turn was given it, with the store's mark; a gone or stale copy
   * is dropped. (As given: a delta that reaches the copy while the probe is out must not make
   * the window the turn already holds pass for current — it read two instances' turns short.)
   */
  function compare(orgId: string, entry: Entry, probe: NonNullable<SessionCacheOptions['probe']>): Promise<Freshness> {
    const { id, window_seq, summarized_seq } = entry.session;
    const newest = newestSeq(entry);
    return probe(orgId, id).then(
      (mark) => {
        const freshness: Freshness = !mark
          ? 'gone'
          : mark.newest !== newest || (mark.window_seq ?? 0) !== (window_seq ?? 0) || (mark.summarized_seq ?? 0) !== (summarized_seq ?? 0)
            ? 'stale'
            : 'current';
        if (freshness !== 'current' && cache.get(id) === entry) cache.delete(id);
        return freshness;
      },
      () => 'current' as const, // the store not answering: the turn's own write will say so
    );
  }

  async function load(orgId: string, sessionId: string, depth: number): Promise<Entry | undefined> {
    const epoch = guard.epoch();
    const gen = generation;
    const l = loading.get(sessionId) ?? { loads: 0, changes: 0 };
    loading.set(sessionId, l);
    l.loads++;
    const changes = l.changes;
    try {
      const [session, rows] = await Promise.all([sessions.getSession(db, orgId, sessionId), messages.lastMessages(db, orgId, sessionId, depth)]);
      if (!session) return undefined;
      // Rows stored before token counts were kept are counted once, here; the summary too.
      for (const m of rows) messageTokens(m);
      if (session.summary) cachedCount(session.summary);
      const entry: Entry = { session, messages: rows.filter((m) => m.status !== 'streaming'), depth: rows.length < depth ? Infinity : depth };
      const unchanged = l.changes === changes && generation === gen && guard.epoch() === epoch;
      if (guard.trusted() && unchanged) cache.set(sessionId, entry);
      return entry;
    } finally {
      if (--l.loads === 0) loading.delete(sessionId);
    }
  }

  return {
    /** The cached entry (undefined while the bus cannot be trusted). */
    get: (sessionId: string): Entry | undefined => (guard.trusted() ? cache.get(sessionId) : undefined),
    /** The entry as kept, trusted or not (for what this process itself knows). */
    peek: (sessionId: string): Entry | undefined => cache.get(sessionId),

    /** The session (scoped to the org) and its last `n` messages; undefined if it does not exist here. */
    async window(orgId: string, sessionId: string, n: number): Promise<SessionWindow | undefined> {
      let entry = guard.trusted() ? cache.get(sessionId) : undefined;
      if (entry && entry.session.org_id !== orgId) return undefined;
      // A tail that ends with a question has its answer on the way — or already stored by
      // another instance whose delta (sent just before its `done`) has not arrived yet, while
      // the client's next turn has: the store knows (prompt-prefix.test.ts, two instances).
      if (entry?.messages.at(-1)?.role === 'user') entry = undefined;
      const kept = entry !== undefined && entry.depth >= n;
      if (!kept) entry = await load(orgId, sessionId, Math.max(n, 20));
      if (!entry) return undefined;
      const freshness = kept && opts.probe ? compare(orgId, entry, opts.probe) : undefined;
      return { session: entry.session, messages: n === 0 ? [] : entry.messages.slice(-n), ...(freshness ? { freshness } : {}) };
    },

    /** Appends rows written after `after` (appendRows); an entry they do not continue is dropped. */
    append(sessionId: string, after: number, rows: Message[], created?: Session): void {
      touch(sessionId);
      const entry = cache.get(sessionId) ?? (created ? { session: created, messages: [], depth: Infinity } : undefined);
      if (!entry) return;
      if (appendRows(entry, after, rows)) cache.set(sessionId, entry);
      else cache.delete(sessionId);
    },

    /** The session row changed here: the entry takes it. */
    setSession(session: Session): void {
      touch(session.id);
      const entry = cache.get(session.id);
      if (entry) entry.session = session;
    },

    /** The window now starts at `seq`; a start that moves back (a restore) drops the entry. */
    moveWindow(sessionId: string, seq: number): void {
      touch(sessionId);
      const entry = cache.get(sessionId);
      if (!entry) return;
      if ((entry.session.window_seq ?? 0) <= seq) entry.session = { ...entry.session, window_seq: seq };
      else cache.delete(sessionId);
    },

    /** Drops a session ('*': all of them). */
    drop(sessionId: string): void {
      if (sessionId === '*') {
        generation++;
        cache.clear();
        return;
      }
      touch(sessionId);
      cache.delete(sessionId);
    },

    /** Drops the cached sessions of a user (after the user and their sessions were deleted). */
    dropUser(orgId: string, userId: string): void {
      generation++;
      for (const [id, entry] of cache.entries()) {
        if (entry.session.org_id === orgId && entry.session.user_id === userId) cache.delete(id);
      }
    },
  };
}

export type SessionCache = ReturnType<typeof createSessionCache>;
