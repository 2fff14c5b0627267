// Episodic recall: search over the user's past messages (all sessions of the agent), each
// hit brought with its neighbours (`message_range`), and the import of a past conversation.
import type { Db } from '../store/db.ts';
import { importSession, restrictedMessageIds, type ImportedMessage } from '../store/repos/message-search.ts';
import { loopTurn, writeChunks } from '../store/write-chunks.ts';
import { emitEvents } from '../webhooks/outbox.ts';
import { isRestricted, restrictionSql, type Restriction } from './filters.ts';
import { analyze } from './lexical/tokens.ts';
import type { IndexedMessage, MessageIndex } from './message-index.ts';

const RESTRICTED_MAX = 100_000;

export interface MessageRange {
  before: number;
  after: number;
}

export interface EpisodeHit {
  /** the matching message's id */
  id: string;
  /** the message with its neighbours, one "role (date): text" line each */
  content: string;
  /** share of the query's IDF weight the message matches, 0..1 */
  score: number;
  metadata: Record<string, unknown>;
  agent_id: string | null;
  user_id: string | null;
  created_at: Date;
  updated_at: Date;
}

const day = (d: Date) => d.toISOString().slice(0, 10);
const line = (m: IndexedMessage) => `${m.role} (${day(m.created_at)}): ${m.content}`;

export function createEpisodes(db: Db, index: MessageIndex) {
  return {
    index,

    /**
     * The scope's messages best matching `query`. `exclude`: text of a message not to return
     * (the turn's own question, which may already be stored when recall runs).
     */
    async search(
      scope: { orgId: string; agentId: string; userId: string | null },
      query: string,
      opts: { topK: number; minScore: number; range?: MessageRange; exclude?: string } & Restriction,
    ): Promise<EpisodeHit[]> {
      const allowed = isRestricted(opts)
        ? await restrictedMessageIds(db, scope.orgId, scope.agentId, scope.userId, (p) => restrictionSql(opts, p, 'm.metadata', 'm.created_at'), RESTRICTED_MAX)
        : undefined;
      const allow = (m: IndexedMessage) => (!allowed || allowed.has(m.id)) && !(opts.exclude !== undefined && m.role === 'user' && m.content === opts.exclude);
      const hits = await index.search(scope, analyze(query), opts.topK, allow);
      const { before = 0, after = 0 } = opts.range ?? {};
      return hits
        .filter((h) => h.coverage >= opts.minScore)
        .map(({ doc, coverage }) => ({
          id: doc.id,
          content: (before || after ? index.around(scope.orgId, doc, before, after) : [doc]).map(line).join('\n'),
          score: Math.round(coverage * 1e6) / 1e6,
          metadata: { ...doc.metadata, kind: 'message', session_id: doc.session_id, role: doc.role },
          agent_id: doc.agent_id,
          user_id: doc.user_id,
          created_at: doc.created_at,
          updated_at: doc.created_at,
        }));
    },

    /** A past conversation as a new session, all or nothing; its messages are searchable at once. */
    async importSession(
      s: { org_id: string; agent_id: string; user_id: string | null; title?: string | null; metadata?: Record<string, unknown> },
      messages: ImportedMessage[],
    ): Promise<{ session_id: string; count: number }> {
      // time order, stable for equal timestamps
      const ordered = messages
        .map((m, i) => ({ m, i }))
        .sort((a, b) => a.m.created_at.getTime() - b.m.created_at.getTime() || a.i - b.i)
        .map((x) => x.m);
      // in bounded pieces, not one transaction: the store and the event loop serve others in between
      const { sessionId, ids, seqs } = await importSession(db, s, ordered, (tx, session_id) =>
        emitEvents(tx, s.org_id, [
          {
            type: 'import.completed',
            user_id: s.user_id,
            data: { kind: 'session', session_id, agent_id: s.agent_id, user_id: s.user_id, messages: ordered.length },
          },
        ]),
      );
      const session = { id: sessionId, agent_id: s.agent_id, user_id: s.user_id };
      let i = 0;
      for (const piece of writeChunks(ordered, (m) => m.content.length)) {
        for (const m of piece) {
          const id = ids[i++]!;
          index.add(s.org_id, session, { ...m, id, seq: seqs.get(id)! });
        }
        await loopTurn();
      }
      return { session_id: sessionId, count: ordered.length };
    },
  };
}

export type Episodes = ReturnType<typeof createEpisodes>;

/** Facts and messages, each ranked, fused by reciprocal rank (equal weights), best `topK`. */
export function fuseEpisodes<A extends { id: string; score: number }, B extends { id: string; score: number }>(
  facts: A[],
  messages: B[],
  topK: number,
): Array<A | B> {
  const scored = [...facts.map((h, i) => ({ h: h as A | B, r: 1 / (61 + i) })), ...messages.map((h, i) => ({ h: h as A | B, r: 1 / (61 + i) }))];
  return scored
    .sort((a, b) => b.r - a.r || b.h.score - a.h.score)
    .slice(0, topK)
    .map((x) => x.h);
}
