// Retrieval quality per question, averaged: recall@k is the share of the question's
// evidence found in the first k results; MRR is 1 / rank of the first evidence found.
export interface Quality {
  questions: number;
  recall_at_3: number;
  recall_at_5: number;
  recall_at_10: number;
  mrr: number;
}

export function quality(runs: Array<{ ranked: string[]; evidence: string[] }>): Quality {
  let r3 = 0;
  let r5 = 0;
  let r10 = 0;
  let mrr = 0;
  for (const { ranked, evidence } of runs) {
    const ev = new Set(evidence);
    r3 += ranked.slice(0, 3).filter((id) => ev.has(id)).length / ev.size;
    r5 += ranked.slice(0, 5).filter((id) => ev.has(id)).length / ev.size;
    r10 += ranked.slice(0, 10).filter((id) => ev.has(id)).length / ev.size;
    const first = ranked.slice(0, 10).findIndex((id) => ev.has(id));
    mrr += first < 0 ? 0 : 1 / (first + 1);
  }
  const n = runs.length || 1;
  const round = (x: number) => Math.round((x / n) * 1e4) / 1e4;
  return { questions: runs.length, recall_at_3: round(r3), recall_at_5: round(r5), recall_at_10: round(r10), mrr: round(mrr) };
}

/** The p-th percentile (0..100) of a sample, nearest rank. */
export function percentile(xs: number[], p: number): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
