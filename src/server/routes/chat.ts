// Chat over native SSE and as one JSON answer. Both run the same turn; they differ
// only in the sink the events go to.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AgentEvent } from '../../agent/events.ts';
import { runChat, type ChatInput, type RunResult } from '../../agent/run.ts';
import type { ReadyAgent } from '../../agent/cache.ts';
import { errorBody, notFound } from '../errors.ts';
import { idParams, isUuid } from '../http.ts';
import { openSse, type SseWriter } from '../encoders/sse.ts';
import type { ServerContext } from '../context.ts';
import { userId } from './users.ts';
import { clientGone, loadAgent, observeTurn, toHttpError, upstreamStatus } from './turn.ts';

export const chatBody = z.strictObject({
  message: z.string().min(1).max(200_000),
  user_id: userId.optional(),
  session_id: z.string().max(200).optional(),
});

export const chatRoutes = (ctx: ServerContext): FastifyPluginAsyncZod => async (app) => {
  /** The agent (cached) and the chat input, or a 4xx before any byte is streamed. */
  async function prepare(req: FastifyRequest, agentId: string, body: z.output<typeof chatBody>): Promise<{ agent: ReadyAgent; input: ChatInput }> {
    const agent = await loadAgent(ctx, req.principal.org_id, agentId, req.timings);
    if (body.session_id !== undefined && !isUuid(body.session_id)) throw notFound('Session');
    return { agent, input: { orgId: req.principal.org_id, message: body.message, userId: body.user_id, sessionId: body.session_id } };
  }

  const observe = (route: string, agent: ReadyAgent, req: FastifyRequest, result: RunResult | undefined) =>
    observeTurn(ctx, route, agent, req.timings, result);

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
      return reply.code(upstreamStatus(result.error.code)).send({
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
