// What four paused clients cost the server, measured as an outsider would: the real CLI
// in a child process, its RSS baseline right after start and one ordinary turn, then four
// clients (native SSE, WebSocket, OpenAI-compatible, UI stream) ask for a ~4 MB answer and
// stop reading after the first bytes; RSS is sampled every 50 ms over the whole pause
// (until every upstream write waits and stands still, then 5 s more). --load N runs N
// ordinary turns at a time beside it, all through the pause.
//   node --import tsx scripts/paused-clients.ts [--engine pglite|postgres] [--load 0] [--runs 1] [--env K=V …]
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { measurePausedClients } from '../test/backpressure-clients.ts';

const { values: opts } = parseArgs({
  options: {
    engine: { type: 'string', default: 'postgres' },
    load: { type: 'string', default: '0' },
    runs: { type: 'string', default: '1' },
    env: { type: 'string', multiple: true, default: [] }, // KEY=VALUE for the server
  },
});
for (let i = 0; i < Number(opts.runs); i++) {
  const r = await measurePausedClients(opts.engine as 'pglite' | 'postgres', {
    load: Number(opts.load),
    readAll: true,
    env: Object.fromEntries(opts.env!.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
  });
  console.log(JSON.stringify(r));
  await sleep(500);
}
