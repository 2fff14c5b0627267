// The conversation: sessions and their messages, with a write-through in-process
// cache so a hot session's history window costs no database round trip.
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Db } from '../store/db.ts';
import * as messages from '../store/repos/messages.ts';
import type { Message } from '../store/repos/messages.ts';
import * as sessions from '../store/repos/sessions.ts';
import type { Session } from '../store/repos/sessions.ts';

interface Entry {
  session: Session;
  /** the session's last messages, oldest first (finished ones only) */
  messages: Message[];
  /** how many of the newest messages `messages` is known to hold (Infinity: all) */
  depth: number;
}

export interface Turn {
  orgId: string;
  agentId: string;
  userId: string | null;
  sessionId: string;
  /** true when this turn creates the session */
  created: boolean;
  userMessageId: string;
  userContent: string;
  /** the assistant message id, inserted as 'streaming' until the answer ends */
  assistantMessageId: string;
  /** settles when the user's message (and a new session) are committed */
  stored: Promise<void>;
}

const keep = 200;

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

export function createHistory(db: Db, opts: { maxSessions?: number; onChange?: (sessionId: string) => void } & HistoryHooks = {}) {
  const cache = new LRUCache<string, Entry>({ max: opts.maxSessions ?? 10_000 });
  // Checkpoint writes in flight, per answer: finish() goes after the last of them.
  const saving = new Map<string, Promise<void>>();
  // Tells other instances their copy of this session is stale (this one stays current).
  const changed = (sessionId: string) => opts.onChange?.(sessionId);

  async function load(orgId: string, sessionId: string, depth: number): Promise<Entry | undefined> {
    const [session, rows] = await Promise.all([
      sessions.getSession(db, orgId, sessionId),
      messages.lastMessages(db, orgId, sessionId, depth),
    ]);
    if (!session) return undefined;
    const entry: Entry = { session, messages: rows.filter((m) => m.status !== 'streaming'), depth: rows.length < depth ? Infinity : depth };
    cache.set(sessionId, entry);
    return entry;
  }

  return {
    /** The session (scoped to the org) and its last `n` messages; undefined if it does not exist here. */
    async window(orgId: string, sessionId: string, n: number): Promise<{ session: Session; messages: Message[] } | undefined> {
      let entry = cache.get(sessionId);
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
    begin(input: { orgId: string; agentId: string; userId: string | null; session?: Session; content: string }, after?: Promise<unknown>): Turn {
      const sessionId = input.session?.id ?? randomUUID();
      const userMessageId = randomUUID();
      const assistantMessageId = randomUUID();
      const stored = (after ?? Promise.resolve())
        .then(() => undefined, () => undefined)
        .then(() => db.transaction(async (tx) => {
          const session =
            input.session ?? (await sessions.createSession(tx, { id: sessionId, org_id: input.orgId, agent_id: input.agentId, user_id: input.userId }));
          const userMessage = await messages.insertMessage(tx, { id: userMessageId, org_id: input.orgId, session_id: sessionId, role: 'user', content: input.content });
          await messages.insertMessage(tx, { id: assistantMessageId, org_id: input.orgId, session_id: sessionId, role: 'assistant', content: '', status: 'streaming' });
          return { session, userMessage };
        }))
        .then(({ session, userMessage }) => {
          const entry = cache.get(sessionId) ?? (input.session ? undefined : { session, messages: [], depth: Infinity });
          if (entry) {
            append(entry, userMessage);
            cache.set(sessionId, entry);
          }
          opts.onStored?.(input.orgId, session, userMessage);
          changed(sessionId);
        });
      stored.catch(() => {}); // awaited by finish(); never an unhandled rejection meanwhile
      return {
        orgId: input.orgId, agentId: input.agentId, userId: input.userId, sessionId, created: !input.session,
        userMessageId, userContent: input.content, assistantMessageId, stored,
      };
    },

    /** Stores the answer as it ended: complete, or incomplete with what was said so far. */
    /** Saves the partial answer (one write at a time per turn; a failed one is retried by the next). */
    checkpoint(turn: Turn, content: string): void {
      const id = turn.assistantMessageId;
      const previous = saving.get(id) ?? turn.stored;
      const next = previous.then(() => messages.checkpointMessage(db, id, content)).then(() => undefined, () => undefined);
      saving.set(id, next);
    },

    async finish(turn: Turn, m: Omit<Parameters<typeof messages.finishMessage>[1], 'id'>): Promise<Message | undefined> {
      await turn.stored;
      await saving.get(turn.assistantMessageId);
      saving.delete(turn.assistantMessageId);
      const row = await messages.finishMessage(db, { id: turn.assistantMessageId, ...m });
      const entry = cache.get(turn.sessionId);
      if (row && entry) append(entry, row);
      if (row) opts.onStored?.(turn.orgId, { id: turn.sessionId, agent_id: turn.agentId, user_id: turn.userId }, row);
      changed(turn.sessionId);
      return row;
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

    /** Drops cached sessions of a user (after the user and their sessions were deleted). */
    forgetUser(orgId: string, userId: string) {
      for (const [id, entry] of cache.entries()) {
        if (entry.session.org_id === orgId && entry.session.user_id === userId) cache.delete(id);
      }
    },

    /** Drops a session from the cache ('*': all of them). */
    invalidate(sessionId: string) {
      if (sessionId === '*') cache.clear();
      else cache.delete(sessionId);
    },
  };
}

export type History = ReturnType<typeof createHistory>;
