// A WebSocket chat client for tests: queues what it receives so a test can await the next
// event, and remembers how the socket closed.
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import type { WireEvent } from './harness.ts';

export class WsClient {
  readonly ws: WebSocket;
  private queue: WireEvent[] = [];
  private waiters: Array<(m: WireEvent) => void> = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** open, or refused (an HTTP answer to the upgrade, or a socket error) */
  readonly upgraded: Promise<void>;
  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      const w = this.waiters.shift();
      if (w) w(msg);
      else this.queue.push(msg);
    });
    this.ws.on('error', () => {}); // a close the server chose (1009) surfaces as an error on the client too
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.upgraded = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
    this.upgraded.catch(() => {}); // (awaited by the tests that care)
  }
  send(obj: unknown) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }
  next(ms = 5_000): Promise<WireEvent> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no message in time')), ms);
      this.waiters.push((m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
  }
  /** Events up to and including the one that ends a turn (done or error). */
  async events(): Promise<WireEvent[]> {
    const events: WireEvent[] = [];
    for (;;) {
      const e = await this.next();
      events.push(e);
      if (e.chunk_type === 'done' || e.chunk_type === 'error') return events;
    }
  }
  /** Sends a chat and returns the event that ends its turn (done or error). */
  async turn(message = 'hi'): Promise<WireEvent> {
    this.send({ type: 'chat', message });
    return (await this.events()).at(-1);
  }
  /** The close code, or a failure when the socket is still open after `ms`. */
  closedWithin(ms: number): Promise<number> {
    return Promise.race([this.closed.then((c) => c.code), sleep(ms).then(() => Promise.reject(new Error(`still open after ${ms} ms`)))]);
  }
}
