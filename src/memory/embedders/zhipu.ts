// Zhipu (BigModel) embeddings: the OpenAI wire format at {base_url}/embeddings.
// embedding-3 shortens its vectors to 256, 512, 1024 or 2048 dimensions (default 2048)
// and takes at most 64 texts per request; embedding-2 is fixed at 1024 dimensions.
import type { Dispatcher } from 'undici';
import { createRemoteEmbedder, EmbedderError } from './openai-compatible.ts';
import type { Embedder } from './types.ts';
import { ZHIPU_BASE_URL } from '../../llm/endpoints.ts';

const EMBEDDING_3_DIMENSIONS = [256, 512, 1024, 2048];

export function createZhipuEmbedder(opts: {
  model?: string;
  dimensions: number;
  apiKey?: string;
  baseUrl?: string;
  dispatcher?: Dispatcher;
  timeoutMs?: number;
}): Embedder {
  const model = opts.model ?? 'embedding-3';
  if (model === 'embedding-3' && !EMBEDDING_3_DIMENSIONS.includes(opts.dimensions)) {
    throw new EmbedderError(`zhipu embedding-3: dimensions must be one of ${EMBEDDING_3_DIMENSIONS.join(', ')}, got ${opts.dimensions}`, 'config');
  }
  if (model === 'embedding-2' && opts.dimensions !== 1024) {
    throw new EmbedderError(`zhipu embedding-2 has 1024 dimensions, got ${opts.dimensions}`, 'config');
  }
  return createRemoteEmbedder({
    name: 'zhipu',
    baseUrl: opts.baseUrl ?? ZHIPU_BASE_URL,
    apiKey: opts.apiKey,
    model,
    dimensions: opts.dimensions,
    sendDimensions: model !== 'embedding-2',
    maxBatch: 64,
    dispatcher: opts.dispatcher,
    timeoutMs: opts.timeoutMs,
  });
}
