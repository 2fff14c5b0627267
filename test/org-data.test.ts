// `agentmem export` / `import`: one organization as JSON Lines, the CLI run as a user runs
// it (a child process on the store), then a real server on what it wrote, over HTTP; on
// both engines. (Backups of the embedded store: test/backup.test.ts.)
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { exportOrg, importOrg } from '../src/store/org-dump.ts';
import { ADMIN, agentmem, fill, newStore, snapshot, type Filled, type Store } from './fixtures/filled-store.ts';
import { engines, type MemoryHit } from './harness.ts';

const linesOf = (file: string) => createInterface({ input: createReadStream(file), crlfDelay: Infinity });
const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

for (const engine of engines) {
  describe(`export / import of an organization on ${engine}`, () => {
    const work = mkdtempSync(join(tmpdir(), 'agentmem-orgdata-files-'));
    let source: Store;
    let target: Store;
    let filled: Filled;
    before(async () => {
      [source, target] = await Promise.all([newStore(engine, { seeded: true }), newStore(engine)]);
      filled = await fill(source, engine);
    });
    after(async () => {
      await source?.drop();
      await target?.drop();
      rmSync(work, { recursive: true, force: true });
    });

    test('export writes the org (not another org, no secret, no API key); import into an empty store serves the same data', async () => {
      const { org, otherOrg, ids, seen: before_ } = filled;
      const file = join(work, 'org.jsonl');
      const exported = await agentmem(['export', '--org', org.id, '-o', file], source.env);
      assert.equal(exported.code, 0, exported.stderr);
      const text = readFileSync(file, 'utf8');
      assert.doesNotMatch(text, /sk-never-exported/, 'no secret');
      assert.doesNotMatch(text, new RegExp(otherOrg.id), 'nothing of another org');
      assert.doesNotMatch(text, /key_hash/, 'no API key');
      const parsed = lines(file);
      assert.equal(parsed[0].format, 'agentmem-org/1');
      const tables = new Set(parsed.slice(1).map((l) => l.table));
      for (const t of ['organizations', 'users', 'agents', 'sessions', 'messages', 'memories', 'memory_history']) assert.ok(tables.has(t), `has ${t}`);

      const imported = await agentmem(['import', file, '--admin-key'], target.env);
      assert.equal(imported.code, 0, imported.stderr);
      const key = imported.stdout.trim();
      assert.match(key, /^am_/);
      const { app, api } = await target.start(ADMIN);
      try {
        const a = api(key);
        const after_ = await snapshot(a, ids);
        const strip = (agents: Array<Record<string, unknown>>) => agents.map(({ secrets, ...rest }) => rest);
        assert.deepEqual(strip(after_.agents), strip(before_.agents), 'the same agents');
        assert.ok(
          after_.agents.every((x: { secrets?: unknown[] }) => !x.secrets?.length),
          'agents come without secrets',
        );
        assert.deepEqual(after_.sessions, before_.sessions);
        assert.deepEqual(after_.messages, before_.messages, 'the same messages, in order');
        assert.deepEqual(after_.memories, before_.memories);
        assert.deepEqual(after_.history, before_.history);
        assert.deepEqual(
          after_.search.map((r: MemoryHit) => [r.id, r.content]),
          before_.search.map((r: MemoryHit) => [r.id, r.content]),
          'vectors came along: the same search',
        );
        assert.equal((await api(ADMIN)('GET', `/api/v1/organizations/${otherOrg.id}`)).status, 404, 'the other org is not there');

        // (In process from here, on the same store: each CLI run opens the store anew, slow on PGlite.)
        // Again: every row is already there, nothing doubles.
        const again = await importOrg(app.db, linesOf(file), { into: org.id });
        assert.deepEqual(
          Object.values(again.inserted),
          Object.values(again.inserted).map(() => 0),
        );
        assert.equal(
          Object.values(again.skipped).reduce((x, y) => x + y, 0),
          parsed.length - 1,
        );
        // And the target exports the same rows.
        const roundTrip: unknown[] = [];
        await exportOrg(app.db, org.id, (line) => void roundTrip.push(JSON.parse(JSON.stringify(line))));
        assert.deepEqual(roundTrip.slice(1), parsed.slice(1));

        // A file the database refuses halfway (a new org's row goes in, then a user row
        // without an id) leaves nothing behind.
        const newOrg = '00000000-0000-4000-8000-00000000b0b0';
        const bad = join(work, 'bad.jsonl');
        writeFileSync(
          bad,
          [
            JSON.stringify({ format: 'agentmem-org/1', org_id: newOrg, exported_at: new Date().toISOString() }),
            JSON.stringify({ table: 'organizations', row: { id: newOrg, name: 'half', created_at: new Date().toISOString() } }),
            JSON.stringify({ table: 'users', row: { org_id: newOrg, id: null } }),
          ].join('\n'),
        );
        await assert.rejects(importOrg(app.db, linesOf(bad)), /null value in column "id"/);
        assert.deepEqual(await app.db.query('select id from organizations where id = $1', [newOrg]), [], 'the organization row was rolled back');
        await assert.rejects(
          importOrg(
            app.db,
            (async function* () {
              yield '{"table":"api_keys","row":{}}';
            })(),
          ),
          /no header line first/,
        );
      } finally {
        await app.close();
      }
    });

    test('import refuses a file for an organization the store already has, unless --org names it', async () => {
      const { org } = filled;
      const file = join(work, 'org.jsonl');
      assert.equal((await agentmem(['export', '--org', org.id, '-o', file], source.env)).code, 0);
      // (the source store has the organization: the file names it)
      const refused = await agentmem(['import', file], source.env);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, new RegExp(`organization ${org.id} already exists in this store: to merge the file into it, give --org ${org.id}`));
      const elsewhere = await agentmem(['import', file, '--org', filled.otherOrg.id], source.env);
      assert.equal(elsewhere.code, 1);
      assert.match(elsewhere.stderr, /goes back under its own organization id/);
      const merged = await agentmem(['import', file, '--org', org.id], source.env);
      assert.equal(merged.code, 0, merged.stderr);
      assert.match(merged.stderr, /already here \(skipped\): organizations 1, users/, 'every row was there: nothing doubled');
      assert.match((await agentmem(['import', '--help'], source.env)).stdout, /--org <id>/);
    });
  });
}
