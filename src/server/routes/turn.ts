// What every chat surface (native SSE/JSON, OpenAI-compatible, UI stream, WebSocket)
// does around one turn: find the agent, fire one AbortSignal when the client leaves,
// record the turn's metrics, turn a ChatInputError into a 4xx.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventSink } from '../../agent/events.ts';
import { recordSpans } from '../../trace/spans.ts';
import type { ReadyAgent } from '../../agent/cache.ts';
import { ChatInputError, runChat, type ChatInput, type RunResult } from '../../agent/run.ts';
import type { Timings } from '../../trace/timings.ts';
import { isScoped, type Principal } from '../auth.ts';
import type { ServerContext } from '../context.ts';
import { actingUser, checkAgent, checkOwner } from '../scope.ts';
import { AppError, notFound } from '../errors.ts';
import { isUuid } from '../http.ts';

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

/**
 * What a key may do in a turn: use this agent, as its own user, in a session of its own
 * (403 otherwise). Returns the user the turn acts as (a scoped key's, when none is named).
 */
export async function scopeTurn(ctx: ServerContext, p: Principal, agent: ReadyAgent, userId: string | undefined, sessionId: string | undefined): Promise<string | undefined> {
  checkAgent(p, agent.id);
  const user = actingUser(p, userId);
  if (isScoped(p) && sessionId !== undefined && isUuid(sessionId)) {
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
export function observeTurn(ctx: ServerContext, route: string, agent: ReadyAgent, timings: Timings, result: RunResult | undefined): void {
  const t = timings.toJSON();
  ctx.metrics.observeTimings(t, { route, provider: agent.providerName, model: agent.model });
  if (t.upstream_ttfb !== undefined) ctx.metrics.observeFirstToken(agent.providerName, result?.model ?? agent.model, t.upstream_ttfb);
  const outcome = !result || result.error ? 'error' : result.aborted ? 'aborted' : 'ok';
  ctx.metrics.countRequest(route, outcome);
  recordSpans('agentmem.chat', timings, {
    'agentmem.route': route, 'agentmem.agent_id': agent.id, 'agentmem.outcome': outcome,
    'gen_ai.system': agent.providerName, 'gen_ai.request.model': agent.model, 'gen_ai.response.model': result?.model ?? agent.model,
  });
}

/** A run that could not start (unknown session, wrong user) becomes a 4xx; anything else is rethrown. */
export function toHttpError(err: unknown): unknown {
  if (err instanceof ChatInputError) return new AppError(err.code, err.message);
  return err;
}

/** HTTP status for a run that ended in an upstream error, when the answer is one JSON body (a target AGENTMEM_EGRESS refuses: the config's fault, 400). */
export const upstreamStatus = (code: string): number =>
  code === 'egress_denied' ? 400 : code === 'upstream_timeout' ? 504 : code === 'shutting_down' || code === 'storage_unavailable' ? 503 : 502;

/**
 * Runs one turn for a route and records it. A run refused before any event (unknown
 * session, wrong user) becomes a 4xx; a failure after the stream opened is logged and
 * reported inside the stream by `stream.fail`. Undefined when it failed in the stream.
 */
export async function runTurn(
  ctx: ServerContext,
  route: string,
  req: FastifyRequest,
  agent: ReadyAgent,
  input: ChatInput,
  sink: EventSink,
  signal: AbortSignal,
  stream?: { opened(): boolean; fail(): void },
): Promise<RunResult | undefined> {
  let result: RunResult | undefined;
  // Tracked for a graceful shutdown (live-turns.ts): it may end the turn with `shutting_down`.
  const live = ctx.live.track(signal);
  try {
    result = await runChat(ctx.run, agent, input, sink, live.signal, req.timings);
    return result;
  } catch (err) {
    if (!stream?.opened()) throw toHttpError(err);
    req.log.error({ err, route }, 'chat turn failed');
    stream.fail();
    return undefined;
  } finally {
    live.release();
    observeTurn(ctx, route, agent, req.timings, result);
  }
}
