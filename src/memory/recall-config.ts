// Agent config `memory.semantic_recall` beyond top_k/min_score (src/agent/config.ts spreads these in).
import { z } from 'zod';
import { filterSchema } from './filters.ts';

export const recallOptions = {
  /** facts: memories; messages: the user's past messages (all sessions); both: each ranked, then fused */
  scope: z.enum(['facts', 'messages', 'both']).default('facts'),
  /** neighbouring messages brought along with each message hit */
  message_range: z.strictObject({ before: z.int().min(0).max(10).default(0), after: z.int().min(0).max(10).default(0) }).prefault({}),
  /** weight of the vector list in the fusion (the text list has 1); default: 0 for the local embedder, 1 for a model */
  vector_weight: z.number().min(0).max(10).optional(),
  /** metadata filters every recall applies (see docs/memory.md) */
  filters: filterSchema.optional(),
};
