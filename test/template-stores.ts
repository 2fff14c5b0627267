// `npm test` runs this once before the whole suite: the stores that test servers copy instead of
// making their own (seedPglite and createTestDatabase in harness.ts). An embedded store in the
// given data dir, and with a PostgreSQL URL a database there, each migrated and empty: PGlite's
// first start in an empty directory (its initdb) costs ~5 s of CPU, the migrations ~1.5 s.
import { openStore } from '../src/store/open.ts';

const [dataDir, postgresUrl] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: template-stores.ts <data dir | -> [<postgres url of a new database>]');
if (dataDir !== '-') await (await openStore(undefined, dataDir)).close();
if (postgresUrl) await (await openStore(postgresUrl, '/nonexistent')).close();
