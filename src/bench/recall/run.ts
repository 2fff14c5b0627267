// `agentmem bench recall --dataset <dir>`: retrieval quality of agentmem's search through
// its public API, beside plain BM25 over the same data computed in the same run.
//
// For each configuration an agent is created; every user's memories go in through
// POST /api/v1/memories/batch (agent_id, user_id = the dataset's user), then each question
// is asked through POST /api/v1/memories/search (top 10, that agent and user). Latency is
// the client's (fetch over loopback) and the server's own (its Server-Timing header).
import { startWorld } from '../setup.ts';
import { baselineTop10, cjkBaselines, PLAIN_BM25, type Baseline } from './baseline.ts';
import { loadDataset, type Dataset } from './dataset.ts';
import { percentile, quality, type Quality } from './metrics.ts';

export interface RecallConfigResult {
  name: string;
  description: string;
  quality: Quality;
  /** recall@10 relative to plain BM25 (0.25 = 25 % better); null when plain BM25 found nothing */
  vs_plain_bm25: number | null;
  /** until the batches answered */
  ingest_ms: number;
  /** then until the background job had embedded every memory (0: the write embedded them) */
  vectors_ms: number;
  /** every question, asked after its user's first search: the scope's index is in memory */
  search_ms: { p50: number; p99: number };
  server_search_ms: { p50: number; p99: number };
  /** each user's first search, which reads the scope from the store into the index (docs/memory.md) */
  first_search_ms: { p50: number; max: number };
}

export interface RecallBenchResult {
  date: string;
  dataset: { name: string; language: string; source?: string; memories: number; questions: number; users: number };
  engine: string;
  store: string;
  plain_bm25: Quality;
  /** Chinese, Japanese, Korean sets: BM25 over jieba words and over CJK characters + bigrams (baseline.ts) */
  cjk_baselines?: Array<{ name: string; quality: Quality }>;
  /** `vs_cjk_baselines`: recall@10 relative to each CJK baseline, by name */
  configs: Array<RecallConfigResult & { vs_cjk_baselines?: Record<string, number | null> }>;
}

/** A real embedder to fuse (an openai-compatible endpoint), one configuration per weight. */
export interface EmbedderUnderTest {
  url: string;
  model: string;
  dimensions: number;
  weights: number[];
}

const CJK_LANGUAGES = new Set(['zh', 'ja', 'ko']);

/** Only the users matching `users` (a regular expression), their memories and questions. */
export function restrictUsers(d: Dataset, users?: string): Dataset {
  if (!users) return d;
  const re = new RegExp(users);
  return { ...d, memories: d.memories.filter((m) => re.test(m.user)), questions: d.questions.filter((q) => re.test(q.user)) };
}

interface Config {
  name: string;
  description: string;
  memory: (embeddingsUrl: string) => object;
}

/** What is compared. The "model" one embeds through the emulator's /embeddings: a hashed stand-in, not a model (docs/memory.md). */
export const CONFIGS: Config[] = [
  {
    name: 'default',
    description: "a new agent's config as it comes (no key): the local neural embedder fused with BM25 when its package is installed, else lexical",
    memory: () => ({}),
  },
  {
    name: 'lexical',
    description: 'BM25 alone (stemming, stopwords, CJK bigrams, dates; the hashed local embedder, weight 0): the offline default before local-neural',
    memory: () => ({ embedder: { provider: 'local' } }),
  },
  {
    name: 'local-neural',
    description: 'the local neural embedder (USE-lite) nearly alone: fused at weight 10, BM25 only breaks its ties',
    memory: () => ({ embedder: { provider: 'local-neural' }, semantic_recall: { vector_weight: 10 } }),
  },
  {
    name: 'local+vector',
    description: 'the default plus the hashed local vector fused at weight 1 (what 0.x did)',
    memory: () => ({ semantic_recall: { vector_weight: 1 } }),
  },
  {
    name: 'remote-embedder',
    description: "openai-compatible embedder (here the emulator's hashed /embeddings), fused at the default weight for model embedders (0.25)",
    memory: (url) => ({ embedder: { provider: 'openai-compatible', model: 'emu-embed', dimensions: 256, base_url: url, api_key: 'sk-bench' } }),
  },
];

/** The local neural embedder fused at each of `weights`. */
function neuralConfigs(weights: number[]): Config[] {
  return weights.map((w) => ({
    name: `local-neural@${w}`,
    description: `the local neural embedder (USE-lite) fused with BM25 at weight ${w}`,
    memory: () => ({ embedder: { provider: 'local-neural' }, semantic_recall: { vector_weight: w } }),
  }));
}

/** The configurations fusing a real embedder, one per weight. */
function embedderConfigs(e: EmbedderUnderTest): Config[] {
  return e.weights.map((w) => ({
    name: `embedder@${w}`,
    description: `openai-compatible embedder ${e.model} (${e.dimensions} dimensions) at ${e.url}, fused at weight ${w}`,
    memory: () => ({
      embedder: { provider: 'openai-compatible', model: e.model, dimensions: e.dimensions, base_url: e.url, api_key: 'sk-bench' },
      semantic_recall: { vector_weight: w },
    }),
  }));
}

export async function runRecallBench(opts: {
  dataset: string;
  database?: string;
  configs?: string[];
  users?: string;
  embedder?: EmbedderUnderTest;
  /** the local neural embedder at these fusion weights, one configuration each */
  neuralWeights?: number[];
  progress?: (line: string) => void;
}): Promise<RecallBenchResult> {
  const d = restrictUsers(loadDataset(opts.dataset), opts.users);
  if (!d.questions.length) throw new Error(`no questions${opts.users ? ` for users matching ${opts.users}` : ''}`);
  const say = opts.progress ?? (() => {});
  const measure = (b: Baseline) => {
    const ranked = baselineTop10(d, b);
    const q = quality(d.questions.map((q, i) => ({ ranked: ranked[i]!, evidence: q.evidence })));
    say(`${b.name}: recall@10 ${q.recall_at_10}`);
    return q;
  };
  const plainQuality = measure(PLAIN_BM25);
  const cjk = CJK_LANGUAGES.has(d.meta.language) ? (await cjkBaselines(say)).map((b) => ({ name: b.name, quality: measure(b) })) : undefined;
  const world = await startWorld({ database: opts.database, profile: 'instant' });
  try {
    const configs: RecallBenchResult['configs'] = [];
    const wanted = [
      ...CONFIGS.filter((c) => !opts.configs || opts.configs.includes(c.name)),
      ...neuralConfigs(opts.neuralWeights ?? []),
      ...(opts.embedder ? embedderConfigs(opts.embedder) : []),
    ];
    for (const c of wanted) {
      const r = await runConfig(world, d, c, plainQuality, say);
      configs.push(cjk ? { ...r, vs_cjk_baselines: Object.fromEntries(cjk.map((b) => [b.name, relative(r.quality, b.quality)])) } : r);
    }
    return {
      date: new Date().toISOString(),
      dataset: { ...d.meta, memories: d.memories.length, questions: d.questions.length, users: new Set(d.memories.map((m) => m.user)).size },
      engine: world.engine,
      store: world.store,
      plain_bm25: plainQuality,
      ...(cjk ? { cjk_baselines: cjk } : {}),
      configs,
    };
  } finally {
    await world.close();
  }
}

async function runConfig(
  world: Awaited<ReturnType<typeof startWorld>>,
  d: Dataset,
  c: Config,
  plain: Quality,
  say: (line: string) => void,
): Promise<RecallConfigResult> {
  const agent = await world.api('POST', '/api/v1/agents', { name: `recall-${c.name}`, memory: c.memory(world.emulator.url + '/v1') });
  if (agent.status !== 201) throw new Error(`creating agent ${c.name}: ${agent.status} ${JSON.stringify(agent.body)}`);
  const agentId = agent.body.id as string;
  const embedder = agent.body.memory.embedder as { provider: string; dimensions: number };
  // dataset id ↔ stored id
  const datasetId = new Map<string, string>();
  const users = [...new Set(d.memories.map((m) => m.user))];
  const t0 = performance.now();
  for (const user of users) {
    const mine = d.memories.filter((m) => m.user === user);
    for (let i = 0; i < mine.length; i += 10_000) {
      const chunk = mine.slice(i, i + 10_000);
      const res = await world.api('POST', '/api/v1/memories/batch', {
        agent_id: agentId,
        user_id: user,
        memories: chunk.map((m) => ({ content: m.content, metadata: m.metadata })),
      });
      if (res.status !== 201) throw new Error(`batch for ${user}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      (res.body.ids as string[]).forEach((id, j) => datasetId.set(id, chunk[j]!.id));
    }
  }
  const ingest = performance.now() - t0;
  // A slow embedder's vectors follow the write (memory/reembed.ts): the questions wait for them.
  const t1 = performance.now();
  const pending = `select 1 from memories where agent_id = $1 and vector_pending limit 1`;
  while ((await world.app.db.query(pending, [agentId])).length) await new Promise((r) => setTimeout(r, 200));
  const vectors = performance.now() - t1;
  const search = async (query: string, user: string) => {
    const t = performance.now();
    const res = await fetch(`${world.app.url}/api/v1/memories/search`, {
      method: 'POST',
      headers: { authorization: `Bearer ${world.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query, agent_id: agentId, user_id: user, top_k: 10 }),
    });
    const body = (await res.json()) as { results: Array<{ id: string }> };
    if (res.status !== 200) throw new Error(`search: ${res.status} ${JSON.stringify(body)}`);
    const timing = /search;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '');
    return { took: performance.now() - t, server: timing ? Number(timing[1]) : undefined, ids: body.results.map((r) => datasetId.get(r.id)!) };
  };
  // Each user's first search reads the scope into the index: timed on its own (with the
  // user's first question, answer discarded), so the questions are timed warm.
  const first: number[] = [];
  const warmed = new Set<string>();
  const client: number[] = [];
  const server: number[] = [];
  const runs: Array<{ ranked: string[]; evidence: string[] }> = [];
  for (const q of d.questions) {
    if (!warmed.has(q.user)) {
      warmed.add(q.user);
      first.push((await search(q.question, q.user)).took);
    }
    const r = await search(q.question, q.user);
    client.push(r.took);
    if (r.server !== undefined) server.push(r.server);
    runs.push({ ranked: r.ids, evidence: q.evidence });
  }
  const q = quality(runs);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const result = {
    name: c.name,
    description: `${c.description} [embedder ${embedder.provider}:${embedder.dimensions}]`,
    quality: q,
    vs_plain_bm25: relative(q, plain),
    ingest_ms: Math.round(ingest),
    vectors_ms: Math.round(vectors),
    search_ms: { p50: r2(percentile(client, 50)), p99: r2(percentile(client, 99)) },
    server_search_ms: { p50: r2(percentile(server, 50)), p99: r2(percentile(server, 99)) },
    first_search_ms: { p50: r2(percentile(first, 50)), max: r2(Math.max(...first)) },
  };
  say(`${c.name}: recall@10 ${q.recall_at_10} (${vsText(result.vs_plain_bm25)} vs plain BM25)`);
  return result;
}

/** recall@10 relative to a baseline's (0.25 = 25 % better); null when the baseline found nothing */
const relative = (q: Quality, base: Quality) => (base.recall_at_10 ? Math.round((q.recall_at_10 / base.recall_at_10 - 1) * 1e4) / 1e4 : null);

const vsText = (x: number | null) => (x === null ? 'n/a: plain BM25 found nothing' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`);

export function formatRecallReport(r: RecallBenchResult): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const lines = [
    `recall bench: ${r.dataset.name} (${r.dataset.language}), ${r.dataset.memories} memories, ${r.dataset.questions} questions, ${r.dataset.users} users — ${r.store}`,
    '',
    "| configuration | recall@3 | recall@5 | recall@10 | MRR | vs plain BM25 (recall@10) | ingest | search p50 / p99 (client) | search p50 / p99 (server) | each user's first search p50 / max (client) |",
    '|---|---|---|---|---|---|---|---|---|---|',
    `| plain BM25 (baseline, in process) | ${pct(r.plain_bm25.recall_at_3)} | ${pct(r.plain_bm25.recall_at_5)} | ${pct(r.plain_bm25.recall_at_10)} | ${r.plain_bm25.mrr.toFixed(3)} | — | — | — | — | — |`,
    ...(r.cjk_baselines ?? []).map(
      (b) =>
        `| ${b.name} (baseline, in process) | ${pct(b.quality.recall_at_3)} | ${pct(b.quality.recall_at_5)} | ${pct(b.quality.recall_at_10)} | ${b.quality.mrr.toFixed(3)} | — | — | — | — | — |`,
    ),
    ...r.configs.map((c) => {
      const vs = [vsText(c.vs_plain_bm25), ...Object.entries(c.vs_cjk_baselines ?? {}).map(([name, x]) => `${vsText(x)} vs ${name}`)].join('; ');
      return `| ${c.name} | ${pct(c.quality.recall_at_3)} | ${pct(c.quality.recall_at_5)} | ${pct(c.quality.recall_at_10)} | ${c.quality.mrr.toFixed(3)} | ${vs} | ${(c.ingest_ms / 1000).toFixed(2)} s | ${c.search_ms.p50} / ${c.search_ms.p99} ms | ${c.server_search_ms.p50} / ${c.server_search_ms.p99} ms | ${c.first_search_ms.p50} / ${c.first_search_ms.max} ms |`;
    }),
  ];
  return lines.join('\n');
}
