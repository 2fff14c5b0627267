// An in-process BM25 index: postings per term, live statistics (document count, total
// length, document frequency), updated in place on every add, replace and remove, so IDF
// and length normalization are always those of the documents indexed right now.
//
// Several indexes can be searched as one (a search over a whole organization spans every
// (agent, user) scope): `searchIndexes` sums their statistics first, so IDF is that of the
// union. Removal marks a slot dead and fixes the statistics at once; postings are
// compacted when dead slots outnumber live ones.

/**
 * BM25's parameters. Memories and messages are short passages: Anserini's defaults for
 * passages (k1 0.9, b 0.4) rather than the textbook 1.2 / 0.75, which over-penalize a long
 * memory among short ones. The benchmark's "plain BM25" baseline keeps the textbook values.
 */
export interface Bm25Params {
  k1: number;
  b: number;
}
export const PASSAGE_PARAMS: Bm25Params = { k1: 0.9, b: 0.4 };
export const TEXTBOOK_PARAMS: Bm25Params = { k1: 1.2, b: 0.75 };

/** A document as `score` ranks it, with what pseudo-relevance feedback needs of it. */
interface Scored<D> {
  doc: D;
  score: number;
  /** the IDF weight of the query terms it has */
  matched: number;
  len: number;
  terms: string[];
  counts: number[];
}

interface Posting {
  slots: number[];
  tfs: number[];
}

export interface Bm25Hit<D> {
  doc: D;
  /** BM25 score */
  score: number;
  /** the share of the query's IDF weight this document matches, 0..1 */
  coverage: number;
}

export class Bm25Index<D> {
  private postings = new Map<string, Posting>();
  private df = new Map<string, number>();
  private slotOf = new Map<string, number>();
  private docs: Array<D | undefined> = [];
  private lens: number[] = [];
  private terms: Array<string[] | undefined> = [];
  /** each slot's term frequencies, parallel to `terms` (pseudo-relevance feedback reads them) */
  private counts: Array<number[] | undefined> = [];
  private dead = 0;
  totalLength = 0;

  constructor(readonly params: Bm25Params = PASSAGE_PARAMS) {}

  get size(): number {
    return this.slotOf.size;
  }

  documentFrequency(term: string): number {
    return this.df.get(term) ?? 0;
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
    const slot = this.docs.length;
    const tf = new Map<string, number>();
    for (const t of terms) tf.set(t, (tf.get(t) ?? 0) + 1);
    for (const [t, n] of tf) {
      let p = this.postings.get(t);
      if (!p) this.postings.set(t, (p = { slots: [], tfs: [] }));
      p.slots.push(slot);
      p.tfs.push(n);
      this.df.set(t, (this.df.get(t) ?? 0) + 1);
    }
    this.slotOf.set(id, slot);
    this.docs.push(doc);
    this.lens.push(terms.length);
    this.terms.push([...tf.keys()]);
    this.counts.push([...tf.values()]);
    this.totalLength += terms.length;
  }

  remove(id: string): boolean {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return false;
    this.slotOf.delete(id);
    for (const t of this.terms[slot]!) {
      const n = this.df.get(t)! - 1;
      if (n) this.df.set(t, n);
      else {
        this.df.delete(t);
        this.postings.delete(t);
      }
    }
    this.totalLength -= this.lens[slot]!;
    this.docs[slot] = undefined;
    this.terms[slot] = undefined;
    this.counts[slot] = undefined;
    if (++this.dead > Math.max(1_000, this.slotOf.size)) this.compact();
    return true;
  }

  *entries(): IterableIterator<[string, D]> {
    for (const [id, slot] of this.slotOf) yield [id, this.docs[slot]!];
  }

  private compact(): void {
    const remap = new Int32Array(this.docs.length).fill(-1);
    const docs: D[] = [];
    const lens: number[] = [];
    const terms: string[][] = [];
    const counts: number[][] = [];
    for (const [id, slot] of this.slotOf) {
      remap[slot] = docs.length;
      this.slotOf.set(id, docs.length);
      docs.push(this.docs[slot]!);
      lens.push(this.lens[slot]!);
      terms.push(this.terms[slot]!);
      counts.push(this.counts[slot]!);
    }
    for (const p of this.postings.values()) {
      let w = 0;
      for (let i = 0; i < p.slots.length; i++) {
        const s = remap[p.slots[i]!]!;
        if (s < 0) continue;
        p.slots[w] = s;
        p.tfs[w++] = p.tfs[i]!;
      }
      p.slots.length = w;
      p.tfs.length = w;
    }
    this.docs = docs;
    this.lens = lens;
    this.terms = terms;
    this.counts = counts;
    this.dead = 0;
  }

  // Per-slot accumulators, reused by every query (no allocation per candidate).
  private accScore = new Float64Array(0);
  private accMatched = new Float64Array(0);
  private touched = new Int32Array(0);

  /**
   * This index's `limit` best documents for `query` (term → weight; statistics given by the
   * caller), best first. `mass` (the query's whole IDF weight), when given, turns on the
   * coordination factor: a document's score is multiplied by the share of it it matches.
   * `params` (default: the index's) may differ per query: BM25 applies them at query time.
   */
  score(
    query: Map<string, number>,
    idf: Map<string, number>,
    avgLen: number,
    allow: ((doc: D) => boolean) | undefined,
    limit: number,
    mass?: number,
    params: Bm25Params = this.params,
  ): Array<Scored<D>> {
    if (this.accScore.length < this.docs.length) {
      this.accScore = new Float64Array(Math.ceil(this.docs.length * 1.5) + 16);
      this.accMatched = new Float64Array(this.accScore.length);
      this.touched = new Int32Array(this.accScore.length);
    }
    const acc = this.accScore;
    const matched = this.accMatched;
    // the slots some query term reached, touched[0..n)
    const touched = this.touched;
    let n = 0;
    const { k1, b } = params;
    for (const [t, qtf] of query) {
      const p = this.postings.get(t);
      const w = idf.get(t);
      if (!p || !w) continue;
      const weight = qtf * w;
      for (let i = 0; i < p.slots.length; i++) {
        const slot = p.slots[i]!;
        if (this.docs[slot] === undefined) continue;
        const tf = p.tfs[i]!;
        if (matched[slot] === 0) touched[n++] = slot;
        acc[slot]! += (weight * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * this.lens[slot]!) / avgLen));
        matched[slot]! += weight;
      }
    }
    if (mass) for (let j = 0; j < n; j++) acc[touched[j]!]! *= matched[touched[j]!]! / mass;
    // bounded selection: the best `limit` slots, kept sorted (best first)
    const best: number[] = [];
    for (let j = 0; j < n; j++) {
      const slot = touched[j]!;
      const sc = acc[slot]!;
      if (best.length === limit && sc <= acc[best[limit - 1]!]!) continue;
      if (allow && !allow(this.docs[slot]!)) continue;
      let i = best.length < limit ? best.length : limit - 1;
      if (best.length < limit) best.push(slot);
      while (i > 0 && acc[best[i - 1]!]! < sc) {
        best[i] = best[i - 1]!;
        i--;
      }
      best[i] = slot;
    }
    const out = best.map((slot) => ({
      doc: this.docs[slot]!,
      score: acc[slot]!,
      matched: matched[slot]!,
      len: this.lens[slot]!,
      terms: this.terms[slot]!,
      counts: this.counts[slot]!,
    }));
    for (let j = 0; j < n; j++) {
      acc[touched[j]!] = 0;
      matched[touched[j]!] = 0;
    }
    return out;
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
/**
 * How memories are ranked: the coordination factor and RM3 with Anserini's feedback depth
 * (10 documents, query weight 0.5) and 30 expansion terms, chosen on the development half
 * of REALTALK (docs/memory.md gives each ingredient on both halves), for questions of up to
 * 30 distinct words (as many as the expansion adds terms); longer queries get BM25 alone.
 * Chinese, Japanese and Korean questions are scored with the textbook k1/b (chosen on
 * MemDaily's development half).
 */
export const MEMORY_RANKING: RankingOptions = {
  coord: true,
  feedback: { docs: 10, terms: 30, originalWeight: 0.5 },
  maxQueryWords: 30,
  cjkParams: TEXTBOOK_PARAMS,
};
/**
 * Messages: the coordination factor only. Each message is indexed with its neighbour's
 * text, so feedback documents repeat each other's words and the expansion drifts to the
 * neighbours (a reply's neighbour outranks the reply itself).
 */
export const MESSAGE_RANKING: RankingOptions = { coord: true, maxQueryWords: 30 };

/** The `limit` best documents for the query terms over the union of `indexes` (plain BM25 unless `ranking` says more). */
export function searchIndexes<D>(
  indexes: Array<Bm25Index<D>>,
  queryTerms: string[],
  limit: number,
  allow?: (doc: D) => boolean,
  ranking: RankingOptions = {},
): Array<Bm25Hit<D>> {
  let n = 0;
  let total = 0;
  for (const ix of indexes) {
    n += ix.size;
    total += ix.totalLength;
  }
  if (!n || !queryTerms.length) return [];
  const avgLen = total / n || 1;
  const query = new Map<string, number>();
  for (const t of queryTerms) query.set(t, (query.get(t) ?? 0) + 1);
  const { words, cjk } = queryWords(query);
  const params = cjk > query.size / 2 ? ranking.cjkParams : undefined;
  if (ranking.maxQueryWords !== undefined && words > ranking.maxQueryWords) ranking = {};
  const fb = ranking.feedback;
  const first = rank(indexes, n, avgLen, query, fb ? Math.max(limit, fb.docs) : limit, allow, ranking.coord, params);
  if (!fb || !first.hits.length) return hitsOf(first.hits, limit, query, first);
  const expanded = expand(query, first.hits.slice(0, fb.docs), first.weights, n, indexes, fb);
  const second = rank(indexes, n, avgLen, expanded, limit, allow, ranking.coord, params);
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
  weights: Map<string, number>;
  /** the query's whole IDF weight */
  mass: number;
}

const dfOf = <D>(indexes: Array<Bm25Index<D>>, t: string) => indexes.reduce((s, ix) => s + ix.documentFrequency(t), 0);

function rank<D>(
  indexes: Array<Bm25Index<D>>,
  n: number,
  avgLen: number,
  query: Map<string, number>,
  limit: number,
  allow: ((doc: D) => boolean) | undefined,
  coord?: boolean,
  params?: Bm25Params,
): Ranking<D> {
  const weights = new Map<string, number>();
  let mass = 0;
  for (const [t, qtf] of query) {
    const df = dfOf(indexes, t);
    // a term no document has still counts in the query's weight (coverage), as if df = 0
    const w = idf(n, df);
    if (df) weights.set(t, w);
    mass += qtf * w;
  }
  const hits = indexes.flatMap((ix) => ix.score(query, weights, avgLen, allow, limit, coord ? mass : undefined, params)).sort((x, y) => y.score - x.score);
  return { hits, weights, mass };
}

/** The hits, with their coverage of the question as asked (not of its expansion). */
function hitsOf<D>(hits: Array<Scored<D>>, limit: number, query: Map<string, number>, { weights, mass }: Ranking<D>): Array<Bm25Hit<D>> {
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
  query: Map<string, number>,
  top: Array<Scored<D>>,
  weights: Map<string, number>,
  n: number,
  indexes: Array<Bm25Index<D>>,
  fb: Feedback,
): Map<string, number> {
  const best = top[0]!.score;
  const z = top.reduce((s, h) => s + Math.exp(h.score - best), 0);
  const model = new Map<string, number>();
  for (const h of top) {
    const p = Math.exp(h.score - best) / z;
    h.terms.forEach((t, i) => {
      if (t.startsWith('#')) return;
      const w = weights.get(t) ?? idf(n, dfOf(indexes, t));
      model.set(t, (model.get(t) ?? 0) + (p * h.counts[i]! * w) / (h.len || 1));
    });
  }
  const chosen = [...model].sort((a, b) => b[1] - a[1]).slice(0, fb.terms);
  const chosenMass = chosen.reduce((s, [, v]) => s + v, 0) || 1;
  let queryMass = 0;
  for (const w of query.values()) queryMass += w;
  const out = new Map<string, number>();
  for (const [t, w] of query) out.set(t, (fb.originalWeight * w) / queryMass);
  for (const [t, v] of chosen) out.set(t, (out.get(t) ?? 0) + ((1 - fb.originalWeight) * v) / chosenMass);
  return out;
}
