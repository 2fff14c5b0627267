// Memories and their history: plain SQL, the same on PGlite and PostgreSQL.
// Vectors travel as pgvector text literals ('[0.1,0.2,…]'); an embedder id is stored
// beside each vector and only vectors of the same embedder are ever compared.
import { one, type Queryable } from '../db.ts';
import { SqlParams } from './sql-params.ts';

export interface Memory {
  id: string;
  agent_id: string | null;
  user_id: string | null;
  content: string;
  metadata: Record<string, unknown>;
  /** the vector space of the stored embedding, e.g. "local:256" */
  embedder: string | null;
  created_at: Date;
  updated_at: Date;
  /** since when the fact holds (its content was written; see 012_temporal.sql) */
  valid_from: Date;
  /** null: current; otherwise when it was replaced or deleted by extraction */
  valid_to: Date | null;
  /** an earlier version: the memory that carries the fact on */
  superseded_by: string | null;
  /** the message that ended it, when known */
  ended_by: string | null;
}

/** The temporal fields of a memory: the lexical index's copies of current rows leave them out. */
export type Validity = Pick<Memory, 'valid_from' | 'valid_to' | 'superseded_by' | 'ended_by'>;

export interface NewMemory {
  id: string;
  agent_id: string | null;
  user_id: string | null;
  content: string;
  metadata: object;
  /** a vector literal, see `vectorLiteral`; null: no vector stored (recall reads none) */
  embedding: string | null;
  embedder: string | null;
  /** set by the caller, so the lexical index's copy of the row is exact */
  created_at: Date;
  /** default: created_at */
  valid_from?: Date;
  /** the vector is to come (embedding and embedder null until then): `pendingEmbeddings` */
  vector_pending?: boolean;
}

export type HistoryEvent = 'ADD' | 'UPDATE' | 'DELETE';

export interface NewHistory {
  id: string;
  memory_id: string;
  event: HistoryEvent;
  old_content: string | null;
  new_content: string | null;
  old_metadata: object | null;
  new_metadata: object | null;
  source: string;
}

export interface HistoryEntry {
  event: HistoryEvent;
  old_content: string | null;
  new_content: string | null;
  old_metadata: Record<string, unknown> | null;
  new_metadata: Record<string, unknown> | null;
  source: string | null;
  created_at: Date;
}

/** Which memories a query sees. agentId/userId undefined: any; userId null: memories with no user. */
export interface MemoryScope {
  orgId: string;
  agentId?: string;
  /** only memories of one of these agents (a scoped key's) */
  agentIds?: string[];
  userId?: string | null;
  /** the rows valid at this time (current and superseded alike); default: current rows only */
  asOf?: Date;
}

const columns = 'id, agent_id, user_id, content, metadata, embedder, created_at, updated_at, valid_from, valid_to, superseded_by, ended_by';
// Rows per INSERT: ~1 MB of vector text at 256 dimensions, well under parameter limits.
const CHUNK = 1_000;

/** pgvector's text form; 7 significant digits is what its float4 storage keeps anyway. */
export function vectorLiteral(v: ArrayLike<number>): string {
  let s = '[';
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (!Number.isFinite(x)) throw new RangeError('embedding has a non-finite component');
    s += (i ? ',' : '') + (x === 0 ? '0' : x.toPrecision(7));
  }
  return s + ']';
}

/**
 * Appends the scope's conditions to `params` and returns them as SQL (`prefix` qualifies columns).
 * unindexed: compares `col::text || ''`, which no btree matches, so the planner has to find
 * rows through another index (used to send a large scope's text search to the GIN index).
 */
function scopeSql(scope: MemoryScope, params: SqlParams, prefix = '', unindexed = false): string {
  const col = (c: string) => (unindexed ? `(${prefix}${c}::text || '')` : prefix + c);
  let sql = `${col('org_id')} = ${params.add(scope.orgId)}`;
  if (scope.agentId !== undefined) sql += ` and ${col('agent_id')} = ${params.add(scope.agentId)}`;
  if (scope.agentIds !== undefined) sql += ` and ${col('agent_id')} = any(${params.add(scope.agentIds)}::uuid[])`;
  if (scope.userId === null) sql += ` and ${col('user_id')} is null`;
  else if (scope.userId !== undefined) sql += ` and ${col('user_id')} = ${params.add(scope.userId)}`;
  if (scope.asOf) {
    const asOf = params.add(scope.asOf.toISOString());
    sql += ` and ${prefix}valid_from <= ${asOf}::timestamptz and (${prefix}valid_to is null or ${prefix}valid_to > ${asOf}::timestamptz)`;
  } else sql += ` and ${prefix}valid_to is null`;
  return sql;
}

/** Many rows, one INSERT per chunk (unnest of arrays: one statement, few parameters). */
export async function insertMemories(db: Queryable, orgId: string, rows: NewMemory[]): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    await db.query(
      `insert into memories (id, org_id, agent_id, user_id, content, metadata, embedding, embedder, created_at, updated_at, valid_from, vector_pending)
       select id, $1, agent_id, user_id, content, metadata, embedding::vector, embedder, created_at, created_at, coalesce(valid_from, created_at), pending
       from unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::jsonb[], $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::bool[])
         as t(id, agent_id, user_id, content, metadata, embedding, embedder, created_at, valid_from, pending)`,
      [
        orgId,
        chunk.map((r) => r.id),
        chunk.map((r) => r.agent_id),
        chunk.map((r) => r.user_id),
        chunk.map((r) => r.content),
        chunk.map((r) => JSON.stringify(r.metadata)),
        chunk.map((r) => r.embedding),
        chunk.map((r) => r.embedder),
        chunk.map((r) => r.created_at.toISOString()),
        chunk.map((r) => r.valid_from?.toISOString() ?? null),
        chunk.map((r) => r.vector_pending ?? false),
      ],
    );
  }
}

export async function insertHistory(db: Queryable, orgId: string, rows: NewHistory[]): Promise<void> {
  const json = (v: object | null) => (v === null ? null : JSON.stringify(v));
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    await db.query(
      `insert into memory_history (id, org_id, memory_id, event, old_content, new_content, old_metadata, new_metadata, source)
       select id, $1, memory_id, event, old_content, new_content, old_metadata, new_metadata, source
       from unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[], $9::text[])
         as t(id, memory_id, event, old_content, new_content, old_metadata, new_metadata, source)`,
      [
        orgId,
        chunk.map((r) => r.id),
        chunk.map((r) => r.memory_id),
        chunk.map((r) => r.event),
        chunk.map((r) => r.old_content),
        chunk.map((r) => r.new_content),
        chunk.map((r) => json(r.old_metadata)),
        chunk.map((r) => json(r.new_metadata)),
        chunk.map((r) => r.source),
      ],
    );
  }
}

/** Undoes an insert (a batch that failed part-way): the memories and their history rows. */
export async function deleteMemoriesWithHistory(db: Queryable, orgId: string, ids: string[]): Promise<void> {
  await db.query('delete from memory_history where org_id = $1 and memory_id = any($2::uuid[])', [orgId, ids]);
  await db.query('delete from memories where org_id = $1 and id = any($2::uuid[])', [orgId, ids]);
}

export const getMemory = (db: Queryable, orgId: string, id: string) =>
  one<Memory>(db, `select ${columns} from memories where org_id = $1 and id = $2`, [orgId, id]);

/** A memory as the lexical index keeps it (no vector; a current one leaves out its validity). */
export type MemoryDoc = Omit<Memory, 'embedder' | keyof Validity> & Partial<Validity>;

/**
 * Every current memory of a scope (agentId/userId undefined: any; null: none): what the lexical index
 * is built from. `=` and `is null`, never `is not distinct from`, so memories_scope (or
 * memories_org_user) serves it: one user's rows, not a walk of the organization.
 */
export function loadMemoryDocs(db: Queryable, orgId: string, scope: { agentId?: string | null; userId?: string | null } = {}) {
  const params = new SqlParams(orgId);
  let where = 'org_id = $1 and valid_to is null';
  if (scope.agentId === null) where += ' and agent_id is null';
  else if (scope.agentId !== undefined) where += ` and agent_id = ${params.add(scope.agentId)}`;
  if (scope.userId === null) where += ' and user_id is null';
  else if (scope.userId !== undefined) where += ` and user_id = ${params.add(scope.userId)}`;
  return db.query<MemoryDoc>(`select id, agent_id, user_id, content, metadata, created_at, updated_at from memories where ${where}`, params.values);
}

/** The ids of the scope's memories that pass a restriction (filters.ts), at most `cap`. */
export async function restrictedIds(db: Queryable, scope: MemoryScope, restriction: (params: SqlParams) => string, cap: number): Promise<Set<string>> {
  const params = new SqlParams();
  const where = scopeSql(scope, params);
  const cond = restriction(params);
  const rows = await db.query<{ id: string }>(`select id from memories where ${where} and ${cond} limit ${params.add(cap)}`, params.values);
  return new Set(rows.map((r) => r.id));
}

/** Newest first. */
export function listMemories(db: Queryable, scope: MemoryScope, limit: number, offset: number) {
  const params = new SqlParams();
  const where = scopeSql(scope, params);
  return db.query<Memory>(
    `select ${columns} from memories where ${where}
     order by created_at desc, id desc limit ${params.add(limit)} offset ${params.add(offset)}`,
    params.values,
  );
}

/**
 * Changes a current memory's content (with its new embedding, null: none) and/or metadata;
 * a null content or metadata leaves that field as it is. New content starts a new validity
 * (valid_from): keep the old one first with `keepVersion`.
 * Returns the new row and the content/metadata it replaced.
 */
export const updateMemory = (
  db: Queryable,
  orgId: string,
  id: string,
  change: { content: string | null; embedding: string | null; embedder: string | null; metadata: object | null },
) =>
  one<Memory & { old_content: string; old_metadata: Record<string, unknown> }>(
    db,
    `with old as (select id, content, metadata from memories where org_id = $1 and id = $2 and valid_to is null for update)
     update memories m set
       content = coalesce($3, m.content),
       embedding = case when $3::text is null then m.embedding else $4::vector end,
       embedder = case when $3::text is null then m.embedder else $5 end,
       vector_pending = case when $3::text is null then m.vector_pending else false end,
       metadata = coalesce($6::jsonb, m.metadata),
       valid_from = case when $3::text is null then m.valid_from else now() end,
       updated_at = now()
     from old where m.id = old.id
     returning ${columns
       .split(', ')
       .map((c) => 'm.' + c)
       .join(', ')}, old.content as old_content, old.metadata as old_metadata`,
    [orgId, id, change.content, change.embedding, change.embedder, change.metadata === null ? null : JSON.stringify(change.metadata)],
  );

/**
 * Keeps a current memory's content as an earlier version (a row of its own, ended now,
 * superseded by `supersededBy`), before the memory takes new content. False if it is not current.
 */
export const keepVersion = async (db: Queryable, orgId: string, id: string, version: { id: string; supersededBy: string; endedBy: string | null }) =>
  (
    await db.query(
      `insert into memories (id, org_id, agent_id, user_id, content, metadata, embedding, embedder, created_at, updated_at, valid_from, valid_to, superseded_by, ended_by)
       select $3, org_id, agent_id, user_id, content, metadata, embedding, embedder, created_at, now(), valid_from, now(), $4, $5
       from memories where org_id = $1 and id = $2 and valid_to is null
       returning id`,
      [orgId, id, version.id, version.supersededBy, version.endedBy],
    )
  ).length > 0;

/** Ends a current memory (extraction deleted it, or `supersededBy` holds the same fact): the row stays, valid until now. */
export const endMemory = (db: Queryable, orgId: string, id: string, end: { supersededBy: string | null; endedBy: string | null }) =>
  one<Memory>(
    db,
    `update memories set valid_to = now(), updated_at = now(), superseded_by = $3, ended_by = $4
     where org_id = $1 and id = $2 and valid_to is null returning ${columns}`,
    [orgId, id, end.supersededBy, end.endedBy],
  );

/**
 * Erases a memory for real (an API delete: "forget this"): the row, its earlier versions,
 * and the content of its history rows (the events stay, emptied). Deleting an earlier
 * version erases that version and its content in the history of the memory it led to.
 */
export async function deleteMemory(db: Queryable, orgId: string, id: string): Promise<Memory | undefined> {
  const old = await one<Memory>(db, `delete from memories where org_id = $1 and id = $2 returning ${columns}`, [orgId, id]);
  if (!old) return undefined;
  await db.query('delete from memories where org_id = $1 and superseded_by = $2', [orgId, id]);
  await db.query(
    'update memory_history set old_content = null, new_content = null, old_metadata = null, new_metadata = null where org_id = $1 and memory_id = $2',
    [orgId, id],
  );
  if (old.superseded_by) {
    await db.query(
      `update memory_history set
         old_content = case when old_content = $3 then null else old_content end,
         new_content = case when new_content = $3 then null else new_content end
       where org_id = $1 and memory_id = $2`,
      [orgId, old.superseded_by, old.content],
    );
  }
  return old;
}

/** A memory and its earlier versions, oldest first: the chain of what replaced what. */
export const listVersions = (db: Queryable, orgId: string, id: string) =>
  db.query<Memory>(
    `select ${columns} from memories where org_id = $1 and (id = $2 or superseded_by = $2)
     order by valid_from, valid_to nulls last`,
    [orgId, id],
  );

/** The ids (and agents) of a user's memories: what forgetting them deletes. */
export const memoryRefsOfUser = (db: Queryable, orgId: string, userId: string) =>
  db.query<{ id: string; agent_id: string | null }>('select id, agent_id from memories where org_id = $1 and user_id = $2', [orgId, userId]);

export const listHistory = (db: Queryable, orgId: string, memoryId: string) =>
  db.query<HistoryEntry>(
    `select event, old_content, new_content, old_metadata, new_metadata, source, created_at
     from memory_history where org_id = $1 and memory_id = $2
     order by created_at, case event when 'ADD' then 0 when 'UPDATE' then 1 else 2 end`,
    [orgId, memoryId],
  );

/**
 * For each text to write: its duplicate key (012_temporal.sql, memory_key) and the current
 * memory of the same (agent, user) that already holds it, if any.
 */
export async function duplicatesOf(
  db: Queryable,
  orgId: string,
  items: Array<{ agent_id: string | null; user_id: string | null; content: string }>,
): Promise<Array<{ key: string; existing: string | null }>> {
  if (!items.length) return [];
  const rows = await db.query<{ i: string; key: string; existing: string | null }>(
    `select t.i, memory_key(t.content) as key,
       (select m.id from memories m
        where m.org_id = $1 and m.valid_to is null and m.content_key = memory_key(t.content)
          and m.agent_id is not distinct from t.agent_id and m.user_id is not distinct from t.user_id
        order by m.created_at limit 1) as existing
     from unnest($2::uuid[], $3::text[], $4::text[]) with ordinality as t(agent_id, user_id, content, i)`,
    [orgId, items.map((r) => r.agent_id), items.map((r) => r.user_id), items.map((r) => r.content)],
  );
  const out = new Array<{ key: string; existing: string | null }>(items.length);
  for (const r of rows) out[Number(r.i) - 1] = { key: r.key, existing: r.existing };
  return out;
}

/** The scope's memories valid at `scope.asOf` (at most `cap`, newest first): an as_of search ranks these. */
export function memoryDocsAsOf(db: Queryable, scope: MemoryScope & { asOf: Date }, cap: number) {
  const params = new SqlParams();
  const where = scopeSql(scope, params);
  return db.query<MemoryDoc>(
    `select id, agent_id, user_id, content, metadata, created_at, updated_at, valid_from, valid_to, superseded_by, ended_by
     from memories where ${where} order by valid_from desc limit ${params.add(cap)}`,
    params.values,
  );
}

// ---- search ----

/** How many memories the scope holds, counting no further than `cap` (an index-only walk). */
export async function scopeSize(db: Queryable, scope: MemoryScope, cap: number): Promise<number> {
  const params = new SqlParams();
  const where = scopeSql(scope, params);
  const row = await one<{ n: number }>(db, `select count(*)::int as n from (select 1 from memories where ${where} limit ${params.add(cap)}) s`, params.values);
  return row?.n ?? 0;
}

export interface Hit extends Memory {
  /** cosine similarity to the query vector (1 − cosine distance); null if not comparable */
  similarity: number | null;
}

/** Dimensions that have an HNSW index in 002_memories.sql (2048 as halfvec). */
export const INDEXED_DIMENSIONS = new Set([256, 384, 512, 768, 1024, 1536, 2048]);

/**
 * The `limit` memories nearest to `vector` (same embedder only), best first.
 * exact: every row in scope is compared (fast for small scopes, through memories_scope).
 * ann: the HNSW index of this dimension, with iterative scanning so a scope filter cannot
 * starve the result; run it inside a transaction (it sets planner settings locally).
 */
export async function nearestMemories(
  db: Queryable,
  scope: MemoryScope,
  q: { embedder: string; dimensions: number; vector: string; limit: number; ann: boolean },
): Promise<Hit[]> {
  const d = q.dimensions;
  if (!Number.isInteger(d) || d < 1) throw new RangeError(`bad dimensions ${d}`);
  const params = new SqlParams(q.vector, q.embedder);
  const where = scopeSql(scope, params);
  const limit = params.add(q.limit);
  if (q.ann) {
    // Only the index can order without a sort, so this forces it even without statistics
    // (PGlite runs no autovacuum); relaxed_order keeps scanning until `limit` rows pass the filter.
    await db.query(
      `select set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true),
              set_config('enable_sort', 'off', true)`,
      [String(Math.min(1_000, Math.max(40, q.limit)))],
    );
  }
  // The ann expression must be exactly the index expression, under the index predicate.
  const type = d > 2000 ? 'halfvec' : 'vector';
  const distance = q.ann ? `(embedding::${type}(${d})) <=> $1::${type}(${d})` : 'embedding <=> $1::vector';
  const rows = await db.query<Hit & { distance: number }>(
    `select ${columns}, ${distance} as distance from memories
     where ${where} and embedder = $2 and vector_dims(embedding) = ${d}
     order by distance limit ${limit}`,
    params.values,
  );
  // relaxed_order may return rows slightly out of order
  if (q.ann) rows.sort((a, b) => a.distance - b.distance);
  return rows.map(({ distance, ...m }) => ({ ...m, similarity: 1 - distance }));
}

/**
 * Full-text matches of any of the query's words ('simple' config, OR), best ts_rank first.
 * At most `candidates` matching rows are ranked, so a very common word costs a bounded time.
 * viaGin: for a large scope, find rows through the GIN index on content_tsv rather than by
 * walking every row of the scope (which a query matching nothing would do in full).
 */
export async function textMatches(
  db: Queryable,
  scope: MemoryScope,
  q: { text: string; embedder: string; vector: string | null; limit: number; candidates: number; viaGin: boolean },
): Promise<Array<Hit & { rank: number }>> {
  const params = new SqlParams(q.text, q.embedder, q.vector);
  const where = scopeSql(scope, params, 'm.', q.viaGin);
  // plainto_tsquery tokenizes and quotes like the stored tsvector; its ANDs become ORs.
  // Inline (not a CTE), so it is an index condition the GIN index can serve.
  const tsq = `replace(plainto_tsquery('simple', $1)::text, ' & ', ' | ')::tsquery`;
  return db.query<Hit & { rank: number }>(
    `with hits as (select m.* from memories m where ${where} and m.content_tsv @@ ${tsq} limit ${params.add(q.candidates)}),
     ranked as (select hits.*, ts_rank(hits.content_tsv, ${tsq}) as rank from hits order by rank desc limit ${params.add(q.limit)})
     select ${columns}, rank,
       case when embedder = $2 then 1 - (embedding <=> $3::vector) end as similarity
     from ranked order by rank desc`,
    params.values,
  );
}

/** Whether any change was already recorded under `source` (an extraction job's id): a retry must not apply twice. */
export const historyHasSource = async (db: Queryable, orgId: string, source: string) =>
  (await db.query('select 1 from memory_history where org_id = $1 and source = $2 limit 1', [orgId, source])).length > 0;

/** A batch of an agent's memories whose vectors are not (yet) in `embedder`'s space. */
export const staleEmbeddings = (db: Queryable, orgId: string, agentId: string, embedder: string, limit: number) =>
  db.query<{ id: string; content: string }>(
    `select id, content from memories where org_id = $1 and agent_id = $2 and embedder is distinct from $3 order by id limit $4`,
    [orgId, agentId, embedder, limit],
  );

/** New vectors for existing memories: content unchanged, so no history and no updated_at. No longer pending. */
export async function setEmbeddings(db: Queryable, orgId: string, rows: Array<{ id: string; embedding: string }>, embedder: string): Promise<void> {
  await db.query(
    `update memories m set embedding = t.embedding::vector, embedder = $2, vector_pending = false
     from unnest($3::uuid[], $4::text[]) as t(id, embedding) where m.org_id = $1 and m.id = t.id`,
    [orgId, embedder, rows.map((r) => r.id), rows.map((r) => r.embedding)],
  );
}

/** The next `limit` memories of an agent whose vector is pending (015_vector_pending.sql), by id. */
export const pendingEmbeddings = (db: Queryable, orgId: string, agentId: string, limit: number) =>
  db.query<{ id: string; content: string }>('select id, content from memories where org_id = $1 and agent_id = $2 and vector_pending order by id limit $3', [
    orgId,
    agentId,
    limit,
  ]);

/**
 * The vectors of pending memories, each stored only if the memory still holds the text it was
 * computed from (a PATCH meanwhile stored its own); returns how many were stored.
 */
export async function setPendingEmbeddings(
  db: Queryable,
  orgId: string,
  rows: Array<{ id: string; content: string; embedding: string }>,
  embedder: string,
): Promise<number> {
  const done = await db.query(
    `update memories m set embedding = t.embedding::vector, embedder = $2, vector_pending = false
     from unnest($3::uuid[], $4::text[], $5::text[]) as t(id, content, embedding)
     where m.org_id = $1 and m.id = t.id and m.vector_pending and m.content = t.content
     returning 1`,
    [orgId, embedder, rows.map((r) => r.id), rows.map((r) => r.content), rows.map((r) => r.embedding)],
  );
  return done.length;
}

/** Nothing pending for the agent any more (its recall no longer reads vectors). */
export const clearPendingEmbeddings = (db: Queryable, orgId: string, agentId: string) =>
  db.query('update memories set vector_pending = false where org_id = $1 and agent_id = $2 and vector_pending', [orgId, agentId]);

/** The stored vectors of some memories (those in `embedder`'s space), by id. */
export async function vectorsOf(db: Queryable, orgId: string, ids: string[], embedder: string): Promise<Map<string, number[]>> {
  if (!ids.length) return new Map();
  const rows = await db.query<{ id: string; v: string }>(
    'select id, embedding::text as v from memories where org_id = $1 and id = any($2::uuid[]) and embedder = $3',
    [orgId, ids, embedder],
  );
  return new Map(rows.map((r) => [r.id, JSON.parse(r.v) as number[]]));
}
