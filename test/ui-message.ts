// Reads an AI SDK UI message stream the way useChat does: every part checked against the
// SDK's own uiMessageChunkSchema, then assembled by readUIMessageStream.
import assert from 'node:assert/strict';
import { parseJsonEventStream, readUIMessageStream, uiMessageChunkSchema, type UIMessage, type UIMessageChunk } from 'ai';

/** Each event of parseJsonEventStream: the chunk, or why the schema refused it. */
type Parsed = ReturnType<typeof parseJsonEventStream<UIMessageChunk>> extends ReadableStream<infer R> ? R : never;

/** The message the SDK assembles from an SSE body of UI chunks (fails on a chunk the schema refuses). */
export async function readUiMessage(body: ReadableStream<Uint8Array>): Promise<UIMessage> {
  const parsed = parseJsonEventStream({ stream: body, schema: uiMessageChunkSchema }).pipeThrough(
    new TransformStream<Parsed, UIMessageChunk>({
      transform(r, c) {
        assert.ok(r.success, JSON.stringify('error' in r ? r.error.message : undefined));
        c.enqueue(r.value);
      },
    }),
  );
  let message: UIMessage | undefined;
  for await (const m of readUIMessageStream({ stream: parsed })) message = m;
  assert.ok(message, 'the stream assembled no message');
  return message;
}
