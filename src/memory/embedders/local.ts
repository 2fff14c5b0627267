// The default embedder: no network, no model files, deterministic, microseconds per text.
// It hashes lexical features into a fixed number of buckets (the "hashing trick"):
//   - whole words (\p{L}\p{N}\p{M} runs), lowercased and NFKC-normalized;
//   - character 3- and 4-grams inside each word, with word-boundary markers;
//   - for Han/Kana/Hangul runs (no spaces to split on): character unigrams and bigrams.
// Each feature goes to one bucket with a ±1 sign hash (so collisions cancel rather than
// pile up), weighted by sublinear tf (1 + ln tf), and the vector is L2-normalized, so
// cosine similarity is a plain dot product.
//
// What it can do: match texts that share words or word pieces ("Berlin" ~ "Berliner"),
// survive small typos ("favourite" ~ "favorite"), match Chinese/Japanese by shared characters.
// What it cannot do: synonyms ("car" vs "automobile"), paraphrases with no shared pieces,
// translation, anything about meaning. Configure a real model for that.
//
// Changing any of this changes the vector space: give it a new `id` if you do.

import type { Embedder } from './types.ts';

export interface LocalEmbedderOptions {
  /** number of hash buckets; default 256 */
  dimensions?: number;
}

export const DEFAULT_DIMENSIONS = 256;

// Relative weights of feature kinds: a shared word says more than a shared trigram,
// and there are ~2 n-grams per character, so pieces are weighted down.
const WORD_WEIGHT = 1;
const NGRAM_WEIGHT = 0.5;
const CJK_UNIGRAM_WEIGHT = 0.5;
const CJK_BIGRAM_WEIGHT = 1;

// Distinct FNV offset bases keep feature kinds apart without building prefixed strings.
const FNV_OFFSET = 0x811c9dc5;
const SEED_WORD = FNV_OFFSET;
const SEED_NGRAM = 0x050c5d1f;
const SEED_CJK = 0x2b8e1a77;

// Either a CJK run, or a run of other letters/digits/marks that stops before any CJK character.
const TOKEN_RE =
  /([\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+)|((?:(?![\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}])[\p{L}\p{N}\p{M}])+)/gu;

/** FNV-1a 32 over the UTF-16 units of s[start, end). */
function fnv1a(s: string, start: number, end: number, seed: number): number {
  let h = seed;
  for (let i = start; i < end; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3 finalizer: spreads FNV's weak low bits before taking bucket and sign. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Offsets of each code point's start in s, plus s.length, so n-grams never split a surrogate pair. */
function codePointOffsets(s: string): number[] {
  const offsets: number[] = [];
  for (let i = 0; i < s.length;) {
    offsets.push(i);
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
  }
  offsets.push(s.length);
  return offsets;
}

/** Feature hash → [weight per occurrence, occurrences]. */
type Features = Map<number, { w: number; tf: number }>;

function add(features: Features, hash: number, weight: number): void {
  const f = features.get(hash);
  if (f) f.tf++;
  else features.set(hash, { w: weight, tf: 1 });
}

function wordFeatures(word: string, features: Features): void {
  add(features, fnv1a(word, 0, word.length, SEED_WORD), WORD_WEIGHT);
  // "<word>": boundary markers make prefixes/suffixes features and give short words n-grams
  const padded = '<' + word + '>';
  const at = codePointOffsets(padded);
  const n = at.length - 1; // code points
  for (let size = 3; size <= 4; size++) {
    // a word whose padded form is exactly one n-gram is already covered by the word feature
    if (n <= size) continue;
    for (let i = 0; i + size <= n; i++) add(features, fnv1a(padded, at[i]!, at[i + size]!, SEED_NGRAM), NGRAM_WEIGHT);
  }
}

function cjkFeatures(run: string, features: Features): void {
  const at = codePointOffsets(run);
  const n = at.length - 1;
  for (let i = 0; i < n; i++) {
    add(features, fnv1a(run, at[i]!, at[i + 1]!, SEED_CJK), CJK_UNIGRAM_WEIGHT);
    if (i + 2 <= n) add(features, fnv1a(run, at[i]!, at[i + 2]!, SEED_CJK), CJK_BIGRAM_WEIGHT);
  }
}

/** The embedding of one text; an empty or letterless text gives the zero vector. */
export function localVector(text: string, dimensions: number = DEFAULT_DIMENSIONS): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const features: Features = new Map();
  const normalized = text.normalize('NFKC').toLowerCase();
  for (const m of normalized.matchAll(TOKEN_RE)) {
    if (m[1] !== undefined) cjkFeatures(m[1], features);
    else wordFeatures(m[2]!, features); // the regex's other alternative
  }
  for (const [hash, { w, tf }] of features) {
    const h = fmix(hash);
    const bucket = h % dimensions;
    const sign = fmix(hash ^ 0x9e3779b9) & 1 ? 1 : -1;
    vector[bucket] = vector[bucket]! + sign * w * (1 + Math.log(tf));
  }
  let norm = 0;
  for (const x of vector) norm += x * x;
  if (norm > 0) {
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < dimensions; i++) vector[i] = vector[i]! * inv;
  }
  return vector;
}

export function createLocalEmbedder(options: LocalEmbedderOptions = {}): Embedder {
  const dimensions = options.dimensions ?? DEFAULT_DIMENSIONS;
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new RangeError(`local embedder: dimensions must be a positive integer, got ${dimensions}`);
  }
  return {
    id: `local:${dimensions}`,
    dimensions,
    async embed(texts: string[]): Promise<number[][]> {
      return texts.map((t) => localVector(t, dimensions));
    },
  };
}
