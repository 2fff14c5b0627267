// The upstream transport: POST a JSON body through the shared pool and yield the
// `data` of each server-sent event, parsed by eventsource-parser with a capped buffer.
// A non-2xx answer or a failed connection throws (the caller may retry); a body
// that breaks later throws from the iteration. Stopping early destroys the socket.
import { createParser } from 'eventsource-parser';
import { networkError, type UpstreamError } from './errors.ts';
import type { Pool } from './pool.ts';

export interface EventStreamRequest {
  url: string;
  headers: Record<string, string>;
  body: unknown;
  signal?: AbortSignal;
  /** turns the provider's error answer into an UpstreamError */
  httpError(status: number, body: string, headers: Record<string, string | string[] | undefined>): UpstreamError;
}

// One SSE event larger than this is a broken upstream, not a long answer.
const MAX_EVENT_BYTES = 4 * 1024 * 1024;
const MAX_ERROR_BODY = 64 * 1024;

export async function* postEventStream(pool: Pool, req: EventStreamRequest): AsyncGenerator<string> {
  const url = new URL(req.url);
  let res;
  try {
    res = await pool.dispatcher.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...req.headers },
      body: JSON.stringify(req.body),
      signal: req.signal,
    });
  } catch (err) {
    if (req.signal?.aborted) throw err;
    throw networkError(err, req.url);
  }
  if (res.statusCode < 200 || res.statusCode >= 300) {
    const text = await readCapped(res.body, MAX_ERROR_BODY).catch(() => '');
    throw req.httpError(res.statusCode, text, res.headers);
  }

  const events: string[] = [];
  let parseError: Error | undefined;
  const parser = createParser({
    onEvent: (e) => events.push(e.data),
    onError: (e) => {
      if (e.type === 'max-buffer-size-exceeded') parseError = e;
    },
    maxBufferSize: MAX_EVENT_BYTES,
  });
  const decoder = new TextDecoder(); // stream mode: a UTF-8 sequence split across chunks stays whole
  for await (const chunk of res.body) {
    parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
    if (parseError) throw parseError;
    for (let i = 0; i < events.length; i++) yield events[i]!;
    events.length = 0;
  }
  parser.feed(decoder.decode());
  for (const e of events) yield e;
}

async function readCapped(body: AsyncIterable<Buffer>, max: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    parts.push(chunk);
    size += chunk.length;
    if (size >= max) break;
  }
  return Buffer.concat(parts).subarray(0, max).toString('utf8');
}
