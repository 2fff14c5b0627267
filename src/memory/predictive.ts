// Predictive recall. After an answer, the memories the next turn most likely needs (the
// user's nearest PREDICTED memories to the exchange just finished) are fetched in the background,
// vectors included. The next request ranks that pool against its own message's vector
// in process, with no SQL at all; only when the pool's best match is weak (the topic
// moved) does it run the fresh search. Both are recall's (recall.ts): the query is
// embedded once, inside the budget, and that one vector serves the pool and the search. Any write to the scope's
// memories drops its pool (across instances through the invalidation bus), so a pool
// never serves a memory that changed. With extraction on, its search of the exchange is
// the pool (one search per turn); only a turn whose extraction changed memories searches again.
import { LRUCache } from 'lru-cache';
import type { Db } from '../store/db.ts';
import { alwaysTrusted, type CacheGuard } from '../store/invalidation.ts';
import { vectorsOf } from '../store/repos/memories.ts';
import type { EmbedderFor } from './embedders/index.ts';
import { PREDICTION_BYTES } from './bounds.ts';
import * as keys from '../keys.ts';
import { stringBytes } from './lexical/bm25.ts';
import { jsonBytes } from './lexical/doc-bytes.ts';
import type { MemoryHit, RecallAgent, RecalledMemory, SearchMemories } from './recall.ts';

const PREDICTED = 48;
/** cosine similarity the pool's best match needs for the pool to answer alone */
export const CONFIDENT = 0.3;

/** An agent whose recall may be off (then no pool is kept). */
export type PoolAgent = RecallAgent & { config: { memory: { semantic_recall: { enabled: boolean } } } };

/** The memories kept for a scope's next turn, with their vectors. */
interface Prediction {
  embedder: string;
  items: Array<RecalledMemory & { vector: Float32Array }>;
}

/** A scope's key (keys.ts); agent '*': every agent of that user. */
export const scopeKey = (orgId: string, agentId: string | null, userId: string | null) => keys.scopeKey(orgId, agentId === '*' ? undefined : agentId, userId);

/** A pool's heap size, estimated: its items, their strings and vectors (V8). */
const predictionBytes = (p: Prediction) =>
  200 + p.items.reduce((n, m) => n + 200 + stringBytes(m.id) + stringBytes(m.content) + jsonBytes(m.metadata) + m.vector.byteLength, 0);

/** The pools' counters, for metrics. */
export interface PredictionStats {
  bytes: number;
  /** scopes with a pool */
  entries: number;
  evictions: number;
}

/**
 * `guard`: while the invalidation bus cannot be trusted, no pool answers and none is kept.
 * `maxBytes`: the pools kept, together (least recently used leave first).
 */
export function createPredictions(deps: { db: Db; search: SearchMemories; embedderFor: EmbedderFor; guard?: CacheGuard; maxBytes?: number }) {
  const guard = deps.guard ?? alwaysTrusted;
  let evictions = 0;
  // the kept pools' keys per (org, user): what forgetting a user ('*' agent) walks
  const byUser = new Map<string, Set<string>>();
  const userOf = keys.userOfScopeKey;
  const predictions = new LRUCache<string, Prediction>({
    maxSize: Math.max(1, deps.maxBytes ?? PREDICTION_BYTES),
    sizeCalculation: (p) => Math.max(1, predictionBytes(p)),
    dispose: (_p, key, reason) => {
      if (reason === 'evict') evictions++;
      if (reason === 'set') return;
      const keys = byUser.get(userOf(key));
      keys?.delete(key);
      if (keys && !keys.size) byUser.delete(userOf(key));
    },
    onInsert: (_p, key) => {
      let keys = byUser.get(userOf(key));
      if (!keys) byUser.set(userOf(key), (keys = new Set()));
      keys.add(key);
    },
  });
  // Pools being computed, per scope, with the invalidations seen meanwhile: a pool computed
  // across a write is thrown away. Only scopes with a computation in flight are here.
  const pending = new Map<string, { running: number; generation: number }>();

  return {
    /** Computes and keeps the pool for the scope's next turn. Never throws. */
    async prepare(agent: PoolAgent, userId: string | null, text: string): Promise<void> {
      try {
        await this.related(agent, userId, text, PREDICTED, true);
      } catch {
        // a prediction is an optimization; the next request searches as usual
      }
    },

    /**
     * The scope's `topK` memories nearest to `text`, from a search that (with `keep`) also
     * becomes the scope's next pool: extraction's search (the memories it reconciles against) is the
     * turn's only one. A write to the scope meanwhile throws the pool away (generation).
     */
    async related(agent: PoolAgent, userId: string | null, text: string, topK: number, keep: boolean): Promise<MemoryHit[]> {
      const key = scopeKey(agent.org_id, agent.id, userId);
      const epoch = guard.epoch();
      const embedder = deps.embedderFor(agent.config.memory.embedder);
      const scope = { orgId: agent.org_id, agentId: agent.id, userId };
      // Unless asked to, or while the bus that would invalidate a pool is down, nothing is kept.
      if (!keep || !agent.config.memory.semantic_recall.enabled || !guard.trusted()) return deps.search(embedder, scope, text, { topK, minScore: 0 });
      let p = pending.get(key);
      if (!p) pending.set(key, (p = { running: 0, generation: 0 }));
      p.running++;
      const gen = p.generation;
      let hits: MemoryHit[];
      let vectors: Map<string, number[]>;
      try {
        hits = await deps.search(embedder, scope, text, { topK: Math.max(topK, PREDICTED), minScore: 0 });
        vectors = await vectorsOf(
          deps.db,
          agent.org_id,
          hits.map((h) => h.id),
          embedder.id,
        );
      } finally {
        if (--p.running === 0) pending.delete(key);
      }
      if (p.generation === gen && guard.epoch() === epoch && guard.trusted()) {
        const items = hits.flatMap(({ id, content, metadata }) => {
          const v = vectors.get(id);
          return v ? [{ id, content, metadata, score: 0, vector: unit(v) }] : [];
        });
        predictions.set(key, { embedder: embedder.id, items });
      }
      return hits.slice(0, topK);
    },

    /**
     * The pool ranked by the query's vector (of embedder `embedderId`), or undefined when
     * there is none or it is not confident. In process, no SQL, no embedding (recall's RankPredicted).
     */
    rank(agent: RecallAgent, userId: string | null, embedderId: string, vector: ArrayLike<number>): RecalledMemory[] | undefined {
      if (!guard.trusted()) return undefined;
      const pool = predictions.get(scopeKey(agent.org_id, agent.id, userId));
      if (!pool || pool.embedder !== embedderId || !pool.items.length) return undefined;
      const q = unit(vector);
      const { top_k, min_score } = agent.config.memory.semantic_recall;
      const ranked = pool.items
        .map((m) => ({ id: m.id, content: m.content, metadata: m.metadata, score: Math.max(0, Math.min(1, dot(q, m.vector))) }))
        .sort((a, b) => b.score - a.score);
      if (!ranked.length || ranked[0]!.score < CONFIDENT) return undefined;
      return ranked.filter((m) => m.score >= min_score).slice(0, top_k);
    },

    /** Drops predictions of a scope; agentId '*' means every agent of that user (walks that user's pools only). */
    invalidate(orgId: string, agentId: string | null | '*', userId: string | null): void {
      if (agentId !== '*') return drop(scopeKey(orgId, agentId, userId));
      const user = keys.userKey(orgId, userId);
      for (const key of [...(byUser.get(user) ?? [])]) drop(key);
      for (const key of pending.keys()) if (userOf(key) === user) drop(key);
    },

    stats(): PredictionStats {
      return { bytes: predictions.calculatedSize, entries: predictions.size, evictions };
    },

    /** The bus form of invalidate: a scope key from scopeKey(), or '*' for everything. */
    invalidateKey(key: string): void {
      if (key === '*') {
        predictions.clear();
        for (const p of pending.values()) p.generation++;
        return;
      }
      const { orgId, agentId, userId } = keys.readScopeKey(key);
      this.invalidate(orgId, agentId === undefined ? '*' : agentId, userId ?? null);
    },
  };

  function drop(key: string) {
    predictions.delete(key);
    const p = pending.get(key);
    if (p) p.generation++;
  }
}

export type Predictions = ReturnType<typeof createPredictions>;

function unit(v: ArrayLike<number>): Float32Array {
  const out = Float32Array.from(v);
  let n = 0;
  for (let i = 0; i < out.length; i++) n += out[i]! * out[i]!;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / n;
  return out;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
