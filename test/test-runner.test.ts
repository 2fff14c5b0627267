// `npm test` on a machine where PostgreSQL and Redis do not answer (AGENTMEM_TEST_PG and
// AGENTMEM_TEST_REDIS pointed at a closed port): it runs on the embedded engine, says what
// it skipped and how to include it, and passes; with AGENTMEM_TEST_REQUIRE (what .ci/run
// sets) the same machine fails before running anything. Skipped tests are listed after the
// run; with AGENTMEM_TEST_ALLOW_SKIPS (what .ci/run sets) one not in that list fails it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { engines, freePort, testRedis } from './harness.ts';

// (a port nothing listens on: below the ephemeral range, where no other test's server lands)
const closedPort = freePort;

function npmTest(env: Record<string, string>, files: string[]): Promise<{ code: number | null; out: string }> {
  const full: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete full.AGENTMEM_TEST_ENGINES;
  delete full.AGENTMEM_TEST_REQUIRE;
  delete full.AGENTMEM_TEST_ALLOW_SKIPS;
  delete full.NODE_TEST_CONTEXT; // a run of its own, reporting in text, not to this test runner
  Object.assign(full, env);
  const child = spawn(process.execPath, ['scripts/test.mjs', ...files], { env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
}

const files = ['test/fixtures/engines.fixture.ts', 'test/warm-upstreams.test.ts'];

test('without PostgreSQL or Redis, npm test runs on PGlite and says what it skipped and how to include it', async () => {
  const port = await closedPort();
  const r = await npmTest({ AGENTMEM_TEST_PG: `postgres://postgres@127.0.0.1:${port}/postgres`, AGENTMEM_TEST_REDIS: `redis://127.0.0.1:${port}` }, files);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /engines=pglite redis=none/, 'the suite ran on the embedded engine only');
  assert.match(r.out, /# SKIP needs PostgreSQL/, 'a PostgreSQL-only test is reported skipped');
  assert.match(r.out, /SKIPPED on this machine:[\s\S]*the PostgreSQL engine[\s\S]*ECONNREFUSED[\s\S]*AGENTMEM_TEST_PG/);
  assert.match(r.out, /the tests that need Redis[\s\S]*AGENTMEM_TEST_REDIS/);
  assert.equal(r.out.match(/SKIPPED on this machine/g)?.length, 2, 'said before and after the run');
});

test('with AGENTMEM_TEST_REQUIRE=postgres,redis the same machine fails, naming both', async () => {
  const port = await closedPort();
  const r = await npmTest(
    {
      AGENTMEM_TEST_PG: `postgres://postgres@127.0.0.1:${port}/postgres`,
      AGENTMEM_TEST_REDIS: `redis://127.0.0.1:${port}`,
      AGENTMEM_TEST_REQUIRE: 'postgres,redis',
    },
    files,
  );
  assert.notEqual(r.code, 0);
  assert.match(r.out, /PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres: nothing usable answers \(ECONNREFUSED\)/);
  assert.match(r.out, /Redis at redis:\/\/127\.0\.0\.1:\d+: nothing answers \(ECONNREFUSED\)/);
  assert.doesNotMatch(r.out, /engines=/, 'nothing ran');
});

test(
  'where both answer, npm test uses both and skips nothing',
  { skip: (!(engines.includes('postgres') && testRedis) && 'needs PostgreSQL and Redis') || false },
  async () => {
    const r = await npmTest({ AGENTMEM_TEST_REQUIRE: 'postgres,redis' }, ['test/fixtures/engines.fixture.ts']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /engines=pglite,postgres redis=redis:\/\//);
    assert.doesNotMatch(r.out, /SKIPPED/);
  },
);

test('skipped tests are listed after the run; with AGENTMEM_TEST_ALLOW_SKIPS one not listed there fails it', async () => {
  const fixture = ['test/fixtures/skips.fixture.ts'];
  const plain = await npmTest({}, fixture);
  assert.equal(plain.code, 0, plain.out);
  assert.match(plain.out, /npm test: 1 skipped:\n {2}- a test skipped on purpose \(the fixture always skips it\)/);

  const strict = await npmTest({ AGENTMEM_TEST_ALLOW_SKIPS: '' }, fixture);
  assert.notEqual(strict.code, 0, 'an empty allow-list: no skip allowed');
  assert.match(strict.out, /a test skipped on purpose .*NOT ALLOWED/);
  assert.match(strict.out, /AGENTMEM_TEST_ALLOW_SKIPS is set and 1 skipped test\(s\) are not in it/);

  const allowed = await npmTest({ AGENTMEM_TEST_ALLOW_SKIPS: 'something else\na test skipped on purpose' }, fixture);
  assert.equal(allowed.code, 0, allowed.out);
  assert.doesNotMatch(allowed.out, /NOT ALLOWED/);
});
