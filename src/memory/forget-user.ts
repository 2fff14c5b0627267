// "Forget me": a user and everything the agents keep of them (their sessions and messages,
// memories and their history, working memory, the jobs holding their text) deleted in one
// transaction (store/repos/users.ts), then every instance's caches of them dropped: the
// sessions' history windows, the memory scope (as the recall pool and the lexical indexes
// key it, for every agent), the working memory.
import type { Db } from '../store/db.ts';
import type { InvalidationBus } from '../store/invalidation.ts';
import { memoryRefsOfUser } from '../store/repos/memories.ts';
import { deleteUser } from '../store/repos/users.ts';
import { emitEvents } from '../webhooks/outbox.ts';
import { userKey } from './history.ts';
import { scopeKey } from './predictive.ts';
import { userWorkingKey } from './working-memory.ts';

/** False when the org has no such user. */
export async function forgetUser(deps: { db: Db; bus: Pick<InvalidationBus, 'publish'> }, orgId: string, userId: string): Promise<boolean> {
  const deleted = await deps.db.transaction(async (tx) => {
    const memories = await memoryRefsOfUser(tx, orgId, userId);
    if (!(await deleteUser(tx, orgId, userId))) return false;
    // Receivers learn which memories went (ids only), after every earlier delivery about the user was deleted.
    await emitEvents(
      tx,
      orgId,
      memories.map((m) => ({ type: 'memory.deleted', user_id: userId, data: { id: m.id, agent_id: m.agent_id, user_id: userId, source: 'forget_user' } })),
    );
    return true;
  });
  if (!deleted) return false;
  // publish: this instance's caches too, and (with Redis) every other instance's.
  deps.bus.publish('user', userKey(orgId, userId));
  deps.bus.publish('memories', scopeKey(orgId, '*', userId));
  deps.bus.publish('working', userWorkingKey(orgId, userId));
  return true;
}
