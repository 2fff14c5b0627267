// WebSocket: each agent event is one text message holding the same JSON object as
// a native SSE `data:` frame. Nothing is sent once the socket is closing.
import type { WebSocket } from 'ws';
import type { AgentEvent, EventSink } from '../../agent/events.ts';

export function wsSink(socket: WebSocket): EventSink {
  return {
    emit(event: AgentEvent) {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(event));
    },
  };
}
