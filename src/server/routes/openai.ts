// OpenAI-compatible chat: POST /v1/chat/completions, GET /v1/models(/:model).
// model = an agent id of the caller's org; `user` = the memory owner. Clients resend
// the conversation, so their earlier messages are this turn's history (a lone user
// message with `x-session-id` uses the stored window instead). Every turn is stored:
// the response header `x-session-id` names its session, and sending it back continues it.
// Errors are OpenAI's `{error: {message, type, param, code}}`.
//
// Nothing a client sends is dropped silently (openai-request.ts): sampling settings pass
// within the agent's limits (max_tokens capped at the agent's, others per llm.client_overrides),
// its system messages follow the agent's (refused from a scoped key), its tools are offered to the model and a
// call of one comes back to it as OpenAI's `tool_calls`; unsupported fields are a 400 naming
// them. The agent's own tool calls and the turn's timings are in the `agentmem` extension
// field (and the `x-agentmem-timings` header without streaming).
import type { FastifyError } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ChatInput } from '../../agent/turn-types.ts';
import type { AgentRow } from '../../store/repos/agents.ts';
import type { ServerContext } from '../context.ts';
import { openaiChunks, openaiCompletion, openaiError, openaiToolCollector } from '../encoders/openai.ts';
import { flowLimits } from '../encoders/backpressure.ts';
import { setStatus, toClientError } from '../client-error.ts';
import { AppError, NotFoundError, type ErrorCode } from '../errors.ts';
import { isScoped } from '../auth.ts';
import { isUuid } from '../http.ts';
import { agentFilter, checkAgent } from '../scope.ts';
import { streamTurn } from '../stream-turn.ts';
import { findAgent, jsonTurn, scopeTurn, streamedTurn } from './turn.ts';
import { completionBody, completionTurn, UnsupportedField } from './openai-request.ts';

/** An AppError with OpenAI's own `code` and `param` (e.g. model_not_found on `model`). */
class OpenAIRequestError extends AppError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly openaiCode: string,
    readonly param: string | null,
  ) {
    super(code, message);
  }
}

/** OpenAI's `code` and `param` for an error: its own names where OpenAI has one, else ours. */
function openaiCodeOf(err: FastifyError, code: ErrorCode): { code: string; param: string | null } {
  if (err instanceof OpenAIRequestError) return { code: err.openaiCode, param: err.param };
  if (err instanceof UnsupportedField) return { code: err.param === 'messages' ? 'invalid_value' : 'unsupported_parameter', param: err.param };
  if (code === 'unauthorized') return { code: 'invalid_api_key', param: paramOf(err) };
  if (err instanceof NotFoundError && err.what === 'Session') return { code: 'session_not_found', param: null };
  return { code, param: paramOf(err) };
}

const modelParams = z.object({ model: z.string().max(200) });

const modelOf = (a: AgentRow) => ({ id: a.id, object: 'model', created: Math.floor(a.created_at.getTime() / 1000), owned_by: 'agentmem', name: a.name });

/** `/messages/0/role` → `messages.0.role` */
const paramOf = (err: FastifyError): string | null => {
  const path = (err.validation?.[0] as { instancePath?: string } | undefined)?.instancePath;
  return path ? path.split('/').filter(Boolean).join('.') || null : null;
};

export const openaiRoutes =
  (ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.setErrorHandler((err, req, reply) => {
      const { status, code, message } = toClientError(err as FastifyError);
      if (status >= 500 && status !== 503) req.log.error({ err }, 'openai-compatible request failed');
      const openai = openaiCodeOf(err as FastifyError, code);
      return setStatus(reply, status).send(openaiError(status, openai.code, message, openai.param));
    });
    const config = { access: 'scoped' } as const;

    const modelNotFound = (model: string) =>
      new OpenAIRequestError(
        'not_found',
        `The model '${model}' does not exist (a model is an agent id; GET /v1/models lists them).`,
        'model_not_found',
        'model',
      );

    app.get('/v1/models', { config, schema: { tags: ['openai'] } }, async (req) => ({
      object: 'list',
      data: (await ctx.agents.list(req.principal.org_id, 1_000, 0, agentFilter(req.principal))).map(modelOf),
    }));

    app.get('/v1/models/:model', { config, schema: { params: modelParams, tags: ['openai'] } }, async (req) => {
      const row = isUuid(req.params.model) ? await ctx.agents.get(req.principal.org_id, req.params.model) : undefined;
      if (!row) throw modelNotFound(req.params.model);
      checkAgent(req.principal, row.id);
      return modelOf(row);
    });

    app.post('/v1/chat/completions', { config, schema: { body: completionBody, tags: ['openai'] } }, async (req, reply) => {
      const body = req.body;
      const orgId = req.principal.org_id;
      const agent = await findAgent(ctx, orgId, body.model, req.timings);
      if (!agent) throw modelNotFound(body.model);

      // A field it cannot honour is a 400 naming it (openaiCodeOf).
      const turn = completionTurn(body, new Set(agent.config.tools.map((t) => t.name)), {
        llm: agent.config.llm,
        scoped: isScoped(req.principal),
      });
      const header = req.headers['x-session-id'];
      const sessionId = typeof header === 'string' && header ? header : undefined;
      const userId = await scopeTurn(ctx, req.principal, agent, body.user, sessionId);
      const input: ChatInput = { orgId, userId, sessionId, ...turn };

      if (body.stream) {
        const encode = openaiChunks({ model: body.model, includeUsage: body.stream_options?.include_usage === true });
        const stream = streamTurn(reply, encode, {}, { flow: flowLimits(ctx.config), last: '[DONE]' });
        await streamedTurn(ctx, { route: 'openai_stream', timings: req.timings, log: req.log, agent, input }, reply, stream);
        return;
      }

      const tools = openaiToolCollector();
      const result = await jsonTurn(ctx, { route: 'openai_json', timings: req.timings, log: req.log, agent, input }, reply, tools);
      reply.header('x-session-id', result.sessionId);
      const timings = req.timings.toJSON();
      reply.header('x-agentmem-timings', JSON.stringify(timings));
      if (result.error) return openaiError(reply.statusCode, result.error.code, result.error.message);
      return openaiCompletion(result, body.model, { toolCalls: tools.client, serverToolCalls: tools.server(), timings });
    });
  };
