// An in-process BM25 index, compact: no per-document Maps, no term strings kept. A term is
// a 31-bit hash (termId); each document's distinct terms and their frequencies sit in two
// typed-array pools (Int32Array / Uint16Array), and document frequencies in an open-addressing
// table of typed arrays. Statistics (document count, total length, document frequency) are
// updated in place on every add, replace and remove, so IDF and length normalization are
// always those of the documents indexed right now.
//
// There are no postings lists: a query walks the pool once (a 1,024-bit filter of the query's
// terms skips almost every cell), which for the scopes kept here (a user's memories) costs
// microseconds, and for a whole organization's hundreds of thousands a few milliseconds —
// which `searchIndexesInSteps` cuts into pieces of STEP documents with a turn of the event
// loop between them (from STEPPED_MIN documents on), so no stream waits for a whole search.
// Two terms sharing a hash (1 in 2^31 per pair) count as one: a negligible ranking noise.
//
// Several indexes can be searched as one (a search over a whole organization spans every
// (agent, user) scope): `searchIndexes` sums their statistics first, so IDF is that of the
// union. Removal marks a slot dead and fixes the statistics at once; the pools are
// compacted when dead slots outnumber live ones.
import { PASSAGE_PARAMS } from '../recall-config.ts';

/** BM25's parameters (the values recall uses: recall-config.ts). */
export interface Bm25Params {
  k1: number;
  b: number;
}

/** A term's id: its FNV-1a hash in 31 bits, odd for a date token ('#…', never expanded by feedback), never 0. */
export function termId(term: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < term.length; i++) {
    h ^= term.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h = (h & 0x7ffffffe) | (term.charCodeAt(0) === 35 ? 1 : 0);
  return h || 2;
}

/** term id → count, open addressing over two typed arrays (linear probing, deletion by backward shift). */
class TermCounts {
  private keys = new Int32Array(16);
  private vals = new Int32Array(16);
  private used = 0;

  get bytes(): number {
    return this.keys.byteLength + this.vals.byteLength;
  }

  get(key: number): number {
    const mask = this.keys.length - 1;
    for (let i = hashSlot(key, mask); ; i = (i + 1) & mask) {
      const k = this.keys[i]!;
      if (k === key) return this.vals[i]!;
      if (k === 0) return 0;
    }
  }

  add(key: number, delta: number): void {
    if ((this.used + 1) * 4 > this.keys.length * 3) this.resize(this.keys.length * 2);
    const mask = this.keys.length - 1;
    let i = hashSlot(key, mask);
    while (this.keys[i] !== 0 && this.keys[i] !== key) i = (i + 1) & mask;
    if (this.keys[i] === 0) {
      if (delta <= 0) return;
      this.keys[i] = key;
      this.used++;
    }
    const n = this.vals[i]! + delta;
    if (n > 0) this.vals[i] = n;
    else this.delete(i, mask);
  }

  private delete(i: number, mask: number): void {
    this.used--;
    // backward shift: move later entries of the probe run into the hole
    for (let j = (i + 1) & mask; this.keys[j] !== 0; j = (j + 1) & mask) {
      const home = hashSlot(this.keys[j]!, mask);
      if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
        this.keys[i] = this.keys[j]!;
        this.vals[i] = this.vals[j]!;
        i = j;
      }
    }
    this.keys[i] = 0;
    this.vals[i] = 0;
    if (this.keys.length > 16 && this.used * 8 < this.keys.length) this.resize(this.keys.length / 2);
  }

  private resize(capacity: number): void {
    const { keys, vals } = this;
    this.keys = new Int32Array(capacity);
    this.vals = new Int32Array(capacity);
    this.used = 0;
    const mask = capacity - 1;
    for (let j = 0; j < keys.length; j++) {
      if (!keys[j]) continue;
      let i = hashSlot(keys[j]!, mask);
      while (this.keys[i] !== 0) i = (i + 1) & mask;
      this.keys[i] = keys[j]!;
      this.vals[i] = vals[j]!;
      this.used++;
    }
  }
}

const hashSlot = (key: number, mask: number) => (Math.imul(key, 0x9e3779b1) >>> 7) & mask;

/** A document as `score` ranks it, with what pseudo-relevance feedback needs of it. */
interface Scored<D> {
  doc: D;
  score: number;
  /** the IDF weight of the query terms it has */
  matched: number;
  len: number;
  terms: Int32Array;
  counts: Uint16Array;
}

export interface Bm25Hit<D> {
  doc: D;
  /** BM25 score */
  score: number;
  /** the share of the query's IDF weight this document matches, 0..1 */
  coverage: number;
}

const grow = <A extends Int32Array | Uint16Array>(a: A, need: number, make: (n: number) => A): A => {
  if (need <= a.length) return a;
  const b = make(Math.max(need, Math.ceil(a.length * 1.5) + 8));
  b.set(a);
  return b;
};

// Bytes a Map entry (string key → slot) costs beside its key string, measured on V8.
const ID_ENTRY_BYTES = 40;
/** A string's heap size on V8: a header, then one byte per character, or two when any is beyond Latin-1. */
export const stringBytes = (s: string) => 16 + (/[^\u0000-\u00ff]/.test(s) ? 2 : 1) * s.length;
// An empty index: the object, its Map, arrays and the typed arrays' headers and first capacity.
const INDEX_BYTES = 1_200;

export class Bm25Index<D> {
  private slotOf = new Map<string, number>();
  private docs: Array<D | undefined> = [];
  /** per slot: where its distinct terms start in the pool, how many, and its length in terms */
  private start = new Int32Array(8);
  private count = new Int32Array(8);
  private lens = new Int32Array(8);
  private pool = new Int32Array(32);
  private tfs = new Uint16Array(32);
  private used = 0;
  private df = new TermCounts();
  private dead = 0;
  private docBytes = 0;
  private idBytes = 0;
  private docBytesOf: Array<number> = [];
  totalLength = 0;

  /** `sizeOf`: a document's own bytes (what the caller keeps of it), for `bytes` */
  constructor(
    readonly params: Bm25Params = PASSAGE_PARAMS,
    private readonly sizeOf: (doc: D) => number = () => 0,
  ) {}

  get size(): number {
    return this.slotOf.size;
  }

  /** What this index holds in memory, estimated: its arrays, id map and documents. */
  get bytes(): number {
    return (
      INDEX_BYTES +
      this.idBytes +
      this.docs.length * 8 +
      this.docBytesOf.length * 8 +
      this.start.byteLength * 3 +
      this.pool.byteLength +
      this.tfs.byteLength +
      this.df.bytes +
      this.docBytes
    );
  }

  documentFrequency(term: string | number): number {
    return this.df.get(typeof term === 'number' ? term : termId(term));
  }

  has(id: string): boolean {
    return this.slotOf.has(id);
  }

  get(id: string): D | undefined {
    const slot = this.slotOf.get(id);
    return slot === undefined ? undefined : this.docs[slot];
  }

  /** Adds the document, or replaces the one with this id. */
  put(id: string, doc: D, terms: string[]): void {
    this.remove(id);
    const tf = new Map<number, number>();
    for (const t of terms) {
      const h = termId(t);
      tf.set(h, (tf.get(h) ?? 0) + 1);
    }
    const slot = this.docs.length;
    this.start = grow(this.start, slot + 1, (n) => new Int32Array(n));
    this.count = grow(this.count, slot + 1, (n) => new Int32Array(n));
    this.lens = grow(this.lens, slot + 1, (n) => new Int32Array(n));
    this.pool = grow(this.pool, this.used + tf.size, (n) => new Int32Array(n));
    this.tfs = grow(this.tfs, this.used + tf.size, (n) => new Uint16Array(n));
    this.start[slot] = this.used;
    this.count[slot] = tf.size;
    this.lens[slot] = terms.length;
    for (const [h, n] of tf) {
      this.pool[this.used] = h;
      this.tfs[this.used++] = Math.min(n, 0xffff);
      this.df.add(h, 1);
    }
    const bytes = this.sizeOf(doc);
    this.slotOf.set(id, slot);
    this.idBytes += ID_ENTRY_BYTES + stringBytes(id);
    this.docs.push(doc);
    this.docBytesOf.push(bytes);
    this.docBytes += bytes;
    this.totalLength += terms.length;
  }

  remove(id: string): boolean {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return false;
    this.slotOf.delete(id);
    this.idBytes -= ID_ENTRY_BYTES + stringBytes(id);
    const from = this.start[slot]!;
    for (let i = from; i < from + this.count[slot]!; i++) this.df.add(this.pool[i]!, -1);
    this.totalLength -= this.lens[slot]!;
    this.docBytes -= this.docBytesOf[slot]!;
    this.docs[slot] = undefined;
    if (++this.dead > Math.max(64, this.slotOf.size)) this.compact();
    return true;
  }

  *entries(): IterableIterator<[string, D]> {
    for (const [id, slot] of this.slotOf) yield [id, this.docs[slot]!];
  }

  /** The documents, in no particular order. */
  *values(): IterableIterator<D> {
    for (const d of this.docs) if (d !== undefined) yield d;
  }

  private compact(): void {
    const n = this.slotOf.size;
    const docs: D[] = [];
    const docBytesOf: number[] = [];
    const start = new Int32Array(n + 8);
    const count = new Int32Array(n + 8);
    const lens = new Int32Array(n + 8);
    let cells = 0;
    for (const slot of this.slotOf.values()) cells += this.count[slot]!;
    const pool = new Int32Array(cells + 32);
    const tfs = new Uint16Array(cells + 32);
    let used = 0;
    for (const [id, slot] of this.slotOf) {
      const s = docs.length;
      this.slotOf.set(id, s);
      docs.push(this.docs[slot]!);
      docBytesOf.push(this.docBytesOf[slot]!);
      start[s] = used;
      count[s] = this.count[slot]!;
      lens[s] = this.lens[slot]!;
      const from = this.start[slot]!;
      pool.set(this.pool.subarray(from, from + count[s]!), used);
      tfs.set(this.tfs.subarray(from, from + count[s]!), used);
      used += count[s]!;
    }
    Object.assign(this, { docs, docBytesOf, start, count, lens, pool, tfs, used, dead: 0 });
  }

  /**
   * This index's `limit` best documents for `query` (term id → weight; statistics given by
   * the caller), in pieces: `next(to)` scores the slots up to `to` (at most `end`), `hits()`
   * gives the best so far, best first. `mass` (the query's whole IDF weight), when given,
   * turns on the coordination factor: a document's score is multiplied by the share of it it
   * matches. `params` (default: the index's) may differ per query: BM25 applies them at query
   * time. The arrays are read as they were when the scan began (a write between two pieces
   * may replace them): what is added meanwhile is not seen, what is deleted is not returned.
   * Undefined when no document has a term of the query.
   */
  scan(
    query: Map<number, number>,
    idf: Map<number, number>,
    avgLen: number,
    allow: ((doc: D) => boolean) | undefined,
    limit: number,
    mass?: number,
    params: Bm25Params = this.params,
  ): Scan<D> | undefined {
    // the query's terms with their weight, and a 1,024-bit filter of them
    const weight = new Map<number, number>();
    const filter = new Uint32Array(32);
    for (const [t, qtf] of query) {
      const w = idf.get(t);
      if (!w) continue;
      weight.set(t, qtf * w);
      const bit = (t >>> 1) & 1023;
      filter[bit >>> 5]! |= 1 << (bit & 31);
    }
    if (!weight.size) return undefined;
    return new IndexScan(this.docs, this.pool, this.tfs, this.start, this.count, this.lens, weight, filter, avgLen, params, allow, limit, mass);
  }
}

/** A scan of one index in pieces (Bm25Index.scan). */
export interface Scan<D> {
  /** slots to walk in all */
  readonly end: number;
  next(to: number): void;
  hits(): Array<Scored<D>>;
}

// (a class whose `next` copies its fields to locals: a closure's captured variables made the
// scoring loop ~20 % slower)
class IndexScan<D> implements Scan<D> {
  readonly end: number;
  private slot = 0;
  // bounded selection: the best `limit` slots, kept sorted (best first)
  private readonly best: Array<{ slot: number; doc: D; score: number; matched: number }> = [];

  // (a delete meanwhile empties its slot in `docs`: not returned; a put lands past `end`)
  constructor(
    private readonly docs: Array<D | undefined>,
    private readonly pool: Int32Array,
    private readonly tfs: Uint16Array,
    private readonly start: Int32Array,
    private readonly count: Int32Array,
    private readonly lens: Int32Array,
    private readonly weight: Map<number, number>,
    private readonly filter: Uint32Array,
    private readonly avgLen: number,
    private readonly params: Bm25Params,
    private readonly allow: ((doc: D) => boolean) | undefined,
    private readonly limit: number,
    private readonly mass: number | undefined,
  ) {
    this.end = docs.length;
  }

  next(to: number): void {
    const { docs, pool, tfs, start, count, lens, weight, filter, avgLen, allow, limit, mass, best } = this;
    const { k1, b } = this.params;
    let slot = this.slot;
    for (to = Math.min(to, this.end); slot < to; slot++) {
      const doc = docs[slot];
      if (doc === undefined) continue;
      let score = 0;
      let matched = 0;
      const norm = k1 * (1 - b + (b * lens[slot]!) / avgLen);
      for (let i = start[slot]!, end = i + count[slot]!; i < end; i++) {
        const t = pool[i]!;
        const bit = (t >>> 1) & 1023;
        if (!(filter[bit >>> 5]! & (1 << (bit & 31)))) continue;
        const w = weight.get(t);
        if (w === undefined) continue;
        const tf = tfs[i]!;
        score += (w * tf * (k1 + 1)) / (tf + norm);
        matched += w;
      }
      if (!matched) continue;
      if (mass) score *= matched / mass;
      if (best.length === limit && score <= best[limit - 1]!.score) continue;
      if (allow && !allow(doc)) continue;
      let i = best.length < limit ? best.length : limit - 1;
      const hit = { slot, doc, score, matched };
      if (best.length < limit) best.push(hit);
      while (i > 0 && best[i - 1]!.score < score) {
        best[i] = best[i - 1]!;
        i--;
      }
      best[i] = hit;
    }
    this.slot = slot;
  }

  hits(): Array<Scored<D>> {
    const { pool, tfs, start, count, lens } = this;
    return this.best.map(({ slot, doc, score, matched }) => ({
      doc,
      score,
      matched,
      len: lens[slot]!,
      terms: pool.subarray(start[slot]!, start[slot]! + count[slot]!),
      counts: tfs.subarray(start[slot]!, start[slot]! + count[slot]!),
    }));
  }
}

/** BM25's IDF, the non-negative form (Lucene's): ln(1 + (N − df + ½) / (df + ½)). */
export const idf = (n: number, df: number) => Math.log(1 + (n - df + 0.5) / (df + 0.5));

/**
 * Pseudo-relevance feedback (RM3, Lavrenko & Croft's relevance model mixed with the query):
 * the first pass's `docs` best documents, each weighted by its share of exp(score), vote
 * for their terms (tf / length × IDF); the `terms` best join the query, which keeps
 * `originalWeight` of the total weight. Dates are not expanded.
 */
export interface Feedback {
  docs: number;
  terms: number;
  originalWeight: number;
}

export interface RankingOptions {
  /** multiply a document's score by the share of the query's IDF weight it matches (Lucene's classic coord, IDF-weighted) */
  coord?: boolean;
  feedback?: Feedback;
  /**
   * coord and feedback apply to queries of at most this many distinct words: a verbose query
   * (a pasted stretch of dialogue) already carries its vocabulary, and both lower its recall
   * (MADial-Bench in docs/memory.md), as is known of expansion for long queries. A CJK
   * character counts as one word, not as its character and bigram terms (queryWords).
   */
  maxQueryWords?: number;
  /**
   * BM25's parameters for a query mostly in Han, Kana or Hangul, whose terms are characters
   * and bigrams (tokens.ts): there the textbook values rank better than the passage ones
   * (MemDaily and MADial-Bench in docs/memory.md); default: the indexes' own
   */
  cjkParams?: Bm25Params;
}

/** The `limit` best documents for the query terms over the union of `indexes` (plain BM25 unless `ranking` says more). */
export function searchIndexes<D>(
  indexes: Array<Bm25Index<D>>,
  queryTerms: string[],
  limit: number,
  allow?: (doc: D) => boolean,
  ranking: RankingOptions = {},
): Array<Bm25Hit<D>> {
  const steps = search(indexes, queryTerms, limit, allow, ranking);
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/**
 * The same, giving the event loop a turn after every STEP documents scored when the indexes
 * hold `minDocs` or more: a search of a very large scope (200,000 memories: ~15 ms) does not
 * hold up every other stream's frames for its whole length. A smaller one runs in one go: at
 * 10,000 memories (~1 ms) its steps only waited behind other work — under 16 streams the fresh
 * recall went from 1.7 to 25 ms (p50) when every search stepped.
 */
export async function searchIndexesInSteps<D>(
  indexes: Array<Bm25Index<D>>,
  queryTerms: string[],
  limit: number,
  allow?: (doc: D) => boolean,
  ranking: RankingOptions = {},
  minDocs = STEPPED_MIN,
): Promise<Array<Bm25Hit<D>>> {
  const steps = search(indexes, queryTerms, limit, allow, ranking);
  const stepped = indexes.reduce((n, ix) => n + ix.size, 0) >= minDocs;
  let r = steps.next();
  while (!r.done) {
    if (stepped) await new Promise<void>((resolve) => setImmediate(resolve));
    r = steps.next();
  }
  return r.value;
}

/** Documents in the searched indexes from which a search steps (~5 ms of work in one go below it). */
export const STEPPED_MIN = 50_000;

/** Documents scored between two turns of the event loop (~0.1–0.2 ms of work). */
export const STEP = 2_048;

/** The search, pausing (a `yield`) after every STEP documents scored. */
function* search<D>(
  indexes: Array<Bm25Index<D>>,
  queryTerms: string[],
  limit: number,
  allow: ((doc: D) => boolean) | undefined,
  ranking: RankingOptions,
): Generator<void, Array<Bm25Hit<D>>> {
  let n = 0;
  let total = 0;
  for (const ix of indexes) {
    n += ix.size;
    total += ix.totalLength;
  }
  if (!n || !queryTerms.length) return [];
  const avgLen = total / n || 1;
  const words = new Map<string, number>();
  for (const t of queryTerms) words.set(t, (words.get(t) ?? 0) + 1);
  const { words: wordCount, cjk } = queryWords(words);
  const query = new Map<number, number>();
  for (const [t, n] of words) query.set(termId(t), (query.get(termId(t)) ?? 0) + n);
  const params = cjk > words.size / 2 ? ranking.cjkParams : undefined;
  if (ranking.maxQueryWords !== undefined && wordCount > ranking.maxQueryWords) ranking = {};
  const fb = ranking.feedback;
  const first = yield* rank(indexes, n, avgLen, query, fb ? Math.max(limit, fb.docs) : limit, allow, ranking.coord, params);
  if (!fb || !first.hits.length) return hitsOf(first.hits, limit, query, first);
  const expanded = expand(query, first.hits.slice(0, fb.docs), first.weights, n, indexes, fb);
  const second = yield* rank(indexes, n, avgLen, expanded, limit, allow, ranking.coord, params);
  return hitsOf(second.hits, limit, query, first);
}

const CJK_TERM = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]{1,2}$/u;

/** A query's distinct words (a CJK bigram term is not one more: its characters are) and how many of its terms are CJK. */
function queryWords(query: Map<string, number>): { words: number; cjk: number } {
  let cjk = 0;
  let bigrams = 0;
  for (const t of query.keys()) {
    if (!CJK_TERM.test(t)) continue;
    cjk++;
    if ([...t].length > 1) bigrams++;
  }
  return { words: query.size - bigrams, cjk };
}

interface Ranking<D> {
  hits: Array<Scored<D>>;
  /** IDF of the query's terms that some document has */
  weights: Map<number, number>;
  /** the query's whole IDF weight */
  mass: number;
}

const dfOf = <D>(indexes: Array<Bm25Index<D>>, t: number) => indexes.reduce((s, ix) => s + ix.documentFrequency(t), 0);

function* rank<D>(
  indexes: Array<Bm25Index<D>>,
  n: number,
  avgLen: number,
  query: Map<number, number>,
  limit: number,
  allow: ((doc: D) => boolean) | undefined,
  coord?: boolean,
  params?: Bm25Params,
): Generator<void, Ranking<D>> {
  const weights = new Map<number, number>();
  let mass = 0;
  for (const [t, qtf] of query) {
    const df = dfOf(indexes, t);
    // a term no document has still counts in the query's weight (coverage), as if df = 0
    const w = idf(n, df);
    if (df) weights.set(t, w);
    mass += qtf * w;
  }
  const hits: Array<Scored<D>> = [];
  let scored = 0; // since the last pause
  for (const ix of indexes) {
    const scan = ix.scan(query, weights, avgLen, allow, limit, coord ? mass : undefined, params);
    if (!scan) continue;
    for (let at = 0; at < scan.end;) {
      const to = Math.min(scan.end, at + STEP - scored);
      scan.next(to);
      scored += to - at;
      at = to;
      if (scored >= STEP) {
        scored = 0;
        yield;
      }
    }
    for (const h of scan.hits()) hits.push(h);
  }
  hits.sort((x, y) => y.score - x.score);
  return { hits, weights, mass };
}

/** The hits, with their coverage of the question as asked (not of its expansion). */
function hitsOf<D>(hits: Array<Scored<D>>, limit: number, query: Map<number, number>, { weights, mass }: Ranking<D>): Array<Bm25Hit<D>> {
  return hits.slice(0, limit).map((s) => {
    let matched = 0;
    for (const t of s.terms) {
      const w = weights.get(t);
      if (w) matched += query.get(t)! * w;
    }
    return { doc: s.doc, score: s.score, coverage: mass ? Math.min(1, matched / mass) : 0 };
  });
}

/** RM3: the query mixed with the relevance model of its first pass's best documents. */
function expand<D>(
  query: Map<number, number>,
  top: Array<Scored<D>>,
  weights: Map<number, number>,
  n: number,
  indexes: Array<Bm25Index<D>>,
  fb: Feedback,
): Map<number, number> {
  const best = top[0]!.score;
  const z = top.reduce((s, h) => s + Math.exp(h.score - best), 0);
  const model = new Map<number, number>();
  for (const h of top) {
    const p = Math.exp(h.score - best) / z;
    h.terms.forEach((t, i) => {
      if (t & 1) return; // a date
      const w = weights.get(t) ?? idf(n, dfOf(indexes, t));
      model.set(t, (model.get(t) ?? 0) + (p * h.counts[i]! * w) / (h.len || 1));
    });
  }
  const chosen = [...model].sort((a, b) => b[1] - a[1]).slice(0, fb.terms);
  const chosenMass = chosen.reduce((s, [, v]) => s + v, 0) || 1;
  let queryMass = 0;
  for (const w of query.values()) queryMass += w;
  const out = new Map<number, number>();
  for (const [t, w] of query) out.set(t, (fb.originalWeight * w) / queryMass);
  for (const [t, v] of chosen) out.set(t, (out.get(t) ?? 0) + ((1 - fb.originalWeight) * v) / chosenMass);
  return out;
}
