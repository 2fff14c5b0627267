// Text → index terms, the same for what is stored and what is asked:
//   - dates become shared tokens first (dates.ts);
//   - words (letters, digits, marks) are NFKC-normalized and lowercased; English
//     stopwords are dropped and the rest stemmed (Porter: "hiking", "hikes" → "hike");
//     a possessive "'s" is dropped, single letters too; irregular past forms become
//     their verb ("went" → "go");
//   - Han, Kana and Hangul runs (no spaces to split on) give every character and every
//     pair of neighbouring characters, so "北京烤鸭" matches "烤鸭" and "北京".
import { stemmer } from 'stemmer';
import { extractDates } from './dates.ts';
import { IRREGULAR_VERBS } from './irregular-verbs.ts';
import { ENGLISH_STOPWORDS } from './stopwords.ts';

const CJK = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\p{Script=Hangul}';
const TOKEN_RE = new RegExp(`([${CJK}]+)|((?:(?![${CJK}])[\\p{L}\\p{N}\\p{M}])+)`, 'gu');
const POSSESSIVE_RE = /['’]s\b/gu;

/** Word stems are cached: the same few thousand words come back in every text. */
const stems = new Map<string, string>();
const STEM_CACHE_MAX = 100_000;

function stem(word: string): string {
  let s = stems.get(word);
  if (s === undefined) {
    // digits and non-Latin words are kept as they are
    s = /^[a-z]+$/.test(word) ? stemmer(IRREGULAR_VERBS.get(word) ?? word) : word;
    if (stems.size >= STEM_CACHE_MAX) stems.clear();
    stems.set(word, s);
  }
  return s;
}

function cjkTerms(run: string, out: string[]): void {
  const chars = Array.from(run);
  for (let i = 0; i < chars.length; i++) {
    out.push(chars[i]!);
    if (i + 1 < chars.length) out.push(chars[i]! + chars[i + 1]!);
  }
}

/** The index terms of a text, in order, repeated as often as they occur. */
export function analyze(text: string): string[] {
  const { tokens, rest } = extractDates(text.normalize('NFKC'));
  const out = tokens;
  for (const m of rest.toLowerCase().replace(POSSESSIVE_RE, '').matchAll(TOKEN_RE)) {
    if (m[1] !== undefined) cjkTerms(m[1], out);
    else {
      const w = m[2]!;
      if (w.length < 2 && !/\d/.test(w)) continue;
      if (ENGLISH_STOPWORDS.has(w)) continue;
      out.push(stem(w));
    }
  }
  return out;
}

/** The baseline's tokens ("plain BM25"): lowercased runs of letters and digits, nothing else. */
export function plainTokens(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

const PLAIN_CJK_RE = new RegExp(`([${CJK}]+)|((?:(?![${CJK}])[\\p{L}\\p{N}])+)`, 'gu');

/** The second baseline for CJK text: plain tokens, but CJK runs as characters and bigrams (as `analyze` splits them). */
export function plainCjkTokens(text: string): string[] {
  const out: string[] = [];
  for (const m of text.toLowerCase().matchAll(PLAIN_CJK_RE)) {
    if (m[1] !== undefined) cjkTerms(m[1], out);
    else out.push(m[2]!);
  }
  return out;
}
