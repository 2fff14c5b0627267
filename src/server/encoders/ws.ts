// WebSocket: each object the encoder gives (native: the event itself, the same JSON as
// a native SSE `data:` frame) is one text message. Nothing is sent once the socket is
// closing. Backpressure: `bufferedAmount` (what the socket has not yet taken) pauses the run.
import type { WebSocket } from 'ws';
import type { EventSink } from '../../agent/events.ts';
import { createFlow, type FlowLimits } from './backpressure.ts';
import { nativeEvents, type Encoder } from './encoder.ts';

export function wsSink(socket: WebSocket, flow: FlowLimits, encode: Encoder = nativeEvents()): EventSink & { readonly stalled: boolean } {
  const pressure = createFlow({ pending: () => socket.bufferedAmount, closed: () => socket.readyState !== socket.OPEN }, flow);
  return {
    emit(event) {
      for (const part of encode(event)) if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(part));
    },
    ready: () => pressure.ready(),
    get stalled() {
      return pressure.stalled;
    },
  };
}
