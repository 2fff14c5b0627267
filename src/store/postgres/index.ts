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
  const min = Math.min(size.min, size.max);
  const pool = new pg.Pool({
    connectionString: url,
    max: size.max,
    min,
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
  const names = statementNames();
  const run = async <T>(q: pg.Pool | pg.PoolClient, sql: string, params?: unknown[]) => {
    const name = params?.length && WRITE.test(sql) ? names.of(sql) : undefined;
    try {
      return (await q.query({ text: sql, values: params, name })).rows as T[];
    } catch (err) {
      // A migration by a newer instance (a rolling deploy) changed a table under a parsed
      // `returning *`: run it unnamed from now on.
      if (!name || (err as { code?: string }).code !== '0A000') throw err;
      names.retire(sql);
      return (await q.query(sql, params)).rows as T[];
    }
  };
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
    warm: () => warmPool(pool, min),
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

/**
 * Only writes are named: theirs are plans by key (a row by id, rows by session or owner), the
 * same for any values. A read's best plan may depend on its values (a user's 20 memories or an
 * organization's 500,000, the HNSW index for a vector), so reads are planned for theirs each
 * time, as PostgreSQL does for unnamed statements.
 */
const WRITE = /^\s*(insert|update|delete|with\b[\s\S]*\b(insert|update|delete)\b)/i;

/** Statements given a name at most: each connection keeps those it has run parsed (a few KB each). */
const MAX_NAMED = 256;

/**
 * A name per statement text, for the first MAX_NAMED texts with parameters: PostgreSQL then
 * parses a hot statement once per connection, and plans it once when its plan does not depend on
 * the values (its own rule, plan_cache_mode = auto), not on every turn. A text built per
 * request (filters) may take a name too; past the cap, texts run unnamed as before.
 */
function statementNames() {
  const names = new Map<string, string | null>();
  return {
    of(sql: string): string | undefined {
      let n = names.get(sql);
      if (n === undefined && names.size < MAX_NAMED) names.set(sql, (n = `am${names.size}`));
      return n ?? undefined;
    },
    /** never named again (its old name stays parsed on the connections that ran it) */
    retire: (sql: string) => void names.set(sql, null),
  };
}
