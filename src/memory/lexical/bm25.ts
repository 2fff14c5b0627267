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
    for (const [id, slot] of this.slotOf) {
      remap[slot] = docs.length;
      this.slotOf.set(id, docs.length);
      docs.push(this.docs[slot]!);
      lens.push(this.lens[slot]!);
      terms.push(this.terms[slot]!);
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
    this.dead = 0;
  }

  // Per-slot accumulators, reused by every query (no allocation per candidate).
  private accScore = new Float64Array(0);
  private accMatched = new Float64Array(0);

  /** This index's `limit` best documents for `query` (statistics given by the caller), unordered. */
  score(query: Map<string, number>, idf: Map<string, number>, avgLen: number, allow: ((doc: D) => boolean) | undefined, limit: number): Array<{ doc: D; score: number; matched: number }> {
    if (this.accScore.length < this.docs.length) {
      this.accScore = new Float64Array(Math.ceil(this.docs.length * 1.5) + 16);
      this.accMatched = new Float64Array(this.accScore.length);
    }
    const acc = this.accScore;
    const matched = this.accMatched;
    const touched: number[] = [];
    const { k1, b } = this.params;
    for (const [t, qtf] of query) {
      const p = this.postings.get(t);
      const w = idf.get(t);
      if (!p || !w) continue;
      const weight = qtf * w;
      for (let i = 0; i < p.slots.length; i++) {
        const slot = p.slots[i]!;
        if (this.docs[slot] === undefined) continue;
        const tf = p.tfs[i]!;
        if (matched[slot] === 0) touched.push(slot);
        acc[slot]! += (weight * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * this.lens[slot]!) / avgLen));
        matched[slot]! += weight;
      }
    }
    // bounded selection: the best `limit` slots, kept sorted (best first)
    const best: number[] = [];
    for (const slot of touched) {
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
    const out = best.map((slot) => ({ doc: this.docs[slot]!, score: acc[slot]!, matched: matched[slot]! }));
    for (const slot of touched) {
      acc[slot] = 0;
      matched[slot] = 0;
    }
    return out;
  }
}

/** BM25's IDF, the non-negative form (Lucene's): ln(1 + (N − df + ½) / (df + ½)). */
export const idf = (n: number, df: number) => Math.log(1 + (n - df + 0.5) / (df + 0.5));

/** The `limit` best documents for the query terms over the union of `indexes`. */
export function searchIndexes<D>(indexes: Array<Bm25Index<D>>, queryTerms: string[], limit: number, allow?: (doc: D) => boolean): Array<Bm25Hit<D>> {
  let n = 0;
  let total = 0;
  for (const ix of indexes) {
    n += ix.size;
    total += ix.totalLength;
  }
  if (!n || !queryTerms.length) return [];
  const query = new Map<string, number>();
  for (const t of queryTerms) query.set(t, (query.get(t) ?? 0) + 1);
  const weights = new Map<string, number>();
  let mass = 0;
  for (const [t, qtf] of query) {
    let df = 0;
    for (const ix of indexes) df += ix.documentFrequency(t);
    // a term no document has still counts in the query's weight (coverage), as if df = 0
    const w = idf(n, df);
    if (df) weights.set(t, w);
    mass += qtf * w;
  }
  const avgLen = total / n || 1;
  const scored = indexes.flatMap((ix) => ix.score(query, weights, avgLen, allow, limit));
  return scored
    .sort((x, y) => y.score - x.score)
    .slice(0, limit).map((s) => ({ doc: s.doc, score: s.score, coverage: mass ? Math.min(1, s.matched / mass) : 0 }));
}
