// "Forget me": a user and everything the agents keep of them (their sessions and messages,
// memories and their history, working memory, the jobs holding their text) deleted in one
// transaction (store/repos/users.ts), then every instance's caches of them dropped: the
// sessions' history windows, the memory scope (as the recall pool and the lexical indexes
// key it, for every agent), the working memory.
import type { Db } from '../store/db.ts';
import type { InvalidationBus } from '../store/invalidation.ts';
import { deleteUser } from '../store/repos/users.ts';
import { userKey } from './history.ts';
import { scopeKey } from './predictive.ts';
import { userWorkingKey } from './working-memory.ts';

/** False when the org has no such user. */
export async function forgetUser(deps: { db: Db; bus: Pick<InvalidationBus, 'publish'> }, orgId: string, userId: string): Promise<boolean> {
  const deleted = await deps.db.transaction((tx) => deleteUser(tx, orgId, userId));
  if (!deleted) return false;
  // publish: this instance's caches too, and (with Redis) every other instance's.
  deps.bus.publish('user', userKey(orgId, userId));
  deps.bus.publish('memories', scopeKey(orgId, '*', userId));
  deps.bus.publish('working', userWorkingKey(orgId, userId));
  return true;
}
