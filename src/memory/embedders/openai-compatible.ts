// Embeddings from any OpenAI-compatible `/embeddings` endpoint (OpenAI, Azure-style
// gateways, vLLM, Ollama, LM Studio, …): POST {model, input: [...], dimensions},
// answer {data: [{index, embedding: number[]}]}. Large inputs go in chunks, a few at once.
import { request, type Dispatcher } from 'undici';
import { egressDenial } from '../../llm/egress.ts';
import type { Embedder } from './types.ts';

/** A failed embedding call, with its context; `kind` says whose fault it is. */
export class EmbedderError extends Error {
  constructor(
    message: string,
    readonly kind: 'config' | 'upstream',
    readonly ctx: { url?: string; status?: number; body?: string; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: ctx.cause });
    this.name = 'EmbedderError';
  }
  get retryable(): boolean {
    return this.ctx.retryable ?? false;
  }
}

export interface RemoteEmbedderOptions {
  /** prefix of the embedder id, e.g. "openai-compatible" or "zhipu" */
  name: string;
  baseUrl: string;
  apiKey?: string;
  model: string;
  dimensions: number;
  /** send `dimensions` in the request (models that cannot shorten their vectors reject it) */
  sendDimensions?: boolean;
  /** texts per request */
  maxBatch?: number;
  /** requests in flight at once for one embed() call */
  concurrency?: number;
  timeoutMs?: number;
  /** the app's connection pool (keep-alive); default: undici's global one */
  dispatcher?: Dispatcher;
}

export function createRemoteEmbedder(opts: RemoteEmbedderOptions): Embedder {
  const url = opts.baseUrl.replace(/\/+$/, '') + '/embeddings';
  const maxBatch = opts.maxBatch ?? 256;
  const concurrency = opts.concurrency ?? 4;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;

  async function call(input: string[]): Promise<number[][]> {
    const body = JSON.stringify({
      model: opts.model,
      input,
      encoding_format: 'float',
      ...(opts.sendDimensions !== false ? { dimensions: opts.dimensions } : {}),
    });
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method: 'POST', headers, body, dispatcher: opts.dispatcher, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      // A refusal by AGENTMEM_EGRESS stays a refusal: not worth retrying.
      throw new EmbedderError(`The embedder at ${url} could not be reached: ${(err as Error).message}`, 'upstream', {
        url,
        retryable: !egressDenial(err),
        cause: err,
      });
    }
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const status = res.statusCode;
      throw new EmbedderError(`The embedder at ${url} answered ${status}: ${text.slice(0, 300)}`, 'upstream', {
        url,
        status,
        body: text.slice(0, 2_000),
        retryable: status === 429 || status >= 500,
      });
    }
    return parseEmbeddings(text, input.length, opts.dimensions, url);
  }

  return {
    id: `${opts.name}:${opts.model}:${opts.dimensions}`,
    dimensions: opts.dimensions,
    async embed(texts) {
      const chunks: string[][] = [];
      for (let i = 0; i < texts.length; i += maxBatch) chunks.push(texts.slice(i, i + maxBatch));
      const out: number[][][] = new Array(chunks.length);
      let next = 0;
      const worker = async () => {
        while (next < chunks.length) {
          const i = next++;
          out[i] = await call(chunks[i]!);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, worker));
      return out.flat();
    },
  };
}

/** The vectors of an `/embeddings` answer, in input order, checked for count and dimension. */
export function parseEmbeddings(text: string, count: number, dimensions: number, url = ''): number[][] {
  const bad = (why: string) => new EmbedderError(`The embedder at ${url} sent an unusable answer: ${why}`, 'upstream', { url, body: text.slice(0, 2_000) });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const data = (json as { data?: unknown }).data;
  if (!Array.isArray(data) || data.length !== count) throw bad(`expected ${count} embeddings`);
  const out: number[][] = new Array(count);
  data.forEach((item, pos) => {
    const { index, embedding } = (item ?? {}) as { index?: unknown; embedding?: unknown };
    const i = typeof index === 'number' ? index : pos;
    if (!Array.isArray(embedding) || !embedding.every((x) => typeof x === 'number' && Number.isFinite(x))) throw bad('embedding is not a list of numbers');
    if (embedding.length !== dimensions) {
      throw bad(`got ${embedding.length} dimensions, the agent's memory.embedder.dimensions is ${dimensions}`);
    }
    if (i < 0 || i >= count || out[i]) throw bad(`bad index ${i}`);
    out[i] = embedding;
  });
  return out;
}
