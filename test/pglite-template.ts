// `npm test` runs this once before the tests: an embedded store in the given data dir, its
// schema migrated, nothing in it. The harness copies it into each test's data dir (seedPglite
// in harness.ts): PGlite's first start in an empty directory (its initdb) and the migrations
// cost seconds of CPU, which every test server on the embedded engine would pay again.
import { openStore } from '../src/store/open.ts';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: pglite-template.ts <data dir>');
const db = await openStore(undefined, dataDir);
await db.close();
