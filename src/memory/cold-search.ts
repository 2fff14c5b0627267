// The lexical side of a memory search when its scope's index is not in memory (cold): the
// index is read (lexical/scope-indexes.ts); if that takes longer than `waitMs` (a very large
// scope, a slow store), this search is answered by the store's full-text index instead
// (memories.content_tsv, its GIN index, ts_rank), and the in-process index keeps warming in
// the background for the next one. A small scope (a user's memories, read through
// memories_scope) loads within the wait, so its first search ranks exactly as the warm ones.
//
// The full-text answer ranks differently (PostgreSQL's 'simple' configuration: no stemming,
// stopwords or CJK bigrams; ts_rank, not BM25): docs/memory.md measures it against the warm path.
import type { Db } from '../store/db.ts';
import { textMatches, type MemoryDoc, type MemoryScope } from '../store/repos/memories.ts';
import type { Bm25Hit } from './lexical/bm25.ts';
import { analyze } from './lexical/tokens.ts';
import type { MemoryIndex } from './memory-index.ts';

/** How long a search waits for a cold scope's index before the store answers it. */
export const COLD_WAIT_MS = 100;
/** Full-text rows ranked at most (a very common word costs a bounded time). */
const CANDIDATES = 2_000;

export async function lexicalSearch(
  db: Db,
  index: MemoryIndex,
  scope: MemoryScope,
  query: string,
  limit: number,
  allow: ((d: MemoryDoc) => boolean) | undefined,
  waitMs = COLD_WAIT_MS,
): Promise<Array<Bm25Hit<MemoryDoc>>> {
  const terms = analyze(query);
  if (index.warm(scope)) return index.search(scope, terms, limit, allow);
  const warming = index.search(scope, terms, limit, allow);
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), waitMs);
  });
  const first = await Promise.race([warming, waited]);
  clearTimeout(timer);
  if (first) return first;
  warming.catch(() => {}); // warms for the next search; nobody waits for it
  return fullTextSearch(db, scope, query, limit, allow);
}

/** The store's full-text answer, scored like the index's coverage: the share of the query's terms a memory has. */
export async function fullTextSearch(
  db: Db,
  scope: MemoryScope,
  query: string,
  limit: number,
  allow?: (d: MemoryDoc) => boolean,
): Promise<Array<Bm25Hit<MemoryDoc>>> {
  const wanted = new Set(analyze(query));
  if (!wanted.size) return [];
  const rows = await textMatches(db, scope, { text: query, embedder: '', vector: null, limit: limit * 2, candidates: CANDIDATES, viaGin: true });
  const hits: Array<Bm25Hit<MemoryDoc>> = [];
  for (const { similarity: _s, embedder: _e, rank, ...doc } of rows) {
    if (allow && !allow(doc)) continue;
    const has = new Set(analyze(doc.content));
    let matched = 0;
    for (const t of wanted) if (has.has(t)) matched++;
    hits.push({ doc, score: rank, coverage: matched / wanted.size });
  }
  return hits.slice(0, limit);
}
