// The upstream transport: POST a JSON body through the shared pool and yield the
// `data` of each server-sent event, parsed by eventsource-parser with a capped buffer.
// A non-2xx answer or a failed connection throws (the caller may retry); a body
// that breaks later throws from the iteration.
//
// The socket goes back to the pool only once undici has read the response to its end
// (the chunked terminator): a body destroyed before that, or an abort that reaches undici
// before that, destroys the connection, and the next turn pays a new TCP + TLS handshake.
// So: a caller that stops at the stream's end marker (`[DONE]`) leaves the last bytes to be
// read in the background; the caller's signal stops the request only while the answer
// is still coming; stopping early anywhere else (mid-answer) does destroy the socket.
import { createParser } from 'eventsource-parser';
import { linkAbort } from '../abort.ts';
import type { Dispatcher } from 'undici';
import { networkError, type UpstreamError } from './errors.ts';
import type { UpstreamPool } from './pool.ts';

export interface EventStreamRequest {
  url: string;
  headers: Record<string, string>;
  body: unknown;
  signal?: AbortSignal;
  /** the event that ends the stream (`[DONE]`): stopping after it keeps the connection */
  isEnd?(data: string): boolean;
  /** turns the provider's error answer into an UpstreamError */
  httpError(status: number, body: string, headers: Record<string, string | string[] | undefined>): UpstreamError;
}

// One SSE event larger than this is a broken upstream, not a long answer.
const MAX_EVENT_BYTES = 4 * 1024 * 1024;
const MAX_ERROR_BODY = 64 * 1024;
// What may still follow the end marker (the chunked terminator, a stray event or two):
// more than this, or later than this, and the connection is not worth keeping.
const DRAIN_BYTES = 64 * 1024;
const DRAIN_MS = 2_000;

export async function* postEventStream(pool: UpstreamPool, req: EventStreamRequest): AsyncGenerator<string> {
  const url = new URL(req.url);
  // undici gets a signal of its own, fired by the caller's only until the answer is in.
  const upstream = linkAbort(req.signal);
  let res;
  try {
    try {
      res = await pool.dispatcher.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...req.headers },
        body: JSON.stringify(req.body),
        signal: upstream.signal,
      });
    } catch (err) {
      if (req.signal?.aborted) throw err;
      throw networkError(err, req.url);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const text = await readCapped(res.body, MAX_ERROR_BODY).catch(() => '');
      throw req.httpError(res.statusCode, text, res.headers);
    }
    yield* events(res.body, req.isEnd);
  } finally {
    upstream.release();
  }
}

/** The events of a body; on an early stop, drains it (after the end marker) or destroys it. */
async function* events(body: Dispatcher.ResponseData['body'], isEnd?: (data: string) => boolean): AsyncGenerator<string> {
  const queued: string[] = [];
  let parseError: Error | undefined;
  const parser = createParser({
    onEvent: (e) => queued.push(e.data),
    onError: (e) => {
      if (e.type === 'max-buffer-size-exceeded') parseError = e;
    },
    maxBufferSize: MAX_EVENT_BYTES,
  });
  const decoder = new TextDecoder(); // stream mode: a UTF-8 sequence split across chunks stays whole
  let ended = false;
  let sawEnd = false;
  try {
    // destroyOnReturn: false, or a consumer stopping at [DONE] would destroy the socket
    for await (const chunk of body.iterator({ destroyOnReturn: false })) {
      parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
      if (parseError) throw parseError;
      for (let i = 0; i < queued.length; i++) {
        if (isEnd?.(queued[i]!)) sawEnd = true;
        yield queued[i]!;
      }
      queued.length = 0;
    }
    ended = true;
    parser.feed(decoder.decode());
    for (const e of queued) yield e;
  } finally {
    if (ended) {
      // read to its end: the connection is already back in the pool
    } else if (sawEnd) {
      body.dump({ limit: DRAIN_BYTES, signal: AbortSignal.timeout(DRAIN_MS) }).catch(() => {});
    } else {
      // mid-answer: the connection cannot be reused; nobody reads the body's error any more
      body.on('error', () => {}).destroy();
    }
  }
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
