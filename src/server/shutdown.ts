// Graceful shutdown. On SIGTERM/SIGINT: stop accepting (new requests and /ready answer
// 503, idle keep-alive and WebSocket connections are closed), let live turns finish for
// up to the grace period, then end the rest with an `error` event `shutting_down`
// (retryable; stored incomplete with that code). Only then do the stream mirror (which
// writes each stream's end marker), the job queue and the store close, so a client
// resuming on another instance gets the stored rest and a clean end. A second signal
// exits at once.
import type { FastifyInstance } from 'fastify';
import { shuttingDown } from '../agent/stop.ts';
import type { LiveTurns } from './live-turns.ts';

/** How often idle keep-alive connections are closed while draining (a response that ends leaves its connection idle). */
const IDLE_SWEEP_MS = 200;

/**
 * Drains the HTTP server: resolves once every connection has closed. Turns still running
 * after `graceMs` are stopped with `shutting_down`.
 */
export async function drainServer(server: FastifyInstance, live: LiveTurns, graceMs: number): Promise<{ stopped: number }> {
  live.drain();
  const closing = server.close();
  const sweep = setInterval(() => server.server.closeIdleConnections(), IDLE_SWEEP_MS);
  try {
    const settled = await live.settled(graceMs);
    const stopped = settled ? 0 : live.turns;
    if (stopped) server.log.warn({ turns: stopped, grace_ms: graceMs }, 'shutdown: ending turns still running after the grace period');
    // Whatever is still live (stopped turns, replays of other instances' streams) ends now.
    live.stopAll(shuttingDown());
    await closing;
    return { stopped };
  } finally {
    clearInterval(sweep);
  }
}

/** SIGTERM/SIGINT run `shutdown` once; a second signal exits at once. */
export function onShutdownSignals(shutdown: (signal: string) => Promise<void>, log: (line: string) => void = console.error): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals, fromPrimary = false) => {
    if (stopping) {
      if (fromPrimary) return; // the primary passing on a signal this worker also got (a terminal's Ctrl-C)
      log(`agentmem: ${signal} again, exiting now`);
      process.exit(1);
    }
    stopping = true;
    shutdown(signal).then(
      () => process.exit(0),
      (err) => {
        log(`agentmem: shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  // (node passes a signal's number as the listener's second argument: not ours to read)
  process.on('SIGINT', () => handle('SIGINT'));
  process.on('SIGTERM', () => handle('SIGTERM'));
  // A cluster worker (serve --workers): the primary's signal arrives as a message.
  process.on('message', (m: { kind?: string; signal?: NodeJS.Signals }) => {
    if (m?.kind === 'agentmem:stop') handle(m.signal ?? 'SIGTERM', true);
  });
}
