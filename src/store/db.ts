// The one query interface both engines implement. Everything above store/ talks
// to this, never to PGlite or pg directly; SQL is the same on both.

export type Engine = 'pglite' | 'postgres';

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly engine: Engine;
  /** Runs fn in one transaction; rolls back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** open connections to the database server, and how many are idle (PGlite has none) */
  connections(): { open: number; idle: number };
  /** Opens the connections kept open and readies each for the first turns (PostgreSQL; after the migrations). */
  warm?(): Promise<void>;
  close(): Promise<void>;
}

export async function one<T>(db: Queryable, sql: string, params?: unknown[]): Promise<T | undefined> {
  const rows = await db.query<T>(sql, params);
  return rows[0];
}
