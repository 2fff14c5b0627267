// The baselines every run is compared with, in this process: BM25 with textbook parameters
// (k1 1.2, b 0.75) and a tokenizer a user would reach for first, nothing else — no
// stemming, no stopwords, no dates, no coordination, no feedback.
//   - plain BM25: lowercased runs of letters and digits as terms (what the issue names);
//   - for Chinese, Japanese and Korean sets, where a run of Han characters is one "word" and
//     plain BM25 finds next to nothing, two more: words cut by jieba (the usual Chinese
//     segmenter, its default dictionary and HMM) and CJK runs as characters + bigrams
//     (as agentmem splits them), so what the default adds beyond the split shows.
import { Bm25Index, searchIndexes } from '../../memory/lexical/bm25.ts';
import { TEXTBOOK_PARAMS } from '../../memory/recall-config.ts';
import { plainCjkTokens, plainTokens } from '../../memory/lexical/tokens.ts';
import type { Dataset } from './dataset.ts';

export interface Baseline {
  name: string;
  tokens: (text: string) => string[];
}

export const PLAIN_BM25: Baseline = { name: 'plain BM25', tokens: plainTokens };

/** The CJK baselines; jieba only where its package is installed (a devDependency): `skipped` hears why not. */
export async function cjkBaselines(skipped: (why: string) => void = () => {}): Promise<Baseline[]> {
  const out: Baseline[] = [];
  try {
    const { Jieba } = await import('@node-rs/jieba');
    const { dict } = await import('@node-rs/jieba/dict.js');
    const jieba = Jieba.withDict(dict);
    out.push({ name: 'BM25 + jieba words', tokens: (text) => jieba.cut(text.toLowerCase(), true).filter((w) => /[\p{L}\p{N}]/u.test(w)) });
  } catch (err) {
    // not installed (npm install --omit=dev): the other baselines still run
    skipped(`BM25 + jieba words skipped: ${(err as Error).message}`);
  }
  out.push({ name: 'BM25 + CJK bigrams', tokens: plainCjkTokens });
  return out;
}

/** For each question (in order), the dataset ids of the baseline's top 10. */
export function baselineTop10(d: Dataset, { tokens }: Baseline): string[][] {
  const byUser = new Map<string, Bm25Index<string>>();
  for (const m of d.memories) {
    let ix = byUser.get(m.user);
    if (!ix) byUser.set(m.user, (ix = new Bm25Index<string>(TEXTBOOK_PARAMS)));
    ix.put(m.id, m.id, tokens(m.content));
  }
  return d.questions.map((q) => {
    const ix = byUser.get(q.user);
    return ix ? searchIndexes([ix], tokens(q.question), 10).map((h) => h.doc) : [];
  });
}
