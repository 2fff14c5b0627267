// Memory: the conversation (history and its episodic index), working memory, the embedders,
// the memory indexes kept in step across instances, recall and its predicted pool.
import { createEmbedders } from '../memory/embedders/index.ts';
import { createEpisodes } from '../memory/episodic.ts';
import { createHistory } from '../memory/history.ts';
import { createMemories } from '../memory/memories.ts';
import { createMemoryIndex } from '../memory/memory-index.ts';
import { createMemorySync, MAX_DELTA_IDS } from '../memory/memory-sync.ts';
import { createMessageIndex, episodicHooks } from '../memory/message-index.ts';
import { createPredict } from '../memory/after-turn.ts';
import { createPredictions, scopeKey } from '../memory/predictive.ts';
import { createMemorySearch, createRecall } from '../memory/recall.ts';
import { createWorkingMemory } from '../memory/working-memory.ts';
import type { JobQueue } from '../memory/jobs.ts';
import { queueEmbeddings } from '../memory/reembed.ts';
import { scopeCheckOn } from '../config.ts';
import type { Base, LoadAgent } from './base.ts';

export function buildMemory({ config, db, pool, metrics, bus, log, instanceId }: Base, loadAgent: LoadAgent, jobs: JobQueue) {
  const messageIndex = createMessageIndex(db, { maxBytes: config.messageIndexBytes });
  const episodes = createEpisodes(db, messageIndex);
  // Whether what this instance keeps is checked against the store on every use (instances
  // share it) or only while the bus is deaf (one process owns it): memory scopes and sessions.
  const check = scopeCheckOn(config.scopeCheck, db.engine);
  const history = createHistory(db, {
    owner: instanceId,
    guard: bus,
    checkSessions: check === 'always',
    onChange: (id, delta) => bus.broadcast('session', id, delta),
    onRetryError: (err, id) => log.warn({ err, message_id: id }, 'storing an answer failed again; retrying'),
    onRetryStored: (id) => log.info({ message_id: id }, 'answer stored after a retry'),
    onWindowError: (err, id) => log.warn({ err, session_id: id }, "storing the history window's new start failed"),
    onWriteBatch: (write, turns) => metrics.observeWriteBatch(write, turns),
    ...episodicHooks(messageIndex),
  });
  const working = createWorkingMemory(db, { onChange: (key) => bus.broadcast('working', key) });
  const embedderFor = createEmbedders(config, pool.dispatcher);
  // Other instances' writes reach this one's memory indexes as deltas (memory-sync.ts).
  const sync = createMemorySync({
    db,
    guard: bus,
    check,
    maxScopes: config.scopeVersionsMax,
  });
  const memoryIndex = createMemoryIndex(db, { maxBytes: config.memoryIndexBytes, beforeLoad: sync.beforeLoad });
  sync.attach(memoryIndex);
  const search = createMemorySearch(db, {
    index: { ...memoryIndex, search: async (scope, ...rest) => (await sync.verify(scope), memoryIndex.search(scope, ...rest)) },
  });
  const predictions = createPredictions({ db, search, embedderFor, guard: bus, maxBytes: config.predictionBytes });
  const memories = createMemories({
    db,
    loadAgent,
    embedderFor,
    search,
    episodes,
    onWriting: (org, agentId, userId, to) => sync.writing(org, agentId, userId, to),
    // the lexical index here is updated in place; other instances apply the delta
    onChange: (org, agentId, userId, delta) => {
      const key = scopeKey(org, agentId, userId);
      predictions.invalidateKey(key);
      sync.local(org, agentId, userId, delta);
      bus.broadcast('memories', key, delta.ids.length > MAX_DELTA_IDS ? { ...delta, ids: [] } : delta);
    },
    // a slow embedder's vectors follow the write, by a job queued with it
    onVectorsPending: (tx, org, rows) => queueEmbeddings((job, q) => jobs.enqueue(job, q), tx, org, rows),
  });
  // The predicted pool is ranked inside recall's budget, by the one query vector.
  const recall = createRecall(search, embedderFor, (agent, userId, embedderId, vector) => predictions.rank(agent, userId, embedderId, vector), episodes);
  const predict = createPredict({ loadAgent, predictions, embedderFor });
  return { messageIndex, episodes, history, working, embedderFor, sync, search, predictions, memories, recall, predict };
}

export type MemoryServices = ReturnType<typeof buildMemory>;
