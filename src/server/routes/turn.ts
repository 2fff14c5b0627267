// What every chat surface (native SSE/JSON, OpenAI-compatible, UI stream, WebSocket)
// does around one turn: find the agent and check the key may use it, check the session
// id, fire one AbortSignal when the client leaves, run the turn and record its metrics.
// A streamed turn runs through streamedTurn, a JSON answer through jsonTurn, a WebSocket's
// through runTurn. Errors are answered by client-error.ts.
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import type { AgentEvent, EventSink } from '../../agent/events.ts';
import { recordSpans } from '../../trace/spans.ts';
import type { ReadyAgent } from '../../agent/cache.ts';
import { runChat } from '../../agent/run.ts';
import type { ChatInput, RunResult } from '../../agent/turn-types.ts';
import { ChatInputError } from '../../agent/turn-errors.ts';
import type { Timings } from '../../trace/timings.ts';
import { isScoped, type Principal } from '../auth.ts';
import { failedTurnStatus, setStatus } from '../client-error.ts';
import type { ServerContext } from '../context.ts';
import { actingUser, checkAgent, checkOwner } from '../scope.ts';
import { notFound } from '../errors.ts';
import { isUuid } from '../http.ts';
import type { TurnStream } from '../stream-turn.ts';

/** The org's agent (cached), or undefined: malformed, missing and another org's ids look the same. */
export async function findAgent(ctx: ServerContext, orgId: string, agentId: string, timings: Timings): Promise<ReadyAgent | undefined> {
  // From auth to here: body read and parsed, validated, rate-limited.
  const authEnd = timings.endOf('auth');
  if (authEnd !== undefined) timings.mark('route', authEnd);
  const t0 = performance.now();
  const agent = isUuid(agentId) ? await ctx.agentCache.get(orgId, agentId) : undefined;
  if (agent) timings.mark('agent', t0);
  return agent;
}

/** The org's agent, or a 404. */
export async function loadAgent(ctx: ServerContext, orgId: string, agentId: string, timings: Timings): Promise<ReadyAgent> {
  const agent = await findAgent(ctx, orgId, agentId, timings);
  if (!agent) throw notFound('Agent');
  return agent;
}

/** The org's agent if this key may use it: 404, else 403. */
export async function usableAgent(ctx: ServerContext, p: Principal, agentId: string, timings: Timings): Promise<ReadyAgent> {
  const agent = await loadAgent(ctx, p.org_id, agentId, timings);
  checkAgent(p, agent.id);
  return agent;
}

/**
 * What a key may do in a turn: continue a session that can exist (a malformed id is a 404),
 * use this agent, as its own user, in a session of its own (403 otherwise). Returns the
 * user the turn acts as (a scoped key's, when none is named).
 */
export async function scopeTurn(
  ctx: ServerContext,
  p: Principal,
  agent: ReadyAgent,
  userId: string | undefined,
  sessionId: string | undefined,
): Promise<string | undefined> {
  if (sessionId !== undefined && !isUuid(sessionId)) throw notFound('Session');
  checkAgent(p, agent.id);
  const user = actingUser(p, userId);
  if (isScoped(p) && sessionId !== undefined) {
    const existing = await ctx.history.window(p.org_id, sessionId, 0);
    if (existing) checkOwner(p, existing.session);
  }
  return user;
}

/**
 * One AbortSignal per request, fired when the client goes away before the answer ends,
 * already fired when it left earlier (during auth or while the body was read): the
 * response's 'close' has then come and gone.
 */
export function clientGone(reply: FastifyReply): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) controller.abort();
  };
  reply.raw.once('close', onClose);
  if (reply.raw.destroyed || reply.request.raw.socket?.destroyed) onClose();
  return { signal: controller.signal, release: () => reply.raw.off('close', onClose) };
}

/** Per-stage histograms, first-token latency and the outcome, once the turn has ended. */
function observeTurn(ctx: ServerContext, turn: TurnRequest, result: RunResult | undefined): void {
  const { route, agent, timings } = turn;
  const t = timings.toJSON();
  ctx.metrics.observeTimings(t, { route, provider: agent.providerName, model: agent.model });
  if (t.upstream_ttfb !== undefined) ctx.metrics.observeFirstToken(agent.providerName, result?.model ?? agent.model, t.upstream_ttfb);
  const usage = result?.usage;
  if (usage) ctx.metrics.countPromptTokens(agent.providerName, result?.model ?? agent.model, usage);
  const outcome = !result || result.error ? 'error' : result.aborted ? 'aborted' : 'ok';
  ctx.metrics.countRequest(route, outcome);
  recordSpans('agentmem.chat', timings, {
    'agentmem.route': route,
    'agentmem.agent_id': agent.id,
    'agentmem.outcome': outcome,
    'gen_ai.system': agent.providerName,
    'gen_ai.request.model': agent.model,
    'gen_ai.response.model': result?.model ?? agent.model,
    ...(usage
      ? {
          'gen_ai.usage.input_tokens': usage.prompt_tokens,
          'gen_ai.usage.output_tokens': usage.completion_tokens,
          'gen_ai.usage.cache_read.input_tokens': usage.cached_prompt_tokens,
          // what the provider prefilled this turn: the part of the first token's wait that grows with the prompt
          'agentmem.prompt_tokens_uncached': usage.prompt_tokens - usage.cached_prompt_tokens,
        }
      : {}),
  });
}

export const internalErrorEvent: AgentEvent = { chunk_type: 'error', code: 'internal_error', message: 'The run failed unexpectedly.', retryable: false };

/** One turn as a surface asks for it: where it came from (the metrics' route), its timings and log, the agent and the input. */
export interface TurnRequest {
  route: string;
  timings: Timings;
  /** where a failure inside an opened stream is logged (a request's, or a WebSocket's) */
  log: FastifyBaseLogger;
  agent: ReadyAgent;
  input: ChatInput;
}

/**
 * Runs one turn and records it. A failure is thrown: before any event (unknown session,
 * wrong user) it is answered as a 4xx; after (a WebSocket's turn), the caller reports it.
 */
export async function runTurn(ctx: ServerContext, turn: TurnRequest, sink: EventSink, signal: AbortSignal): Promise<RunResult> {
  let result: RunResult | undefined;
  // Tracked for a graceful shutdown (live-turns.ts): it may end the turn with `shutting_down`.
  const live = ctx.live.track(signal);
  try {
    result = await runChat(ctx.run, turn.agent, turn.input, sink, live.signal, turn.timings);
    return result;
  } finally {
    live.release();
    observeTurn(ctx, turn, result);
  }
}

export interface StreamedOptions {
  /** the turn's signal from the client's leaving (default: that signal itself); a resumable stream's runs on a while */
  outlive?(gone: AbortSignal): { signal: AbortSignal; release(): void };
  /** the stream's last word before it closes, however the turn ended (undefined: it failed inside the stream) */
  ended?(result: RunResult | undefined): void;
}

/**
 * A turn streamed to `stream` (stream-turn.ts) until it ends or the client leaves. Refused
 * before the stream opened: thrown (a 4xx); failed after: logged and reported inside it,
 * and undefined.
 */
export async function streamedTurn(
  ctx: ServerContext,
  turn: TurnRequest,
  reply: FastifyReply,
  stream: TurnStream,
  opts?: StreamedOptions,
): Promise<RunResult | undefined> {
  const gone = clientGone(reply);
  const outlived = opts?.outlive?.(gone.signal);
  let result: RunResult | undefined;
  try {
    result = await runTurn(ctx, turn, stream, outlived?.signal ?? gone.signal);
    return result;
  } catch (err) {
    if (!stream.opened()) throw err;
    if (err instanceof ChatInputError) {
      stream.emit({ chunk_type: 'error', code: err.code, message: err.message, retryable: false });
      return undefined;
    }
    turn.log.error({ err, route: turn.route }, 'chat turn failed');
    stream.emit(internalErrorEvent);
    return undefined;
  } finally {
    gone.release();
    outlived?.release();
    opts?.ended?.(result);
    stream.end();
  }
}

/** The events of a JSON answer nobody else reads (one for every turn). */
const ignored: EventSink = { emit() {} };

/**
 * A turn answered as one JSON body: run to its end (the client leaving aborts it), the
 * reply's status set when it ended in an error (failedTurnStatus). `collect` sees the events.
 */
export async function jsonTurn(ctx: ServerContext, turn: TurnRequest, reply: FastifyReply, collect = ignored): Promise<RunResult> {
  const gone = clientGone(reply);
  let result: RunResult;
  try {
    result = await runTurn(ctx, turn, collect, gone.signal);
  } finally {
    gone.release();
  }
  if (result.error) setStatus(reply, failedTurnStatus(result.error.code));
  return result;
}
