// Memories as the API sees them: add (one or many), list, get, update, delete, search,
// history, and `apply` (extraction's ADD/UPDATE/DELETE decisions). Every write and its memory_history row commit in one transaction; everything
// is scoped to the caller's org. Embedding happens before the transaction, so a slow
// remote embedder never holds a connection (or PGlite's only one).
import { randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../store/db.ts';
import * as repo from '../store/repos/memories.ts';
import type { Memory, MemoryScope, NewHistory, NewMemory } from '../store/repos/memories.ts';
import type { Embedder, EmbedderConfig, EmbedderFor } from './embedders/index.ts';
import type { MemoryDecision } from './extraction-prompt.ts';
import { fuseEpisodes, type Episodes, type EpisodeHit, type MessageRange } from './episodic.ts';
import type { Restriction } from './filters.ts';
import type { ImportedMessage } from '../store/repos/message-search.ts';
import { loopTurn, writeChunks } from '../store/write-chunks.ts';
import type { Delta } from '../store/invalidation.ts';
import { bumpScopeVersions, versionKey } from '../store/repos/scope-versions.ts';
import { vectorWeightOf, type MemoryHit, type SearchMemories } from './recall.ts';

export interface NewMemoryInput {
  content: string;
  agent_id?: string;
  user_id?: string;
  metadata?: Record<string, unknown>;
}

/** One change a write made (a `memory_update` event carries it to the client). */
export interface MemoryChange {
  event: 'ADD' | 'UPDATE' | 'DELETE';
  memory_id: string;
  content: string | null;
}

/** An agent_id that does not exist in the caller's org. */
export class UnknownAgentError extends Error {
  constructor(readonly agentId: string) {
    super('Agent not found.');
  }
}

export interface MemoryDeps {
  db: Db;
  /** the agent if it exists in this org; its memory.embedder decides the vector space */
  loadAgent(
    orgId: string,
    agentId: string,
  ): Promise<{ config: { memory: { embedder: EmbedderConfig; semantic_recall?: { vector_weight?: number } } } } | undefined>;
  embedderFor: EmbedderFor;
  search: SearchMemories;
  /** the user's past messages (episodic recall); without it, search covers facts only */
  episodes?: Episodes;
  /** after a write commits: the (agent, user) scope whose memories changed, the versions it went through and the ids (memory-sync.ts) */
  onChange?: (orgId: string, agentId: string | null, userId: string | null, delta: Delta) => void;
}

// Texts per embed() call: bounds memory use and lets remote embedders chunk further.
const EMBED_CHUNK = 2_048;

export function createMemories(deps: MemoryDeps) {
  const { db } = deps;
  type Scoped = { id: string; agent_id: string | null; user_id: string | null };
  /** Inside a write's transaction: the scopes of the rows it touched move to their next version. */
  const bump = async (tx: Queryable, orgId: string, rows: Scoped[]) => {
    const versions = await bumpScopeVersions(
      tx,
      orgId,
      rows.map((r) => ({ agentId: r.agent_id, userId: r.user_id })),
    );
    return () => {
      const ids = new Map<string, Scoped[]>();
      for (const r of rows) ids.set(versionKey(r.agent_id, r.user_id), [...(ids.get(versionKey(r.agent_id, r.user_id)) ?? []), r]);
      for (const [key, group] of ids) {
        const to = versions.get(key)!;
        deps.onChange?.(orgId, group[0]!.agent_id, group[0]!.user_id, { from: to - 1, to, ids: group.map((r) => r.id) });
      }
    };
  };
  // The lexical index is kept current here, after each commit (see lexical/scope-indexes.ts).
  const index = deps.search.index;
  const indexed = (orgId: string, m: Omit<Memory, 'embedder'> & { embedder?: unknown }) => {
    const { embedder: _, ...doc } = m;
    index.put(orgId, doc);
  };

  /** The agent's embedder config; throws for an agent that is not in this org. */
  async function embedderConfigOf(orgId: string, agentId: string): Promise<EmbedderConfig> {
    const agent = await deps.loadAgent(orgId, agentId);
    if (!agent) throw new UnknownAgentError(agentId);
    return agent.config.memory.embedder;
  }

  /**
   * The embedder whose vectors a write stores (none: the default local one), or null when
   * recall would never read them: the local embedder's vectors are fused only when the
   * agent sets `semantic_recall.vector_weight` (recall.ts), so by default none is computed
   * or indexed — writes skip the HNSW insert, most of their cost.
   */
  async function embedderOf(orgId: string, agentId: string | null | undefined): Promise<Embedder | null> {
    const agent = agentId ? await deps.loadAgent(orgId, agentId) : undefined;
    if (agentId && !agent) throw new UnknownAgentError(agentId);
    const embedder = deps.embedderFor(agent?.config.memory.embedder);
    return (agent?.config.memory.semantic_recall?.vector_weight ?? vectorWeightOf(embedder)) > 0 ? embedder : null;
  }

  async function embedAll(embedder: Embedder | null, texts: string[]): Promise<Array<string | null>> {
    if (!embedder) return texts.map(() => null);
    const out: string[] = [];
    for (let i = 0; i < texts.length; i += EMBED_CHUNK) {
      for (const v of await embedder.embed(texts.slice(i, i + EMBED_CHUNK))) out.push(repo.vectorLiteral(v));
    }
    return out;
  }

  const added = (m: NewMemory, source: string): NewHistory => ({
    id: randomUUID(),
    memory_id: m.id,
    event: 'ADD',
    old_content: null,
    new_content: m.content,
    old_metadata: null,
    new_metadata: m.metadata,
    source,
  });

  /**
   * Adds many memories at once, all or nothing; returns ids in input order. Written in bounded
   * pieces (store/write-chunks.ts), each embedded, then inserted with its history rows in one
   * transaction, the event loop turning between them, so a large batch holds neither the
   * store's connection nor the loop for long. A failing piece deletes the pieces before it.
   */
  async function addMany(orgId: string, items: NewMemoryInput[], source = 'api'): Promise<string[]> {
    const now = new Date();
    const rows: NewMemory[] = items.map((it) => ({
      id: randomUUID(),
      agent_id: it.agent_id ?? null,
      user_id: it.user_id ?? null,
      content: it.content,
      metadata: it.metadata ?? {},
      embedding: '',
      embedder: '',
      created_at: now,
    }));
    // One embedder per agent (an unknown agent fails here, before anything is written).
    const embedders = new Map<string | null, Embedder | null>();
    for (const r of rows) if (!embedders.has(r.agent_id)) embedders.set(r.agent_id, await embedderOf(orgId, r.agent_id));
    const written: NewMemory[] = [];
    const announce: Array<() => void> = [];
    try {
      for (const piece of writeChunks(rows, (r) => r.content.length)) {
        await embedPiece(piece, embedders);
        announce.push(
          await db.transaction(async (tx) => {
            await repo.insertMemories(tx, orgId, piece);
            await repo.insertHistory(
              tx,
              orgId,
              piece.map((r) => added(r, source)),
            );
            return bump(tx, orgId, piece);
          }),
        );
        written.push(...piece);
        await loopTurn();
      }
    } catch (err) {
      // the pieces written are taken back (an instance that read them meanwhile sees the version move)
      if (written.length)
        await db
          .transaction(async (tx) => {
            await repo.deleteMemoriesWithHistory(
              tx,
              orgId,
              written.map((r) => r.id),
            );
            return bump(tx, orgId, written);
          })
          .then((announceUndo) => announceUndo())
          .catch(() => {});
      throw err;
    }
    for (const piece of writeChunks(rows, (r) => r.content.length)) {
      for (const r of piece) indexed(orgId, { ...docOf(r), embedder: undefined });
      await loopTurn();
    }
    for (const a of announce) a();
    return rows.map((r) => r.id);
  }

  /** Each row's vector from its agent's embedder (none when recall would not read it). */
  async function embedPiece(piece: NewMemory[], embedders: Map<string | null, Embedder | null>): Promise<void> {
    const groups = new Map<string | null, NewMemory[]>();
    for (const r of piece) {
      const group = groups.get(r.agent_id);
      if (group) group.push(r);
      else groups.set(r.agent_id, [r]);
    }
    for (const [agentId, group] of groups) {
      const embedder = embedders.get(agentId) ?? null;
      const vectors = await embedAll(
        embedder,
        group.map((r) => r.content),
      );
      group.forEach((r, i) => Object.assign(r, { embedding: vectors[i], embedder: embedder?.id ?? null }));
    }
  }

  const docOf = (r: NewMemory) => ({
    id: r.id,
    agent_id: r.agent_id,
    user_id: r.user_id,
    content: r.content,
    metadata: r.metadata as Record<string, unknown>,
    created_at: r.created_at,
    updated_at: r.created_at,
  });

  async function updateIn(tx: Queryable, orgId: string, id: string, change: Parameters<typeof repo.updateMemory>[3], source: string) {
    const row = await repo.updateMemory(tx, orgId, id, change);
    if (!row) return undefined;
    const { old_content, old_metadata, ...memory } = row;
    await repo.insertHistory(tx, orgId, [
      {
        id: randomUUID(),
        memory_id: id,
        event: 'UPDATE',
        old_content,
        new_content: memory.content,
        old_metadata,
        new_metadata: memory.metadata,
        source,
      },
    ]);
    return memory;
  }

  async function deleteIn(tx: Queryable, orgId: string, id: string, source: string) {
    const old = await repo.deleteMemory(tx, orgId, id);
    if (!old) return undefined;
    await repo.insertHistory(tx, orgId, [
      {
        id: randomUUID(),
        memory_id: id,
        event: 'DELETE',
        old_content: old.content,
        new_content: null,
        old_metadata: old.metadata,
        new_metadata: null,
        source,
      },
    ]);
    return old;
  }

  return {
    addMany,

    async add(orgId: string, item: NewMemoryInput, source = 'api'): Promise<Memory> {
      const [id] = await addMany(orgId, [item], source);
      return (await repo.getMemory(db, orgId, id!))!;
    },

    get: (orgId: string, id: string) => repo.getMemory(db, orgId, id),

    /** Newest first; an agent filter must name an agent of this org. */
    async list(orgId: string, filter: { agent_id?: string; agent_ids?: string[]; user_id?: string }, limit: number, offset: number): Promise<Memory[]> {
      if (filter.agent_id) await embedderConfigOf(orgId, filter.agent_id);
      return repo.listMemories(db, { orgId, agentId: filter.agent_id, agentIds: filter.agent_ids, userId: filter.user_id }, limit, offset);
    },

    /** New content is embedded again (with the agent's current embedder); metadata is replaced. */
    async update(orgId: string, id: string, change: { content?: string; metadata?: Record<string, unknown> }, source = 'api'): Promise<Memory | undefined> {
      const current = await repo.getMemory(db, orgId, id);
      if (!current) return undefined;
      const content = change.content !== undefined && change.content !== current.content ? change.content : null;
      const embedder = content === null ? undefined : await embedderOf(orgId, current.agent_id);
      const [embedding] = content === null ? [null] : await embedAll(embedder ?? null, [content]);
      const done = await db.transaction(async (tx) => {
        const row = await updateIn(
          tx,
          orgId,
          id,
          { content, embedding: embedding ?? null, embedder: embedder?.id ?? null, metadata: change.metadata ?? null },
          source,
        );
        return row && { row, announce: await bump(tx, orgId, [row]) };
      });
      if (!done) return undefined;
      indexed(orgId, done.row);
      done.announce();
      return done.row;
    },

    /** Deletes the memory; its history stays readable by the org. */
    async delete(orgId: string, id: string, source = 'api'): Promise<boolean> {
      const done = await db.transaction(async (tx) => {
        const old = await deleteIn(tx, orgId, id, source);
        return old && { old, announce: await bump(tx, orgId, [old]) };
      });
      if (!done) return false;
      index.remove(orgId, done.old);
      done.announce();
      return true;
    },

    /**
     * Applies extraction decisions for one agent and user in one transaction; ADDed memories
     * get `metadata` (e.g. the session and message they came from). Ids that vanished meanwhile are skipped.
     */
    async apply(
      orgId: string,
      scope: { agent_id: string; user_id: string | null },
      decisions: MemoryDecision[],
      source: string,
      metadata: Record<string, unknown> = {},
    ): Promise<MemoryChange[]> {
      const writes = decisions.filter((d) => d.event !== 'NONE' && (d.event === 'DELETE' ? d.id : d.text));
      if (!writes.length) return []; // most exchanges change nothing: no transaction for them
      const texts = writes.filter((d) => d.event !== 'DELETE').map((d) => d.text!);
      const embedder = await embedderOf(orgId, scope.agent_id);
      const vectors = texts.length ? await embedAll(embedder, texts) : [];
      const applied: Array<{ put: Omit<Memory, 'embedder'> } | { remove: Memory }> = [];
      let announce = () => {};
      return db
        .transaction(async (tx) => {
          // A job that committed and then died before being marked done runs again: same source, no second apply.
          if (await repo.historyHasSource(tx, orgId, source)) return [];
          const changes: MemoryChange[] = [];
          let v = 0;
          for (const d of writes) {
            if (d.event === 'ADD') {
              const row: NewMemory = {
                id: randomUUID(),
                agent_id: scope.agent_id,
                user_id: scope.user_id,
                content: d.text!,
                metadata,
                embedding: vectors[v++]!,
                embedder: embedder?.id ?? null,
                created_at: new Date(),
              };
              await repo.insertMemories(tx, orgId, [row]);
              applied.push({ put: docOf(row) });
              await repo.insertHistory(tx, orgId, [added(row, source)]);
              changes.push({ event: 'ADD', memory_id: row.id, content: row.content });
            } else if (d.event === 'UPDATE') {
              const change = { content: d.text!, embedding: vectors[v++]!, embedder: embedder?.id ?? null, metadata: null };
              const row = await updateIn(tx, orgId, d.id!, change, source);
              if (row) {
                applied.push({ put: row });
                changes.push({ event: 'UPDATE', memory_id: d.id!, content: d.text! });
              }
            } else {
              const old = await deleteIn(tx, orgId, d.id!, source);
              if (old) {
                applied.push({ remove: old });
                changes.push({ event: 'DELETE', memory_id: d.id!, content: null });
              }
            }
          }
          if (applied.length)
            announce = await bump(
              tx,
              orgId,
              applied.map((a) => ('put' in a ? a.put : a.remove)),
            );
          return changes;
        })
        .then((changes) => {
          for (const a of applied) 'put' in a ? indexed(orgId, a.put) : index.remove(orgId, a.remove);
          announce();
          return changes;
        });
    },

    /** Hybrid search (see recall.ts). Without agent_id: the default embedder's vectors, every agent's memories. */
    async search(
      orgId: string,
      q: {
        query: string;
        agent_id?: string;
        agent_ids?: string[];
        /** undefined: any user; null: only memories without a user */
        user_id?: string | null;
        top_k: number;
        min_score: number;
        scope?: 'facts' | 'messages' | 'both';
        message_range?: MessageRange;
      } & Restriction,
    ): Promise<Array<MemoryHit | EpisodeHit>> {
      const agent = q.agent_id ? await deps.loadAgent(orgId, q.agent_id) : undefined;
      if (q.agent_id && !agent) throw new UnknownAgentError(q.agent_id);
      const embedder = deps.embedderFor(agent?.config.memory.embedder);
      const scope: MemoryScope = { orgId, agentId: q.agent_id, agentIds: q.agent_ids, userId: q.user_id };
      const { filters, created_after, created_before } = q;
      const which = q.scope ?? 'facts';
      // past messages belong to one agent's sessions: that agent is named
      const messages =
        which !== 'facts' && deps.episodes && q.agent_id
          ? deps.episodes.search({ orgId, agentId: q.agent_id, userId: q.user_id ?? null }, q.query, {
              topK: q.top_k,
              minScore: q.min_score,
              range: q.message_range,
              filters,
              created_after,
              created_before,
            })
          : Promise.resolve([]);
      if (which === 'messages') return messages;
      const facts = deps.search(embedder, scope, q.query, {
        topK: q.top_k,
        minScore: q.min_score,
        filters,
        created_after,
        created_before,
        vectorWeight: agent?.config.memory.semantic_recall?.vector_weight,
      });
      if (which === 'facts') return facts;
      return fuseEpisodes(await facts, await messages, q.top_k);
    },

    /** A past conversation imported as a new session of the agent (see episodic.ts). */
    async importSession(
      orgId: string,
      s: { agent_id: string; user_id: string | null; title?: string | null; metadata?: Record<string, unknown> },
      messages: ImportedMessage[],
    ) {
      if (!(await deps.loadAgent(orgId, s.agent_id))) throw new UnknownAgentError(s.agent_id);
      if (!deps.episodes) throw new Error('episodic memory is not configured');
      return deps.episodes.importSession({ org_id: orgId, ...s }, messages);
    },

    /** The memory's events, oldest first; undefined if this org never had it. */
    async history(orgId: string, id: string) {
      const rows = await repo.listHistory(db, orgId, id);
      return rows.length ? rows : undefined;
    },
  };
}

export type Memories = ReturnType<typeof createMemories>;
