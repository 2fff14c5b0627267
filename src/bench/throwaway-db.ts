// A store that lives as long as one test file or bench run: memory:// (PGlite) as is, or
// a new database on a PostgreSQL server, dropped afterwards. Tests, the bench and the
// scripts all create theirs here.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface ThrowawayDatabase {
  url: string;
  drop(): Promise<void>;
}

/** For postgres://…/db a new database next to db (dropped by drop()); anything else as is. */
export async function throwawayDatabase(url: string, prefix = 'agentmem_tmp'): Promise<ThrowawayDatabase> {
  if (!/^postgres(ql)?:\/\//.test(url)) return { url, drop: async () => {} };
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withAdmin(url, (c) => c.query(`create database ${name}`));
  const own = new URL(url);
  own.pathname = `/${name}`;
  return {
    url: own.toString(),
    drop: () => withAdmin(url, (c) => c.query(`drop database if exists ${name} with (force)`)).then(() => {}),
  };
}

async function withAdmin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
