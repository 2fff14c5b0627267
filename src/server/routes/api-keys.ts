import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import * as keys from '../../store/repos/api-keys.ts';
import { requireAdmin } from '../auth.ts';
import { found, idParams, page, paged } from '../http.ts';
import type { ServerContext } from '../context.ts';

const keyBody = z.strictObject({
  name: z.string().min(1).max(200),
  role: z.enum(['admin', 'member']).default('member'),
});

export const apiKeyRoutes = (ctx: ServerContext): FastifyPluginAsyncZod => async (app) => {
  app.post('/api-keys', { schema: { body: keyBody, tags: ['api-keys'] } }, async (req, reply) => {
    requireAdmin(req.principal);
    const { apiKey, key } = await keys.createApiKey(ctx.db, { org_id: req.principal.org_id, ...req.body });
    // The only time the key is ever shown.
    return reply.code(201).send({ ...apiKey, key });
  });

  app.get('/api-keys', { schema: { querystring: page, tags: ['api-keys'] } }, async (req) => {
    requireAdmin(req.principal);
    const { limit, offset } = req.query;
    return paged(await keys.listApiKeys(ctx.db, req.principal.org_id, limit + 1, offset), limit);
  });

  app.get('/api-keys/:id', { schema: { params: idParams, tags: ['api-keys'] } }, async (req) => {
    requireAdmin(req.principal);
    return found('API key', req.params.id, () => keys.getApiKey(ctx.db, req.principal.org_id, req.params.id));
  });

  app.delete('/api-keys/:id', { schema: { params: idParams, tags: ['api-keys'] } }, async (req, reply) => {
    requireAdmin(req.principal);
    const revoked = await found('API key', req.params.id, () => keys.revokeApiKey(ctx.db, req.principal.org_id, req.params.id));
    ctx.bus.publish('api_key', revoked.key_hash);
    return reply.code(204).send();
  });
};
