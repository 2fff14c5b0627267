// The one sink every HTTP streaming surface (native SSE, OpenAI chunks, the UI stream)
// writes a turn to: each event goes through the surface's encoder (encoders/encoder.ts),
// each object it gives is one SSE `data:` frame, numbered by the response's one counter
// (encoders/sse.ts). Nothing is written before the first event, so a turn refused before
// it starts is still a plain 4xx JSON answer; the headers go out with that event, the
// session named in `x-session-id`.
import type { FastifyReply } from 'fastify';
import type { AgentEvent, EventSink } from '../agent/events.ts';
import type { FlowLimits } from './encoders/backpressure.ts';
import type { Encoder } from './encoders/encoder.ts';
import { openSse, type SseWriter } from './encoders/sse.ts';
import type { Frame } from './stream-hold.ts';

export interface TurnStream extends EventSink {
  /** the first event came: the headers are out, and a failure from here is reported in the stream */
  opened(): boolean;
  /** the closing frame (`last`) if the stream opened, then the response ends */
  end(): void;
}

export interface StreamOptions {
  /** pause the run while the client's socket is full (backpressure.ts) */
  flow: FlowLimits;
  /** the data of the frame that closes the stream: `[DONE]` for OpenAI's and the UI stream */
  last?: string;
  /** each frame as written, with the event it came from (native SSE holds them for a resume) */
  onFrame?(event: AgentEvent, frame: Frame): void;
}

export function streamTurn(reply: FastifyReply, encode: Encoder, headers: Record<string, string>, opts: StreamOptions): TurnStream {
  let sse: SseWriter | undefined;
  return {
    opened: () => sse !== undefined,
    emit(event) {
      if (!sse) {
        reply.hijack();
        for (const [k, v] of Object.entries(headers)) reply.raw.setHeader(k, v);
        if (event.chunk_type === 'start') reply.raw.setHeader('x-session-id', event.session_id);
        sse = openSse(reply.raw, opts.flow);
      }
      for (const part of encode(event)) {
        const frame = sse.write(JSON.stringify(part));
        opts.onFrame?.(event, frame);
      }
    },
    ready: () => sse?.ready(),
    end() {
      if (!sse) return;
      if (opts.last) sse.write(opts.last);
      sse.end();
    },
  };
}
