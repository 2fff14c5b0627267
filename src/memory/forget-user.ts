// "Forget me": a user and everything the agents keep of them (their sessions and messages,
// memories and their history, working memory, the jobs holding their text) deleted in one
// transaction (store/repos/users.ts), then every instance's caches of them dropped: the
// sessions' history windows, the memory scope (as the recall pool and the lexical indexes
// key it, for every agent), the working memory. The user's memory scopes move to a new
// version in the same transaction, so an instance that missed the bus (Redis down) finds
// its index out of date at its next search instead of serving what was forgotten.
import type { Db } from '../store/db.ts';
import type { InvalidationBus } from '../store/invalidation.ts';
import { memoryRefsOfUser } from '../store/repos/memories.ts';
import { bumpUserScopes } from '../store/repos/scope-versions.ts';
import { deleteUser, type DeletedUser } from '../store/repos/users.ts';
import { emitEvents } from '../webhooks/outbox.ts';
import { userKey } from '../keys.ts';
import { scopeKey } from './predictive.ts';
import { userWorkingKey } from './working-memory.ts';

/** What was deleted (all zero: the org keeps nothing under that user id). */
export async function forgetUser(deps: { db: Db; bus: Pick<InvalidationBus, 'publish'> }, orgId: string, userId: string): Promise<DeletedUser> {
  const deleted = await deps.db.transaction(async (tx) => {
    const memories = await memoryRefsOfUser(tx, orgId, userId);
    const counts = await deleteUser(tx, orgId, userId);
    await bumpUserScopes(tx, orgId, userId);
    // Receivers learn which memories went (ids only), after every earlier delivery about the user was deleted.
    await emitEvents(
      tx,
      orgId,
      memories.map((m) => ({ type: 'memory.deleted', user_id: userId, data: { id: m.id, agent_id: m.agent_id, user_id: userId, source: 'forget_user' } })),
    );
    return counts;
  });
  // Published whatever was found: a cache may hold what a half-finished earlier attempt left.
  // publish: this instance's caches too, and (with Redis) every other instance's.
  deps.bus.publish('user', userKey(orgId, userId));
  deps.bus.publish('memories', scopeKey(orgId, '*', userId));
  deps.bus.publish('working', userWorkingKey(orgId, userId));
  return deleted;
}
