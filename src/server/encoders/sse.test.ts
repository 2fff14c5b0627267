// A frame must leave at once, even when the turn that emits it never yields to the
// event loop (Node corks a response on write and uncorks on nextTick, which a long
// promise chain postpones). The client reads in a worker thread, so it can see bytes
// arrive while this thread is busy.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { openSse } from './sse.ts';

test('frames are on the wire before the turn yields', async () => {
  const server = createServer((_req, res) => {
    const sse = openSse(res);
    sse.emit({ chunk_type: 'content', content: 'early', step_id: 0 });
    const until = Date.now() + 300;
    while (Date.now() < until); // a turn that does not yield
    sse.emit({ chunk_type: 'content', content: 'late', step_id: 0 });
    sse.end();
  });
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
