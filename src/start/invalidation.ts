// Every in-process cache subscribed to the invalidation bus (a change here or on another
// instance drops or updates its entries), and the caches' sizes and the bus's trust as metrics.
import { invalidateIndexes } from '../memory/memory-index.ts';
import { invalidateSessionMessages } from '../memory/message-index.ts';
import type { FirstTokenGate } from '../memory/jobs.ts';
import type { Auth } from '../server/auth.ts';
import type { AgentServices } from './agents.ts';
import type { Base } from './base.ts';
import type { MemoryServices } from './memory.ts';

export function subscribeCaches({ db, bus }: Base, { agentCache, mcp }: AgentServices, memory: MemoryServices, auth: Auth): void {
  const { history, messageIndex, working, predictions, sync, search } = memory;
  bus.subscribe('agent', agentCache.invalidate);
  bus.subscribe('agent', mcp.invalidate);
  bus.subscribe('session', history.invalidate);
  // (a delta's messages reach the message index through the history's onStored)
  bus.subscribe('session', (id, delta) => delta || void invalidateSessionMessages(db, messageIndex, id).catch(() => {}));
  bus.subscribe('working', working.invalidate);
  bus.subscribe('api_key', auth.invalidate);
  bus.subscribe('memories', (key, delta) => {
    predictions.invalidateKey(key);
    if (delta) return sync.remote(key, delta);
    // the bus was deaf: each memory scope is checked on its next use, not the fleet's all at once
    if (key === '*') sync.recheckAll();
    else invalidateIndexes(search.index, key); // a user forgotten
    invalidateIndexes(messageIndex, key);
  });
  bus.subscribe('user', (key) => history.forgetUserKey(key));
}

export function trackCaches({ db, pool, metrics, bus }: Base, { sync, search, messageIndex, predictions }: MemoryServices, gate: FirstTokenGate): void {
  metrics.trackBusTrusted(() => bus.trusted());
  metrics.trackScopeSync(sync.stats);
  metrics.trackConnections('agentmem_upstream_connections', pool.stats);
  metrics.trackConnections('agentmem_db_connections', db.connections);
  metrics.trackAwaitingFirstToken(() => gate.waiting);
  metrics.trackBounded('memory_index', search.index.stats);
  metrics.trackBounded('message_index', messageIndex.stats);
  metrics.trackBounded('predictions', predictions.stats);
}
