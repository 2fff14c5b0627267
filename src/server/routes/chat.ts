// Chat over native SSE and as one JSON answer. Both run the same turn; they differ
// only in the sink the events go to.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AgentEvent } from '../../agent/events.ts';
import { ChatInputError, runChat, type ChatInput, type RunResult } from '../../agent/run.ts';
import type { ReadyAgent } from '../../agent/cache.ts';
import { AppError, errorBody, notFound } from '../errors.ts';
import { idParams, isUuid } from '../http.ts';
import { openSse, type SseWriter } from '../encoders/sse.ts';
import type { ServerContext } from '../context.ts';
import { userId } from './users.ts';

export const chatBody = z.strictObject({
  message: z.string().min(1).max(200_000),
  user_id: userId.optional(),
  session_id: z.string().max(200).optional(),
});

export const chatRoutes = (ctx: ServerContext): FastifyPluginAsyncZod => async (app) => {
  /** The agent (cached) and the chat input, or a 4xx before any byte is streamed. */
  async function prepare(req: FastifyRequest, agentId: string, body: z.output<typeof chatBody>): Promise<{ agent: ReadyAgent; input: ChatInput }> {
    const t0 = performance.now();
    const agent = isUuid(agentId) ? await ctx.agentCache.get(req.principal.org_id, agentId) : undefined;
    if (!agent) throw notFound('Agent');
    req.timings.mark('agent', t0);
    if (body.session_id !== undefined && !isUuid(body.session_id)) throw notFound('Session');
    return { agent, input: { orgId: req.principal.org_id, message: body.message, userId: body.user_id, sessionId: body.session_id } };
  }

  /** One AbortSignal per request, fired when the client goes away before the answer ends. */
  function clientGone(reply: FastifyReply): { signal: AbortSignal; release(): void } {
    const controller = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) controller.abort();
    };
    reply.raw.once('close', onClose);
    return { signal: controller.signal, release: () => reply.raw.off('close', onClose) };
  }

  /** Per-stage histograms, first-token latency and the outcome, once the turn has ended. */
  function observe(route: string, agent: ReadyAgent, req: FastifyRequest, result: RunResult | undefined) {
    const timings = req.timings.toJSON();
    ctx.metrics.observeTimings(timings, { route, provider: agent.providerName, model: agent.model });
    if (timings.upstream_ttfb !== undefined) ctx.metrics.observeFirstToken(agent.providerName, agent.model, timings.upstream_ttfb);
    ctx.metrics.countRequest(route, !result || result.error ? 'error' : result.aborted ? 'aborted' : 'ok');
  }

  app.post('/agents/:id/chat/stream', { schema: { params: idParams, body: chatBody, tags: ['chat'] } }, async (req, reply) => {
    const { agent, input } = await prepare(req, req.params.id, req.body);
    const gone = clientGone(reply);
    // Headers go out with the first event, so an unknown session is still a plain 404.
    let sse: SseWriter | undefined;
    const sink = {
      emit(event: AgentEvent) {
        if (!sse) {
          reply.hijack();
          sse = openSse(reply.raw);
        }
        sse.emit(event);
      },
    };
    let result: RunResult | undefined;
    try {
      result = await runChat(ctx.run, agent, input, sink, gone.signal, req.timings);
    } catch (err) {
      if (!sse) throw toHttpError(err);
      req.log.error({ err }, 'chat stream failed');
      sse.emit({ chunk_type: 'error', code: 'internal_error', message: 'The run failed unexpectedly.', retryable: false });
    } finally {
      gone.release();
      sse?.end();
      observe('stream', agent, req, result);
    }
  });

  app.post('/agents/:id/chat', { schema: { params: idParams, body: chatBody, tags: ['chat'] } }, async (req, reply) => {
    const { agent, input } = await prepare(req, req.params.id, req.body);
    const gone = clientGone(reply);
    let result: RunResult | undefined;
    try {
      result = await runChat(ctx.run, agent, input, { emit() {} }, gone.signal, req.timings);
    } catch (err) {
      throw toHttpError(err);
    } finally {
      gone.release();
      observe('json', agent, req, result);
    }
    const timings = req.timings.toJSON();
    if (result.error) {
      const status = result.error.code === 'upstream_timeout' ? 504 : 502;
      return reply.code(status).send({
        ...errorBody(result.error.code, result.error.message),
        retryable: result.error.retryable,
        content: result.content,
        session_id: result.sessionId,
        message_id: result.messageId,
      });
    }
    return {
      content: result.content,
      session_id: result.sessionId,
      message_id: result.messageId,
      finish_reason: result.finishReason ?? 'stop',
      usage: result.usage,
      timings,
    };
  });
};

function toHttpError(err: unknown): unknown {
  if (err instanceof ChatInputError) return new AppError(err.code, err.message);
  return err;
}
