// A webhook receiver for the tests: a real HTTP server on 127.0.0.1 that records every
// request, answers as a path's handler says (default 200), and can hold a path's requests open.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { waitFor } from './wait.ts';

interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
}

/**
 * A webhook receiver: records every request; a path's handler decides the answer
 * (default 200). `hold` keeps a path's requests unanswered until `release`.
 */
export async function startReceiver() {
  const received: Received[] = [];
  const handlers = new Map<string, (r: Received, res: ServerResponse) => void>();
  const held: ServerResponse[] = [];
  let open = 0;
  const maxOpen = new Map<string, number>();
  const openBy = new Map<string, number>();
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const path = req.url!;
      const r: Received = { path, headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(r);
      open++;
      openBy.set(path, (openBy.get(path) ?? 0) + 1);
      maxOpen.set(path, Math.max(maxOpen.get(path) ?? 0, openBy.get(path)!));
      res.on('close', () => {
        open--;
        openBy.set(path, openBy.get(path)! - 1);
      });
      const handler = handlers.get(path.split('?')[0]!);
      if (handler) handler(r, res);
      else res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    received,
    /** the most requests a path had open at once */
    maxOpen: (path: string) => maxOpen.get(path) ?? 0,
    on: (path: string, h: (r: Received, res: ServerResponse) => void) => handlers.set(path, h),
    hold: (path: string) => handlers.set(path, (_r, res) => held.push(res)),
    release() {
      for (const res of held.splice(0)) res.writeHead(200).end('ok');
    },
    /** Resolves when `pred` holds over what was received; a failure lists what was. */
    async until(pred: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
      await waitFor(what, pred, { timeoutMs }).catch((err) =>
        assert.fail(`${err.message}; received ${received.map((r) => `${r.path} ${r.body.slice(0, 80)}`).join(' | ')}`),
      );
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of held.splice(0)) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

export const events = (rx: Receiver, path: string) => rx.received.filter((r) => r.path === path).map((r) => ({ ...r, payload: JSON.parse(r.body) }));
