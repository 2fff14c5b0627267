// Metadata filters for search and recall, checked at the API (zod: a bad one is a 400) and
// compiled to SQL over `metadata`, so the database picks the rows.
//   {"category": "food"}                          equality (several keys: all must hold)
//   {"rating": {"gte": 3, "lt": 5}}               eq ne in nin gt gte lt lte contains
//   {"and": [...]}, {"or": [...]}, {"not": {...}}
// A key may be a dot path into nested objects ("place.city"). eq, in and contains on an
// array are containment (`metadata @> …`), which the GIN index on metadata serves; gt/gte/
// lt/lte compare numbers as numbers and strings (ISO dates) as text.
// A filter holds at most MAX_FILTER_CONDITIONS conditions in all, so its SQL stays far below
// a statement's parameter limit (65,535): a bigger one is a 400 naming the limit.
import { z } from 'zod';
import type { SqlParams } from '../store/repos/sql-params.ts';

const scalar = z.union([z.string().max(1_000), z.number(), z.boolean(), z.null()]);
const ops = z
  .strictObject({
    eq: scalar.optional(),
    ne: scalar.optional(),
    in: z.array(scalar).min(1).max(100).optional(),
    nin: z.array(scalar).min(1).max(100).optional(),
    gt: z.union([z.number(), z.string().max(100)]).optional(),
    gte: z.union([z.number(), z.string().max(100)]).optional(),
    lt: z.union([z.number(), z.string().max(100)]).optional(),
    lte: z.union([z.number(), z.string().max(100)]).optional(),
    contains: scalar.optional(),
  })
  .refine((o) => Object.keys(o).length > 0, 'give at least one operator');

const key = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^.]+(\.[^.]+)*$/, 'a metadata key or a dot path');

export type Filter = { and: Filter[] } | { or: Filter[] } | { not: Filter } | Record<string, unknown>;

const filterNode: z.ZodType<Filter> = z.lazy(() =>
  z.union([
    z.strictObject({ and: z.array(filterNode).min(1).max(50) }),
    z.strictObject({ or: z.array(filterNode).min(1).max(50) }),
    z.strictObject({ not: filterNode }),
    z
      .record(key, z.union([scalar, ops]))
      .refine((r) => Object.keys(r).length > 0, 'an empty filter')
      .refine((r) => !['and', 'or', 'not'].some((k) => k in r), 'and/or/not stand alone in their object'),
  ]),
) as z.ZodType<Filter>;
// Named, so that the OpenAPI document holds the recursive schema once and refers to it (server/app.ts).
z.globalRegistry.add(filterNode, { id: 'MetadataFilter' });

/** Conditions in one filter, all levels together (each compiles to one to three SQL parameters). */
export const MAX_FILTER_CONDITIONS = 1_000;

/** How many conditions a (valid) filter holds: one per key and operator, one per `in`/`nin` value. */
export function filterConditions(f: Filter): number {
  if ('and' in f && Array.isArray(f.and)) return (f.and as Filter[]).reduce((n, x) => n + filterConditions(x), 0);
  if ('or' in f && Array.isArray(f.or)) return (f.or as Filter[]).reduce((n, x) => n + filterConditions(x), 0);
  if ('not' in f && f.not && typeof f.not === 'object' && Object.keys(f).length === 1) return filterConditions(f.not as Filter);
  let n = 0;
  for (const cond of Object.values(f)) {
    if (cond === null || typeof cond !== 'object') n += 1;
    else for (const v of Object.values(cond)) n += Array.isArray(v) ? v.length : 1;
  }
  return n;
}

export const filterSchema: z.ZodType<Filter> = filterNode.refine((f) => filterConditions(f) <= MAX_FILTER_CONDITIONS, {
  message: `a filter holds at most ${MAX_FILTER_CONDITIONS} conditions in all (each key, operator and in/nin value counts one)`,
}) as z.ZodType<Filter>;

/** What a search is restricted to, beyond its scope. */
export interface Restriction {
  filters?: Filter;
  created_after?: Date;
  created_before?: Date;
}

export const isRestricted = (r: Restriction) => Boolean(r.filters || r.created_after || r.created_before);

/** `{"a": {"b": v}}` for path a.b */
const nest = (path: string[], v: unknown): unknown => path.reduceRight<unknown>((acc, k) => ({ [k]: acc }), v);

/**
 * The restriction as a SQL condition on `${col}` (a jsonb column) and `${at}` (a timestamp);
 * values go to `params`.
 */
export function restrictionSql(r: Restriction, params: SqlParams, col = 'metadata', at = 'created_at'): string {
  const p = (v: unknown) => params.add(v);
  const parts: string[] = [];
  if (r.created_after) parts.push(`${at} > ${p(r.created_after)}::timestamptz`);
  if (r.created_before) parts.push(`${at} < ${p(r.created_before)}::timestamptz`);
  if (r.filters) parts.push(filterSql(r.filters));
  return parts.length ? parts.join(' and ') : 'true';

  function filterSql(f: Filter): string {
    if ('and' in f && Array.isArray(f.and)) return `(${(f.and as Filter[]).map(filterSql).join(' and ')})`;
    if ('or' in f && Array.isArray(f.or)) return `(${(f.or as Filter[]).map(filterSql).join(' or ')})`;
    if ('not' in f && f.not && typeof f.not === 'object' && Object.keys(f).length === 1) return `not coalesce(${filterSql(f.not as Filter)}, false)`;
    return `(${Object.entries(f)
      .map(([k, cond]) => fieldSql(k.split('.'), cond))
      .join(' and ')})`;
  }

  function fieldSql(path: string[], cond: unknown): string {
    if (cond === null || typeof cond !== 'object') return eq(path, cond);
    const out: string[] = [];
    for (const [op, v] of Object.entries(cond as Record<string, unknown>)) {
      if (v === undefined) continue;
      switch (op) {
        case 'eq':
          out.push(eq(path, v));
          break;
        case 'ne':
          out.push(`not ${eq(path, v)}`);
          break;
        case 'in':
          out.push(`(${(v as unknown[]).map((x) => eq(path, x)).join(' or ')})`);
          break;
        case 'nin':
          out.push(`not (${(v as unknown[]).map((x) => eq(path, x)).join(' or ')})`);
          break;
        case 'gt':
        case 'gte':
        case 'lt':
        case 'lte':
          out.push(compare(path, op, v as number | string));
          break;
        case 'contains':
          out.push(contains(path, v));
          break;
      }
    }
    return `(${out.join(' and ')})`;
  }

  // containment: {"a": v} is in metadata; for null, the key is there and null
  function eq(path: string[], v: unknown): string {
    return `(${col} @> ${p(JSON.stringify(nest(path, v)))}::jsonb)`;
  }

  function compare(path: string[], op: string, v: number | string): string {
    const sym = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[op]!;
    const at = p(path);
    if (typeof v === 'number') {
      return `(jsonb_typeof(${col} #> ${at}::text[]) = 'number' and (${col} #>> ${at}::text[])::numeric ${sym} ${p(v)}::numeric)`;
    }
    return `(jsonb_typeof(${col} #> ${at}::text[]) = 'string' and (${col} #>> ${at}::text[]) ${sym} ${p(v)}::text)`;
  }

  // an array holding v, or (for a string v) a string field containing it
  function contains(path: string[], v: unknown): string {
    const arr = `(${col} @> ${p(JSON.stringify(nest(path, [v])))}::jsonb)`;
    if (typeof v !== 'string') return arr;
    const at = p(path);
    return `(${arr} or (jsonb_typeof(${col} #> ${at}::text[]) = 'string' and strpos(${col} #>> ${at}::text[], ${p(v)}::text) > 0))`;
  }
}
