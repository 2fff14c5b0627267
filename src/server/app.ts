// The HTTP server: Fastify with zod validation, one error shape, auth on the API
// prefixes, OpenAPI at /docs. Routes live one resource per file under routes/.
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { AgentConfigError } from '../agent/agents.ts';
import { AgentEgressError } from '../agent/egress-check.ts';
import type { ServerContext } from './context.ts';
import { AppError, errorBody, errorCodes, type ErrorCode } from './errors.ts';
import { jsonInputProblem } from './json-input.ts';
import { createRateLimiter } from './rate-limit.ts';
import { authHook, requireAccessRules } from './access.ts';
import { agentRoutes } from './routes/agents.ts';
import { meRoutes } from './routes/me.ts';
import { chatRoutes } from './routes/chat.ts';
import { chatUiRoutes } from './routes/chat-ui.ts';
import { chatWsRoutes } from './routes/chat-ws.ts';
import { openaiRoutes } from './routes/openai.ts';
import { memoryRoutes } from './routes/memories.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { organizationRoutes } from './routes/organizations.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { sessionImportRoutes } from './routes/session-import.ts';
import { userRoutes } from './routes/users.ts';
import { webRoutes } from './routes/web.ts';

// \u0000 not itself escaped (an even run of backslashes before it).
const ESCAPED_NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;

export async function buildServer(ctx: ServerContext): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: ctx.config.bodyLimit,
    logger: { level: ctx.config.logLevel, redact: ['req.headers.authorization', 'req.headers.cookie'] },
    // Per-request access logs cost more than the stages we measure; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: true,
  }).withTypeProvider<ZodTypeProvider>();

  // Bodies are JSON only: anything else is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  // PostgreSQL text cannot hold NUL: refuse it in any body up front (400), rather than
  // fail a write halfway through a turn. In JSON it can only appear escaped as \u0000.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (ESCAPED_NUL.test(body as string)) return done(new AppError('bad_request', 'Text must not contain the NUL character (\\u0000).'), undefined);
    parseJson(req, body as string, (err, value) => {
      if (err) return done(err, undefined);
      const problem = jsonInputProblem(value, body as string);
      if (problem) return done(new AppError('bad_request', problem), undefined);
      done(null, value);
    });
  });
  // The same for the URL: a %00 in a path parameter or a query would reach a query as NUL.
  app.addHook('onRequest', async (req) => {
    if (req.url.includes('%00')) throw new AppError('bad_request', 'The URL must not contain the NUL character (%00).');
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((err, req, reply) => {
    const { status, code, message } = toClientError(err as FastifyError);
    if (status >= 500) req.log.error({ err }, 'request failed');
    return reply.code(status).send(errorBody(code, message));
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send(errorBody('not_found', `No route ${req.method} ${req.url.split('?')[0]}.`)),
  );

  await app.register(swagger, {
    openapi: {
      info: { title: 'agentmem', version: '0.1.0', description: 'LLM agents with long-term memory, streamed.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // Before any route, so every route is wrapped (an upgrade to a plain route is closed).
  await app.register(websocket, { options: { maxPayload: ctx.config.bodyLimit } });

  app.get('/health', { schema: { hide: true } }, async () => ({ status: 'ok', engine: ctx.db.engine }));
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.type(ctx.metrics.contentType).send(await ctx.metrics.text()),
  );

  // Per key and per org (rate-limit.ts): after every route's auth (onRequest), before the
  // body is read. Registered only when a limit is set, so it costs nothing otherwise.
  const limiter = createRateLimiter(ctx.config, (err) => app.log.warn({ err }, 'rate limiter failed; request let through'));
  if (limiter) {
    app.addHook('preParsing', limiter.hook);
    app.addHook('onClose', () => limiter.close());
  }

  // Every route under these prefixes must say who may call it (access.ts).
  requireAccessRules(app, ['/api/', '/v1/']);
  await app.register(
    async (api) => {
      api.addHook('onRequest', authHook(ctx));
      for (const routes of [meRoutes, organizationRoutes, apiKeyRoutes, userRoutes, agentRoutes, sessionRoutes, sessionImportRoutes, chatRoutes, memoryRoutes]) {
        await api.register(routes(ctx));
      }
      await api.register(chatUiRoutes(ctx));
    },
    { prefix: '/api/v1' },
  );
  // Outside the API key hook: a WebSocket may authenticate with its first message.
  await app.register(chatWsRoutes(ctx), { prefix: '/api/v1' });
  // OpenAI-compatible, at OpenAI's paths, with the same API keys and OpenAI's error shape.
  await app.register(openaiRoutes(ctx, toClientError));
  // The playground page at / and its files under /web/ (static, no auth).
  await app.register(webRoutes());

  return app;
}

function toClientError(err: FastifyError): { status: number; code: ErrorCode; message: string } {
  if (err instanceof AppError) return { status: err.status, code: err.code, message: err.message };
  if (err instanceof AgentConfigError) return { status: 400, code: 'validation_error', message: err.message };
  if (err instanceof AgentEgressError) return { status: 400, code: 'egress_denied', message: err.message };
  if (err.validation) {
    const where = err.validationContext ?? 'body';
    const detail = err.validation
      .map((v: any) => `${[where, ...String(v.instancePath ?? '').split('/').filter(Boolean)].join('.')}: ${v.message}`)
      .join('; ');
    return { status: 400, code: 'validation_error', message: detail || err.message };
  }
  const byFastifyCode: Record<string, ErrorCode> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
    FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  };
  const mapped = byFastifyCode[err.code];
  if (mapped) return { status: errorCodes[mapped].status, code: mapped, message: err.message };
  if (err instanceof SyntaxError) return { status: 400, code: 'invalid_json', message: err.message };
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return { status, code: status === 404 ? 'not_found' : 'bad_request', message: err.message };
  return { status: 500, code: 'internal_error', message: errorCodes.internal_error.message };
}
