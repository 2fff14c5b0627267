// Where the embedded engine's work lands: per-query round trip and main-thread time for
// PGlite in-process (as before), PGlite in a worker thread (src/store/pglite), and, when
// PGLITE_SOCKET_DIR names a folder with @electric-sql/pglite-socket installed, PGlite
// behind pglite-socket in a worker with the pg driver. Main-thread time is the event
// loop's active time (performance.eventLoopUtilization) while the queries run, so
// synchronous WASM on the main thread counts and waiting for another thread does not.
//   node --import tsx scripts/bench-pglite-thread.ts [rounds]
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { Db, Queryable } from '../src/store/db.ts';
import { migrate } from '../src/store/migrate.ts';
import { openPglite } from '../src/store/pglite/index.ts';
import { openPostgres } from '../src/store/postgres/index.ts';
import { insertMemories, nearestMemories, textMatches, vectorLiteral } from '../src/store/repos/memories.ts';

const ROWS = 3_000;
const DIM = 256;
const rounds = Number(process.argv[2] ?? 3);
const words = 'alpha beta gamma delta coffee tea paris tokyo music chess cats dogs rain snow blue green'.split(' ');
const text = (n: number) => Array.from({ length: n }, () => words[Math.floor(Math.random() * words.length)]).join(' ');
const vec = () => vectorLiteral(Array.from({ length: DIM }, () => Math.random() - 0.5));

/** PGlite on the calling thread: the engine as it was before the worker. */
async function openInProcess(): Promise<Db> {
  const pg = await PGlite.create({ dataDir: 'memory://', extensions: { vector } });
  const on = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    query: async <T>(sql: string, params?: unknown[]) => (await q.query<T>(sql, params)).rows,
    exec: async (sql) => void (await q.exec(sql)),
  });
  return {
    engine: 'pglite',
    ...on(pg),
    transaction: (fn) => pg.transaction((tx) => fn(on(tx))),
    connections: () => ({ open: 0, idle: 0 }),
    close: () => pg.close(),
  };
}

/** PGlite + pglite-socket in a worker thread, reached by the pg driver over a Unix socket. */
async function openSocket(dir: string): Promise<Db & { stop(): Promise<void> }> {
  // pg reaches a Unix socket as <host dir>/.s.PGSQL.<port>
  const sockDir = mkdtempSync(join(tmpdir(), 'pglite-bench-'));
  const path = join(sockDir, '.s.PGSQL.5432');
  const src = `
    const { parentPort } = require('node:worker_threads');
    (async () => {
      const { PGlite } = await import(${JSON.stringify(`${dir}/node_modules/@electric-sql/pglite/dist/index.js`)});
      const { vector } = await import(${JSON.stringify(`${dir}/node_modules/@electric-sql/pglite-pgvector/dist/index.js`)});
      const { PGLiteSocketServer } = await import(${JSON.stringify(`${dir}/node_modules/@electric-sql/pglite-socket/dist/index.js`)});
      const db = await PGlite.create({ dataDir: 'memory://', extensions: { vector } });
      const server = new PGLiteSocketServer({ db, path: ${JSON.stringify(path)} });
      await server.start();
      parentPort.postMessage('ready');
      parentPort.on('message', async () => { await server.stop(); await db.close(); parentPort.close(); });
    })();`;
  const worker = new Worker(src, { eval: true });
  await new Promise((resolve, reject) => (worker.once('message', resolve), worker.once('error', reject)));
  const db = await openPostgres(`postgres://postgres@localhost/postgres?host=${encodeURIComponent(sockDir)}`, { max: 1, min: 0 });
  return {
    ...db,
    async stop() {
      await db.close();
      worker.postMessage('stop');
      await new Promise((r) => worker.once('exit', r));
    },
  };
}

async function seed(db: Db): Promise<string> {
  await migrate(db);
  const org = randomUUID();
  await db.query(`insert into organizations (id, name) values ($1, 'bench')`, [org]);
  const rows = Array.from({ length: ROWS }, () => ({
    id: randomUUID(),
    agent_id: null,
    user_id: 'u1',
    content: text(12),
    metadata: {},
    embedding: vec(),
    embedder: 'local:256',
    created_at: new Date(),
  }));
  await insertMemories(db, org, rows);
  await db.query('analyze memories');
  return org;
}

/** The three queries: one round trip, one row written, one recall (text + exact vector). */
function queries(db: Db, org: string): Record<string, () => Promise<unknown>> {
  const scope = { orgId: org, userId: 'u1' };
  // Inputs made ahead, so the main-thread time below is the engine's, not the vectors' making.
  const vecs = Array.from({ length: 64 }, vec);
  const texts = Array.from({ length: 64 }, () => text(12));
  let i = 0;
  const next = () => (i = (i + 1) % 64);
  return {
    'select 1': () => db.query('select 1'),
    insert: () =>
      insertMemories(db, org, [
        {
          id: randomUUID(),
          agent_id: null,
          user_id: 'u2',
          content: texts[next()]!,
          metadata: { k: 1 },
          embedding: vecs[i]!,
          embedder: 'local:256',
          created_at: new Date(),
        },
      ]),
    'hybrid search': async () => {
      const v = vecs[next()]!;
      await Promise.all([
        nearestMemories(db, scope, { embedder: 'local:256', dimensions: DIM, vector: v, limit: 10, ann: false }),
        textMatches(db, scope, { text: 'coffee paris', embedder: 'local:256', vector: v, limit: 10, candidates: 200, viaGin: false }),
      ]);
    },
  };
}

const count: Record<string, number> = { 'select 1': 500, insert: 200, 'hybrid search': 50 };

async function measure(run: () => Promise<unknown>, n: number) {
  for (let i = 0; i < Math.min(20, n); i++) await run(); // warm
  const wall: number[] = [];
  const elu0 = performance.eventLoopUtilization();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await run();
    wall.push(performance.now() - t);
  }
  const elu = performance.eventLoopUtilization(elu0);
  wall.sort((a, b) => a - b);
  return { p50: wall[Math.floor(n / 2)]!, mean: wall.reduce((a, b) => a + b, 0) / n, mainMs: elu.active / n };
}

const engines: Array<[string, () => Promise<Db & { stop?(): Promise<void> }>]> = [
  ['in-process', openInProcess],
  ['worker', () => openPglite('memory://')],
];
if (process.env.PGLITE_SOCKET_DIR) engines.push(['socket + pg', () => openSocket(process.env.PGLITE_SOCKET_DIR!)]);

const opened = await Promise.all(
  engines.map(async ([name, open]) => {
    const db = await open();
    return { name, db, org: await seed(db) };
  }),
);
const results: Record<string, Record<string, { p50: number[]; mean: number[]; mainMs: number[] }>> = {};
// Rounds alternate the engines, so a neighbour's load on the shared machine falls on all of them.
for (let r = 0; r < rounds; r++) {
  for (const { name, db, org } of opened) {
    for (const [q, run] of Object.entries(queries(db, org))) {
      const m = await measure(run, count[q]!);
      const slot = ((results[q] ??= {})[name] ??= { p50: [], mean: [], mainMs: [] });
      slot.p50.push(m.p50);
      slot.mean.push(m.mean);
      slot.mainMs.push(m.mainMs);
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`${ROWS} memories, ${DIM} dims; median of ${rounds} alternating rounds`);
console.log('query          engine        round trip p50      mean   main thread per query');
for (const [q, byEngine] of Object.entries(results)) {
  for (const [name, m] of Object.entries(byEngine)) {
    console.log(
      `${q.padEnd(14)} ${name.padEnd(13)} ${median(m.p50).toFixed(3).padStart(9)} ms ${median(m.mean).toFixed(3).padStart(9)} ms ${median(m.mainMs).toFixed(3).padStart(14)} ms`,
    );
  }
}
for (const { db } of opened) await (db.stop ? db.stop() : db.close());
