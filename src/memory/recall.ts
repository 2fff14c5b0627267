// Hybrid memory search, and recall: that search under the agent's time budget.
//
// A query is embedded once (LRU-cached per embedder; callers asking while it is being
// embedded share that one request), then two searches run at once:
//   - vector: cosine distance to memories of the same embedder. A scope (org, agent, user)
//     with at most EXACT_SCAN_MAX memories is compared row by row; a larger one walks the
//     HNSW index of its dimension (see store/repos/memories.ts and 002_memories.sql);
//   - text: Postgres full-text search over content_tsv, any of the query's words
//     (a large scope finds its matches through the GIN index instead of walking its rows).
// The two ranked lists are fused with reciprocal rank fusion: each memory scores
// Σ 1/(60 + rank) over the lists it appears in. `score` in results is the cosine
// similarity clamped to [0, 1] (0 for memories of another embedder); `min_score` filters on it.
import { LRUCache } from 'lru-cache';
import type { Db } from '../store/db.ts';
import * as repo from '../store/repos/memories.ts';
import type { Hit, Memory, MemoryScope } from '../store/repos/memories.ts';
import { onAbort } from '../abort.ts';
import type { Stage, Timings } from '../trace/timings.ts';
import type { Embedder, EmbedderConfig, EmbedderFor } from './embedders/index.ts';

export const EXACT_SCAN_MAX = 5_000;
/** full-text matches ranked at most, per query */
const TEXT_CANDIDATES = 500;
const RRF_K = 60;

export interface SearchOptions {
  topK: number;
  /** minimum cosine similarity, 0..1 */
  minScore: number;
}

/** A query's embedding (null: the text has no features, nothing to compare) and its SQL literal. */
export type QueryVector = { vector: number[]; literal: string } | null;

export type MemoryHit = Omit<Memory, 'embedder'> & { score: number };

/** Records a sub-stage of the search (recall_embed, recall_search) that started at `since`. */
export type StageSink = (stage: Stage, since: number) => void;

// Function words carry no meaning for the text search (the vector side still sees them).
const STOPWORDS = new Set(
  ('a an the i me my mine myself you your yours we our us he him his she her it its they them their ' +
    'is am are was were be been being do does did have has had will would can could should shall may might must ' +
    'of in on at to for with from by about as into over than then so if or and but not no nor ' +
    'what which who whom whose where when why how that this these those there here ' +
    'please tell know remember any some all just also very too').split(' '),
);

/** The query with stopwords removed, or undefined when no searchable word is left. */
export function searchText(query: string): string | undefined {
  const text = query.replace(/[\p{L}\p{M}]+/gu, (w) => (STOPWORDS.has(w.toLowerCase()) ? ' ' : w));
  return /[\p{L}\p{N}]/u.test(text) ? text : undefined;
}

/** Vector candidates and text candidates fetched per list for `topK` results. */
export const candidateCount = (topK: number) => Math.min(200, Math.max(20, topK * 4));

const clampScore = (s: number | null) => (s === null || !Number.isFinite(s) ? 0 : Math.round(Math.min(1, Math.max(0, s)) * 1e6) / 1e6);

/** Reciprocal rank fusion of ranked lists, then min_score and top_k. */
export function fuse(lists: Hit[][], opts: SearchOptions): MemoryHit[] {
  const fused = new Map<string, { hit: Hit; rrf: number }>();
  for (const list of lists) {
    list.forEach((hit, i) => {
      const entry = fused.get(hit.id);
      if (!entry) fused.set(hit.id, { hit, rrf: 1 / (RRF_K + i + 1) });
      else entry.rrf += 1 / (RRF_K + i + 1);
    });
  }
  return [...fused.values()]
    .map(({ hit, rrf }) => ({ rrf, score: clampScore(hit.similarity), hit }))
    .filter((e) => e.score >= opts.minScore)
    .sort((a, b) => b.rrf - a.rrf || b.score - a.score)
    .slice(0, opts.topK)
    .map(({ score, hit }) => ({
      id: hit.id, agent_id: hit.agent_id, user_id: hit.user_id, content: hit.content, metadata: hit.metadata,
      score, created_at: hit.created_at, updated_at: hit.updated_at,
    }));
}

export function createMemorySearch(db: Db, opts: { exactScanMax?: number } = {}) {
  const exactScanMax = opts.exactScanMax ?? EXACT_SCAN_MAX;
  // query vectors, as promises: a second caller while one is embedding waits for the same request
  const vectors = new LRUCache<string, Promise<QueryVector>>({ max: 10_000 });
  // scope sizes change slowly; a stale one only picks the slower plan for a while
  const sizes = new LRUCache<string, number>({ max: 50_000, ttl: 30_000 });

  /** The query's vector: embedded once per embedder and text. */
  function queryVector(embedder: Embedder, query: string): Promise<QueryVector> {
    const key = `${embedder.id}\n${query}`;
    let v = vectors.get(key);
    if (!v) {
      v = embedder.embed([query]).then(([e]) => (e && e.some((x) => x !== 0) ? { vector: e, literal: repo.vectorLiteral(e) } : null));
      vectors.set(key, v);
      v.catch(() => vectors.delete(key));
    }
    return v;
  }

  async function scopeSize(scope: MemoryScope): Promise<number> {
    const key = `${scope.orgId}|${scope.agentId ?? '*'}|${scope.agentIds?.join(',') ?? '*'}|${scope.userId === undefined ? '*' : scope.userId === null ? '-' : 'u' + scope.userId}`;
    let n = sizes.get(key);
    if (n === undefined) {
      n = await repo.scopeSize(db, scope, exactScanMax + 1);
      sizes.set(key, n);
    }
    return n;
  }

  async function nearest(embedder: Embedder, scope: MemoryScope, vector: string, limit: number, large: boolean): Promise<Hit[]> {
    const q = { embedder: embedder.id, dimensions: embedder.dimensions, vector, limit };
    if (!large || !repo.INDEXED_DIMENSIONS.has(embedder.dimensions)) return repo.nearestMemories(db, scope, { ...q, ann: false });
    const hits = await db.transaction((tx) => repo.nearestMemories(tx, scope, { ...q, ann: true }));
    // The index walk stops after hnsw.max_scan_tuples; if the scope is a tiny share of
    // the index it may come back short: then compare every row instead.
    return hits.length < limit ? repo.nearestMemories(db, scope, { ...q, ann: false }) : hits;
  }

  /** `options.vector`: the query's vector when the caller has it already (recall does). */
  async function searchMemories(
    embedder: Embedder,
    scope: MemoryScope,
    query: string,
    options: SearchOptions & { vector?: QueryVector },
    stage?: StageSink,
  ): Promise<MemoryHit[]> {
    let q = options.vector;
    if (q === undefined) {
      const t0 = performance.now();
      q = await queryVector(embedder, query);
      stage?.('recall_embed', t0);
    }
    const vector = q?.literal ?? null;
    const t1 = performance.now();
    const text = searchText(query);
    const limit = candidateCount(options.topK);
    // Small scopes are read row by row; large ones through the HNSW and GIN indexes.
    const large = (await scopeSize(scope)) > exactScanMax;
    const [near, matched] = await Promise.all([
      vector ? nearest(embedder, scope, vector, limit, large) : [],
      text ? repo.textMatches(db, scope, { text, embedder: embedder.id, vector, limit, candidates: TEXT_CANDIDATES, viaGin: large }) : [],
    ]);
    stage?.('recall_search', t1);
    return fuse([near, matched], options);
  }
  return Object.assign(searchMemories, { queryVector });
}

export type SearchMemories = ReturnType<typeof createMemorySearch>;

/** What recall needs of an agent (a ReadyAgent from src/agent/cache.ts fits). */
export interface RecallAgent {
  id: string;
  org_id: string;
  config: {
    memory: {
      recall_budget_ms: number;
      semantic_recall: { top_k: number; min_score: number };
      embedder: EmbedderConfig;
    };
  };
}

export interface Recalled {
  id: string;
  content: string;
  score: number;
  metadata: Record<string, unknown>;
}

/** Ranks a prepared pool of the user's memories by the query's vector (predictive.ts); undefined: search. */
export type RankPool = (agent: RecallAgent, userId: string | null, embedderId: string, vector: number[]) => Recalled[] | undefined;

/**
 * RunDeps.recall: the agent's memories of this user (user_id null: those with no user)
 * most relevant to the message, within `memory.recall_budget_ms`. The query is embedded
 * once, inside the budget; that vector ranks the predicted pool (when there is one) and,
 * if the pool is not confident, runs the search. Never throws: on the deadline it
 * answers [] and the trace says skipped.recall = 'budget'; on an error, 'error'; when
 * the turn is cancelled, 'aborted'.
 */
export function createRecall(search: SearchMemories, embedderFor: EmbedderFor, rankPool?: RankPool) {
  return async function recall(agent: RecallAgent, userId: string | null, query: string, timings: Timings, signal?: AbortSignal): Promise<Recalled[]> {
    const t0 = performance.now();
    const { recall_budget_ms: budget, semantic_recall, embedder: config } = agent.config.memory;
    // After the deadline (or the cancel) nobody waits: what still finishes is not recorded.
    let over = false;
    const mark: StageSink = (stage, since) => over || timings.mark(stage, since);
    let timer: NodeJS.Timeout | undefined;
    let detach = () => {};
    const work = (async (): Promise<Recalled[]> => {
      const embedder = embedderFor(config);
      const te = performance.now();
      const vector = await search.queryVector(embedder, query);
      mark('recall_embed', te);
      if (over) return [];
      const pooled = vector && rankPool?.(agent, userId, embedder.id, vector.vector);
      if (pooled) {
        timings.skip('recall_search', 'predicted');
        return pooled;
      }
      const scope = { orgId: agent.org_id, agentId: agent.id, userId };
      const hits = await search(embedder, scope, query, { topK: semantic_recall.top_k, minScore: semantic_recall.min_score, vector }, mark);
      return hits.map(({ id, content, score, metadata }) => ({ id, content, score, metadata }));
    })();
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
