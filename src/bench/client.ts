// The measuring client: one streamed POST, timed on this thread's monotonic clock.
// Runs inside the client worker (see worker.ts) so its parsing never sits on the
// server's event loop. SSE is parsed with eventsource-parser, the same way for both
// sides; only what counts as "content" differs.
import { createParser } from 'eventsource-parser';
import type { Dispatcher } from 'undici';
import type { TimingsJSON } from '../trace/timings.ts';

/** direct: the emulator's OpenAI chunks; through and floor: agentmem's native frames */
export type Target = 'direct' | 'through' | 'floor';

export interface Sample {
  ok: boolean;
  error?: string;
  /** request start → first content frame, ms */
  ttfb?: number;
  /** request start → end of the body, ms */
  total?: number;
  /** content frames / bytes seen */
  frames: number;
  bytes: number;
  /** times between consecutive content frames, ms (only when asked) */
  gaps?: number[];
  /** through: the `done` event's stage timings */
  timings?: TimingsJSON;
  /** through: the session the turn ran in */
  sessionId?: string;
}

export interface StreamRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  target: Target;
  recordGaps: boolean;
}

export async function streamOnce(dispatcher: Dispatcher, req: StreamRequest): Promise<Sample> {
  const url = new URL(req.url);
  const sample: Sample = { ok: false, frames: 0, bytes: 0 };
  const gaps: number[] | undefined = req.recordGaps ? [] : undefined;
  let last = 0;
  let failure: string | undefined;
  let finished = false;
  const t0 = performance.now();

  const onData = (data: string) => {
    if (req.target === 'direct') {
      if (data === '[DONE]') return void (finished = true);
      const content = JSON.parse(data)?.choices?.[0]?.delta?.content;
      if (typeof content === 'string' && content.length > 0) onContent(content);
      return;
    }
    const event = JSON.parse(data);
    switch (event.chunk_type) {
      case 'content':
        return onContent(event.content);
      case 'start':
        sample.sessionId = event.session_id;
        return;
      case 'done':
        sample.timings = event.timings;
        finished = true;
        return;
      case 'error':
        failure = `error event: ${event.code}`;
    }
  };
  const onContent = (content: string) => {
    const now = performance.now();
    if (sample.frames === 0) sample.ttfb = now - t0;
    else gaps?.push(now - last);
    last = now;
    sample.frames++;
    sample.bytes += Buffer.byteLength(content);
  };

  try {
    const res = await dispatcher.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...req.headers },
      body: req.body,
    });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      return { ...sample, error: `HTTP ${res.statusCode}: ${text.slice(0, 200)}` };
    }
    const parser = createParser({ onEvent: (e) => onData(e.data), maxBufferSize: 1 << 20 });
    const decoder = new TextDecoder(); // stream mode keeps a UTF-8 sequence split across chunks whole
    for await (const chunk of res.body) parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
    parser.feed(decoder.decode());
    sample.total = performance.now() - t0;
  } catch (err) {
    return { ...sample, error: (err as Error).message };
  }
  if (gaps) sample.gaps = gaps;
  if (failure) sample.error = failure;
  else if (!finished) sample.error = 'stream ended without done';
  else if (sample.frames === 0) sample.error = 'no content';
  sample.ok = !sample.error;
  return sample;
}
