// The conversation: sessions and their messages, stored with a turn's two writes (its first
// and its last, each grouped with other turns': group-commit.ts) and kept in a write-through
// in-process cache (session-cache.ts) so a hot session's history window costs no database
// round trip. Other instances hear each write as a delta (session-deltas.ts); checkpoints of a
// streaming answer: checkpoint.ts; a final write that failed: finish-retry.ts.
import { readUserKey } from '../keys.ts';
import { randomUUID } from 'node:crypto';
import type { Db } from '../store/db.ts';
import { alwaysTrusted, type CacheGuard, type SessionDelta } from '../store/invalidation.ts';
import * as messages from '../store/repos/messages.ts';
import type { Message, Written } from '../store/repos/messages.ts';
import * as sessions from '../store/repos/sessions.ts';
import type { Session } from '../store/repos/sessions.ts';
import { groupCommit } from '../store/group-commit.ts';
import { createFinishRetry, type FinishRetry } from './finish-retry.ts';
import { cachedCount } from '../llm/token-count.ts';
import { countChat, STORED_BUDGET, toChatMessages } from './window-messages.ts';
import { sessionReads } from './session-reads.ts';
import { createSessionCache, type SessionCache } from './session-cache.ts';
import { createCheckpoints } from './checkpoint.ts';
import { appendDelta, applySessionDelta, storedRow } from './session-deltas.ts';
import type { Exchange } from './exchange.ts';

export type { Exchange } from './exchange.ts';

/** A user as the invalidation bus names it (kind 'user'). */

/** What episodic recall learns from the conversation as it is stored (memory/message-index.ts). */
export interface HistoryHooks {
  onStored?: (orgId: string, session: { id: string; agent_id: string | null; user_id: string | null }, message: Message) => void;
  onDeleted?: (orgId: string, sessionId: string) => void;
}

export interface HistoryOptions extends HistoryHooks {
  /** sessions kept in process (default 10,000) */
  maxSessions?: number;
  /** a session changed here: other instances patch their copy with `delta`, or drop it without one */
  onChange?: (sessionId: string, delta?: SessionDelta) => void;
  /** while the invalidation bus cannot be trusted, every window is read from the database */
  guard?: CacheGuard;
  /** this instance, the owner of the answers it streams (heartbeat.ts) */
  owner?: string;
  /** a final write retried after a failure failed again / was stored (finish-retry.ts) */
  onRetryError?: (err: unknown, messageId: string) => void;
  onRetryStored?: (messageId: string) => void;
  /** storing a window's new start failed (the next turn decides again; its prompt gives way once more) */
  onWindowError?: (err: unknown, sessionId: string) => void;
  /** turns per statement of the grouped writes (a metric) */
  onWriteBatch?: (write: 'begin' | 'finish', turns: number) => void;
  /**
   * Instances share the store: a turn served from a kept session also asks the store whether
   * the copy is current (one probe, grouped with other turns', beside the turn's other work):
   * a delete through another instance is refused at once, and a message, window move or
   * summary its bus delta has not brought yet is read before the prompt is made, bus or no bus.
   */
  checkSessions?: boolean;
}

type Finished = Omit<messages.FinishedMessage, 'id' | 'tokens'>;

/** What the writes of a turn share. */
interface Writer {
  db: Db;
  cache: SessionCache;
  opts: HistoryOptions;
  retry: FinishRetry;
  beginExchange: (t: messages.NewExchange) => Promise<{ userMessage: Written; session?: Session }>;
  finishMessage: (m: messages.FinishedMessage) => Promise<Written | undefined>;
}

/** A row of the turn was stored: this cache appends it, the message index learns it, the other instances hear it. */
function stored(w: Writer, turn: Pick<Exchange, 'orgId' | 'agentId' | 'userId' | 'sessionId'>, written: Written, created?: Session): void {
  const { row, after } = storedRow(written);
  w.cache.append(turn.sessionId, after, [row], created);
  w.opts.onStored?.(turn.orgId, { id: turn.sessionId, agent_id: turn.agentId, user_id: turn.userId }, row);
  w.opts.onChange?.(turn.sessionId, appendDelta(turn, row, after));
}

type BeginInput = { orgId: string; agentId: string; userId: string | null; session?: Session; content: string; tokens?: number };

function begin(w: Writer, input: BeginInput, after?: Promise<unknown>): Exchange {
  const turn = { orgId: input.orgId, agentId: input.agentId, userId: input.userId, sessionId: input.session?.id ?? randomUUID() };
  const userMessageId = randomUUID();
  const assistantMessageId = randomUUID();
  const write = () =>
    w.beginExchange({
      org_id: input.orgId,
      session_id: turn.sessionId,
      user_message_id: userMessageId,
      assistant_message_id: assistantMessageId,
      content: input.content,
      tokens: input.tokens ?? null,
      owner: w.opts.owner ?? null,
      newSession: input.session ? undefined : { agent_id: input.agentId, user_id: input.userId },
    });
  const done = (after ?? Promise.resolve())
    .then(
      () => undefined,
      () => undefined,
    )
    .then(write)
    .then(({ session, userMessage }) => stored(w, turn, userMessage, session));
  done.catch(() => {}); // awaited by finish(); never an unhandled rejection meanwhile
  return { ...turn, userMessageId, userContent: input.content, userTokens: input.tokens, assistantMessageId, stored: done };
}

/** A long user message stored without its count (it was not needed before the first token) is counted now. */
function countUserMessage(w: Writer, turn: Exchange): void {
  if (turn.userTokens !== undefined) return;
  const userTokens = countChat([{ role: 'user', content: turn.userContent }], STORED_BUDGET);
  messages.setTokens(w.db, turn.userMessageId, userTokens).catch(() => {}); // a row without a count is counted when loaded
  const cached = w.cache.peek(turn.sessionId)?.messages.findLast((x) => x.id === turn.userMessageId);
  if (cached) cached.tokens = userTokens;
}

async function finish(w: Writer, turn: Exchange, m: Finished): Promise<Message | undefined> {
  const tokens = countChat(toChatMessages({ role: 'assistant', content: m.content, tool_calls: m.tool_calls ?? null }), STORED_BUDGET);
  const write = () => w.finishMessage({ id: turn.assistantMessageId, ...m, tokens });
  const done = (written: Written | undefined) => {
    countUserMessage(w, turn);
    if (written) stored(w, turn, written);
    else w.opts.onChange?.(turn.sessionId);
  };
  let written: Written | undefined;
  try {
    written = await write();
  } catch (err) {
    // Not given up: written once the store is back (finish-retry.ts); the caller learns it failed now.
    w.retry.add(turn.assistantMessageId, write, done);
    throw err;
  }
  done(written);
  return written && storedRow(written).row;
}

/**
 * The session's history window now starts at message `seq` (context-window.ts; `newest`: the
 * newest message's seq, see sessions.setWindowStart): the cached copy takes it at once (the next
 * turn here sends the same window), the row once `after` settles (the turn's own write goes
 * first); other instances move theirs to what was stored.
 */
function moveWindow(w: Writer, orgId: string, sessionId: string, seq: number, newest: number, after?: Promise<unknown>): Promise<void> {
  const entry = w.cache.peek(sessionId);
  const was = entry?.session.window_seq ?? 0;
  if (entry && (was < seq || was > newest + 1)) w.cache.setSession({ ...entry.session, window_seq: seq });
  return (after ?? Promise.resolve()).then(() =>
    sessions.setWindowStart(w.db, orgId, sessionId, seq, newest).then(
      (row) => {
        if (!row) return;
        w.cache.setSession(row);
        w.opts.onChange?.(row.id, { t: 'window', seq: Number(row.window_seq ?? 0) });
      },
      (err: unknown) => {
        w.cache.drop(sessionId); // (its start moved already: the next turn here reads the store's, as others do)
        w.opts.onWindowError?.(err, sessionId);
      },
    ),
  );
}

/**
 * A session with an id the caller derived (a UI chat's, routes/chat-ui.ts: one useChat
 * conversation is one stored session), created by its first turn. Of two first turns at
 * once, the one whose insert loses finds the other's session.
 */
async function ensureSession(w: Writer, s: { id: string; orgId: string; agentId: string; userId: string | null }): Promise<void> {
  if (await w.cache.window(s.orgId, s.id, 0)) return;
  try {
    await sessions.createSession(w.db, { id: s.id, org_id: s.orgId, agent_id: s.agentId, user_id: s.userId });
  } catch (err) {
    if (!(await w.cache.window(s.orgId, s.id, 0))) throw err;
  }
}

async function deleteSession(w: Writer, orgId: string, sessionId: string): Promise<boolean> {
  w.cache.drop(sessionId);
  const deleted = await sessions.deleteSession(w.db, orgId, sessionId);
  // (again: a read that began before the delete committed may have kept it)
  w.cache.drop(sessionId);
  if (deleted) {
    w.opts.onDeleted?.(orgId, sessionId);
    w.opts.onChange?.(sessionId);
  }
  return deleted;
}

/** A session's mark in the store (undefined: gone), asked for many turns in one statement (group-commit.ts). */
function sessionProbe(db: Db): (orgId: string, sessionId: string) => Promise<sessions.SessionMark | undefined> {
  const many = async (rs: Array<{ orgId: string; id: string }>) => {
    const found = await sessions.sessionMarks(
      db,
      rs.map((r) => r.id),
    );
    return rs.map((r) => mine(r, found.get(r.id)));
  };
  const probe = groupCommit({ one: async (r: { orgId: string; id: string }) => (await many([r]))[0], many, inflight: db.engine === 'pglite' ? 1 : 2 });
  return (orgId, id) => probe({ orgId, id });
}

const mine = (r: { orgId: string }, mark: sessions.SessionMark | undefined) => (mark?.org_id === r.orgId ? mark : undefined);

/** The turns' two writes, each grouped with other turns' (group-commit.ts), and the retry of a failed last one. */
function createWriter(db: Db, cache: SessionCache, opts: HistoryOptions): Writer {
  const inflight = db.engine === 'pglite' ? 1 : 2;
  return {
    db,
    cache,
    opts,
    retry: createFinishRetry({ onError: opts.onRetryError, onStored: opts.onRetryStored }),
    beginExchange: groupCommit({
      one: (t: messages.NewExchange) => messages.beginExchange(db, t),
      many: (ts) => messages.beginExchanges(db, ts),
      inflight,
      canJoin: (batch, t) => !batch.some((b) => b.session_id === t.session_id),
      onBatch: (n) => opts.onWriteBatch?.('begin', n),
    }),
    finishMessage: groupCommit({
      one: (m: messages.FinishedMessage) => messages.finishMessage(db, m),
      many: (ms) => messages.finishMessages(db, ms),
      inflight,
      onBatch: (n) => opts.onWriteBatch?.('finish', n),
    }),
  };
}

export function createHistory(db: Db, opts: HistoryOptions = {}) {
  const cache = createSessionCache(db, {
    maxSessions: opts.maxSessions ?? 10_000,
    guard: opts.guard ?? alwaysTrusted,
    ...(opts.checkSessions ? { probe: sessionProbe(db) } : {}),
  });
  const checkpoints = createCheckpoints(db);
  const w = createWriter(db, cache, opts);
  /** A session row changed in this process (its summary): the cached copy takes it, other instances drop theirs. */
  const updateSession = (session: Session) => {
    if (session.summary) cachedCount(session.summary);
    cache.setSession(session);
    opts.onChange?.(session.id);
  };

  return {
    /** The session (scoped to the org) and its last `n` messages; undefined if it does not exist here. */
    window: cache.window,

    /**
     * Stores the user's message (and the session, if new) and reserves the answer's row,
     * in one statement. Returns at once with the ids; the write starts once `after` settles
     * and runs while the model is asked; `finish` waits for it, so the first token never
     * waits for the disk.
     */
    begin: (input: BeginInput, after?: Promise<unknown>): Exchange => begin(w, input, after),

    /** Saves the partial answer: `added` is what came since the last call, `said()` all of it (checkpoint.ts). */
    checkpoint(turn: Exchange, added: string, said: () => string): void {
      checkpoints.save(turn.assistantMessageId, turn.stored, added, said);
    },

    /** Stores the answer as it ended: complete, or incomplete with what was said so far. */
    async finish(turn: Exchange, m: Finished): Promise<Message | undefined> {
      await turn.stored;
      await turn.windowMoved;
      await checkpoints.settle(turn.assistantMessageId);
      return finish(w, turn, m);
    },

    /** final writes waiting for the store */
    get pendingWrites() {
      return w.retry.pending;
    },

    /** one last try of the final writes still waiting (shutdown) */
    close: () => w.retry.stop(),

    ensureSession: (s: { id: string; orgId: string; agentId: string; userId: string | null }) => ensureSession(w, s),
    deleteSession: (orgId: string, sessionId: string) => deleteSession(w, orgId, sessionId),
    moveWindow: (orgId: string, sessionId: string, seq: number, newest: number, after?: Promise<unknown>) =>
      moveWindow(w, orgId, sessionId, seq, newest, after),
    updateSession,
    ...sessionReads(cache),

    /** Drops cached sessions of a user (after the user and their sessions were deleted). */
    forgetUser: (orgId: string, userId: string) => cache.dropUser(orgId, userId),

    /** The bus form of forgetUser: a key from userKey(), or '*' for everything. */
    forgetUserKey(key: string) {
      if (key === '*') return cache.drop('*');
      const { orgId, userId } = readUserKey(key);
      if (userId !== null) cache.dropUser(orgId, userId);
    },

    /** Another instance changed a session: its delta patches the copy here, or it is dropped ('*': all of them). */
    invalidate: (sessionId: string, delta?: SessionDelta) => applySessionDelta(cache, sessionId, delta, opts.onStored),
  };
}

/** The conversation store: sessions and their messages, cached. */
export type HistoryStore = ReturnType<typeof createHistory>;
