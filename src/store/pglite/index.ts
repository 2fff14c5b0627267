// Embedded engine: PGlite (Postgres in WASM) with pgvector, in a data directory or in
// memory (`memory://`). PGlite runs in a worker thread (./worker.ts): its WASM would
// otherwise stall every live stream for as long as each statement takes. Requests
// cross by postMessage (structured clone keeps Dates, numbers, JSON, arrays, bytes as
// PGlite returned them); PGlite's one connection serializes them in order.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../../threads.ts';
import type { Db, Queryable } from '../db.ts';
import type { Ready, Reply, Request, WireError } from './worker.ts';

export interface PgliteDb extends Db {
  /** the thread PGlite runs on (diagnostics and tests) */
  readonly worker: Worker;
  /** writes the store to `file` as a gzipped dump, which `memory://?from=<file>` starts from */
  dump(file: string): Promise<void>;
}

type Op = Request extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** `from` (with `memory://`): start as a copy of a dump instead of an empty cluster (PGlite's initdb: ~3.5 s of CPU; a dump's load: ~0.6 s). */
export async function openPglite(dataDir: string, from?: string): Promise<PgliteDb> {
  const worker = spawnPgliteWorker({ dataDir, ...(from ? { from } : {}) });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let stopped: Error | undefined;
  let closing = false;

  const stop = (err: Error) => {
    stopped ??= err;
    for (const p of pending.values()) p.reject(stopped);
    pending.clear();
  };
  worker.on('error', (err) => stop(new Error(`the PGlite worker failed: ${err.message}`, { cause: err })));
  worker.on('exit', (code) => stop(new Error(closing ? 'the database is closed' : `the PGlite worker stopped (exit code ${code})`)));

  await new Promise<void>((resolve, reject) => {
    worker.once('message', (m: Ready) => (m.ready ? resolve() : reject(toError(m.error))));
    worker.once('exit', () => reject(stopped));
  });

  worker.on('message', (m: Reply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    // In-process PGlite never held the process open; the worker holds it only while a request waits.
    if (pending.size === 0) worker.unref();
    if (m.ok) p.resolve(m.value);
    else p.reject(toError(m.error));
  });
  worker.unref();

  const call = <T>(op: Op): Promise<T> => {
    if (stopped) return Promise.reject(stopped);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      try {
        worker.postMessage({ ...op, id }); // throws on a parameter structured clone cannot copy
      } catch (err) {
        return reject(err);
      }
      // the reply's value is what the op answers: the T its caller asked for
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (pending.size === 1) worker.ref();
    });
  };
  const on = (tx?: number): Queryable => ({
    query: (sql, params) => call({ op: 'query', sql, params, tx }),
    exec: (sql) => call({ op: 'exec', sql, tx }),
  });

  return {
    engine: 'pglite',
    worker,
    ...on(),
    async transaction(fn) {
      const tx = await call<number>({ op: 'begin' });
      let result;
      try {
        result = await fn(on(tx));
      } catch (err) {
        await call({ op: 'end', tx, commit: false }).catch(() => {});
        throw err;
      }
      await call({ op: 'end', tx, commit: true });
      return result;
    },
    connections: () => ({ open: 0, idle: 0 }),
    dump: (file) => call({ op: 'dump', file }),
    async close() {
      if (stopped) return;
      closing = true;
      try {
        await call({ op: 'close' });
      } finally {
        await worker.terminate();
      }
    },
  };
}

/** A database error as PGlite threw it: same message, code (SQLSTATE), detail, constraint, … */
function toError(e: WireError): Error {
  return Object.assign(new Error(e.message), e.fields);
}

/** The worker file beside this one, with this file's extension: `.ts` through tsx, `.js` after a build. */
function spawnPgliteWorker(workerData: { dataDir: string; from?: string }): Worker {
  const ext = extname(fileURLToPath(import.meta.url));
  return spawnWorker(new URL(`./worker${ext}`, import.meta.url), { workerData });
}
