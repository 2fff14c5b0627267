// Small request helpers shared by every route module.
import { z } from 'zod';
import { notFound } from './errors.ts';

const uuidRe = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => uuidRe.test(s);

export const idParams = z.object({ id: z.string().max(200) });

export const page = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
});

/** A list answer: `limit + 1` rows are fetched so has_more needs no count query. */
export function paged<T, U = T>(rows: T[], limit: number, map?: (r: T) => U) {
  const data = rows.slice(0, limit);
  return { data: map ? data.map(map) : data, has_more: rows.length > limit };
}

/** The row, or 404: ids that are malformed, missing or another org's all look the same. */
export async function found<T>(what: string, id: string, load: () => Promise<T | undefined>): Promise<T> {
  if (!isUuid(id)) throw notFound(what);
  const row = await load();
  if (!row) throw notFound(what);
  return row;
}
