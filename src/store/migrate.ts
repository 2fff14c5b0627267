// Versioned SQL migrations, applied in order at start, once each, under a lock
// so two instances starting together on one PostgreSQL do not race.
import { readdirSync, readFileSync } from 'node:fs';
import type { Db } from './db.ts';

const dir = new URL('./migrations/', import.meta.url);

export async function migrate(db: Db): Promise<void> {
  await ensureVector(db);
  const files = readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort();
  await db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock(7412903)');
    await tx.query(`create table if not exists agentmem_migrations (
      version int primary key, name text not null, applied_at timestamptz not null default now())`);
    const done = new Set((await tx.query<{ version: number }>('select version from agentmem_migrations')).map((r) => r.version));
    for (const file of files) {
      const version = Number.parseInt(file, 10);
      if (done.has(version)) continue;
      await tx.exec(readFileSync(new URL(file, dir), 'utf8'));
      await tx.query('insert into agentmem_migrations (version, name) values ($1, $2)', [version, file]);
    }
  });
}

async function ensureVector(db: Db): Promise<void> {
  try {
    await db.query('create extension if not exists vector');
  } catch (err) {
    const msg = (err as Error).message;
    if (/vector|extension/i.test(msg)) {
      throw new Error(
        'PostgreSQL has no pgvector extension, which agentmem needs for memory search. ' +
          'Install it on the database server (Debian/Ubuntu: the postgresql-<version>-pgvector package, ' +
          "or build it from pgvector's source with `make && make install`), then restart agentmem. " +
          `The server said: ${msg}`,
      );
    }
    throw err;
  }
}
