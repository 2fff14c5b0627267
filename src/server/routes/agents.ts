import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { agentInput, agentPatch } from '../../agent/config.ts';
import { found, idParams, page, paged } from '../http.ts';
import type { ServerContext } from '../context.ts';

export const agentRoutes = (ctx: ServerContext): FastifyPluginAsyncZod => async (app) => {
  const { agents } = ctx;

  app.post('/agents', { schema: { body: agentInput, tags: ['agents'] } }, async (req, reply) => {
    return reply.code(201).send(agents.view(await agents.create(req.principal.org_id, req.body)));
  });

  app.get('/agents', { schema: { querystring: page, tags: ['agents'] } }, async (req) => {
    const { limit, offset } = req.query;
    return paged(await agents.list(req.principal.org_id, limit + 1, offset), limit, agents.view);
  });

  app.get('/agents/:id', { schema: { params: idParams, tags: ['agents'] } }, async (req) => {
    return agents.view(await found('Agent', req.params.id, () => agents.get(req.principal.org_id, req.params.id)));
  });

  app.patch('/agents/:id', { schema: { params: idParams, body: agentPatch, tags: ['agents'] } }, async (req) => {
    const row = await found('Agent', req.params.id, () => agents.update(req.principal.org_id, req.params.id, req.body));
    return agents.view(row);
  });

  app.delete('/agents/:id', { schema: { params: idParams, tags: ['agents'] } }, async (req, reply) => {
    await found('Agent', req.params.id, async () => (await agents.delete(req.principal.org_id, req.params.id)) || undefined);
    return reply.code(204).send();
  });
};
