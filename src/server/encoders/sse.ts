// SSE framing for every streamed surface: `id: <seq>` + `data: <text>` per frame, the one
// frame counter of a response, headers flushed at once, a heartbeat comment every 15 s so
// proxies keep the stream open. What the frames hold is the encoders' (encoder.ts).
import type { ServerResponse } from 'node:http';
import type { Frame } from '../stream-hold.ts';
import { createFlow, type FlowLimits } from './backpressure.ts';

export const sseHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

export interface SseWriter {
  /** frames written so far (the last `id:`) */
  readonly seq: number;
  /** writes `data` as the next frame; returns it (numbered) */
  write(data: string): Frame;
  /** writes a frame numbered elsewhere (replaying a held stream); the count goes on from it */
  writeFrame(frame: Frame): void;
  /** backpressure (backpressure.ts): undefined while the client keeps up */
  ready(): Promise<void> | undefined;
  end(): void;
}

/** `flow`: pause the producer while the client's socket is full (none: a replay, bounded by the hold). */
export function openSse(res: ServerResponse, flow?: FlowLimits, heartbeatMs = 15_000): SseWriter {
  res.socket?.setNoDelay(true);
  res.writeHead(200, sseHeaders);
  res.flushHeaders();
  let seq = 0;
  let ended = false;
  const heartbeat = setInterval(() => res.write(': ping\n\n'), heartbeatMs);
  heartbeat.unref();
  const stop = () => {
    ended = true;
    clearInterval(heartbeat);
  };
  res.once('close', stop);
  // The frames made in one stretch of work (one upstream read's deltas, through every
  // microtask of the turn's generators) leave as one write, after it: one chunk of the
  // response and one pass through Node's stream machinery instead of one per frame. The
  // bytes are the same frames; the turn waits on I/O between reads, so none is held longer.
  let queued = '';
  const flush = () => {
    const text = queued;
    queued = '';
    if (text && !ended) res.write(text);
  };
  const pressure = flow
    ? createFlow(
        {
          pending: () => res.writableLength + queued.length,
          closed: () => ended || res.destroyed,
          onDrain: (fn) => (res.on('drain', fn), () => res.off('drain', fn)),
        },
        flow,
      )
    : undefined;
  const send = (frame: Frame) => {
    if (ended) return;
    if (!queued) process.nextTick(flush);
    queued += `id: ${frame.id}\ndata: ${frame.data}\n\n`;
  };
  return {
    get seq() {
      return seq;
    },
    // Counted after the client left too: a held stream's frames go on numbered for a resume.
    write(data) {
      const frame = { id: ++seq, data };
      send(frame);
      return frame;
    },
    writeFrame(frame) {
      seq = frame.id;
      send(frame);
    },
    ready: () => pressure?.ready(),
    end() {
      if (ended) return;
      flush();
      stop();
      // A stalled client's buffer is dropped with its connection, not kept for it.
      if (pressure?.stalled) res.destroy();
      else res.end();
    },
  };
}
