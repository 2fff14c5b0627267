// `npm test`: every *.test.ts under src/ and test/, through node's test runner with tsx.
// Extra arguments narrow the run: `npm test -- test/foundation.test.ts`.
//
// The suite runs on the embedded engine (PGlite) everywhere. The PostgreSQL engine and the
// tests that need Redis run when those answer (AGENTMEM_TEST_PG, AGENTMEM_TEST_REDIS); on a
// machine without them, what was left out is said plainly, before and after the run, with
// how to include it. AGENTMEM_TEST_REQUIRE=postgres,redis (what CI sets) makes a missing
// one a failure instead, so a green CI run means both engines ran.
//
// Every skipped test is listed after the run. With AGENTMEM_TEST_ALLOW_SKIPS set (CI sets it,
// in .ci/run), a skipped test fails the run unless its name contains one of the entries
// (one a line; empty: no skip is allowed).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? find(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}

const env = { ...process.env, NODE_ENV: 'test' };
const pgUrl = env.AGENTMEM_TEST_PG || 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = env.AGENTMEM_TEST_REDIS || 'redis://127.0.0.1:6379';
const required = new Set(
  (env.AGENTMEM_TEST_REQUIRE ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
const engines = (env.AGENTMEM_TEST_ENGINES || 'pglite,postgres').split(',');

/** Why PostgreSQL cannot run the suite, or undefined when it can. */
async function postgresProblem() {
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    const [row] = (await client.query(`select exists (select 1 from pg_available_extensions where name = 'vector') as vector`)).rows;
    return row.vector ? undefined : 'it has no pgvector extension';
  } catch (err) {
    return `nothing usable answers (${err.code || err.message})`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Runs `fn` on a connection to the PostgreSQL the tests use. */
async function withPostgres(fn) {
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Why Redis cannot be used, or undefined when it answers PING. */
function redisProblem() {
  const url = new URL(redisUrl);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port || 6379), url.hostname);
    const done = (problem) => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(3_000, () => done('no answer in 3 s'));
    socket.once('error', (err) => done(`nothing answers (${err.code || err.message})`));
    socket.once('connect', () =>
      socket.write(url.password ? `AUTH ${decodeURIComponent(url.username || 'default')} ${decodeURIComponent(url.password)}\r\nPING\r\n` : 'PING\r\n'),
    );
    let reply = '';
    socket.on('data', (d) => {
      reply += d;
      if (reply.includes('+PONG')) done(undefined);
      else if (reply.startsWith('-')) done(`it refused: ${reply.trim()}`);
    });
  });
}

const skipped = [];
const missing = [];
const redact = (u) => u.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
if (engines.includes('postgres')) {
  const problem = await postgresProblem();
  if (problem) {
    const what = `PostgreSQL at ${redact(pgUrl)}: ${problem}`;
    if (required.has('postgres')) missing.push(what);
    else {
      env.AGENTMEM_TEST_ENGINES = engines.filter((e) => e !== 'postgres').join(',') || 'pglite';
      skipped.push(
        `the PostgreSQL engine (every test on it, and those of two instances on one database) — ${what}.\n    To include them: start PostgreSQL 15+ with pgvector there, or point AGENTMEM_TEST_PG at one (a user that may create databases).`,
      );
    }
  }
} else if (required.has('postgres')) {
  missing.push('PostgreSQL: AGENTMEM_TEST_ENGINES leaves it out');
}
if (env.AGENTMEM_TEST_REDIS !== 'none') {
  const problem = await redisProblem();
  if (problem) {
    const what = `Redis at ${redact(redisUrl)}: ${problem}`;
    if (required.has('redis')) missing.push(what);
    else {
      env.AGENTMEM_TEST_REDIS = 'none';
      skipped.push(
        `the tests that need Redis (rate limits in Redis, resumes and cache invalidation across instances) — ${what}.\n    To include them: start redis-server there, or point AGENTMEM_TEST_REDIS at one.`,
      );
    }
  }
} else if (required.has('redis')) {
  missing.push('Redis: AGENTMEM_TEST_REDIS=none leaves it out');
}

if (missing.length) {
  console.error(`npm test: AGENTMEM_TEST_REQUIRE=${[...required].join(',')}, but:\n${missing.map((m) => `  - ${m}`).join('\n')}`);
  process.exit(1);
}
const notice = skipped.length ? `npm test: SKIPPED on this machine:\n${skipped.map((s) => `  - ${s}`).join('\n')}\n` : '';
if (notice) console.log(notice);

const files = process.argv.slice(2).length ? process.argv.slice(2) : ['src', 'test'].flatMap(find).sort();
// Files at a time. Most files wait more than they compute (a server's start, a slow upstream, a
// child process, a deadline): measured on 2 cores (ci-times.md), a file uses ~half a core on
// average, and even four at a time left ~15 % idle; two took 914 s, three 790 s, four 541 s, with
// PostgreSQL at most 61 connections of its 100. AGENTMEM_TEST_CONCURRENCY overrides.
const concurrency = Number(env.AGENTMEM_TEST_CONCURRENCY) || 4;
// For the whole suite (or with AGENTMEM_TEST_TEMPLATES=make): the stores test servers copy instead
// of making their own, made once here (test/template-stores.ts): an embedded store copied into the
// data dir of each test server on PGlite files (seedPglite in test/harness.ts), and its dump that
// each in-memory one starts from (memory://?from=…), which spares them PGlite's initdb (~3.5–5 s
// of CPU) and the migrations; a PostgreSQL database each test database is created from
// (createTestDatabase), which spares it the migrations (~1.5 s).
const templateDir = mkdtempSync(join(tmpdir(), 'agentmem-templates-'));
const pgTemplate = `agentmem_test_template_${process.pid}`;
let pgTemplateMade = false;
if (env.AGENTMEM_TEST_TEMPLATES === 'make' || !process.argv.slice(2).length) {
  const pglite = engines.includes('pglite');
  const postgres = (env.AGENTMEM_TEST_ENGINES || 'pglite,postgres').split(',').includes('postgres');
  let templateUrl;
  if (postgres) {
    pgTemplateMade = await withPostgres((c) => c.query(`create database ${pgTemplate}`)).then(
      () => true,
      () => false,
    );
    if (pgTemplateMade) {
      const u = new URL(pgUrl);
      u.pathname = `/${pgTemplate}`;
      templateUrl = u.toString();
    }
  }
  const args = [pglite ? templateDir : '-', ...(templateUrl ? [templateUrl] : [])];
  if (pglite || templateUrl) {
    const made = spawnSync(process.execPath, ['--import', 'tsx', new URL('../test/template-stores.ts', import.meta.url).pathname, ...args], {
      stdio: 'inherit',
      env,
    });
    if (made.status === 0) {
      if (pglite) {
        env.AGENTMEM_TEST_PGLITE_TEMPLATE = join(templateDir, 'pgdata');
        env.AGENTMEM_TEST_PGLITE_DUMP = join(templateDir, 'memory.tgz');
      }
      if (templateUrl) env.AGENTMEM_TEST_PG_TEMPLATE = pgTemplate;
    } else console.log('npm test: no template stores (see above): each test server makes its own');
  }
}
// The usual reporter on stdout, and the skips to a file (scripts/skip-reporter.mjs).
const skipDir = mkdtempSync(join(tmpdir(), 'agentmem-skips-'));
const skipFile = join(skipDir, 'skips.jsonl');
const reporters = [
  `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
  '--test-reporter-destination=stdout',
  `--test-reporter=${new URL('./skip-reporter.mjs', import.meta.url).href}`,
  `--test-reporter-destination=${skipFile}`,
];
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...reporters, ...files],
  {
    stdio: 'inherit',
    env,
  },
);
let skips = [];
try {
  skips = readFileSync(skipFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
} catch {
  // no file: nothing was skipped (or the run never started)
}
rmSync(skipDir, { recursive: true, force: true });
rmSync(templateDir, { recursive: true, force: true });
if (pgTemplateMade) await withPostgres((c) => c.query(`drop database if exists ${pgTemplate} with (force)`)).catch(() => {});
if (notice) console.log(`\n${notice}(the rest ran on the embedded engine, PGlite)`);

let status = result.status ?? 1;
if (skips.length) {
  const allowed =
    env.AGENTMEM_TEST_ALLOW_SKIPS === undefined
      ? undefined
      : env.AGENTMEM_TEST_ALLOW_SKIPS.split('\n')
          .map((s) => s.trim())
          .filter(Boolean);
  const refused = allowed ? skips.filter((t) => !allowed.some((a) => t.name.includes(a))) : [];
  const line = (t) => `  - ${t.name}${t.reason ? ` (${t.reason})` : ''}${t.file ? ` — ${t.file}` : ''}${refused.includes(t) ? '  NOT ALLOWED' : ''}`;
  console.log(`\nnpm test: ${skips.length} skipped:\n${skips.map(line).join('\n')}`);
  if (refused.length) {
    console.error(
      `npm test: AGENTMEM_TEST_ALLOW_SKIPS is set and ${refused.length} skipped test(s) are not in it: each one is a failure (list its name there, in .ci/run, if the skip is intended).`,
    );
    status = 1;
  }
}
process.exit(status);
