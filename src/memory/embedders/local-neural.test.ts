import { test } from 'node:test';
import assert from 'node:assert/strict';
import { threadId } from 'node:worker_threads';
import { createLocalNeuralEmbedder, localNeuralInstalled, LOCAL_NEURAL_DIMENSIONS } from './local-neural.ts';

const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

test(
  'local-neural: meaning without shared words, in a worker, cached by text within a byte bound',
  { skip: !localNeuralInstalled() && 'its package is not installed' },
  async () => {
    // room for three vectors (each 2 KiB of floats plus its key and bookkeeping), not four
    const bound = 3 * (LOCAL_NEURAL_DIMENSIONS * 4 + 200);
    const e = createLocalNeuralEmbedder({ cacheBytes: bound });
    try {
      const [sushi, food, nurse] = await e.embed(['I love sushi', 'What food do I like?', 'My sister is a nurse in Leeds']);
      assert.equal(sushi!.length, LOCAL_NEURAL_DIMENSIONS);
      assert.ok(dot(sushi!, food!) > dot(nurse!, food!) + 0.1, `sushi ${dot(sushi!, food!)} vs nurse ${dot(nurse!, food!)}`);
      const after3 = e.stats();
      assert.equal(after3.embedded, 3);
      assert.ok(after3.threadId !== undefined && after3.threadId !== threadId, 'embedded in a worker thread');

      // cached: the same texts again cost the worker nothing, and give the same vectors
      assert.deepEqual(await e.embed(['I love sushi']), [sushi]);
      assert.equal(e.stats().embedded, 3);

      // past the bound: the oldest vectors go, the cache stays within its bytes
      const more = Array.from({ length: 20 }, (_, i) => `unrelated sentence number ${i}`);
      await e.embed(more);
      const s = e.stats();
      assert.ok(s.cacheBytes <= bound, `${s.cacheBytes} bytes cached, bound ${bound}`);
      assert.ok(s.cacheEntries <= 3, `${s.cacheEntries} entries`);
      await e.embed(['I love sushi']);
      assert.equal(e.stats().embedded, 3 + 20 + 1, 'an evicted text is embedded again');
    } finally {
      await e.close();
    }
  },
);
