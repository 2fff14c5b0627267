// One organization's data as JSON Lines, out of a store and into one, on either engine:
// the organization, its users, agents (their secrets left out), sessions, messages,
// memories with their vectors and history, and working memory where that table exists.
// Not its API keys, jobs, webhook endpoints (their secrets are sealed with this server's key)
// and deliveries, or anything of another organization. Rows travel as whole
// table rows (to_jsonb / json_populate_recordset), so a column added by a later
// migration travels too; generated columns are left for the target to compute.
import type { Db, Queryable } from './db.ts';

export const DUMP_FORMAT = 'agentmem-org/1';

/** Parents before children, so an import meets every foreign key it needs. */
const TABLES: Array<{ table: string; order: string; optional?: boolean }> = [
  { table: 'organizations', order: 'id' },
  { table: 'users', order: 'created_at, id' },
  { table: 'agents', order: 'created_at, id' },
  { table: 'sessions', order: 'created_at, id' },
  { table: 'messages', order: 'seq' },
  { table: 'memories', order: 'created_at, id' },
  { table: 'memory_history', order: 'created_at, id' },
  { table: 'working_memory', order: '1', optional: true },
  { table: 'working_memories', order: '1', optional: true },
];

export type DumpLine = { format: typeof DUMP_FORMAT; org_id: string; exported_at: string } | { table: string; row: Record<string, unknown> };

const PAGE = 1_000;

/** Columns an INSERT may set: not generated ones (a tsvector, an identity). */
async function insertableColumns(db: Queryable, table: string): Promise<string[]> {
  const rows = await db.query<{ column_name: string }>(
    `select column_name from information_schema.columns
     where table_schema = current_schema() and table_name = $1 and is_generated = 'NEVER' and coalesce(identity_generation, '') <> 'ALWAYS'
     order by ordinal_position`,
    [table],
  );
  return rows.map((r) => r.column_name);
}

async function tableExists(db: Queryable, table: string): Promise<boolean> {
  const [row] = await db.query<{ t: string | null }>('select to_regclass($1)::text as t', [table]);
  return Boolean(row?.t);
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Writes the organization's lines (header first) to `write`, from one consistent snapshot.
 * Returns the row count per table; undefined when there is no such organization.
 */
export async function exportOrg(db: Db, orgId: string, write: (line: DumpLine) => void | Promise<void>): Promise<Record<string, number> | undefined> {
  return db.transaction(async (tx) => {
    await tx.query('set transaction isolation level repeatable read');
    if (!(await tx.query('select 1 from organizations where id = $1', [orgId])).length) return undefined;
    await write({ format: DUMP_FORMAT, org_id: orgId, exported_at: new Date().toISOString() });
    const counts: Record<string, number> = {};
    for (const { table, order, optional } of TABLES) {
      if (optional && !(await tableExists(tx, table))) continue;
      const columns = await insertableColumns(tx, table);
      const key = table === 'organizations' ? 'id' : 'org_id';
      // Secrets stay behind: an imported agent needs its keys given again.
      const select = columns.map((c) => (table === 'agents' && c === 'secrets' ? `null as secrets` : `t.${ident(c)}`)).join(', ');
      counts[table] = 0;
      for (let offset = 0; ; offset += PAGE) {
        const rows = await tx.query<{ row: Record<string, unknown> }>(
          `select to_jsonb(x) as row from (select ${select} from ${ident(table)} t where t.${key} = $1 order by ${order} limit ${PAGE} offset ${offset}) x`,
          [orgId],
        );
        for (const { row } of rows) await write({ table, row });
        counts[table] += rows.length;
        if (rows.length < PAGE) break;
      }
    }
    return counts;
  });
}

export class DumpError extends Error {}

/** The file's organization may go in: it is new here, or `into` names it. */
async function checkTarget(db: Queryable, orgId: string, into: string | undefined): Promise<void> {
  if (into !== undefined && into !== orgId)
    throw new DumpError(`the file holds organization ${orgId}, not ${into}: an export goes back under its own organization id`);
  if (into === undefined && (await db.query('select 1 from organizations where id = $1', [orgId])).length)
    throw new DumpError(`organization ${orgId} already exists in this store: to merge the file into it, give --org ${orgId}`);
}

/**
 * Reads lines written by exportOrg into this store, in one transaction (all or nothing).
 * Rows already there (same key) are kept as they are and counted as skipped. A file for an
 * organization this store already has is refused unless `into` names that organization: a
 * merge into existing data is asked for, never happens because of what a file says.
 */
export async function importOrg(
  db: Db,
  lines: AsyncIterable<string>,
  opts: {
    into?: string;
    /** runs in the import's transaction, after the last row (the import.completed webhook event) */
    finish?: (tx: Queryable, result: { org_id: string; inserted: Record<string, number>; skipped: Record<string, number> }) => Promise<void>;
  } = {},
): Promise<{ org_id: string; inserted: Record<string, number>; skipped: Record<string, number> }> {
  // Taken before the first await: readline drops the lines it reads before anyone iterates.
  const input = lines[Symbol.asyncIterator]();
  return db.transaction(async (tx) => {
    let orgId: string | undefined;
    const inserted: Record<string, number> = {};
    const skipped: Record<string, number> = {};
    const known = new Map(TABLES.map((t) => [t.table, t]));
    const columns = new Map<string, string[]>();
    let batch: { table: string; rows: Record<string, unknown>[] } | undefined;

    const flush = async () => {
      if (!batch?.rows.length) return;
      const { table, rows } = batch;
      let cols = columns.get(table);
      if (!cols) {
        if (!(await tableExists(tx, table))) throw new DumpError(`This store has no table "${table}" (an older version of agentmem?).`);
        cols = await insertableColumns(tx, table);
        columns.set(table, cols);
      }
      const list = cols.map(ident).join(', ');
      const [{ n }] = (await tx.query<{ n: number }>(
        `with ins as (insert into ${ident(table)} (${list}) select ${list} from json_populate_recordset(null::${ident(table)}, $1::json) on conflict do nothing returning 1)
         select count(*)::int as n from ins`,
        [JSON.stringify(rows)],
      )) as [{ n: number }];
      inserted[table] = (inserted[table] ?? 0) + n;
      skipped[table] = (skipped[table] ?? 0) + rows.length - n;
      batch = undefined;
    };

    let lineNo = 0;
    for await (const text of { [Symbol.asyncIterator]: () => input }) {
      lineNo++;
      if (!text.trim()) continue;
      let line: DumpLine;
      try {
        line = JSON.parse(text) as DumpLine;
      } catch {
        throw new DumpError(`line ${lineNo}: not JSON`);
      }
      if ('format' in line) {
        if (line.format !== DUMP_FORMAT) throw new DumpError(`line ${lineNo}: format "${line.format}", expected "${DUMP_FORMAT}"`);
        if (orgId) throw new DumpError(`line ${lineNo}: a second header`);
        orgId = line.org_id;
        await checkTarget(tx, orgId, opts.into);
        continue;
      }
      if (!orgId) throw new DumpError(`line ${lineNo}: no header line first (is this an \`agentmem export\`?)`);
      if (!known.has(line.table)) throw new DumpError(`line ${lineNo}: unknown table "${line.table}"`);
      const rowOrg = line.table === 'organizations' ? line.row.id : line.row.org_id;
      if (rowOrg !== orgId) throw new DumpError(`line ${lineNo}: a row of another organization`);
      if (line.table === 'agents') line.row.secrets = null;
      if (batch && batch.table !== line.table) await flush();
      batch ??= { table: line.table, rows: [] };
      batch.rows.push(line.row);
      if (batch.rows.length >= PAGE) await flush();
    }
    await flush();
    if (!orgId) throw new DumpError('empty input: no header line');
    const result = { org_id: orgId, inserted, skipped };
    await opts.finish?.(tx, result);
    return result;
  });
}
