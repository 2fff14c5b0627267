// Native SSE: `id: <seq>` + `data: <json>` per event, headers flushed at once,
// a heartbeat comment every 15 s so proxies keep the stream open.
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { AgentEvent, EventSink } from '../../agent/events.ts';
import { createFlow, type FlowLimits } from './backpressure.ts';

export const sseHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

export interface SseWriter extends EventSink {
  /** events written so far (the last `id:`) */
  readonly seq: number;
  /** write a pre-encoded frame (used when replaying a held stream) */
  writeFrame(id: number, data: string): void;
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
  const pressure = flow
    ? createFlow({ pending: () => res.writableLength, closed: () => ended || res.destroyed, onDrain: (fn) => (res.on('drain', fn), () => res.off('drain', fn)) }, flow)
    : undefined;
  // Node corks the socket at a write and uncorks it once the current microtasks have run:
  // the frames made from one upstream read leave in one writev, not one syscall each
  // (the turn always waits on I/O between reads, so no frame is held longer than that).
  const send = (frame: string) => void res.write(frame);
  const writer: SseWriter = {
    get seq() {
      return seq;
    },
    emit(event: AgentEvent) {
      if (ended) return;
      seq++;
      send(`id: ${seq}\ndata: ${JSON.stringify(event)}\n\n`);
    },
    writeFrame(id, data) {
      if (ended) return;
      seq = id;
      send(`id: ${id}\ndata: ${data}\n\n`);
    },
    ready: () => pressure?.ready(),
    end() {
      if (ended) return;
      stop();
      // A stalled client's buffer is dropped with its connection, not kept for it.
      if (pressure?.stalled) res.destroy();
      else res.end();
    },
  };
  return writer;
}

/**
 * A data-only stream (OpenAI chunks, AI SDK UI parts) opened by the turn's first event, so
 * a turn refused before it is still a plain 4xx; `finish` writes `data: [DONE]` and ends it.
 */
export function openOnFirstEvent(reply: FastifyReply, headers: Record<string, string> = {}, flow?: FlowLimits) {
  let sse: SseWriter | undefined;
  return {
    opened: () => sse !== undefined,
    /** Sends the headers (the session id among them) at the first event; later calls do nothing. */
    open(first: AgentEvent) {
      if (sse) return;
      reply.hijack();
      for (const [k, v] of Object.entries(headers)) reply.raw.setHeader(k, v);
      if (first.chunk_type === 'start') reply.raw.setHeader('x-session-id', first.session_id);
      sse = openSse(reply.raw, flow);
    },
    ready: () => sse?.ready(),
    send(data: string) {
      sse!.writeFrame(sse!.seq + 1, data);
    },
    finish() {
      if (!sse) return;
      this.send('[DONE]');
      sse.end();
    },
  };
}
