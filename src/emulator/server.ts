// The upstream emulator: a plain node:http server (its route table in router.ts, which says
// why not Fastify) speaking OpenAI chat.completions and Zhipu GLM (/api/paas/v4) streaming,
// with the seed's latency profiles and injectable faults, so tests and the benchmark need no
// real provider. `tls` serves HTTPS with a self-signed certificate made at start; `rttMs`
// puts a network round trip in front.
//
//   POST …/chat/completions        openai format; zhipu when the path has /api/paas/v4/
//   POST …/v1/messages             Anthropic's Messages API (anthropic.ts), its prompt cache per x-api-key
//   POST …/embeddings              OpenAI embeddings (embeddings.ts); `~embed_ms=` delays the answer
//   GET  …/models                  OpenAI model list
//   GET  /_emulator/stats          what it has seen: connections accepted, requests, bytes streamed and the
//                                  waits for a slow reader (drain_waits, streams_waiting: its backpressure)
//   HEAD anything, GET anything    200 (HEAD pre-warms keep-alive connections)
//
// Per-request options are `/~key=value` path segments before the format path:
// text, first_token_ms, tokens_per_s, jitter, seed, fault (see faults.ts), fail_times,
// tool_calls (JSON array of {name, arguments}), context_tokens (the model's window, see context.ts),
// repeat (say the text N times over), extraction (how memory-extraction requests are answered,
// see extraction.ts), prefill_ms_per_token and cached_ms_per_token (the first token's wait per
// prompt token, see profiles.ts), cache=off (no prompt cache for this request).
// Prompt caching: every chat prompt is served from and stored in a prefix cache (prefix-cache.ts)
// keyed per API key and model, with the provider's rules (OpenAI and Zhipu: from 1,024 tokens in
// 128-token blocks; DeepSeek models: 64-token units); the cached tokens shorten the first token's
// wait (profiles.ts) and are reported in usage (formats.ts).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { completionTokens, planTurn } from './answer.ts';
import { answerMessages } from './anthropic.ts';
import { createAnthropicCache } from './anthropic-cache.ts';
import type { Turn } from './turn.ts';
import { contextWindow } from './context.ts';
import { embeddingsBody, parseEmbeddingsRequest } from './embeddings.ts';
import { errorResponse, type ErrorKind } from './errors.ts';
import { createFaultGate, HTTP_FAULTS, type Fault } from './faults.ts';
import { completionBody, finishReasonFor, newIdent, type Format, type Ident } from './formats.ts';
import { bearer, checkZhipuAuth, zhipuKeyId } from './jwt.ts';
import { startRelay, type Relay } from './network.ts';
import type { RoutedPath } from './options.ts';
import { anyPath, createRouter, endingWith, exactly, type Handler, type Route } from './router.ts';
import { readBody } from './body.ts';
import { blockEnds, DEEPSEEK_RULES, OPENAI_RULES, PrefixCache, type PrefixCacheOptions } from './prefix-cache.ts';
import { pacingFor, type Pacing, type ProfileName, type PromptCount } from './profiles.ts';
import { promptTokenIds } from './prompt-tokens.ts';
import { dropConnection, planStream, playStream, untilAborted } from './stream.ts';
import { selfSignedCertificate, type Certificate } from './tls.ts';
import { newMeter, type WriteMeter } from './writer.ts';

export type { ProfileName } from './profiles.ts';

export interface EmulatorOptions {
  port?: number;
  host?: string;
  profile?: ProfileName;
  /** `id.secret` keys; a Zhipu request must carry one verbatim or a JWT signed with one. Absent = any bearer. */
  zhipuKeys?: string[];
  /** accepted OpenAI keys; absent = any non-empty bearer */
  openaiKeys?: string[];
  /** accepted Anthropic keys (`x-api-key`); absent = any non-empty key */
  anthropicKeys?: string[];
  /** HTTPS: `true` makes a self-signed certificate at start (see `Emulator.ca`) */
  tls?: boolean | Certificate;
  /** a network round-trip time, paid per round trip, the TCP and TLS handshakes included (network.ts) */
  rttMs?: number;
  /** the prompt cache's TTL and size (defaults: 10 min idle, 100,000 blocks) */
  prefixCache?: PrefixCacheOptions;
}

export interface RecordedRequest {
  path: string;
  method: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  options: Record<string, string>;
  format: Format;
  jwtValid?: boolean;
  receivedAt: number;
  closedAt?: number;
  /** a streamed answer: bytes written so far and the waits for the client to read (its backpressure) */
  written?: WriteMeter;
  /** a chat request that was answered: its prompt tokens, and those the prefix cache served */
  prompt?: PromptCount;
}

export interface Emulator {
  url: string;
  port: number;
  /** with `tls`: the certificate (PEM) a client must trust, e.g. through NODE_EXTRA_CA_CERTS */
  ca?: string;
  requests: RecordedRequest[];
  /** the `/embeddings` requests, apart from the chat ones */
  embeddings: RecordedRequest[];
  /** TCP connections accepted so far (a client warming its pool opens one before any request) */
  readonly connections: number;
  close(): Promise<void>;
}

interface ChatBody {
  model?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown };
  max_tokens?: unknown;
  tools?: unknown;
  messages: Array<{ role?: unknown; content?: unknown; reasoning_content?: unknown }>;
  thinking?: { type?: unknown };
}
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'glm-4', 'glm-4-flash', 'glm-4.5', 'deepseek-chat', 'deepseek-reasoner'];

/** The emulator's routes: the three POSTs it answers (handed in), and what a client may GET. */
function emulatorRoutes(profile: string, stats: () => object, post: { chat: Handler; messages: Handler; embeddings: Handler }): Route[] {
  return [
    { method: 'POST', path: endingWith('/chat/completions'), handle: post.chat },
    { method: 'POST', path: endingWith('/v1/messages'), handle: post.messages },
    { method: 'POST', path: endingWith('/embeddings'), handle: post.embeddings },
    // HEAD pre-warms keep-alive connections
    { method: 'HEAD', path: anyPath, handle: (_req, res) => void res.writeHead(200).end() },
    { method: 'GET', path: exactly('/_emulator/stats'), handle: (_req, res) => sendJson(res, 200, stats()) },
    {
      method: 'GET',
      path: endingWith('/models'),
      handle: (_req, res) => {
        const created = Math.floor(Date.now() / 1000);
        sendJson(res, 200, { object: 'list', data: MODELS.map((id) => ({ id, object: 'model', created, owned_by: 'system' })) });
      },
    },
    { method: 'GET', path: anyPath, handle: (_req, res) => sendJson(res, 200, { emulator: 'agentmem', profile }) },
  ];
}

/** Any other path: the OpenAI format's 404. */
const notFound: Handler = (req, res, { path }) => {
  req.resume();
  const e = errorResponse('openai', 'not_found', { method: req.method, path });
  res.writeHead(e.status, e.headers).end(e.body);
};

/** What an emulator has seen, and the backpressure its streamed answers met (writes waiting for the client to read). */
function emulatorStats(requests: RecordedRequest[], embeddings: number, connections: number, prefixCache: PrefixCache) {
  const meters = requests.flatMap((r) => (r.written ? [r.written] : []));
  const sum = (f: (m: WriteMeter) => number) => meters.reduce((n, m) => n + f(m), 0);
  return {
    connections,
    requests: requests.length,
    embeddings,
    bytes_written: sum((m) => m.bytes),
    drain_waits: sum((m) => m.drainWaits),
    drain_wait_ms: Math.round(sum((m) => m.drainMs)),
    streams_waiting: sum((m) => (m.waiting ? 1 : 0)),
    prefix_cache: prefixCache.stats(),
    streams: requests.flatMap((r) =>
      r.written ? [{ bytes_written: r.written.bytes, drain_waits: r.written.drainWaits, waiting: r.written.waiting, open: r.closedAt === undefined }] : [],
    ),
  };
}

export async function startEmulator(opts: EmulatorOptions): Promise<Emulator> {
  const profile = opts.profile ?? 'instant';
  const requests: RecordedRequest[] = [];
  const embeddingRequests: RecordedRequest[] = [];
  const faultFor = createFaultGate();
  const anthropicCache = createAnthropicCache();
  const prefixCache = new PrefixCache(opts.prefixCache);
  let seq = 0;

  /** A chat or embeddings request, recorded as it arrives (its body once read). */
  const record = (into: RecordedRequest[], req: IncomingMessage, { path, options }: RoutedPath): RecordedRequest => {
    const format: Format = path.endsWith('/v1/messages') ? 'anthropic' : path.includes('/api/paas/v4/') ? 'zhipu' : 'openai';
    const r: RecordedRequest = { path, method: 'POST', headers: req.headers, body: undefined, options, format, receivedAt: Date.now() };
    into.push(r);
    return r;
  };
  /** A failure before the answer began is the format's server error; after, the connection is cut. */
  const failed = (res: ServerResponse, format: Format) => (err: unknown) => {
    if (!res.headersSent) sendError(res, format, 'server_error');
    else res.destroy(err as Error);
  };
  const stats = () => emulatorStats(requests, embeddingRequests.length, connections, prefixCache);
  const handle = createRouter(
    emulatorRoutes(profile, stats, {
      chat: (req, res, at) => {
        const r = record(requests, req, at);
        chat(req, res, r, seq++).catch(failed(res, r.format));
      },
      messages: (req, res, at) => {
        const r = record(requests, req, at);
        messages(req, res, r, seq++).catch(failed(res, r.format));
      },
      embeddings: (req, res, at) =>
        void embed(req, res, record(embeddingRequests, req, at)).catch(() => (res.headersSent ? res.destroy() : sendError(res, 'openai', 'server_error'))),
    }),
    notFound,
  );
  const certificate = opts.tls === true ? await selfSignedCertificate(opts.host) : opts.tls || undefined;
  const serverOptions = { noDelay: true, keepAliveTimeout: 60_000 };
  const server = certificate ? createHttpsServer({ ...serverOptions, ...certificate }, handle) : createServer(serverOptions, handle);
  let connections = 0;
  server.on('connection', (socket) => {
    connections++;
    socket.setNoDelay(true);
  });

  /**
   * What every POST does first: one signal, fired when the response or the connection
   * closes; the body read and parsed into the record; the key checked. Undefined when it
   * has already been answered (or the client is gone).
   */
  async function receive(req: IncomingMessage, res: ServerResponse, record: RecordedRequest): Promise<AbortSignal | undefined> {
    const ac = new AbortController();
    res.once('close', () => {
      record.closedAt = Date.now();
      ac.abort();
    });
    const raw = await readBody(req).catch(() => undefined);
    if (ac.signal.aborted) return undefined;
    if (raw === undefined) return void res.destroy(); // over MAX_BODY_BYTES, or the connection failed
    try {
      record.body = JSON.parse(raw);
    } catch {
      return void sendError(res, record.format, 'bad_json');
    }
    const authError = authorize(record, opts);
    if (authError) return void sendError(res, record.format, authError, { key: bearer(headerOf(req, 'authorization')) });
    return ac.signal;
  }

  async function chat(req: IncomingMessage, res: ServerResponse, record: RecordedRequest, n: number): Promise<void> {
    const { format, options } = record;
    const signal = await receive(req, res, record);
    if (!signal) return;
    const body = record.body as ChatBody;
    if (!body || typeof body !== 'object' || !Array.isArray(body.messages) || body.messages.length === 0) {
      return sendError(res, format, 'bad_messages');
    }

    const fault = faultFor(options);
    const httpFault = fault && HTTP_FAULTS[fault];
    if (httpFault) return sendError(res, format, httpFault, { model: typeof body.model === 'string' ? body.model : undefined });
    if (fault === 'hang_before_first_token') return untilAborted(signal);
    // A prompt (plus the completion it reserves) larger than the model's window: refused, as providers do.
    const window = contextWindow(body.model, options);
    const ids = promptTokenIds(body);
    const needed = ids.length;
    const completion = typeof body.max_tokens === 'number' && body.max_tokens > 0 ? body.max_tokens : 0;
    if (needed + completion > window) return sendError(res, format, 'context_length', { window, prompt: needed, completion });

    // DeepSeek refuses a conversation that sends reasoning back (it is for display only).
    if (format === 'openai' && String(body.model).startsWith('deepseek') && body.messages.some((m) => m && typeof m === 'object' && 'reasoning_content' in m)) {
      return sendError(res, format, 'reasoning_in_input');
    }
    const ident = newIdent(format, body);
    const turn = planTurn(body.messages, options, format, body);
    ident.reasoning = turn.reasoning.length;
    if (options.reasoning_field === 'reasoning') ident.reasoningField = 'reasoning';
    // The prompt's prefill: what the prefix cache serves is (nearly) free, the rest is paid per token.
    const rules = String(body.model).startsWith('deepseek') ? DEEPSEEK_RULES : OPENAI_RULES;
    const cached = options.cache === 'off' ? 0 : prefixCache.serve(cacheScope(record, ident.model), ids, blockEnds(ids.length, rules));
    const prompt: PromptCount = { tokens: ids.length, cached };
    record.prompt = prompt;
    const pacing = pacingFor(profile, options, n, prompt);

    if (body.stream !== true) return answerJson(res, ident, turn, prompt, pacing, fault, signal);

    res.writeHead(200, {
      'content-type': format === 'zhipu' ? 'text/event-stream;charset=UTF-8' : 'text/event-stream; charset=utf-8',
      // (no explicit Connection header: node sets keep-alive itself, and honours a client's `close`)
      'cache-control': 'no-cache',
      ...(format === 'openai' ? { 'x-request-id': `req_${ident.id.slice(-24)}`, 'openai-processing-ms': '1' } : {}),
    });
    res.flushHeaders();
    const mode = fault === 'split_utf8' || fault === 'drip' ? fault : 'whole';
    record.written = newMeter();
    await playStream(res, planStream(ident, turn, prompt, pacing, fault), mode, signal, record.written);
  }

  async function messages(req: IncomingMessage, res: ServerResponse, record: RecordedRequest, n: number): Promise<void> {
    const signal = await receive(req, res, record);
    if (!signal) return;
    await answerMessages({
      res,
      body: record.body,
      headers: record.headers,
      options: record.options,
      apiKey: headerOf(record, 'x-api-key') ?? '',
      fault: faultFor(record.options),
      // the first token waits for the prefill of what the cache did not serve (a write is prefilled too)
      pacing: (u) => {
        record.prompt = { tokens: u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens, cached: u.cache_read_input_tokens };
        return pacingFor(profile, record.options, n, record.prompt);
      },
      cache: anthropicCache,
      signal,
      meter: (m) => (record.written = m),
    });
  }

  async function embed(req: IncomingMessage, res: ServerResponse, record: RecordedRequest): Promise<void> {
    const signal = await receive(req, res, record);
    if (!signal) return;
    const parsed = parseEmbeddingsRequest(record.body);
    if (!parsed.ok) return void res.writeHead(parsed.status, { 'content-type': 'application/json; charset=utf-8' }).end(parsed.body);
    const delay = Number(record.options.embed_ms);
    if (delay > 0) await sleep(delay, undefined, { signal: signal }).catch(() => {});
    if (signal.aborted) return;
    res.writeHead(200, { 'content-type': 'application/json' }).end(embeddingsBody(parsed));
  }

  // With a round-trip time, clients reach the server through the delaying relay only.
  const rtt = opts.rttMs ?? 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (rtt > 0) server.listen(0, '127.0.0.1', () => resolve());
    else server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  let relay: Relay | undefined;
  try {
    if (rtt > 0)
      relay = await startRelay({
        host: opts.host ?? '127.0.0.1',
        port: opts.port ?? 0,
        target: { host: '127.0.0.1', port: (server.address() as AddressInfo).port },
        rttMs: rtt,
      });
  } catch (err) {
    server.close();
    throw err;
  }
  const port = relay?.port ?? (server.address() as AddressInfo).port;
  const host = opts.host && !['0.0.0.0', '::', '127.0.0.1'].includes(opts.host) ? opts.host : '127.0.0.1';

  return {
    url: `${certificate ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    ...(certificate ? { ca: certificate.cert } : {}),
    requests,
    embeddings: embeddingRequests,
    get connections() {
      return connections;
    },
    close: async () => {
      await relay?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

// The non-stream answer: the whole generation time, then one JSON body.
async function answerJson(
  res: ServerResponse,
  ident: Ident,
  turn: Turn,
  prompt: PromptCount,
  pacing: Pacing,
  fault: Fault | undefined,
  signal: AbortSignal,
): Promise<void> {
  const n = completionTokens(turn);
  let wait = pacing.firstTokenMs();
  for (let i = 1; i < n; i++) wait += pacing.gapMs();
  if (wait > 0) {
    try {
      await sleep(wait, undefined, { signal });
    } catch {
      return;
    }
  }
  if (signal.aborted) return;
  if (fault === 'disconnect_mid') return dropConnection(res);
  const finish = finishReasonFor(ident.format, turn.kind === 'tools' ? 'tool_calls' : 'stop');
  const usage = { prompt_tokens: prompt.tokens, completion_tokens: n, total_tokens: prompt.tokens + n, cached_tokens: prompt.cached };
  res.writeHead(200, { 'content-type': ident.format === 'zhipu' ? 'application/json' : 'application/json; charset=utf-8' });
  res.end(completionBody(ident, turn, finish, usage));
}

function authorize(record: RecordedRequest, opts: EmulatorOptions): ErrorKind | undefined {
  if (record.format === 'anthropic') {
    const key = headerOf(record, 'x-api-key');
    if (!key) return 'auth_missing';
    return opts.anthropicKeys && !opts.anthropicKeys.includes(key) ? 'auth_invalid' : undefined;
  }
  const authorization = headerOf(record, 'authorization');
  if (record.format === 'zhipu') {
    const auth = checkZhipuAuth(authorization, opts.zhipuKeys);
    if (auth.jwtValid !== undefined) record.jwtValid = auth.jwtValid;
    return auth.ok ? undefined : auth.reason === 'missing' ? 'auth_missing' : auth.reason === 'expired' ? 'auth_expired' : 'auth_invalid';
  }
  const key = bearer(authorization);
  if (!key) return 'auth_missing';
  return opts.openaiKeys && !opts.openaiKeys.includes(key) ? 'auth_invalid' : undefined;
}

/** Whose cache a prompt may hit: the same API key (a Zhipu JWT by the key id it was signed for) and model. */
function cacheScope(record: RecordedRequest, model: string): string {
  const token = bearer(headerOf(record, 'authorization')) ?? '';
  const key = (record.format === 'zhipu' && zhipuKeyId(token)) || token;
  return `${record.format}\n${key}\n${model}`;
}

function headerOf(x: { headers: Record<string, string | string[] | undefined> }, name: string): string | undefined {
  const v = x.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sendError(res: ServerResponse, format: Format, kind: ErrorKind, ctx: Parameters<typeof errorResponse>[2] = {}): void {
  const e = errorResponse(format, kind, ctx);
  res.writeHead(e.status, e.headers).end(e.body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}
