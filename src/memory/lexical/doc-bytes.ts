// What an indexed document's fields cost on the heap, estimated (V8), for the indexes' byte budgets.
import { stringBytes } from './bm25.ts';

/** A JSON value (metadata): an object's header and slots, and its strings. */
export function jsonBytes(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'string') return stringBytes(v);
  if (typeof v !== 'object') return 8;
  let n = 32;
  for (const [k, x] of Object.entries(v as object)) n += 16 + stringBytes(k) + jsonBytes(x);
  return n;
}

/** One shared copy of each repeated string (a scope's agent and user ids, a session's id) within a load. */
export function interner(): <S extends string | null>(s: S) => S {
  const seen = new Map<string, string>();
  return <S extends string | null>(s: S): S => {
    if (s === null) return s;
    const k = seen.get(s);
    if (k !== undefined) return k as S;
    seen.set(s, s);
    return s;
  };
}
