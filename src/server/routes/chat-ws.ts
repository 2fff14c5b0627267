// WebSocket chat at /agents/:id/chat/ws: the same events as native SSE, one JSON
// object per message (encoders/ws.ts), several turns on one socket.
//
// Client → server:  {"type":"auth","api_key"}           (when no Authorization header was sent:
//                                                        browsers cannot set headers on a WebSocket)
//                   {"type":"chat","message","user_id"?,"session_id"?}
//                   {"type":"cancel"}                    stops the running turn; its partial answer
//                                                        is stored incomplete
// Server → client:  AgentEvents; a turn ends with `done` or `error` (code `cancelled` after a cancel).
// A bad message gets an `error` event and the socket stays open; a bad key closes it with
// 4401, an unknown agent with 4404, an agent the key may not use with 4403.
// Closing the socket aborts the running turn.
//
// Before its key is known, a socket may send one thing: the auth message, at most
// PRE_AUTH_MAX_BYTES (bigger: closed with 1009 from the frame's header, unread), within
// AUTH_TIMEOUT_MS; anything else closes it with 4401. What follows the auth message
// waits, unread, until the key is checked. Rate limits (rate-limit.ts): the key's
// confirmation counts one request (over the limit: closed with 1013), each turn one
// (over the limit: an `error` event `rate_limited`, retryable, with `retry_after`
// seconds; the socket stays).
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { z } from 'zod';
import type { ReadyAgent } from '../../agent/cache.ts';
import type { ErrorEvent } from '../../agent/events.ts';
import { shuttingDown } from '../../agent/stop.ts';
import { createTimings } from '../../trace/timings.ts';
import type { Principal } from '../auth.ts';
import { knownError } from '../client-error.ts';
import type { ServerContext } from '../context.ts';
import { wsSink } from '../encoders/ws.ts';
import { flowLimits } from '../encoders/backpressure.ts';
import { AppError, errorBody, type ErrorCode } from '../errors.ts';
import { jsonInputProblem } from '../json-input.ts';
import { RateLimitError, type RateLimiter } from '../rate-limit.ts';
import { chatBody } from './chat.ts';
import { runTurn, scopeTurn, usableAgent } from './turn.ts';

const authMessage = z.strictObject({ type: z.literal('auth'), api_key: z.string().min(1).max(500) });
const clientMessage = z.discriminatedUnion('type', [chatBody.extend({ type: z.literal('chat') }), z.strictObject({ type: z.literal('cancel') }), authMessage]);
type ClientMessage = z.output<typeof clientMessage>;

/** How long a socket without an Authorization header may take to send its auth message. */
const AUTH_TIMEOUT_MS = 5_000;
/** The largest message a socket may send before its key is known (an auth message is ~100 bytes). */
const PRE_AUTH_MAX_BYTES = 4096;
/** Messages sent after the auth message, held unread until the key is checked. */
const HELD_MAX = 4;
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_TOO_BIG = 1009;
const CLOSE_POLICY = 1008;
const CLOSE_TRY_LATER = 1013;
/** What a refused key or agent closes the socket with. */
const closeFor: Partial<Record<ErrorCode, number>> = { unauthorized: CLOSE_UNAUTHORIZED, not_found: 4404, forbidden: 4403 };

export const chatWsRoutes =
  (ctx: ServerContext, limiter: RateLimiter | undefined): FastifyPluginAsync =>
  async (app) => {
    app.route({
      method: 'GET',
      url: '/agents/:id/chat/ws',
      schema: { hide: true },
      config: { access: 'scoped', resource: 'agent', keyInFirstMessage: true },
      // A header-authenticated upgrade is checked before it happens (the key by the auth hook,
      // app.ts): a bad key is a plain 401, another org's agent a 404.
      onRequest: async (req) => {
        if (req.headers.authorization !== undefined) await usableAgent(ctx, req.principal, agentIdOf(req), req.timings);
      },
      handler: async (_req, reply) => reply.code(426).header('upgrade', 'websocket').send(errorBody('bad_request', 'Connect with a WebSocket.')),
      wsHandler: (socket, req) => serve(ctx, limiter, socket, req),
    });
  };

const agentIdOf = (req: FastifyRequest) => (req.params as { id: string }).id;

/** Sockets running a turn: a shutdown lets them finish it (then closes them), and closes the others at once. */
const busy = new WeakSet<WebSocket>();
const CLOSE_GOING_AWAY = 1001;

export function closeIdleSockets(clients: Iterable<WebSocket>): void {
  for (const socket of clients) if (!busy.has(socket)) socket.close(CLOSE_GOING_AWAY, 'shutting_down');
}

/**
 * ws has no per-socket message limit: its receiver's (ws 8) is lowered while the socket is
 * unauthenticated, so a bigger frame is refused (1009) from its header, before it is buffered.
 * The size check in `serve` holds without it.
 */
function setMaxPayload(socket: WebSocket, bytes: number): void {
  const receiver = (socket as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver;
  if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
}

function serve(ctx: ServerContext, limiter: RateLimiter | undefined, socket: WebSocket, req: FastifyRequest): void {
  const agentId = agentIdOf(req);
  const sink = wsSink(socket, flowLimits(ctx.config));
  // The socket's own refusals, in the shape of a turn's error event (the native encoder's is the event itself).
  const refuse = (event: ErrorEvent<ErrorCode>, closeWith?: number) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(event));
    if (closeWith) socket.close(closeWith, event.code);
  };
  const fail = (code: ErrorCode, message: string, closeWith?: number) => refuse({ chunk_type: 'error', code, message, retryable: false }, closeWith);
  const limited = (err: RateLimitError, closeWith?: number) =>
    refuse({ chunk_type: 'error', code: err.code, message: err.message, retryable: true, retry_after: err.retryAfterSeconds }, closeWith);

  // The key is re-checked at each turn (a cache hit: one hash), so a revoked key stops at once.
  let authorization: string | undefined = req.headers.authorization;
  /** none: waiting for the auth message; checking: it came, the key is being checked; open: the key is known */
  let state: 'none' | 'checking' | 'open' = authorization ? 'open' : 'none';
  const held: Array<{ data: RawData; isBinary: boolean }> = [];
  let running: AbortController | undefined;
  const authTimer = authorization ? undefined : setTimeout(() => fail('unauthorized', 'No auth message arrived in time.', CLOSE_UNAUTHORIZED), AUTH_TIMEOUT_MS);
  authTimer?.unref();
  if (state === 'none') setMaxPayload(socket, PRE_AUTH_MAX_BYTES);

  /** The principal and agent for a turn (or for the auth message), counted against the rate limit; or an error event and a closed socket. */
  async function authorize(timings = createTimings()): Promise<{ agent: ReadyAgent; principal: Principal } | undefined> {
    try {
      const principal = await ctx.auth.authenticate(authorization).catch((err) => {
        throw err instanceof AppError ? err : new AppError('unauthorized', 'A valid API key is required.');
      });
      timings.mark('auth');
      await limiter?.take(principal);
      return { principal, agent: await usableAgent(ctx, principal, agentId, timings) };
    } catch (err) {
      if (!(err instanceof AppError && closeFor[err.code])) throw err;
      fail(err.code, err.message, closeFor[err.code]);
      return undefined;
    }
  }

  /** The auth message: the only one a socket may send before its key is known, and only small. */
  function authenticate(data: RawData, isBinary: boolean): void {
    if (byteLength(data) > PRE_AUTH_MAX_BYTES)
      return fail('payload_too_large', `Before authenticating, a message may be at most ${PRE_AUTH_MAX_BYTES} bytes.`, CLOSE_TOO_BIG);
    const auth = isBinary ? undefined : parseAuth(data.toString());
    if (!auth) return fail('unauthorized', 'Authenticate first: {"type":"auth","api_key":"…"}.', CLOSE_UNAUTHORIZED);
    clearTimeout(authTimer);
    authorization = `Bearer ${auth.api_key}`;
    state = 'checking';
    setMaxPayload(socket, ctx.config.bodyLimit);
    authorize()
      .then((ok) => {
        if (!ok) return;
        state = 'open';
        for (const m of held.splice(0)) onMessage(m.data, m.isBinary);
      })
      .catch((err) => {
        if (err instanceof RateLimitError) return limited(err, CLOSE_TRY_LATER);
        const e = knownError(err);
        if (e) return fail(e.code, e.message, CLOSE_POLICY);
        req.log.error({ err }, 'websocket auth failed');
        fail('internal_error', 'The key could not be checked.', CLOSE_POLICY);
      });
  }

  async function turn(msg: Extract<ClientMessage, { type: 'chat' }>, controller: AbortController) {
    const timings = createTimings();
    try {
      const authorized = await authorize(timings);
      if (!authorized) return;
      const { agent } = authorized;
      if (controller.signal.aborted) return sink.emit({ chunk_type: 'error', code: 'cancelled', message: 'The turn was cancelled.', retryable: false });
      const userId = await scopeTurn(ctx, authorized.principal, agent, msg.user_id, msg.session_id);
      const input = { orgId: agent.org_id, message: msg.message, userId, sessionId: msg.session_id };
      const result = await runTurn(ctx, { route: 'ws', timings, log: req.log, agent, input }, sink, controller.signal);
      if (result.aborted)
        sink.emit({ chunk_type: 'error', code: 'cancelled', message: 'The turn was cancelled.', retryable: false, message_id: result.messageId });
    } catch (err) {
      const e = knownError(err);
      if (e instanceof RateLimitError) limited(e);
      else if (e) fail(e.code, e.message);
      else {
        req.log.error({ err }, 'websocket chat failed');
        fail('internal_error', 'The run failed unexpectedly.');
      }
    } finally {
      if (running === controller) running = undefined;
      busy.delete(socket);
      if (sink.stalled)
        socket.terminate(); // its unread buffer goes with it
      else if (ctx.live.draining) socket.close(CLOSE_GOING_AWAY, 'shutting_down');
    }
  }

  function onMessage(data: RawData, isBinary: boolean): void {
    if (state === 'none') return authenticate(data, isBinary);
    if (state === 'checking') {
      if (held.length >= HELD_MAX) return fail('bad_request', `At most ${HELD_MAX} messages may wait while the key is checked.`, CLOSE_POLICY);
      held.push({ data, isBinary });
      return;
    }
    let msg: ClientMessage;
    try {
      if (isBinary) return fail('bad_request', 'Send JSON as text messages.');
      const text = data.toString();
      const value: unknown = JSON.parse(text);
      // What the HTTP body parser refuses (NUL, lone surrogates, deep nesting) is refused here too.
      const problem = jsonInputProblem(value, text);
      if (problem) return fail('bad_request', problem);
      msg = clientMessage.parse(value);
    } catch (err) {
      if (err instanceof z.ZodError) return fail('validation_error', err.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; '));
      return fail('invalid_json', 'The message is not valid JSON.');
    }
    switch (msg.type) {
      case 'cancel':
        running?.abort(); // nothing running: the turn already ended, nothing to do
        return;
      case 'auth':
        return fail('bad_request', 'This socket is already authenticated.');
      case 'chat': {
        if (running) return fail('conflict', 'A turn is already running on this socket: wait for done, or cancel it.');
        if (ctx.live.draining) {
          sink.emit({ chunk_type: 'error', ...shuttingDown().toInfo() });
          return socket.close(CLOSE_GOING_AWAY, 'shutting_down');
        }
        busy.add(socket);
        const controller = new AbortController();
        running = controller;
        void turn(msg, controller);
        return;
      }
    }
  }

  socket.on('message', onMessage);
  socket.on('close', () => {
    clearTimeout(authTimer);
    held.length = 0;
    running?.abort();
  });
}

function byteLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

/** The auth message, or undefined for anything else (nothing more is parsed before the key is known). */
function parseAuth(text: string): z.output<typeof authMessage> | undefined {
  try {
    const parsed = authMessage.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
