// What follows a stored answer, off the request path (RunDeps.afterTurn): memory
// extraction (a durable job), a rolling summary once the session grew past its trigger
// (summaries.ts), and the next turn's recall pool (predictive.ts). The pool is prepared
// after extraction applied its changes when extraction runs, otherwise once no request
// awaits its first token (it is background work like the rest).
import type { EmbedderFor } from './embedders/index.ts';
import { extractAfterTurn, extractSettings } from './extraction.ts';
import type { Exchange, HistoryStore } from './history.ts';
import type { FirstTokenGate, JobQueue } from './jobs.ts';
import type { MemoryChange } from './memories.ts';
import type { PoolAgent, Predictions } from './predictive.ts';
import { poolMayAnswer, vectorWeightOf } from './recall.ts';
import { summarizeAfterTurn } from './summaries.ts';

/** Prepares the next turn's recall pool of a scope (the text: what the user said). */
export type Predict = (orgId: string, agentId: string, userId: string | null, text: string) => Promise<void>;

/**
 * Whether a recall pool is worth keeping for the agent: it is ranked by vector, so it is
 * useless without recall, or to text-only recall (the lexical embedder, which needs no SQL anyway),
 * or where the vector may not rank alone (poolMayAnswer).
 */
export function poolUseful(agent: PoolAgent, embedderFor: EmbedderFor): boolean {
  const recall = agent.config.memory.semantic_recall;
  const embedder = embedderFor(agent.config.memory.embedder);
  const weight = recall.vector_weight ?? vectorWeightOf(embedder);
  return recall.enabled && weight > 0 && poolMayAnswer(embedder, weight);
}

/** Predict for the agent as it is now (cached), when its pool is useful. */
export function createPredict(deps: {
  loadAgent(orgId: string, agentId: string): Promise<PoolAgent | undefined>;
  predictions: Pick<Predictions, 'prepare'>;
  embedderFor: EmbedderFor;
}): Predict {
  return async (orgId, agentId, userId, text) => {
    const agent = await deps.loadAgent(orgId, agentId);
    if (agent && poolUseful(agent, deps.embedderFor)) await deps.predictions.prepare(agent, userId, text);
  };
}

type Extract = ReturnType<typeof extractAfterTurn>;
type Summarize = ReturnType<typeof summarizeAfterTurn>;

export function createAfterTurn(deps: { jobs: JobQueue; history: HistoryStore; gate: FirstTokenGate; predict: Predict; onSummaryError(err: unknown): void }) {
  const extract = extractAfterTurn(deps.jobs, deps.history);
  const summarize = summarizeAfterTurn(deps.jobs, deps.history);
  return (agent: Parameters<Extract>[0] & Parameters<Summarize>[0], turn: Exchange, answer: string, wait: boolean): Promise<MemoryChange[]> => {
    summarize(agent, turn).catch(deps.onSummaryError);
    // Without extraction (off, or an anonymous turn) nothing else will prepare the pool.
    if (!(extractSettings(agent.config.memory.extract).enabled && turn.userId)) {
      void deps.gate.quiet().then(() => deps.predict(turn.orgId, agent.id, turn.userId, turn.userContent));
    }
    return extract(agent, turn, answer, wait);
  };
}
