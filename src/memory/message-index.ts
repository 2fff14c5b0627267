// Episodic recall's index: the user's past messages, across sessions, in the same kind of
// in-process BM25 index as memories (lexical/scope-indexes.ts). Each message is indexed
// with a little of the message before it (the question a reply answers, the reply a
// follow-up refers to) and with its date, built when the message is indexed — as it is
// stored, or when its scope is first read. Each session's messages are kept in order, so
// a hit's neighbours (`message_range`) come without SQL.
import type { Db } from '../store/db.ts';
import { loadMessageDocs, sessionScope, type MessageDoc } from '../store/repos/message-search.ts';
import type { HistoryHooks } from './history.ts';
import { MESSAGE_RANKING } from './lexical/bm25.ts';
import { dateTokens } from './lexical/dates.ts';
import { createScopeIndexes } from './lexical/scope-indexes.ts';
import { analyze } from './lexical/tokens.ts';

export type IndexedMessage = MessageDoc & { context: string };

/** How much of the previous message a message is indexed with, in characters (its end). */
export const CONTEXT_CHARS = 80;

const contextOf = (prev: { content: string } | undefined) => (prev ? prev.content.slice(-CONTEXT_CHARS) : '');

export function createMessageIndex(db: Db) {
  const bySession = new Map<string, IndexedMessage[]>();

  function remember(d: IndexedMessage): void {
    let list = bySession.get(d.session_id);
    if (!list) bySession.set(d.session_id, (list = []));
    const at = list.findIndex((x) => x.id === d.id);
    if (at >= 0) list[at] = d;
    else if (!list.length || list.at(-1)!.seq < d.seq) list.push(d);
    else
      list.splice(
        list.findIndex((x) => x.seq > d.seq),
        0,
        d,
      );
  }

  const index = createScopeIndexes<IndexedMessage>({
    async load(orgId, leaf) {
      const docs = await loadMessageDocs(db, orgId, leaf);
      const out: IndexedMessage[] = [];
      for (let i = 0; i < docs.length; i++) {
        const prev = i > 0 && docs[i - 1]!.session_id === docs[i]!.session_id ? docs[i - 1] : undefined;
        out.push({ ...docs[i]!, context: contextOf(prev) });
      }
      for (const sid of new Set(out.map((d) => d.session_id))) bySession.delete(sid);
      for (const d of out) remember(d);
      return out;
    },
    terms: (d) => [...analyze(d.content), ...analyze(d.context), ...dateTokens(d.created_at)],
    ranking: MESSAGE_RANKING,
  });

  return {
    search: index.search,

    /** A message just stored (a finished user or assistant message). */
    add(
      orgId: string,
      session: { id: string; agent_id: string | null; user_id: string | null },
      m: { id: string; seq: number | string; role: string; content: string; metadata?: Record<string, unknown> | null; created_at: Date },
    ): void {
      if ((m.role !== 'user' && m.role !== 'assistant') || !m.content) return;
      if (!index.tracks(orgId, session.agent_id, session.user_id)) return;
      const list = bySession.get(session.id);
      const seq = Number(m.seq);
      const prev = list?.filter((x) => x.seq < seq).at(-1);
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
      remember(doc);
    },

    /** A deleted session: its messages leave the index. */
    removeSession(orgId: string, sessionId: string): void {
      for (const d of bySession.get(sessionId) ?? []) index.remove(orgId, d);
      bySession.delete(sessionId);
    },

    /** The hit with up to `before` messages before it and `after` after it, in order. */
    around(hit: IndexedMessage, before: number, after: number): IndexedMessage[] {
      const list = bySession.get(hit.session_id);
      const i = list?.findIndex((x) => x.id === hit.id) ?? -1;
      if (!list || i < 0) return [hit];
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
