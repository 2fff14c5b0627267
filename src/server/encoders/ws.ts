// WebSocket: each agent event is one text message holding the same JSON object as
// a native SSE `data:` frame. Nothing is sent once the socket is closing.
// Backpressure: `bufferedAmount` (what the socket has not yet taken) pauses the run.
import type { WebSocket } from 'ws';
import type { AgentEvent, EventSink } from '../../agent/events.ts';
import { createFlow, type FlowLimits } from './backpressure.ts';

export function wsSink(socket: WebSocket, flow: FlowLimits): EventSink & { readonly stalled: boolean } {
  const pressure = createFlow({ pending: () => socket.bufferedAmount, closed: () => socket.readyState !== socket.OPEN }, flow);
  return {
    emit(event: AgentEvent) {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(event));
    },
    ready: () => pressure.ready(),
    get stalled() {
      return pressure.stalled;
    },
  };
}
