// The baseline every run is compared with: plain BM25 over the same memories, in this
// process — textbook parameters (k1 1.2, b 0.75), lowercased runs of letters and digits as
// terms, no stemming, no stopwords, no CJK segmentation, no dates. For Chinese, Japanese and
// Korean sets, where that finds next to nothing, a second baseline splits CJK runs into
// characters and bigrams as agentmem does, and nothing else.
import { Bm25Index, searchIndexes, TEXTBOOK_PARAMS } from '../../memory/lexical/bm25.ts';
import { plainTokens } from '../../memory/lexical/tokens.ts';
import type { Dataset } from './dataset.ts';

/** For each question (in order), the dataset ids of the plain BM25 top 10 (`tokens`: plainTokens, or plainCjkTokens for the CJK baseline). */
export function plainBm25(d: Dataset, tokens: (text: string) => string[] = plainTokens): string[][] {
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
