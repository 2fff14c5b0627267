// Server engine: PostgreSQL through a pg pool. pgvector must be installed on the server.
import pg from 'pg';
import type { Db } from '../db.ts';

// int8 (counts, sequences) as JS numbers: our values stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export interface PoolSize {
  /** connections at most (AGENTMEM_PG_POOL_MAX) */
  max: number;
  /** connections kept open, idle or not, and warmed at start (AGENTMEM_PG_POOL_MIN) */
  min: number;
}

export async function openPostgres(url: string, size: PoolSize = { max: 20, min: 0 }): Promise<Db> {
  // A server out of reach fails a request in 5 s (503 storage_unavailable), not never.
  const pool = new pg.Pool({
    connectionString: url,
    max: size.max,
    min: Math.min(size.min, size.max),
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
  });
  // An idle client that errors (server restart) must not crash the process.
  pool.on('error', () => {});
  try {
    await pool.query('select 1');
  } catch (err) {
    await pool.end().catch(() => {});
    throw new Error(`cannot connect to PostgreSQL at ${redactUrl(url)}: ${(err as Error).message}`);
  }
  const run = async <T>(q: pg.Pool | pg.PoolClient, sql: string, params?: unknown[]) => (await q.query(sql, params)).rows as T[];
  return {
    engine: 'postgres',
    query: (sql, params) => run(pool, sql, params),
    exec: async (sql) => void (await pool.query(sql)),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const result = await fn({ query: (sql, params) => run(client, sql, params), exec: async (sql) => void (await client.query(sql)) });
        await client.query('commit');
        return result;
      } catch (err) {
        await client.query('rollback').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    connections: () => ({ open: pool.totalCount, idle: pool.idleCount }),
    warm: () => warmPool(pool, Math.min(size.min, size.max)),
    close: () => pool.end(),
  };
}

/** The tables a turn reads and writes: a new backend loads their catalog entries on first use. */
const HOT_TABLES = ['api_keys', 'agents', 'sessions', 'messages', 'memories', 'scope_versions', 'jobs', 'working_memory'];

/**
 * Opens `n` connections at once and has each plan a query on every hot table. A restarted
 * instance's first burst otherwise pays for it in its first turns: at 16 first turns at
 * once, connecting took up to 57 ms and a new backend's first query 8–37 ms (0.7 ms
 * warm), enough to push a cold scope's recall past its budget (scripts/cold-org.ts).
 */
async function warmPool(pool: pg.Pool, n: number): Promise<void> {
  const sql = HOT_TABLES.map((t) => `explain select * from ${t}`).join(';');
  const clients = await Promise.all(Array.from({ length: n }, () => pool.connect()));
  try {
    await Promise.all(clients.map((c) => c.query(sql)));
  } finally {
    for (const c of clients) c.release();
  }
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}
