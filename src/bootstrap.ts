// The first admin key: AGENTMEM_BOOTSTRAP_KEY if given, else one created on the very
// first start and printed once. Its org is the platform admin's.
import type { Db } from './store/db.ts';
import { countKeys, createApiKey, findActiveKeyByHash, hashKey } from './store/repos/api-keys.ts';
import { createOrganization } from './store/repos/organizations.ts';

/** Returns the newly created key when one was generated (to print once), else undefined. */
export async function bootstrapAdminKey(db: Db, bootstrapKey: string | undefined): Promise<string | undefined> {
  return db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock(7412904)');
    if (bootstrapKey) {
      if (await findActiveKeyByHash(tx, hashKey(bootstrapKey))) return undefined;
    } else if ((await countKeys(tx)) > 0) {
      return undefined;
    }
    const org = await createOrganization(tx, 'default');
    const { key } = await createApiKey(tx, { org_id: org.id, name: 'bootstrap', role: 'admin', platform_admin: true, key: bootstrapKey });
    return bootstrapKey ? undefined : key;
  });
}
