// A frame must leave as soon as the turn waits for anything (the next upstream read, the
// store): frames made in one stretch of work leave together as one write once it ends, never
// later. The client reads in a worker thread, so it sees when the bytes arrived.
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { openSse } from './sse.ts';

test('a frame is on the wire while the turn waits for its next event', async () => {
  const answer = async (res: ServerResponse) => {
    const sse = openSse(res);
    sse.write(JSON.stringify({ chunk_type: 'content', content: 'early', step_id: 0 }));
    await sleep(300); // the turn waits: for the model's next delta, or the store
    sse.write(JSON.stringify({ chunk_type: 'content', content: 'late', step_id: 0 }));
    sse.end();
  };
  const server = createServer((_req, res) => void answer(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const client = new Worker(
    `const http = require('node:http');
     const { parentPort, workerData } = require('node:worker_threads');
     http.get({ host: '127.0.0.1', port: workerData.port, path: '/' }, (res) => {
       const seen = [];
       res.on('data', (d) => seen.push({ at: Date.now(), text: d.toString() }));
       res.on('end', () => parentPort.postMessage(seen));
     });`,
    { eval: true, workerData: { port } },
  );
  const seen: Array<{ at: number; text: string }> = await new Promise((resolve, reject) => {
    client.once('message', resolve);
    client.once('error', reject);
  });
  await client.terminate();
  server.close();
  const early = seen.find((c) => c.text.includes('early'))!;
  const late = seen.find((c) => c.text.includes('late'))!;
  assert.ok(late.at - early.at >= 200, `the first frame arrived ${late.at - early.at} ms before the last: it waited for the turn`);
});
