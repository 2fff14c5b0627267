// Memory search, and recall: that search under the agent's time budget.
//
// The text side is BM25 over an in-process index per scope (lexical/), with IDF and
// length normalization of the scope's memories as they are now; it needs no SQL and no
// embedding. The vector side (cosine distance in pgvector, see store/repos/memories.ts)
// runs only where it helps: measured on our benchmark (docs/memory.md), the default
// hashed local vector lowers recall when fused with BM25, so its weight is 0 unless an
// agent sets `semantic_recall.vector_weight`; a real embedder (openai-compatible, zhipu)
// is fused at weight MODEL_VECTOR_WEIGHT. Fusion is weighted reciprocal rank fusion: a memory scores
// Σ weight / (60 + rank) over the lists it appears in.
//
// `score` in results: the cosine similarity (clamped to [0, 1]) when the vector side ran,
// otherwise the share of the query's IDF weight the memory matches (0..1); `min_score`
// filters on it. `filters` / `created_after` / `created_before` are answered by SQL first
// (filters.ts), and ranking is restricted to the rows that pass.
import { LRUCache } from 'lru-cache';
import type { Db } from '../store/db.ts';
import * as repo from '../store/repos/memories.ts';
import type { MemoryDoc, MemoryScope } from '../store/repos/memories.ts';
import { onAbort } from '../abort.ts';
import type { Stage, Timings } from '../trace/timings.ts';
import type { Embedder, EmbedderConfig, EmbedderFor } from './embedders/index.ts';
import { isRestricted, restrictionSql, type Restriction } from './filters.ts';
import { analyze } from './lexical/tokens.ts';
import { Bm25Index, searchIndexes } from './lexical/bm25.ts';
import { MEMORY_RANKING, MODEL_VECTOR_WEIGHT, NEURAL_VECTOR_WEIGHT, type SearchScope } from './recall-config.ts';
import { lexicalSearch } from './cold-search.ts';
import * as keys from '../keys.ts';
import { createMemoryIndex, type MemoryIndex } from './memory-index.ts';
import type { Episodes, MessageRange } from './episodic.ts';
import { searchByScope } from './memory-search.ts';

export const EXACT_SCAN_MAX = 5_000;
const RRF_K = 60;
/** rows a filter may pass before ranking; past this, the newest are ranked */
const RESTRICTED_MAX = 100_000;
/** rows an `as_of` search ranks (those valid then, newest first): its index is built per query */
export const AS_OF_MAX = 20_000;

export interface SearchOptions extends Restriction {
  topK: number;
  /** minimum score, 0..1 */
  minScore: number;
  /** weight of the vector list in the fusion (lexical: 1); default: vectorWeightOf(embedder) */
  vectorWeight?: number;
}

/** A query's embedding (null: the text has no features, nothing to compare) and its SQL literal. */
export type QueryVector = { vector: number[]; literal: string } | null;

export type MemoryHit = MemoryDoc & { score: number };

/** Records a sub-stage of the search (recall_embed, recall_search) that started at `since`. */
export type StageSink = (stage: Stage, since: number) => void;

/**
 * The fusion weight of an embedder's vectors by default, per kind (recall-config.ts): 0 for the
 * hashed local one (it lowers recall); NEURAL_VECTOR_WEIGHT for the local neural model (USE-lite);
 * MODEL_VECTOR_WEIGHT for a remote model.
 */
export { MODEL_VECTOR_WEIGHT, NEURAL_VECTOR_WEIGHT };
export const vectorWeightOf = (embedder: Pick<Embedder, 'id'>) =>
  embedder.id.startsWith('local:') ? 0 : embedder.id.startsWith('use-lite:') ? NEURAL_VECTOR_WEIGHT : MODEL_VECTOR_WEIGHT;

const isEnglishOnly = (embedder: Pick<Embedder, 'id'>) => embedder.id.startsWith('use-lite:');
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/gu;
const LETTER = /\p{L}/gu;
/** mostly Chinese, Japanese or Korean letters */
const isCjk = (text: string) => (text.match(CJK)?.length ?? 0) * 2 > (text.match(LETTER)?.length ?? 0);

/**
 * The weight a query's vector gets: the agent's `vector_weight` when set, else the embedder's
 * default — except that an English-only model (USE-lite) sits out a Chinese/Japanese/Korean
 * query (measured: it lowers recall there, docs/memory.md), so that query is neither embedded
 * nor fused.
 */
export function queryVectorWeight(embedder: Pick<Embedder, 'id'>, query: string, configured?: number): number {
  if (configured !== undefined) return configured;
  return isEnglishOnly(embedder) && isCjk(query) ? 0 : vectorWeightOf(embedder);
}

/**
 * Whether the predicted pool (predictive.ts), ranked by the vector alone, may answer a turn:
 * not when the vector is a minor voice of an English-only model (USE-lite below weight 1 —
 * alone it finds two thirds of what BM25 finds on REALTALK), so every turn gets the fusion.
 */
export const poolMayAnswer = (embedder: Pick<Embedder, 'id'>, weight: number) => !isEnglishOnly(embedder) || weight >= 1;

/** Share of `recall_budget_ms` the query embedding may take; past it, recall ranks by text alone. */
export const EMBED_BUDGET_SHARE = 0.75;

/** Candidates fetched per list for `topK` results. */
export const candidateCount = (topK: number) => Math.min(200, Math.max(20, topK * 4));

const clampScore = (s: number | null | undefined) =>
  s === null || s === undefined || !Number.isFinite(s) ? 0 : Math.round(Math.min(1, Math.max(0, s)) * 1e6) / 1e6;

export interface Ranked {
  doc: MemoryDoc;
  /** 0..1, see the file comment */
  score: number;
}

/** Weighted reciprocal rank fusion of ranked lists (each with its weight), then min_score and top_k. */
export function fuse(
  lists: Array<{ weight: number; hits: Ranked[] }>,
  opts: Pick<SearchOptions, 'topK' | 'minScore'>,
  scoreOf: (id: string, fallback: number) => number = (_, s) => s,
): MemoryHit[] {
  const fused = new Map<string, { doc: MemoryDoc; rrf: number; score: number }>();
  for (const { weight, hits } of lists) {
    if (weight <= 0) continue;
    hits.forEach((h, i) => {
      const e = fused.get(h.doc.id);
      if (!e) fused.set(h.doc.id, { doc: h.doc, rrf: weight / (RRF_K + i + 1), score: h.score });
      else e.rrf += weight / (RRF_K + i + 1);
    });
  }
  return [...fused.values()]
    .map((e) => ({ ...e, score: clampScore(scoreOf(e.doc.id, e.score)) }))
    .filter((e) => e.score >= opts.minScore)
    .sort((a, b) => b.rrf - a.rrf || b.score - a.score)
    .slice(0, opts.topK)
    .map(({ doc, score }) => ({ ...doc, score }));
}

/** `coldWaitMs`: how long a search waits for a cold scope's index before the store answers (cold-search.ts). */
export function createMemorySearch(db: Db, opts: { exactScanMax?: number; index?: MemoryIndex; coldWaitMs?: number } = {}) {
  const exactScanMax = opts.exactScanMax ?? EXACT_SCAN_MAX;
  const index = opts.index ?? createMemoryIndex(db);
  // query vectors, as promises: a second caller while one is embedding waits for the same request
  const vectors = new LRUCache<string, Promise<QueryVector>>({ max: 10_000 });
  // scope sizes change slowly; a stale one only picks the slower plan for a while
  const sizes = new LRUCache<string, number>({ max: 50_000, ttl: 30_000 });

  /** The query's vector: embedded once per embedder and text. */
  function queryVector(embedder: Embedder, query: string): Promise<QueryVector> {
    const key = keys.vectorKey(embedder.id, query);
    let v = vectors.get(key);
    if (!v) {
      v = embedder.embed([query]).then(([e]) => (e && e.some((x) => x !== 0) ? { vector: e, literal: repo.vectorLiteral(e) } : null));
      vectors.set(key, v);
      v.catch(() => vectors.delete(key));
    }
    return v;
  }

  async function scopeSize(scope: MemoryScope): Promise<number> {
    const key = keys.searchScopeKey(scope);
    let n = sizes.get(key);
    if (n === undefined) {
      n = await repo.scopeSize(db, scope, exactScanMax + 1);
      sizes.set(key, n);
    }
    return n;
  }

  async function nearest(embedder: Embedder, scope: MemoryScope, vector: string, limit: number): Promise<repo.Hit[]> {
    const large = (await scopeSize(scope)) > exactScanMax;
    const q = { embedder: embedder.id, dimensions: embedder.dimensions, vector, limit };
    if (!large || !repo.INDEXED_DIMENSIONS.has(embedder.dimensions)) return repo.nearestMemories(db, scope, { ...q, ann: false });
    const hits = await db.transaction((tx) => repo.nearestMemories(tx, scope, { ...q, ann: true }));
    // The index walk stops after hnsw.max_scan_tuples; if the scope is a tiny share of
    // the index it may come back short: then compare every row instead.
    return hits.length < limit ? repo.nearestMemories(db, scope, { ...q, ann: false }) : hits;
  }

  /**
   * The lexical side of an `as_of` search: the in-process indexes hold current facts only, so
   * the facts valid then are read from the store and ranked in an index of their own.
   */
  async function searchAsOf(scope: MemoryScope & { asOf: Date }, terms: string[], limit: number, allow?: (d: MemoryDoc) => boolean) {
    const ix = new Bm25Index<MemoryDoc>();
    for (const d of await repo.memoryDocsAsOf(db, scope, AS_OF_MAX)) ix.put(d.id, d, analyze(d.content));
    return searchIndexes([ix], terms, limit, allow, MEMORY_RANKING);
  }

  /** `options.vector`: the query's vector when the caller has it already (recall does). */
  async function searchMemories(
    embedder: Embedder,
    scope: MemoryScope,
    query: string,
    options: SearchOptions & { vector?: QueryVector },
    stage?: StageSink,
  ): Promise<MemoryHit[]> {
    const weight = queryVectorWeight(embedder, query, options.vectorWeight);
    let q = options.vector;
    if (weight > 0 && q === undefined) {
      const t0 = performance.now();
      q = await queryVector(embedder, query);
      stage?.('recall_embed', t0);
    }
    const t1 = performance.now();
    const limit = candidateCount(options.topK);
    const allowed = isRestricted(options) ? await repo.restrictedIds(db, scope, (params) => restrictionSql(options, params), RESTRICTED_MAX) : undefined;
    const allow = allowed && ((d: MemoryDoc) => allowed.has(d.id));
    const vector = weight > 0 ? q?.literal : undefined;
    const [lexical, near] = await Promise.all([
      scope.asOf
        ? searchAsOf({ ...scope, asOf: scope.asOf }, analyze(query), limit, allow)
        : lexicalSearch(db, index, scope, query, limit, allow, opts.coldWaitMs),
      vector ? nearest(embedder, scope, vector, allowed ? Math.max(limit, 1_000) : limit) : [],
    ]);
    stage?.('recall_search', t1);
    const lists = [{ weight: 1, hits: lexical.map((h) => ({ doc: h.doc, score: h.coverage })) }];
    if (!vector) return fuse(lists, options);
    const similarity = new Map<string, number | null>();
    const vectorHits: Ranked[] = [];
    for (const { similarity: s, embedder: _e, ...doc } of near) {
      if (allowed && !allowed.has(doc.id)) continue;
      similarity.set(doc.id, s);
      vectorHits.push({ doc, score: s ?? 0 });
    }
    lists.push({ weight, hits: vectorHits });
    // with a vector side, score is the cosine similarity (0 for a memory it did not return)
    return fuse(lists, options, (id) => similarity.get(id) ?? 0);
  }
  return Object.assign(searchMemories, { queryVector, index });
}

export type SearchMemories = ReturnType<typeof createMemorySearch>;

/** What recall needs of an agent (a ReadyAgent from src/agent/cache.ts fits). */
export interface RecallAgent {
  id: string;
  org_id: string;
  config: {
    memory: {
      recall_budget_ms: number;
      semantic_recall: {
        top_k: number;
        min_score: number;
        vector_weight?: number;
        filters?: Restriction['filters'];
        scope?: SearchScope;
        message_range?: MessageRange;
      };
      embedder: EmbedderConfig;
    };
  };
}

/** A memory (or a past message) recalled for a turn, as the prompt and the metadata event carry it. */
export interface RecalledMemory {
  id: string;
  content: string;
  score: number;
  /** always set by recall; a prompt built elsewhere (bench, scripts) may leave it out */
  metadata?: Record<string, unknown>;
}

/** Ranks a prepared pool of the user's memories by the query's vector (predictive.ts); undefined: search. */
export type RankPredicted = (agent: RecallAgent, userId: string | null, embedderId: string, vector: number[]) => RecalledMemory[] | undefined;

/**
 * RunDeps.recall: the agent's memories of this user (user_id null: those with no user)
 * most relevant to the message, within `memory.recall_budget_ms`. When the vector side
 * is on, the query is embedded once, inside the budget; that vector ranks the predicted
 * pool (when there is one) and, if the pool is not confident, runs the search. Never
 * throws: on the deadline it answers [] and the trace says skipped.recall = 'budget'; on
 * an error, 'error'; when the turn is cancelled, 'aborted'.
 */
export function createRecall(search: SearchMemories, embedderFor: EmbedderFor, rankPredicted?: RankPredicted, episodes?: Episodes) {
  return async function recall(agent: RecallAgent, userId: string | null, query: string, timings: Timings, signal?: AbortSignal): Promise<RecalledMemory[]> {
    const t0 = performance.now();
    const { recall_budget_ms: budget, semantic_recall, embedder: config } = agent.config.memory;
    // After the deadline (or the cancel) nobody waits: what still finishes is not recorded.
    let over = false;
    const mark: StageSink = (stage, since) => over || timings.mark(stage, since);
    let timer: NodeJS.Timeout | undefined;
    let detach = () => {};
    const which = semantic_recall.scope ?? 'facts';
    const scope = { orgId: agent.org_id, agentId: agent.id, userId };
    // past messages (the turn's own question may already be stored: never recalled)
    const pastMessages = async (): Promise<RecalledMemory[]> => {
      if (!episodes) return [];
      const hits = await episodes.search(scope, query, {
        topK: semantic_recall.top_k,
        minScore: semantic_recall.min_score,
        range: semantic_recall.message_range,
        filters: semantic_recall.filters,
        exclude: query,
      });
      return hits.map(({ id, content, score, metadata }) => ({ id, content, score, metadata }));
    };
    const facts = async (): Promise<RecalledMemory[]> => {
      const embedder = embedderFor(config);
      const weight = queryVectorWeight(embedder, query, semantic_recall.vector_weight);
      let vector: QueryVector | undefined;
      if (weight > 0) {
        const te = performance.now();
        // A late embedding is not waited for: the text side answers alone (the vector, when it
        // comes, is cached for the next time this text is asked).
        const late = Symbol('late');
        const pending = search.queryVector(embedder, query);
        let lateTimer: NodeJS.Timeout | undefined;
        const got = await Promise.race([
          pending,
          new Promise<typeof late>((resolve) => (lateTimer = setTimeout(() => resolve(late), Math.max(0, t0 + budget * EMBED_BUDGET_SHARE - te)))),
        ]).finally(() => clearTimeout(lateTimer));
        if (over) return [];
        if (got === late) {
          pending.catch(() => {});
          timings.skip('recall_embed', 'budget');
          const hits = await search(
            embedder,
            scope,
            query,
            { topK: semantic_recall.top_k, minScore: semantic_recall.min_score, vectorWeight: 0, filters: semantic_recall.filters },
            mark,
          );
          return hits.map(({ id, content, score, metadata }) => ({ id, content, score, metadata }));
        }
        vector = got;
        mark('recall_embed', te);
        const pooled = vector && !semantic_recall.filters && poolMayAnswer(embedder, weight) && rankPredicted?.(agent, userId, embedder.id, vector.vector);
        if (pooled) {
          timings.skip('recall_search', 'predicted');
          return pooled;
        }
      }
      const hits = await search(
        embedder,
        scope,
        query,
        { topK: semantic_recall.top_k, minScore: semantic_recall.min_score, vectorWeight: weight, filters: semantic_recall.filters, vector },
        mark,
      );
      return hits.map(({ id, content, score, metadata }) => ({ id, content, score, metadata }));
    };
    const work = searchByScope(which, semantic_recall.top_k, facts, pastMessages);
    const cut = new Promise<'budget' | 'aborted'>((resolve) => {
      timer = setTimeout(() => resolve('budget'), budget);
      timer.unref();
      detach = onAbort(signal, () => resolve('aborted'));
    });
    try {
      const result = await Promise.race([work, cut]);
      if (typeof result === 'string') {
        over = true;
        work.catch(() => {}); // finishes in the background (its vector is cached); nobody waits for it
        timings.skip('recall', result);
        return [];
      }
      return result;
    } catch {
      timings.skip('recall', 'error');
      return [];
    } finally {
      clearTimeout(timer);
      detach();
      timings.mark('recall', t0);
    }
  };
}

export type Recall = ReturnType<typeof createRecall>;
