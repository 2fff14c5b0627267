// Memories as the API sees them: add (one or many), list, get, update, delete, search,
// history, and `apply` (extraction's ADD/UPDATE/DELETE decisions). Every write and its memory_history row commit in one transaction; everything
// is scoped to the caller's org. Embedding happens before the transaction, so a slow
// remote embedder never holds a connection (or PGlite's only one).
//
// Facts know their time (docs/memory.md, "Facts over time"): new content (extraction's
// UPDATE, PATCH) and extraction's DELETE supersede — the old fact stays, valid until then,
// readable through `as_of` and the history — while an API delete and forgetting a user
// erase. A write that repeats a current fact of its scope (same text once normalized) is
// reported as a duplicate and not stored again.
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
import { emitEvents } from '../webhooks/outbox.ts';
import type { WebhookEvent } from '../webhooks/events.ts';
import { resolveRelativeDates } from './relative-dates.ts';

export interface NewMemoryInput {
  content: string;
  agent_id?: string;
  user_id?: string;
  metadata?: Record<string, unknown>;
  /** when it was said (an imported message's time): relative dates resolve from it, and the fact is valid from then */
  said_at?: Date;
}

/** One change a write made (a `memory_update` event carries it to the client). DUPLICATE: the fact was already there (memory_id), nothing written. */
export interface MemoryChange {
  event: 'ADD' | 'UPDATE' | 'DELETE' | 'DUPLICATE';
  memory_id: string;
  content: string | null;
}

/** A fact that stopped being current without being erased (the hook for a `memory.superseded` event). */
export interface Superseded {
  /** the memory whose fact ended */
  memory_id: string;
  /** the row that keeps the ended content: an earlier version's own id (content replaced), or memory_id itself (ended) */
  version_id: string;
  content: string;
  valid_from: Date;
  valid_to: Date;
  /** the memory that carries the fact on (null: deleted by extraction) */
  superseded_by: string | null;
  ended_by: string | null;
  source: string;
}

/** What addMany wrote: ids in input order (a duplicate's is the memory that already holds it). */
export interface AddResult {
  ids: string[];
  duplicates: Array<{ index: number; duplicate_of: string }>;
}

/** An agent_id that does not exist in the caller's org. */
export class UnknownAgentError extends Error {
  constructor(readonly agentId: string) {
    super('Agent not found.');
  }
}

/** A change to a memory that is no longer current: its successor (if any) is the one to change. */
export class SupersededMemoryError extends Error {
  constructor(readonly supersededBy: string | null) {
    super(
      supersededBy
        ? `This memory was superseded by ${supersededBy}; change that one.`
        : 'This memory was deleted by extraction and is kept only as history; add the fact again instead.',
    );
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
  /** after a write commits: the facts it superseded (see `superseded` below) */
  onSuperseded?: (orgId: string, facts: Superseded[]) => void;
  /** in a write's transaction: rows stored with `vector_pending`, their vectors to follow (reembed.ts, queueEmbeddings); without it, writes embed first */
  onVectorsPending?: (tx: Queryable, orgId: string, rows: NewMemory[]) => Promise<void>;
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
  // (current rows only, without their validity: as the index reads them from the store)
  const indexed = (orgId: string, m: Omit<repo.MemoryDoc, 'embedder'> & { embedder?: unknown }) => {
    const { embedder: _, valid_from: _f, valid_to: _t, superseded_by: _s, ended_by: _e, ...doc } = m as Memory;
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

  // Webhook events, written with the change they report (webhooks/outbox.ts).
  const ref = (m: { id: string; agent_id: string | null; user_id: string | null }, source: string) => ({
    id: m.id,
    agent_id: m.agent_id,
    user_id: m.user_id,
    source,
  });
  const createdEvent = (m: NewMemory, source: string): WebhookEvent => ({
    type: 'memory.created',
    user_id: m.user_id,
    data: { ...ref(m, source), content: m.content, metadata: m.metadata as Record<string, unknown>, created_at: m.created_at.toISOString() },
  });
  const updatedEvent = (m: Memory, previous: { content: string; metadata: unknown }, source: string): WebhookEvent => ({
    type: 'memory.updated',
    user_id: m.user_id,
    data: {
      ...ref(m, source),
      content: m.content,
      metadata: m.metadata as Record<string, unknown>,
      previous: { content: previous.content, metadata: previous.metadata as Record<string, unknown> },
      updated_at: new Date(m.updated_at).toISOString(),
    },
  });
  const supersededEvent = (m: Memory, supersededBy: string | null, source: string): WebhookEvent => ({
    type: 'memory.superseded',
    user_id: m.user_id,
    data: { ...ref(m, source), superseded_by: supersededBy, valid_to: new Date(m.valid_to!).toISOString() },
  });
  const deletedEvent = (m: { id: string; agent_id: string | null; user_id: string | null }, source: string): WebhookEvent => ({
    type: 'memory.deleted',
    user_id: m.user_id,
    data: ref(m, source),
  });

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
   * An item whose fact its scope already holds (or an earlier item of the batch) is not
   * written: its id is that memory's, and it is listed in `duplicates`.
   */
  async function addMany(orgId: string, items: NewMemoryInput[], source = 'api'): Promise<AddResult> {
    const now = new Date();
    const rows: NewMemory[] = items.map((it) => ({
      id: randomUUID(),
      agent_id: it.agent_id ?? null,
      user_id: it.user_id ?? null,
      content: it.said_at ? resolveRelativeDates(it.content, it.said_at) : it.content,
      metadata: it.metadata ?? {},
      embedding: '',
      embedder: '',
      created_at: now,
      ...(it.said_at ? { valid_from: it.said_at } : {}),
    }));
    // One embedder per agent (an unknown agent fails here, before anything is written).
    const embedders = new Map<string | null, Embedder | null>();
    for (const r of rows) if (!embedders.has(r.agent_id)) embedders.set(r.agent_id, await embedderOf(orgId, r.agent_id));
    const ids = rows.map((r) => r.id);
    const duplicates: AddResult['duplicates'] = [];
    const seen = new Map<string, string>(); // scope + fact key → the id holding it
    const position = new Map(rows.map((r, i) => [r, i]));
    const written: NewMemory[] = [];
    const announce: Array<() => void> = [];
    try {
      for (const all of writeChunks(rows, (r) => r.content.length)) {
        const keys = await repo.duplicatesOf(db, orgId, all);
        const piece = all.filter((r, i) => {
          const key = `${r.agent_id}\n${r.user_id}\n${keys[i]!.key}`;
          const holder = keys[i]!.existing ?? seen.get(key);
          if (holder) {
            const index = position.get(r)!;
            ids[index] = holder;
            duplicates.push({ index, duplicate_of: holder });
            return false;
          }
          seen.set(key, r.id);
          return true;
        });
        if (!piece.length) continue;
        await embedPiece(piece, embedders);
        announce.push(
          await db.transaction(async (tx) => {
            await repo.insertMemories(tx, orgId, piece);
            await deps.onVectorsPending?.(tx, orgId, piece); // vectors pending (issue 28)
            await repo.insertHistory(
              tx,
              orgId,
              piece.map((r) => added(r, source)),
            );
            await emitEvents(
              tx,
              orgId,
              piece.map((r) => createdEvent(r, source)),
            );
            return bump(tx, orgId, piece);
          }),
        );
        written.push(...piece);
        await loopTurn();
      }
    } catch (err) {
      // Undone: the pieces already written go (an instance that read them meanwhile sees the version
      // move), and so do their memory.created events' effect (memory.deleted follows them).
      if (written.length)
        await db
          .transaction(async (tx) => {
            await repo.deleteMemoriesWithHistory(
              tx,
              orgId,
              written.map((r) => r.id),
            );
            await emitEvents(
              tx,
              orgId,
              written.map((r) => deletedEvent(r, source)),
            );
            return bump(tx, orgId, written);
          })
          .then((announceUndo) => announceUndo())
          .catch(() => {});
      throw err;
    }
    for (const piece of writeChunks(written, (r) => r.content.length)) {
      for (const r of piece) indexed(orgId, { ...docOf(r), embedder: undefined });
      await loopTurn();
    }
    for (const a of announce) a();
    return { ids, duplicates };
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
      // A slow model (local-neural) does not hold the write: stored now, the vector follows (reembed.ts).
      if (embedder?.background && deps.onVectorsPending) {
        for (const r of group) Object.assign(r, { embedding: null, embedder: null, vector_pending: true });
        continue;
      }
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
    valid_from: r.valid_from ?? r.created_at,
  });

  function historyRow(
    id: string,
    event: repo.HistoryEvent,
    old: Pick<Memory, 'content' | 'metadata'> | null,
    now: Pick<Memory, 'content' | 'metadata'> | null,
    source: string,
  ): NewHistory {
    return {
      id: randomUUID(),
      memory_id: id,
      event,
      old_content: old?.content ?? null,
      new_content: now?.content ?? null,
      old_metadata: old?.metadata ?? null,
      new_metadata: now?.metadata ?? null,
      source,
    };
  }

  /** Metadata only: changed in place (no new version). */
  async function updateIn(tx: Queryable, orgId: string, id: string, change: Parameters<typeof repo.updateMemory>[3], source: string) {
    const row = await repo.updateMemory(tx, orgId, id, change);
    if (!row) return undefined;
    const { old_content, old_metadata, ...memory } = row;
    await repo.insertHistory(tx, orgId, [historyRow(id, 'UPDATE', { content: old_content, metadata: old_metadata }, memory, source)]);
    await emitEvents(tx, orgId, [updatedEvent(memory, { content: old_content, metadata: old_metadata }, source)]);
    return memory;
  }

  /**
   * Every supersede happens here: the memory's current fact ends now (kept, valid until
   * now, readable by `as_of` and the history), because
   * - `replace`: it takes new content (its old content stays as an earlier version, a row of its own), or
   * - `successor`: another current memory holds the same fact, or
   * - neither: extraction deleted it.
   * Returns the memory as it is now (undefined: it was not current) and what ended, for
   * `onSuperseded` after the transaction commits (the hook for a `memory.superseded` event).
   */
  async function supersede(
    tx: Queryable,
    orgId: string,
    id: string,
    how: { replace?: Parameters<typeof repo.updateMemory>[3] & { content: string }; successor?: string },
    endedBy: string | null,
    source: string,
  ): Promise<{ memory: Memory; ended: Superseded } | undefined> {
    if (how.replace) {
      const versionId = randomUUID();
      if (!(await repo.keepVersion(tx, orgId, id, { id: versionId, supersededBy: id, endedBy }))) return undefined;
      const row = await repo.updateMemory(tx, orgId, id, how.replace);
      if (!row) return undefined;
      const { old_content, old_metadata, ...memory } = row;
      await repo.insertHistory(tx, orgId, [historyRow(id, 'UPDATE', { content: old_content, metadata: old_metadata }, memory, source)]);
      await emitEvents(tx, orgId, [updatedEvent(memory, { content: old_content, metadata: old_metadata }, source)]);
      const version = (await repo.getMemory(tx, orgId, versionId))!;
      return { memory, ended: endedOf(id, version, id, source) };
    }
    const ended = await repo.endMemory(tx, orgId, id, { supersededBy: how.successor ?? null, endedBy });
    if (!ended) return undefined;
    await repo.insertHistory(tx, orgId, [historyRow(id, 'DELETE', ended, null, source)]);
    await emitEvents(tx, orgId, [supersededEvent(ended, how.successor ?? null, source)]);
    return { memory: ended, ended: endedOf(id, ended, how.successor ?? null, source) };
  }

  const endedOf = (memoryId: string, version: Memory, by: string | null, source: string): Superseded => ({
    memory_id: memoryId,
    version_id: version.id,
    content: version.content,
    valid_from: version.valid_from,
    valid_to: version.valid_to!,
    superseded_by: by,
    ended_by: version.ended_by,
    source,
  });

  /** After a commit: the facts that ended (nothing listens yet; webhooks hook here). */
  function superseded(orgId: string, facts: Superseded[]): void {
    if (facts.length) deps.onSuperseded?.(orgId, facts);
  }

  async function deleteIn(tx: Queryable, orgId: string, id: string, source: string) {
    const old = await repo.deleteMemory(tx, orgId, id);
    if (!old) return undefined;
    // The event stays for the record, without the content that was erased.
    await repo.insertHistory(tx, orgId, [historyRow(id, 'DELETE', null, null, source)]);
    await emitEvents(tx, orgId, [deletedEvent(old, source)]);
    return old;
  }

  return {
    addMany,

    /** The memory written, or (with `duplicate_of`) the current memory of its scope that already holds the fact. */
    async add(orgId: string, item: NewMemoryInput, source = 'api'): Promise<Memory & { duplicate_of?: string }> {
      const { ids, duplicates } = await addMany(orgId, [item], source);
      const memory = (await repo.getMemory(db, orgId, ids[0]!))!;
      return duplicates.length ? { ...memory, duplicate_of: memory.id } : memory;
    },

    get: (orgId: string, id: string) => repo.getMemory(db, orgId, id),

    /** Current memories, newest first; an agent filter must name an agent of this org. */
    async list(orgId: string, filter: { agent_id?: string; agent_ids?: string[]; user_id?: string }, limit: number, offset: number): Promise<Memory[]> {
      if (filter.agent_id) await embedderConfigOf(orgId, filter.agent_id);
      return repo.listMemories(db, { orgId, agentId: filter.agent_id, agentIds: filter.agent_ids, userId: filter.user_id }, limit, offset);
    },

    /**
     * New content supersedes the old (kept as an earlier version) and is embedded again (with
     * the agent's current embedder); metadata is replaced in place. Undefined: no such
     * memory. A memory that is not current throws SupersededMemoryError.
     */
    async update(orgId: string, id: string, change: { content?: string; metadata?: Record<string, unknown> }, source = 'api'): Promise<Memory | undefined> {
      const current = await repo.getMemory(db, orgId, id);
      if (!current) return undefined;
      if (current.valid_to) throw new SupersededMemoryError(current.superseded_by);
      const content = change.content !== undefined && change.content !== current.content ? change.content : null;
      const embedder = content === null ? undefined : await embedderOf(orgId, current.agent_id);
      const [embedding] = content === null ? [null] : await embedAll(embedder ?? null, [content]);
      const write = { content, embedding: embedding ?? null, embedder: embedder?.id ?? null, metadata: change.metadata ?? null };
      const ended: Superseded[] = [];
      let announce = () => {};
      const row = await db.transaction(async (tx) => {
        let now: Memory | undefined;
        if (write.content === null) now = await updateIn(tx, orgId, id, write, source);
        else {
          const done = await supersede(tx, orgId, id, { replace: { ...write, content: write.content } }, null, source);
          if (done) ended.push(done.ended);
          now = done?.memory;
        }
        if (now) announce = await bump(tx, orgId, [now]);
        return now;
      });
      if (row) {
        indexed(orgId, row);
        announce();
        superseded(orgId, ended);
      }
      return row;
    },

    /** Erases the memory (and its earlier versions, and the content of its history): "forget this". */
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
     * UPDATE and DELETE supersede (the old fact stays, ended by `metadata.message_id`); an ADD
     * (or UPDATE) whose fact a current memory of the scope already holds is a DUPLICATE.
     * `saidAt`: when the conversation happened; relative dates in the facts resolve from it.
     */
    async apply(
      orgId: string,
      scope: { agent_id: string; user_id: string | null },
      decisions: MemoryDecision[],
      source: string,
      metadata: Record<string, unknown> = {},
      saidAt: Date = new Date(),
    ): Promise<MemoryChange[]> {
      const writes = decisions
        .filter((d) => d.event !== 'NONE' && (d.event === 'DELETE' ? d.id : d.text))
        .map((d) => (d.text ? { ...d, text: resolveRelativeDates(d.text, saidAt) } : d));
      if (!writes.length) return []; // most exchanges change nothing: no transaction for them
      const texts = writes.filter((d) => d.event !== 'DELETE').map((d) => d.text!);
      const embedder = await embedderOf(orgId, scope.agent_id);
      const vectors = texts.length ? await embedAll(embedder, texts) : [];
      const endedBy = typeof metadata.message_id === 'string' ? metadata.message_id : null;
      const applied: Array<{ put: Omit<repo.MemoryDoc, 'embedder'> } | { remove: Memory }> = [];
      const ended: Superseded[] = [];
      let announce = () => {};
      return db
        .transaction(async (tx) => {
          // A job that committed and then died before being marked done runs again: same source, no second apply.
          if (await repo.historyHasSource(tx, orgId, source)) return [];
          const changes: MemoryChange[] = [];
          // the current memory holding a fact (decisions in this batch included)
          const holderOf = async (text: string) => {
            const [dup] = await repo.duplicatesOf(tx, orgId, [{ ...scope, content: text }]);
            return dup!.existing;
          };
          let v = 0;
          for (const d of writes) {
            if (d.event === 'ADD') {
              const vector = vectors[v++]!;
              const holder = await holderOf(d.text!);
              if (holder) {
                changes.push({ event: 'DUPLICATE', memory_id: holder, content: d.text! });
                continue;
              }
              const row: NewMemory = {
                id: randomUUID(),
                agent_id: scope.agent_id,
                user_id: scope.user_id,
                content: d.text!,
                metadata,
                embedding: vector,
                embedder: embedder?.id ?? null,
                created_at: new Date(),
              };
              await repo.insertMemories(tx, orgId, [row]);
              applied.push({ put: docOf(row) });
              await repo.insertHistory(tx, orgId, [added(row, source)]);
              await emitEvents(tx, orgId, [createdEvent(row, source)]);
              changes.push({ event: 'ADD', memory_id: row.id, content: row.content });
            } else if (d.event === 'UPDATE') {
              const vector = vectors[v++]!;
              const holder = await holderOf(d.text!);
              if (holder === d.id) {
                changes.push({ event: 'DUPLICATE', memory_id: holder, content: d.text! });
                continue;
              }
              // Another memory holds the new fact already: this one ends, superseded by it.
              const replace = { content: d.text!, embedding: vector, embedder: embedder?.id ?? null, metadata: null };
              const done = await supersede(tx, orgId, d.id!, holder ? { successor: holder } : { replace }, endedBy, source);
              if (!done) continue;
              ended.push(done.ended);
              if (holder) {
                applied.push({ remove: done.memory });
                changes.push({ event: 'DELETE', memory_id: d.id!, content: null }, { event: 'DUPLICATE', memory_id: holder, content: d.text! });
              } else {
                applied.push({ put: done.memory });
                changes.push({ event: 'UPDATE', memory_id: d.id!, content: d.text! });
              }
            } else {
              const done = await supersede(tx, orgId, d.id!, {}, endedBy, source);
              if (done) {
                ended.push(done.ended);
                applied.push({ remove: done.memory });
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
          superseded(orgId, ended);
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
        /** what was true then: the facts valid at this time (and the messages said by then) */
        as_of?: Date;
      } & Restriction,
    ): Promise<Array<MemoryHit | EpisodeHit>> {
      const agent = q.agent_id ? await deps.loadAgent(orgId, q.agent_id) : undefined;
      if (q.agent_id && !agent) throw new UnknownAgentError(q.agent_id);
      const embedder = deps.embedderFor(agent?.config.memory.embedder);
      const scope: MemoryScope = { orgId, agentId: q.agent_id, agentIds: q.agent_ids, userId: q.user_id, ...(q.as_of ? { asOf: q.as_of } : {}) };
      const { filters, created_after } = q;
      const created_before = q.as_of && (!q.created_before || q.as_of < q.created_before) ? q.as_of : q.created_before;
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

    /**
     * The memory's events, oldest first, and its versions (the chain: each earlier content
     * with when it held and what superseded it, then the memory as it is); undefined if this
     * org has no trace of it. An earlier version's id reads the chain of the memory it led to.
     */
    async history(orgId: string, id: string) {
      const row = await repo.getMemory(db, orgId, id);
      const main = row?.superseded_by && row.id !== row.superseded_by && !(await repo.listHistory(db, orgId, id)).length ? row.superseded_by : id;
      const [events, versions] = await Promise.all([repo.listHistory(db, orgId, main), repo.listVersions(db, orgId, main)]);
      if (!events.length && !versions.length) return undefined;
      return {
        memory_id: main,
        events,
        versions: versions.map((m) => ({
          id: m.id,
          content: m.content,
          valid_from: m.valid_from,
          valid_to: m.valid_to,
          superseded_by: m.superseded_by,
          ended_by: m.ended_by,
        })),
      };
    },
  };
}

export type Memories = ReturnType<typeof createMemories>;
