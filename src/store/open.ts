// Picks the engine from DATABASE_URL and brings the schema up to date.
import { join } from 'node:path';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';
import type { PoolSize } from './postgres/index.ts';

export async function openStore(databaseUrl: string | undefined, dataDir: string, pool?: PoolSize): Promise<Db> {
  let db: Db;
  if (!databaseUrl) {
    const { openPglite } = await import('./pglite/index.ts');
    db = await openPglite(join(dataDir, 'pgdata'));
  } else if (databaseUrl.startsWith('memory://')) {
    // memory://?from=<file>: a throwaway store that starts as a copy of a dump (PgliteDb.dump)
    const { openPglite } = await import('./pglite/index.ts');
    db = await openPglite('memory://', new URL(databaseUrl).searchParams.get('from') ?? undefined);
  } else if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const { openPostgres } = await import('./postgres/index.ts');
    db = await openPostgres(databaseUrl, pool);
  } else {
    throw new Error('DATABASE_URL must be postgres://…, postgresql://… or memory:// (unset: embedded PGlite in the data dir)');
  }
  try {
    await migrate(db);
    await db.warm?.();
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  return db;
}
