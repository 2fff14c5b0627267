// The per-search scope version reads grouped into one statement (memory-sync.ts): each read
// answers its own scope's version, a scope never written reads 0, and a read asked after a
// bump sees the bump even while an earlier read is still out. Both engines, the real store.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { groupCommit } from '../src/store/group-commit.ts';
import { openStore } from '../src/store/open.ts';
import { bumpScopeVersions, scopeVersion, scopeVersions, type ScopeRef } from '../src/store/repos/scope-versions.ts';
import { createTestDatabase, engines } from './harness.ts';

for (const engine of engines) {
  describe(`scope version reads on ${engine}`, () => {
    test('one statement for many scopes, each answered its own version, read after the ask', async () => {
      const database = await createTestDatabase(engine);
      const dir = mkdtempSync(join(tmpdir(), 'agentmem-versions-'));
      const db = await openStore(database.url, dir);
      try {
        const [org] = await db.query<{ id: string }>(`insert into organizations (id, name) values (gen_random_uuid(), 'v') returning id`);
        const orgId = org!.id;
        const scopes: ScopeRef[] = [
          { agentId: null, userId: 'u1' },
          { agentId: '7d1e2c9a-0000-4000-8000-000000000001', userId: 'u1' },
          { agentId: '7d1e2c9a-0000-4000-8000-000000000001', userId: null },
        ];
        await bumpScopeVersions(db, orgId, [scopes[0]!, scopes[1]!]);
        await bumpScopeVersions(db, orgId, [scopes[1]!]);
        // in one statement, duplicates and a never-written scope included, in the order asked
        const asked = [...scopes, scopes[1]!, { agentId: null, userId: 'nobody' }].map((s) => ({ orgId, ...s }));
        assert.deepEqual(await scopeVersions(db, asked), [1, 2, 0, 2, 0]);

        let statements = 0;
        const read = groupCommit<ScopeRef & { orgId: string }, number>({
          one: (s) => (statements++, scopeVersion(db, s.orgId, s.agentId, s.userId)),
          many: (ss) => (statements++, scopeVersions(db, ss)),
          inflight: 1,
        });
        const first = read({ orgId, ...scopes[0]! }); // out at once
        await bumpScopeVersions(db, orgId, [scopes[0]!]); // committed while… (PGlite: in order)
        const later = Array.from({ length: 40 }, (_, i) => read({ orgId, ...scopes[i % 3]! }));
        const results = await Promise.all([first, ...later]);
        assert.ok(results[0] === 1 || results[0] === 2);
        // asked after the bump committed: every one of them sees it
        results.slice(1).forEach((v, i) => assert.equal(v, [2, 2, 0][i % 3], `read ${i}`));
        assert.ok(statements <= 3, `41 reads in ${statements} statements`);
      } finally {
        await db.close();
        await database.drop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
