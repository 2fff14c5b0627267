// Writes one SSE event to the socket, whole or deliberately in pieces: `split_utf8`
// cuts inside multi-byte UTF-8 sequences, `drip` sends one byte per write. An event-loop
// turn between pieces makes them separate TCP segments (the socket has Nagle off), so
// the client really sees a character arrive in halves.
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';

export type WriteMode = 'whole' | 'split_utf8' | 'drip';

const loopTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What one response wrote, and how long it waited for its reader (the client's backpressure). */
export interface WriteMeter {
  bytes: number;
  /** writes that filled the socket, so the next waited for 'drain' */
  drainWaits: number;
  drainMs: number;
  /** waiting for 'drain' right now */
  waiting: boolean;
}

export const newMeter = (): WriteMeter => ({ bytes: 0, drainWaits: 0, drainMs: 0, waiting: false });

async function drain(res: ServerResponse, signal: AbortSignal, meter?: WriteMeter): Promise<void> {
  if (!meter) return void (await once(res, 'drain', { signal }));
  const t0 = performance.now();
  meter.drainWaits++;
  meter.waiting = true;
  try {
    await once(res, 'drain', { signal });
  } finally {
    meter.waiting = false;
    meter.drainMs += performance.now() - t0;
  }
}

export async function writeFrame(res: ServerResponse, data: string, mode: WriteMode, signal: AbortSignal, meter?: WriteMeter): Promise<void> {
  if (mode === 'whole') {
    if (meter) meter.bytes += Buffer.byteLength(data);
    if (!res.write(data)) await drain(res, signal, meter);
    return;
  }
  const bytes = Buffer.from(data, 'utf8');
  const cuts = mode === 'drip' ? Array.from({ length: bytes.length - 1 }, (_, i) => i + 1) : utf8Cuts(bytes);
  let start = 0;
  for (const end of [...cuts, bytes.length]) {
    if (signal.aborted) return;
    if (meter) meter.bytes += end - start;
    if (!res.write(bytes.subarray(start, end))) await drain(res, signal, meter);
    start = end;
    // node:http corks a response's writes until the next tick, so writes in one tick would
    // leave as one segment; a full event-loop turn sends each piece on its own and lets a
    // client in this same process read it (and a hang-up be noticed) before the next
    await loopTurn();
  }
}

/** Offsets right after the lead byte of multi-byte characters, plus one odd offset mid-event. */
export function utf8Cuts(bytes: Uint8Array, max = 16): number[] {
  const inside: number[] = [];
  for (let i = 1; i < bytes.length; i++) {
    if ((bytes[i]! & 0xc0) === 0x80 && (bytes[i - 1]! & 0xc0) === 0xc0) inside.push(i);
  }
  const step = Math.ceil(inside.length / max) || 1;
  const cuts = new Set(inside.filter((_, i) => i % step === 0));
  if (bytes.length > 2) cuts.add((bytes.length >> 1) | 1);
  return [...cuts].sort((a, b) => a - b);
}
