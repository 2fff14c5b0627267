// A network round trip for the emulator (`--rtt-ms`): the emulator listens behind this
// TCP relay, which makes loopback behave like a link with a round-trip time of `rttMs`.
//
// The model: every byte takes rtt/2 to cross, each way. A new connection first pays the
// TCP handshake: the kernel accepts at once, so the relay holds the client's first bytes
// until one rtt after accept (SYN → SYN/ACK → ACK), then sends them on with the one-way
// delay. So a cold HTTPS request costs 1 rtt (TCP) + 1 rtt (the TLS 1.3 handshake, which
// really crosses the relay) + 1 rtt (request → response), and a request on a kept-alive
// connection costs 1 rtt. No bandwidth limit, no loss, order kept.
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Relay {
  port: number;
  close(): Promise<void>;
}

export async function startRelay(opts: { host: string; port: number; target: { host: string; port: number }; rttMs: number }): Promise<Relay> {
  const oneWay = opts.rttMs / 2;
  const sockets = new Set<Socket>();
  const server = createServer({ noDelay: true }, (client) => {
    const acceptedAt = performance.now();
    const upstream = connect({ ...opts.target, noDelay: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    }
    delay(client, upstream, oneWay, acceptedAt + opts.rttMs);
    delay(upstream, client, oneWay, 0);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** Copies `from` to `to`, each chunk (and the end) `ms` later, none before `notBefore`. */
function delay(from: Socket, to: Socket, ms: number, notBefore: number): void {
  // a chunk, 'end' (half-close) or 'close' (end, then destroy once written)
  const queue: Array<{ at: number; chunk: Buffer | 'end' | 'close' }> = [];
  let timer: NodeJS.Timeout | undefined;
  const pump = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length && queue[0]!.at <= now + 0.5) {
      const { chunk } = queue.shift()!;
      if (to.destroyed) continue;
      if (chunk === 'end') to.end();
      else if (chunk === 'close') to.end(() => to.destroy());
      else if (!to.write(chunk)) {
        // the far side reads slowly: stop reading this side until it catches up
        from.pause();
        to.once('drain', () => from.resume());
      }
    }
    if (queue.length) timer = setTimeout(pump, queue[0]!.at - now);
  };
  const push = (chunk: Buffer | 'end' | 'close') => {
    queue.push({ at: Math.max(performance.now(), notBefore) + ms, chunk });
    timer ??= setTimeout(pump, queue[0]!.at - performance.now());
  };
  from.on('data', (chunk: Buffer) => push(chunk));
  from.once('end', () => push('end'));
  // a side that closes (or breaks) closes the other once what was in flight has landed
  from.once('close', () => push('close'));
  from.on('error', () => {});
}
