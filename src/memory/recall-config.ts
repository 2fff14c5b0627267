// How recall searches and ranks: agent config `memory.semantic_recall` beyond top_k/min_score
// (src/agent/config.ts spreads `recallOptions` in), the search scope the memories API shares,
// and the measured constants of the ranking (docs/memory.md gives each figure).
import { z } from 'zod';
import { filterSchema } from './filters.ts';
import type { Bm25Params, RankingOptions } from './lexical/bm25.ts';

/** facts: memories; messages: the user's past messages (all sessions); both: each ranked, then fused */
export const searchScope = z.enum(['facts', 'messages', 'both']);
export type SearchScope = z.infer<typeof searchScope>;

/** neighbouring messages brought along with each message hit */
export const messageRange = z.strictObject({ before: z.int().min(0).max(10).default(0), after: z.int().min(0).max(10).default(0) });

export const recallOptions = {
  scope: searchScope.default('facts'),
  message_range: messageRange.prefault({}),
  /**
   * weight of the vector list in the fusion (the text list has 1); default: 0 for the hashed
   * local embedder, NEURAL_VECTOR_WEIGHT for local-neural, MODEL_VECTOR_WEIGHT for a remote model
   */
  vector_weight: z.number().min(0).max(10).optional(),
  /** metadata filters every recall applies (see docs/memory.md) */
  filters: filterSchema.optional(),
};

/**
 * The fusion weight of an embedder's vectors by default, per kind (measured with `agentmem
 * bench recall`): the local neural model (USE-lite) is best at 0.25 on REALTALK; a remote
 * model could not be measured offline, so it gets the same figure as a floor — a user with a
 * strong one sets `semantic_recall.vector_weight`.
 */
export const NEURAL_VECTOR_WEIGHT = 0.25;
export const MODEL_VECTOR_WEIGHT = 0.25;

/**
 * BM25's parameters. Memories and messages are short passages: Anserini's defaults for
 * passages (k1 0.9, b 0.4) rather than the textbook 1.2 / 0.75, which over-penalize a long
 * memory among short ones. The benchmark's "plain BM25" baseline keeps the textbook values.
 */
export const PASSAGE_PARAMS: Bm25Params = { k1: 0.9, b: 0.4 };
export const TEXTBOOK_PARAMS: Bm25Params = { k1: 1.2, b: 0.75 };

/**
 * How memories are ranked: the coordination factor and RM3 with Anserini's feedback depth
 * (10 documents, query weight 0.5) and 30 expansion terms, chosen on the development half
 * of REALTALK (docs/memory.md gives each ingredient on both halves), for questions of up to
 * 30 distinct words (as many as the expansion adds terms); longer queries get BM25 alone.
 * Chinese, Japanese and Korean questions are scored with the textbook k1/b (chosen on
 * MemDaily's development half).
 */
export const MEMORY_RANKING: RankingOptions = {
  coord: true,
  feedback: { docs: 10, terms: 30, originalWeight: 0.5 },
  maxQueryWords: 30,
  cjkParams: TEXTBOOK_PARAMS,
};

/**
 * Messages: the coordination factor only. Each message is indexed with its neighbour's
 * text, so feedback documents repeat each other's words and the expansion drifts to the
 * neighbours (a reply's neighbour outranks the reply itself).
 */
export const MESSAGE_RANKING: RankingOptions = { coord: true, maxQueryWords: 30 };
