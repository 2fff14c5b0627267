// The conversation: sessions and their messages, with a write-through in-process
// cache so a hot session's history window costs no database round trip.
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Db } from '../store/db.ts';
import { alwaysTrusted, type CacheGuard } from '../store/invalidation.ts';
import * as messages from '../store/repos/messages.ts';
import type { Message } from '../store/repos/messages.ts';
import * as sessions from '../store/repos/sessions.ts';
import { groupCommit } from '../store/group-commit.ts';
import { createFinishRetry } from './finish-retry.ts';
import type { Session } from '../store/repos/sessions.ts';
import { cachedCount } from '../llm/token-count.ts';
import { countChat, messageTokens, STORED_BUDGET_MS, toChatMessages } from './window-messages.ts';

interface Entry {
  session: Session;
  /** the session's last messages, oldest first (finished ones only) */
  messages: Message[];
  /** how many of the newest messages `messages` is known to hold (Infinity: all) */
  depth: number;
}

/** One exchange being stored: the user's message and the answer's reserved row (one chat turn's records). */
export interface Exchange {
  orgId: string;
  agentId: string;
  userId: string | null;
  sessionId: string;
  userMessageId: string;
  userContent: string;
  /** the user message's prompt tokens as stored (undefined: counted after the answer) */
  userTokens?: number;
  /**
   * Set when the prompt was built: the history window will be full by the next turn. A
   * summary (memory.summary) folds it down to these marks after this turn, so the summary
   * and the window change at one chunk point (summaries.ts).
   */
  windowFull?: { keepMessages: number; keepTokens: number };
  /**
   * Set when the window gave way this turn: settles when its new start is stored and the other
   * instances told. The answer is stored after it, so a client that has the answer finds the
   * same window on any instance.
   */
  windowMoved?: Promise<void>;
  /** the assistant message id, inserted as 'streaming' until the answer ends */
  assistantMessageId: string;
  /** settles when the user's message (and a new session) are committed */
  stored: Promise<void>;
}

const keep = 200;

interface Progress {
  /** UTF-8 bytes of the answer stored by its checkpoints */
  bytes: number;
  /** text said since, not yet written */
  unsent: string;
  /** all the text passed so far (written whole only when the stored copy must be replaced) */
  said: () => string;
  /** no streaming row took the whole text: the answer ended elsewhere */
  stopped: boolean;
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

/** A user as the invalidation bus names it (kind 'user'). */
export const userKey = (orgId: string, userId: string) => `${orgId}\u0001${userId}`;

/** Adds the newest message; the entry still holds a contiguous tail of the session. */
function append(entry: Entry, message: Message): void {
  entry.messages.push(message);
  if (entry.depth !== Infinity) entry.depth++;
  if (entry.messages.length > keep) {
    entry.messages.splice(0, entry.messages.length - keep);
    entry.depth = keep;
  }
}

/** What episodic recall learns from the conversation as it is stored (memory/message-index.ts). */
export interface HistoryHooks {
  onStored?: (orgId: string, session: { id: string; agent_id: string | null; user_id: string | null }, message: Message) => void;
  onDeleted?: (orgId: string, sessionId: string) => void;
}

/** `guard`: while the invalidation bus cannot be trusted, every window is read from the database. */
export function createHistory(
  db: Db,
  opts: {
    maxSessions?: number;
    onChange?: (sessionId: string) => void;
    guard?: CacheGuard;
    /** this instance, the owner of the answers it streams (heartbeat.ts) */
    owner?: string;
    /** a final write retried after a failure failed again / was stored (finish-retry.ts) */
    onRetryError?: (err: unknown, messageId: string) => void;
    onRetryStored?: (messageId: string) => void;
    /** turns per statement of the grouped writes (a metric) */
    onWriteBatch?: (write: 'begin' | 'finish', turns: number) => void;
  } & HistoryHooks = {},
) {
  const cache = new LRUCache<string, Entry>({ max: opts.maxSessions ?? 10_000 });
  const guard = opts.guard ?? alwaysTrusted;
  // Checkpoint writes in flight, per answer: finish() goes after the last of them.
  const saving = new Map<string, Promise<void>>();
  // Per streaming answer: the UTF-8 bytes stored, the text not yet sent, the whole text so far.
  const progress = new Map<string, Progress>();
  // Tells other instances their copy of this session is stale (this one stays current).
  const changed = (sessionId: string) => opts.onChange?.(sessionId);
  const retry = createFinishRetry({ onError: opts.onRetryError, onStored: opts.onRetryStored });
  // A turn's two writes, its first and its last, each grouped with other turns' (group-commit.ts).
  const inflight = db.engine === 'pglite' ? 1 : 2;
  const beginExchange = groupCommit({
    one: (t: messages.NewExchange) => messages.beginExchange(db, t),
    many: (ts) => messages.beginExchanges(db, ts),
    inflight,
    canJoin: (batch, t) => !batch.some((b) => b.session_id === t.session_id),
    onBatch: (n) => opts.onWriteBatch?.('begin', n),
  });
  const finishMessage = groupCommit({
    one: (m: messages.FinishedMessage) => messages.finishMessage(db, m),
    many: (ms) => messages.finishMessages(db, ms),
    inflight,
    onBatch: (n) => opts.onWriteBatch?.('finish', n),
  });

  async function load(orgId: string, sessionId: string, depth: number): Promise<Entry | undefined> {
    const epoch = guard.epoch();
    const [session, rows] = await Promise.all([sessions.getSession(db, orgId, sessionId), messages.lastMessages(db, orgId, sessionId, depth)]);
    if (!session) return undefined;
    // Rows stored before token counts were kept are counted once, here; the summary too.
    for (const m of rows) messageTokens(m);
    if (session.summary) cachedCount(session.summary);
    const entry: Entry = { session, messages: rows.filter((m) => m.status !== 'streaming'), depth: rows.length < depth ? Infinity : depth };
    if (guard.trusted() && guard.epoch() === epoch) cache.set(sessionId, entry);
    return entry;
  }

  async function writeCheckpoint(id: string, p: Progress): Promise<void> {
    if (p.stopped || !p.unsent) return;
    // A trailing high surrogate waits for its pair (encoded alone it would be stored as U+FFFD).
    const cut = isHighSurrogate(p.unsent.charCodeAt(p.unsent.length - 1)) ? p.unsent.length - 1 : p.unsent.length;
    if (cut === 0) return;
    const part = p.unsent.slice(0, cut);
    p.unsent = p.unsent.slice(cut);
    try {
      if (await messages.appendCheckpoint(db, id, p.bytes, part)) {
        p.bytes += Buffer.byteLength(part);
        return;
      }
      // The stored copy is not what was sent (a write whose answer was lost), or the row has
      // ended: the whole text, once; when no streaming row takes it either, checkpoints stop.
      const said = p.said();
      const whole = said.slice(0, said.length - p.unsent.length);
      if (await messages.checkpointMessage(db, id, whole)) p.bytes = Buffer.byteLength(whole);
      else p.stopped = true;
    } catch (err) {
      p.unsent = part + p.unsent;
      throw err;
    }
  }

  return {
    /** The session (scoped to the org) and its last `n` messages; undefined if it does not exist here. */
    async window(orgId: string, sessionId: string, n: number): Promise<{ session: Session; messages: Message[] } | undefined> {
      let entry = guard.trusted() ? cache.get(sessionId) : undefined;
      if (entry && entry.session.org_id !== orgId) return undefined;
      if (!entry || entry.depth < n) entry = await load(orgId, sessionId, Math.max(n, 20));
      if (!entry) return undefined;
      return { session: entry.session, messages: n === 0 ? [] : entry.messages.slice(-n) };
    },

    /**
     * Stores the user's message (and the session, if new) and reserves the answer's row,
     * in one transaction. Returns at once with the ids; the write starts once `after` settles
     * and runs while the model is asked; `finish` waits for it, so the first token never
     * waits for the disk.
     */
    begin(
      input: { orgId: string; agentId: string; userId: string | null; session?: Session; content: string; tokens?: number },
      after?: Promise<unknown>,
    ): Exchange {
      const sessionId = input.session?.id ?? randomUUID();
      const userMessageId = randomUUID();
      const assistantMessageId = randomUUID();
      const stored = (after ?? Promise.resolve())
        .then(
          () => undefined,
          () => undefined,
        )
        .then(() =>
          beginExchange({
            org_id: input.orgId,
            session_id: sessionId,
            user_message_id: userMessageId,
            assistant_message_id: assistantMessageId,
            content: input.content,
            tokens: input.tokens ?? null,
            owner: opts.owner ?? null,
            newSession: input.session ? undefined : { agent_id: input.agentId, user_id: input.userId },
          }),
        )
        .then(({ session, userMessage }) => {
          const entry = cache.get(sessionId) ?? (session ? { session, messages: [], depth: Infinity } : undefined);
          if (entry) {
            append(entry, userMessage);
            cache.set(sessionId, entry);
          }
          opts.onStored?.(input.orgId, { id: sessionId, agent_id: input.agentId, user_id: input.userId }, userMessage);
          changed(sessionId);
        });
      stored.catch(() => {}); // awaited by finish(); never an unhandled rejection meanwhile
      return {
        orgId: input.orgId,
        agentId: input.agentId,
        userId: input.userId,
        sessionId,
        userMessageId,
        userContent: input.content,
        userTokens: input.tokens,
        assistantMessageId,
        stored,
      };
    },

    /**
     * Saves the partial answer: `added` is what came since the last call, `said()` all of it the calls have passed.
     * Only `added` is written (appended), so a long answer costs its new text each time, not its
     * whole length again (which, every second, would copy megabytes per stream); the whole text
     * is written only when the stored copy is not what was sent before. One write at a time per
     * turn; a failed one's text goes with the next.
     */
    checkpoint(turn: Exchange, added: string, said: () => string): void {
      const id = turn.assistantMessageId;
      let p = progress.get(id);
      if (!p) progress.set(id, (p = { bytes: 0, unsent: '', said, stopped: false }));
      p.unsent += added;
      const state = p;
      const previous = saving.get(id) ?? turn.stored;
      const next = previous
        .then(() => writeCheckpoint(id, state))
        .then(
          () => undefined,
          () => undefined,
        );
      saving.set(id, next);
    },

    /** Stores the answer as it ended: complete, or incomplete with what was said so far. */
    async finish(turn: Exchange, m: Omit<Parameters<typeof messages.finishMessage>[1], 'id' | 'tokens'>): Promise<Message | undefined> {
      await turn.stored;
      await turn.windowMoved;
      await saving.get(turn.assistantMessageId);
      saving.delete(turn.assistantMessageId);
      progress.delete(turn.assistantMessageId);
      const tokens = countChat(toChatMessages({ role: 'assistant', content: m.content, tool_calls: m.tool_calls ?? null }), STORED_BUDGET_MS);
      const write = () => finishMessage({ id: turn.assistantMessageId, ...m, tokens });
      const stored = (row: Message | undefined) => {
        const entry = cache.get(turn.sessionId);
        // A long message stored without its count (it was not needed before the first token) is counted now.
        if (turn.userTokens === undefined) {
          const userTokens = countChat([{ role: 'user', content: turn.userContent }], STORED_BUDGET_MS);
          messages.setTokens(db, turn.userMessageId, userTokens).catch(() => {}); // a row without a count is counted when loaded
          const cached = entry?.messages.findLast((x) => x.id === turn.userMessageId);
          if (cached) cached.tokens = userTokens;
        }
        if (row && entry) append(entry, row);
        if (row) opts.onStored?.(turn.orgId, { id: turn.sessionId, agent_id: turn.agentId, user_id: turn.userId }, row);
        changed(turn.sessionId);
      };
      let row: Message | undefined;
      try {
        row = await write();
      } catch (err) {
        // Not given up: written once the store is back (finish-retry.ts); the caller learns it failed now.
        retry.add(turn.assistantMessageId, write, stored);
        throw err;
      }
      stored(row);
      return row;
    },

    /** final writes waiting for the store */
    get pendingWrites() {
      return retry.pending;
    },

    /** one last try of the final writes still waiting (shutdown) */
    close: () => retry.stop(),

    /**
     * A session with an id the caller derived (a UI chat's, routes/chat-ui.ts: one useChat
     * conversation is one stored session), created by its first turn. Of two first turns at
     * once, the one whose insert loses finds the other's session.
     */
    async ensureSession(s: { id: string; orgId: string; agentId: string; userId: string | null }): Promise<void> {
      if (await this.window(s.orgId, s.id, 0)) return;
      try {
        await sessions.createSession(db, { id: s.id, org_id: s.orgId, agent_id: s.agentId, user_id: s.userId });
      } catch (err) {
        if (!(await this.window(s.orgId, s.id, 0))) throw err;
      }
    },

    async deleteSession(orgId: string, sessionId: string): Promise<boolean> {
      cache.delete(sessionId);
      const deleted = await sessions.deleteSession(db, orgId, sessionId);
      if (deleted) {
        opts.onDeleted?.(orgId, sessionId);
        changed(sessionId);
      }
      return deleted;
    },

    /**
     * Prompt tokens of the session's messages after its summary, as far as this instance
     * holds them (undefined: not cached here).
     */
    unsummarizedTokens(sessionId: string): number | undefined {
      const entry = cache.get(sessionId);
      if (!entry) return undefined;
      const after = entry.session.summarized_seq ?? 0;
      let n = 0;
      for (const m of entry.messages) if (m.seq > after) n += messageTokens(m);
      return n;
    },

    /** The session's cached messages, oldest first (complete: all of them), without a round trip; undefined when not cached. */
    recent(sessionId: string): { messages: Message[]; complete: boolean } | undefined {
      const entry = cache.get(sessionId);
      return entry && { messages: entry.messages, complete: entry.depth === Infinity };
    },

    /** The message the session's summary ends at, as cached here (null: no summary; undefined: not cached). */
    summarizedThrough(sessionId: string): string | null | undefined {
      return cache.get(sessionId)?.session.summarized_through;
    },

    /** A session row changed elsewhere in this process (its summary): the cached copy takes it, other instances drop theirs. */
    updateSession(session: Session) {
      if (session.summary) cachedCount(session.summary);
      const entry = cache.get(session.id);
      if (entry) entry.session = session;
      changed(session.id);
    },

    /**
     * The session's history window now starts at message `seq` (context-window.ts; `newest`:
     * the newest message's seq, see sessions.setWindowStart): the cached copy takes it at once (the next turn here sends the same window), the row once
     * `after` settles (the turn's own write goes first); other instances drop their copy.
     */
    moveWindow(orgId: string, sessionId: string, seq: number, newest: number, after?: Promise<unknown>): Promise<void> {
      const entry = cache.get(sessionId);
      const was = entry?.session.window_seq ?? 0;
      if (entry && (was < seq || was > newest + 1)) entry.session = { ...entry.session, window_seq: seq };
      return (after ?? Promise.resolve())
        .then(() => sessions.setWindowStart(db, orgId, sessionId, seq, newest))
        .then((row) => {
          if (row) this.updateSession(row);
        });
    },

    /** The window start when the window has dropped messages the summary does not cover yet (undefined: none, or not cached). */
    unsummarizedDrop(sessionId: string): number | undefined {
      const entry = cache.get(sessionId);
      const start = entry?.session.window_seq;
      if (!entry || !start) return undefined;
      const after = entry.session.summarized_seq ?? 0;
      if (start <= after + 1 || start > (entry.messages.at(-1)?.seq ?? 0) + 1) return undefined; // (past the newest: from before a restore)
      const oldest = entry.messages[0];
      // (what the cache holds may not reach back to the summary: then some may be dropped)
      const dropped = entry.depth !== Infinity && (!oldest || oldest.seq > after) ? true : entry.messages.some((m) => m.seq > after && m.seq < start);
      return dropped ? start : undefined;
    },

    /** Drops cached sessions of a user (after the user and their sessions were deleted). */
    forgetUser(orgId: string, userId: string) {
      for (const [id, entry] of cache.entries()) {
        if (entry.session.org_id === orgId && entry.session.user_id === userId) cache.delete(id);
      }
    },

    /** The bus form of forgetUser: a key from userKey(), or '*' for everything. */
    forgetUserKey(key: string) {
      if (key === '*') return cache.clear();
      const [orgId, userId] = key.split('\u0001') as [string, string];
      this.forgetUser(orgId, userId);
    },

    /** Drops a session from the cache ('*': all of them). */
    invalidate(sessionId: string) {
      if (sessionId === '*') cache.clear();
      else cache.delete(sessionId);
    },
  };
}

/** The conversation store: sessions and their messages, cached. */
export type HistoryStore = ReturnType<typeof createHistory>;
