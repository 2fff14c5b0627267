// Statements run as named prepared statements. PGlite's `query()` parses, plans and
// describes the statement again on every call, in six WASM entries (parse, describe,
// bind, describe, execute, sync): about half a millisecond of CPU for a one-row insert.
// A statement seen before is bound and executed in one entry (Bind, Execute, Sync) on
// a plan Postgres keeps, with its parameter and column types known from the first time.
import { protocol, types, type PGlite } from '@electric-sql/pglite';

const { serialize } = protocol;
const { parseType } = types;

interface Statement {
  name: string;
  params: number[];
  columns: Array<{ name: string; type: number }>;
}

// Only statement texts the code writes are prepared; a text longer than this (a batch
// insert of thousands of rows) is rare and would pin a large plan: it takes `query()`.
const MAX_SQL = 4_096;
// Filters compile to SQL, so texts can vary; past this many, new texts take `query()`.
const MAX_STATEMENTS = 512;

type Message = { name: string; fields?: unknown[]; dataTypeIDs?: number[] };

export function createPrepared(pg: PGlite) {
  const statements = new Map<string, Statement>();
  const { parsers, serializers } = pg;
  const run = (msg: Uint8Array) => pg.execProtocolStream(msg, { syncToFs: false }) as Promise<Message[]>;

  async function prepare(sql: string): Promise<Statement> {
    const name = `am${statements.size}`;
    // one entry: the error of a bad statement is thrown after Sync has ended it
    const described = await run(Buffer.concat([serialize.parse({ name, text: sql }), serialize.describe({ type: 'S', name }), serialize.sync()]));
    const params = described.find((m) => m.name === 'parameterDescription')?.dataTypeIDs ?? [];
    const rowDescription = described.find((m) => m.name === 'rowDescription') as { fields: Array<{ name: string; dataTypeID: number }> } | undefined;
    const statement = { name, params, columns: (rowDescription?.fields ?? []).map((f) => ({ name: f.name, type: f.dataTypeID })) };
    statements.set(sql, statement);
    return statement;
  }

  /** The rows of `sql`, or undefined when this text is not one to prepare (the caller runs `query()`). */
  return async function preparedQuery(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[] | undefined> {
    let statement = statements.get(sql);
    if (!statement) {
      if (sql.length > MAX_SQL || statements.size >= MAX_STATEMENTS) return undefined;
      statement = await prepare(sql);
    }
    const values = params.map((v, i) => {
      if (v === null || v === undefined) return null;
      const serializer = serializers[statement.params[i]!];
      return serializer ? serializer(v) : String(v);
    });
    const messages = await run(
      Buffer.concat([serialize.bind({ statement: statement.name, values: values as string[] }), serialize.execute({}), serialize.sync()]),
    );
    const rows: Record<string, unknown>[] = [];
    const { columns } = statement;
    for (const m of messages) {
      if (m.name !== 'dataRow') continue;
      const row: Record<string, unknown> = {};
      for (let i = 0; i < columns.length; i++) row[columns[i]!.name] = parseType(m.fields![i] as string | null, columns[i]!.type, parsers);
      rows.push(row);
    }
    return rows;
  };
}
