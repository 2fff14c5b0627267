// `npm test` runs this once before the whole suite: the stores that test servers copy instead of
// making their own (seedPglite and createTestDatabase in harness.ts). An embedded store in the
// given data dir (`pgdata`) and its dump (`memory.tgz`, what in-memory test stores start from:
// memory://?from=…), and with a PostgreSQL URL a database there, each migrated and empty:
// PGlite's first start in an empty directory (its initdb) costs ~3.5–5 s of CPU, the migrations
// ~1.5 s; loading the dump ~0.6 s.
import { join } from 'node:path';
import { migrate } from '../src/store/migrate.ts';
import { openStore } from '../src/store/open.ts';
import { openPglite } from '../src/store/pglite/index.ts';

const [dataDir, postgresUrl] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: template-stores.ts <data dir | -> [<postgres url of a new database>]');
if (dataDir !== '-') {
  const db = await openPglite(join(dataDir, 'pgdata'));
  await migrate(db);
  await db.dump(join(dataDir, 'memory.tgz'));
  await db.close();
}
if (postgresUrl) await (await openStore(postgresUrl, '/nonexistent')).close();
