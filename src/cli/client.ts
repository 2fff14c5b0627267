// The HTTP client behind the API subcommands (chat, agents, memories): global fetch,
// the server's `{error: {code, message}}` as an ApiError, SSE read with eventsource-parser.
import { Command, Option } from 'commander';
import { EventSourceParserStream } from 'eventsource-parser/stream';

export interface ClientOptions {
  url: string;
  key?: string;
}

/** An answer the server refused (its error JSON), or a failure to reach it. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** One event of an SSE answer, its data parsed (and taken to be a `T`: the route's event type). */
export interface SseEvent<T = unknown> {
  id?: string;
  data: T;
}

export interface Client {
  readonly url: string;
  /** the answer's JSON, taken to be a `T` (the route's answer type) */
  json<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** POSTs (or GETs, without a body) and reads the SSE answer, one event at a time */
  stream<T = unknown>(
    method: string,
    path: string,
    body: unknown,
    onEvent: (e: SseEvent<T>) => void,
    opts?: { signal?: AbortSignal; headers?: Record<string, string> },
  ): Promise<void>;
}

/** --url and --key on a subcommand, with their environment defaults. */
export function withConnection(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'agentmem server').env('AGENTMEM_URL').default('http://127.0.0.1:8080'))
    .addOption(new Option('--key <key>', 'API key').env('AGENTMEM_API_KEY'));
}

export function createClient(opts: ClientOptions): Client {
  const base = opts.url.replace(/\/+$/, '');
  const headers = (body: boolean): Record<string, string> => ({
    ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}),
    ...(body ? { 'content-type': 'application/json' } : {}),
  });

  async function send(method: string, path: string, body: unknown, signal?: AbortSignal, extra?: Record<string, string>): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(base + path, {
        method,
        headers: { ...headers(body !== undefined), ...extra },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiError('connection_failed', `cannot reach ${base} (${cause?.code ?? cause?.message ?? (err as Error).message})`);
    }
    if (!res.ok) throw await toApiError(res);
    return res;
  }

  return {
    url: base,
    async json<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await send(method, path, body);
      const text = await res.text();
      return (text ? JSON.parse(text) : undefined) as T;
    },
    async stream<T>(
      method: string,
      path: string,
      body: unknown,
      onEvent: (e: SseEvent<T>) => void,
      opts: { signal?: AbortSignal; headers?: Record<string, string> } = {},
    ) {
      const res = await send(method, path, body, opts.signal, { accept: 'text/event-stream', ...opts.headers });
      if (!res.body) throw new ApiError('protocol_error', 'the server sent no stream');
      const events = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
      for await (const msg of events as unknown as AsyncIterable<{ id?: string; data: string }>) {
        let data: T;
        try {
          data = JSON.parse(msg.data) as T;
        } catch {
          throw new ApiError('protocol_error', `not JSON in the stream: ${msg.data.slice(0, 80)}`);
        }
        onEvent({ id: msg.id, data });
      }
    },
  };
}

async function toApiError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } | string };
    if (body.error && typeof body.error === 'object' && body.error.code) {
      return new ApiError(body.error.code, body.error.message ?? res.statusText, res.status);
    }
  } catch {}
  return new ApiError(`http_${res.status}`, text.slice(0, 200) || res.statusText, res.status);
}

/** `error: <code>: <message>` on stderr, exit code 1. */
export function fail(err: unknown): never {
  if (err instanceof ApiError) process.stderr.write(`error: ${err.code}: ${err.message}\n`);
  else process.stderr.write(`error: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(1);
}

/** Runs an action and turns any failure into `fail`. */
export const guarded =
  <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
  async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (err) {
      fail(err);
    }
  };
