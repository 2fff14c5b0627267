// A streamed chat turn as an async iterator of the native events (events.ts), read with
// eventsource-parser (the parser the server itself uses). Each frame's `id:` is kept; when the
// connection drops before the turn's last event (`done` or `error`), the stream is resumed
// from the server's hold with `Last-Event-ID` and goes on where it stopped, without a repeat.
// A turn that fails while streaming arrives as an `error` event (a value); an answer refused
// before the stream opens (a 4xx) is thrown as an AgentmemError.
import { EventSourceParserStream, type EventSourceMessage } from 'eventsource-parser/stream';
import { AgentmemError, errorOf } from './errors.ts';
import type { ChatEvent } from './events.ts';

export interface ChatStream extends AsyncIterable<ChatEvent> {
  /** the answer's id, from the `start` event on (what a resume names) */
  readonly messageId: string | undefined;
  readonly sessionId: string | undefined;
  /** the `id:` of the last frame received (what `Last-Event-ID` sends) */
  readonly lastEventId: string | undefined;
}

export interface StreamSource {
  /** the request that opens the stream */
  open(): Promise<Response>;
  /** the request that resumes it after `lastEventId` ('0': from the start) */
  resume(messageId: string, lastEventId: string): Promise<Response>;
  /** how many times a dropped connection is resumed before its failure is thrown */
  reconnects: number;
  signal?: AbortSignal;
}

const isLast = (e: ChatEvent) => e.chunk_type === 'done' || e.chunk_type === 'error';

/** The SSE messages of a response, in order; the body is cancelled when the reader stops early. */
async function* messages(res: Response): AsyncGenerator<EventSourceMessage> {
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

export function chatStream(source: StreamSource): ChatStream {
  let messageId: string | undefined;
  let sessionId: string | undefined;
  let lastEventId: string | undefined;

  async function* events(): AsyncGenerator<ChatEvent> {
    let res = await source.open();
    let resumes = 0;
    for (;;) {
      if (!res.ok) throw await errorOf(res);
      let ended = false;
      try {
        for await (const msg of messages(res)) {
          if (msg.data === '[DONE]') continue;
          const event = JSON.parse(msg.data) as ChatEvent;
          if (msg.id) lastEventId = msg.id;
          if (event.chunk_type === 'start') ({ message_id: messageId, session_id: sessionId } = event);
          ended ||= isLast(event);
          yield event;
        }
      } catch (err) {
        // (the caller's abort, a frame that is not JSON, no answer to resume: thrown as they are)
        if (source.signal?.aborted || err instanceof SyntaxError || !messageId || resumes >= source.reconnects) throw err;
      }
      if (ended) return;
      // The connection ended before the turn did: resume after the last frame received.
      if (!messageId || resumes >= source.reconnects) {
        throw new AgentmemError('stream_interrupted', 'The stream ended before the turn did, and could not be resumed.', 0, true);
      }
      resumes++;
      res = await source.resume(messageId, lastEventId ?? '0');
    }
  }

  return {
    get messageId() {
      return messageId;
    },
    get sessionId() {
      return sessionId;
    },
    get lastEventId() {
      return lastEventId;
    },
    [Symbol.asyncIterator]: () => events(),
  };
}
