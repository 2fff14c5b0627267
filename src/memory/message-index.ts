// Episodic recall's index: the user's past messages, across sessions, in the same kind of
// in-process BM25 index as memories (lexical/scope-indexes.ts). Each message is indexed
// with a little of the message before it (the question a reply answers, the reply a
// follow-up refers to) and with its date, built when the message is indexed — as it is
// stored, or when its scope is first read. A hit's neighbours (`message_range`) are read
// from its scope's kept index (its session's messages are there), without SQL.
import type { Db } from '../store/db.ts';
import { loadMessageDocs, sessionScope, type MessageDoc } from '../store/repos/message-search.ts';
import type { HistoryHooks } from './history.ts';
import { MESSAGE_RANKING } from './recall-config.ts';
import { dateTokens } from './lexical/dates.ts';
import { interner, jsonBytes } from './lexical/doc-bytes.ts';
import { MESSAGE_INDEX_BYTES } from './bounds.ts';
import { createScopeIndexes, type IndexBounds } from './lexical/scope-indexes.ts';
import { analyze } from './lexical/tokens.ts';
import { stringBytes } from './lexical/bm25.ts';

export type IndexedMessage = MessageDoc & { context: string };

/** How much of the previous message a message is indexed with, in characters (its end). */
export const CONTEXT_CHARS = 80;

const contextOf = (prev: { content: string } | undefined) => (prev ? prev.content.slice(-CONTEXT_CHARS) : '');

// A row object of ten fields and its Date, on V8.
const ROW_BYTES = 152;

/** What a kept message costs beside the index's own arrays (session, agent and user ids are shared). */
export const messageDocBytes = (d: IndexedMessage) => ROW_BYTES + stringBytes(d.id) + stringBytes(d.content) + stringBytes(d.context) + jsonBytes(d.metadata);

export function createMessageIndex(db: Db, bounds: IndexBounds = { maxBytes: MESSAGE_INDEX_BYTES }) {
  const index = createScopeIndexes<IndexedMessage>(
    {
      async load(orgId, scope) {
        const docs = await loadMessageDocs(db, orgId, scope);
        const intern = interner();
        const out: IndexedMessage[] = [];
        for (let i = 0; i < docs.length; i++) {
          const d = docs[i]!;
          const prev = i > 0 && docs[i - 1]!.session_id === d.session_id ? docs[i - 1] : undefined;
          out.push({
            ...d,
            agent_id: intern(d.agent_id),
            user_id: intern(d.user_id),
            session_id: intern(d.session_id),
            role: intern(d.role),
            context: contextOf(prev),
          });
        }
        return out;
      },
      terms: (d) => [...analyze(d.content), ...analyze(d.context), ...dateTokens(d.created_at)],
      bytes: messageDocBytes,
      ranking: MESSAGE_RANKING,
    },
    bounds,
  );

  /** A session's kept messages, in order (from its scope's index; empty when that is not kept). */
  function sessionOf(orgId: string, s: { agent_id: string | null; user_id: string | null }, sessionId: string): IndexedMessage[] {
    const leaf = index.leaf(orgId, s.agent_id, s.user_id);
    if (!leaf) return [];
    const list: IndexedMessage[] = [];
    for (const d of leaf.values()) if (d.session_id === sessionId) list.push(d);
    return list.sort((a, b) => a.seq - b.seq);
  }

  return {
    search: index.search,
    stats: index.stats,

    /** A message just stored (a finished user or assistant message). */
    add(
      orgId: string,
      session: { id: string; agent_id: string | null; user_id: string | null },
      m: { id: string; seq: number | string; role: string; content: string; metadata?: Record<string, unknown> | null; created_at: Date },
    ): void {
      if ((m.role !== 'user' && m.role !== 'assistant') || !m.content) return;
      if (!index.tracks(orgId, session.agent_id, session.user_id)) return;
      const seq = Number(m.seq);
      const prev = sessionOf(orgId, session, session.id)
        .filter((x) => x.seq < seq)
        .at(-1);
      const doc: IndexedMessage = {
        id: m.id,
        agent_id: session.agent_id,
        user_id: session.user_id,
        session_id: session.id,
        seq,
        role: m.role,
        content: m.content,
        metadata: m.metadata ?? {},
        created_at: new Date(m.created_at),
        context: contextOf(prev),
      };
      index.put(orgId, doc);
    },

    /** A deleted session: its messages leave the index. */
    removeSession(orgId: string, sessionId: string): void {
      index.removeWhere(orgId, (d) => d.session_id === sessionId);
    },

    /** The hit with up to `before` messages before it and `after` after it, in order (the hit alone when its scope is no longer kept). */
    around(orgId: string, hit: IndexedMessage, before: number, after: number): IndexedMessage[] {
      const list = sessionOf(orgId, hit, hit.session_id);
      const i = list.findIndex((x) => x.id === hit.id);
      if (i < 0) return [hit];
      return list.slice(Math.max(0, i - before), i + after + 1);
    },

    /** Another instance wrote to this scope ('*' agent: all of a user's). */
    invalidate: index.invalidate,
  };
}

export type MessageIndex = ReturnType<typeof createMessageIndex>;

/** The history's hooks that keep the index current as the conversation is stored. */
export const episodicHooks = (index: MessageIndex): HistoryHooks => ({
  onStored: (orgId, session, message) => index.add(orgId, session, message),
  onDeleted: (orgId, sessionId) => index.removeSession(orgId, sessionId),
});

/** Another instance wrote to a session ('*': anything): its scope is read again on next use. */
export async function invalidateSessionMessages(db: Db, index: Pick<MessageIndex, 'invalidate'>, sessionId: string): Promise<void> {
  if (sessionId === '*') return index.invalidate('*', null, null);
  const s = await sessionScope(db, sessionId);
  if (s) index.invalidate(s.org_id, s.agent_id, s.user_id);
}
