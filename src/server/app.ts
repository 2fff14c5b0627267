// The HTTP server: Fastify with zod validation, one error shape, auth on the API
// prefixes, OpenAPI at /docs. Routes live one resource per file under routes/.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ServerContext } from './context.ts';
import { egressLogDetail, setStatus, toClientError } from './client-error.ts';
import { AppError, errorBody } from './errors.ts';
import { jsonBodyParser, type DefaultJsonParser } from './json-input.ts';
import { createReadiness } from './readiness.ts';
import { createRateLimiter } from './rate-limit.ts';
import { inputLimitHook } from './input-limits.ts';
import { authHook, requireAccessRules } from './access.ts';
import { metricsAccess } from './metrics-access.ts';
import { agentRoutes } from './routes/agents.ts';
import { meRoutes } from './routes/me.ts';
import { chatRoutes } from './routes/chat.ts';
import { chatUiRoutes } from './routes/chat-ui.ts';
import { contextRoutes } from './routes/context.ts';
import { chatWsRoutes, closeIdleSockets } from './routes/chat-ws.ts';
import { openaiRoutes } from './routes/openai.ts';
import { memoryRoutes } from './routes/memories.ts';
import { mcpRoutes } from './routes/mcp.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { organizationRoutes } from './routes/organizations.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { sessionImportRoutes } from './routes/session-import.ts';
import { userRoutes } from './routes/users.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { webRoutes } from './routes/web.ts';
import { workingMemoryRoutes } from './routes/working-memory.ts';

/** `log`: the process's logger (start/logger.ts: its level, and the headers it never writes). */
export async function buildServer(ctx: ServerContext, log: FastifyBaseLogger): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: ctx.config.bodyLimit,
    loggerInstance: log,
    // Per-request access logs cost more than the stages we measure; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // A shutdown drains (shutdown.ts): live streams finish, only idle connections are closed.
    forceCloseConnections: 'idle',
  }).withTypeProvider<ZodTypeProvider>();

  // Bodies are JSON only: anything else is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  // Strict UTF-8, NUL and what else PostgreSQL cannot hold refused up front (400) rather
  // than failing a write halfway through a turn; an empty body is no body (json-input.ts).
  // Its declared type admits the async parser form too; what it returns is the callback form
  // (fastify lib/content-type-parser.js), which answers synchronously as jsonBodyParser needs.
  const parseJson = app.getDefaultJsonParser('error', 'error') as DefaultJsonParser;
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    jsonBodyParser(parseJson, (message) => new AppError('bad_request', message)),
  );
  // The same for the URL: a %00 in a path parameter or a query would reach a query as NUL.
  app.addHook('onRequest', async (req) => {
    if (req.url.includes('%00')) throw new AppError('bad_request', 'The URL must not contain the NUL character (%00).');
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((err, req, reply) => {
    const { status, code, message } = toClientError(err as FastifyError);
    if (code === 'storage_unavailable') req.log.warn({ err }, 'store unavailable');
    else if (status >= 500) req.log.error({ err }, 'request failed');
    else if (code === 'egress_denied') req.log.info({ egress: egressLogDetail(err) }, 'egress refused by policy');
    return setStatus(reply, status).send(errorBody(code, message));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody('not_found', `No route ${req.method} ${req.url.split('?')[0]}.`)));

  await app.register(swagger, {
    openapi: {
      info: { title: 'agentmem', version: '0.1.0', description: 'LLM agents with long-term memory, streamed.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    // the schemas the routes refer to (the recursive metadata filter): without them the document's $refs point nowhere
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // Before any route, so every route is wrapped (an upgrade to a plain route is closed).
  // On close, sockets running a turn stay open until it ends (chat-ws.ts), the others are closed.
  await app.register(websocket, {
    options: { maxPayload: ctx.config.bodyLimit },
    // A socket's error is its client's doing (a frame over the size limit, which ws is already
    // closing with 1009; a client gone): logged at debug, never at error level, and a socket
    // ws is not closing yet is ended. (The plugin's default terminates it, losing the 1009.)
    errorHandler(err, socket, req) {
      req.log.debug({ err }, 'websocket error');
      if (socket.readyState === socket.OPEN) socket.terminate();
    },
    preClose(done) {
      closeIdleSockets(this.websocketServer.clients);
      done();
    },
  });
  // Every route's key and access rule (access.ts), before the body is read. After the
  // WebSocket plugin's own onRequest: a refused upgrade's socket is destroyed by it (onResponse).
  app.addHook('onRequest', authHook(ctx));

  // Liveness: the process answers (it touches nothing). Readiness: the store answers within
  // the deadline and no shutdown has begun; Redis is reported, not required (readiness.ts).
  app.get('/health', { schema: { hide: true } }, async () => ({ status: 'ok', engine: ctx.db.engine }));
  const readiness = createReadiness({ db: ctx.db, redisUrl: ctx.config.redisUrl, deadlineMs: ctx.config.readyTimeoutMs, draining: () => ctx.live.draining });
  app.addHook('onClose', () => readiness.close());
  app.get('/ready', { schema: { hide: true } }, async (_req, reply) => {
    const { ready, checks } = await readiness.check();
    if (!ready) setStatus(reply, 503);
    return { status: ready ? 'ready' : 'unavailable', engine: ctx.db.engine, checks };
  });
  // Every organization's figures: the platform admin key or AGENTMEM_METRICS_TOKEN (metrics-access.ts).
  app.get('/metrics', { schema: { hide: true }, onRequest: metricsAccess(ctx) }, async (_req, reply) =>
    reply.type(ctx.metrics.contentType).send(await ctx.metrics.text()),
  );

  // Per key and per org (rate-limit.ts): after every route's auth (onRequest), before the
  // body is read. Registered only when a limit is set, so it costs nothing otherwise.
  const limiter = createRateLimiter(ctx.config, (err) => app.log.warn({ err }, 'rate limiter failed; request let through'));
  if (limiter) {
    app.addHook('preParsing', limiter.hook);
    app.addHook('onClose', () => limiter.close());
  }

  // A route's body limit by the kind of key (input-limits.ts), counted before it is parsed.
  app.addHook('preParsing', inputLimitHook);

  // Every route under these prefixes must say who may call it (access.ts).
  requireAccessRules(app, ['/api/', '/v1/', '/mcp']);
  await app.register(
    async (api) => {
      for (const routes of [
        meRoutes,
        organizationRoutes,
        apiKeyRoutes,
        userRoutes,
        agentRoutes,
        sessionRoutes,
        sessionImportRoutes,
        chatRoutes,
        contextRoutes,
        memoryRoutes,
        workingMemoryRoutes,
        webhookRoutes,
      ]) {
        await api.register(routes(ctx));
      }
      await api.register(chatUiRoutes(ctx));
    },
    { prefix: '/api/v1' },
  );
  // Registered apart from the JSON API (no body, no zod): a WebSocket may send its key in its first message.
  await app.register(chatWsRoutes(ctx, limiter), { prefix: '/api/v1' });
  // OpenAI-compatible, at OpenAI's paths, with the same API keys and OpenAI's error shape.
  await app.register(openaiRoutes(ctx));
  // agentmem's memory as an MCP server, with the same API keys.
  await app.register(mcpRoutes(ctx));
  // The playground page at / and its files under /web/ (static, no auth).
  await app.register(webRoutes());

  return app;
}
