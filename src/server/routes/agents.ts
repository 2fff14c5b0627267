import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { agentInput, agentPatch } from '../../agent/config.ts';
import { isScoped } from '../auth.ts';
import { found, idParams, page, paged } from '../http.ts';
import type { ServerContext } from '../context.ts';
import { agentFilter, checkAgent } from '../scope.ts';

export const agentRoutes =
  (ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    const { agents } = ctx;
    const tags = ['agents'];
    const admin = { access: 'admin', resource: 'agent' } as const;

    app.post('/agents', { config: admin, schema: { body: agentInput, tags } }, async (req, reply) => {
      return reply.code(201).send(agents.view(await agents.create(req.principal.org_id, req.body)));
    });

    // A scoped key lists its own agents, in their public view.
    app.get('/agents', { config: { access: 'scoped' }, schema: { querystring: page, tags } }, async (req) => {
      const { limit, offset } = req.query;
      const rows = await agents.list(req.principal.org_id, limit + 1, offset, agentFilter(req.principal));
      return paged(rows, limit, isScoped(req.principal) ? agents.publicView : agents.view);
    });

    app.get('/agents/:id', { config: { access: 'scoped', resource: 'agent' }, schema: { params: idParams, tags } }, async (req) => {
      const row = await found('Agent', req.params.id, () => agents.get(req.principal.org_id, req.params.id));
      if (!isScoped(req.principal)) return agents.view(row);
      checkAgent(req.principal, row.id);
      return agents.publicView(row);
    });

    // The answer lists `dropped_secrets`: stored keys that no longer apply because their endpoint changed.
    app.patch('/agents/:id', { config: admin, schema: { params: idParams, body: agentPatch, tags } }, async (req) => {
      const done = await found('Agent', req.params.id, () => agents.update(req.principal.org_id, req.params.id, req.body));
      return { ...agents.view(done.row), dropped_secrets: done.dropped_secrets };
    });

    app.delete('/agents/:id', { config: admin, schema: { params: idParams, tags } }, async (req, reply) => {
      await found('Agent', req.params.id, async () => (await agents.delete(req.principal.org_id, req.params.id)) || undefined);
      return reply.code(204).send();
    });
  };
