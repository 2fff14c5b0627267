// The worker thread that owns PGlite, so its WASM and JS never run on the streaming
// thread. It answers the requests of `./index.ts` one message each; PGlite's own
// mutex keeps them in arrival order and holds them back while a transaction is open.
import { parentPort, workerData } from 'node:worker_threads';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { createPrepared } from './prepared.ts';

export type Request = { id: number } & (
  | { op: 'query'; sql: string; params?: unknown[]; tx?: number }
  | { op: 'exec'; sql: string; tx?: number }
  | { op: 'begin' }
  | { op: 'end'; tx: number; commit: boolean }
  | { op: 'dump'; file: string }
  | { op: 'close' }
);

/** An error as it crosses the thread: its message and every plain field (code, detail, constraint, …). */
export interface WireError {
  message: string;
  fields: Record<string, string | number | boolean>;
}

export type Reply = { id: number } & ({ ok: true; value: unknown } | { ok: false; error: WireError });

/** The first message: PGlite is open, or why it could not be. */
export type Ready = { ready: true } | { ready: false; error: WireError };

const port = parentPort!;
/** `from`: an in-memory store starts as a copy of this dump (the `dump` op's file), with no initdb. */
const { dataDir, from } = workerData as { dataDir: string; from?: string };

/** Open transactions by id: the connection their statements run on, and how to end them. */
const open = new Map<number, { tx: Transaction; end: (commit: boolean) => Promise<void> }>();

function toWire(err: unknown): WireError {
  const fields: WireError['fields'] = {};
  if (err && typeof err === 'object') {
    for (const [k, v] of Object.entries(err)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fields[k] = v;
    }
  }
  return { message: err instanceof Error ? err.message : String(err), fields };
}

/** Opens a transaction that stays open until its `end` request: commit, or roll back. */
function begin(pg: PGlite, id: number): Promise<number> {
  return new Promise((started, failed) => {
    let decide!: (commit: boolean) => void;
    const decided = new Promise<boolean>((resolve) => (decide = resolve));
    const done: Promise<void> = pg
      .transaction(async (tx) => {
        open.set(id, { tx, end: (commit) => (decide(commit), done) });
        started(id);
        if (!(await decided)) await tx.rollback();
      })
      .finally(() => open.delete(id));
    done.catch(failed); // only a begin that never started waits on this
  });
}

function conn(pg: PGlite, tx: number | undefined): PGlite | Transaction {
  if (tx === undefined) return pg;
  const t = open.get(tx);
  if (!t) throw new Error(`transaction ${tx} is not open`);
  return t.tx;
}

// PGlite's locks, as its own query() takes them: the transaction lock (held by an open
// transaction for its whole life), then the statement lock.
type Locks = { _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T> };

async function query(pg: PGlite, prepared: ReturnType<typeof createPrepared>, req: Extract<Request, { op: 'query' }>): Promise<unknown> {
  const statement = () => pg.runExclusive(() => prepared(req.sql, req.params));
  if (req.tx !== undefined) {
    conn(pg, req.tx); // still open
    const rows = await statement();
    if (rows) return rows;
  } else {
    const rows = await (pg as unknown as Locks)._runExclusiveTransaction(statement);
    if (rows) {
      await pg.syncToFs();
      return rows;
    }
  }
  return (await conn(pg, req.tx).query(req.sql, req.params)).rows;
}

async function handle(pg: PGlite, req: Request): Promise<unknown> {
  switch (req.op) {
    case 'query':
      return query(pg, prepared, req);
    case 'exec':
      await conn(pg, req.tx).exec(req.sql);
      return undefined;
    case 'begin':
      return begin(pg, req.id);
    case 'end': {
      const t = open.get(req.tx);
      if (!t) throw new Error(`transaction ${req.tx} is not open`);
      return t.end(req.commit);
    }
    case 'dump':
      writeFileSync(req.file, Buffer.from(await (await pg.dumpDataDir('gzip')).arrayBuffer()));
      return undefined;
    case 'close':
      await pg.close();
      return undefined;
  }
}

let pg: PGlite;
let prepared: ReturnType<typeof createPrepared>;
try {
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  pg = await PGlite.create({ dataDir, extensions: { vector }, ...(from ? { loadDataDir: new Blob([readFileSync(from)]) } : {}) });
  prepared = createPrepared(pg);
} catch (err) {
  port.postMessage({ ready: false, error: toWire(err) } satisfies Ready);
  process.exit(1);
}
port.on('message', (req: Request) => {
  handle(pg, req).then(
    (value) => {
      port.postMessage({ id: req.id, ok: true, value } satisfies Reply);
      if (req.op === 'close') port.close();
    },
    (err) => port.postMessage({ id: req.id, ok: false, error: toWire(err) } satisfies Reply),
  );
});
port.postMessage({ ready: true } satisfies Ready);
