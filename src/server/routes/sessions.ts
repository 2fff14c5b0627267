import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { getAgent } from '../../store/repos/agents.ts';
import { listMessages } from '../../store/repos/messages.ts';
import * as sessions from '../../store/repos/sessions.ts';
import { found, idParams, page, paged } from '../http.ts';
import type { ServerContext } from '../context.ts';
import { userId } from './users.ts';

const sessionBody = z.strictObject({
  user_id: userId.optional(),
  title: z.string().max(500).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

export const sessionRoutes = (ctx: ServerContext): FastifyPluginAsyncZod => async (app) => {
  const { db } = ctx;

  app.post('/agents/:id/sessions', { schema: { params: idParams, body: sessionBody, tags: ['sessions'] } }, async (req, reply) => {
    const org = req.principal.org_id;
    const agent = await found('Agent', req.params.id, () => getAgent(db, org, req.params.id));
    return reply.code(201).send(await sessions.createSession(db, { org_id: org, agent_id: agent.id, ...req.body }));
  });

  app.get(
    '/agents/:id/sessions',
    { schema: { params: idParams, querystring: page.extend({ user_id: userId.optional() }), tags: ['sessions'] } },
    async (req) => {
      const org = req.principal.org_id;
      const agent = await found('Agent', req.params.id, () => getAgent(db, org, req.params.id));
      const { limit, offset, user_id } = req.query;
      return paged(await sessions.listSessions(db, org, agent.id, user_id, limit + 1, offset), limit);
    },
  );

  app.get('/sessions/:id', { schema: { params: idParams, tags: ['sessions'] } }, async (req) => {
    return found('Session', req.params.id, () => sessions.getSession(db, req.principal.org_id, req.params.id));
  });

  app.delete('/sessions/:id', { schema: { params: idParams, tags: ['sessions'] } }, async (req, reply) => {
    await found('Session', req.params.id, async () => (await ctx.history.deleteSession(req.principal.org_id, req.params.id)) || undefined);
    return reply.code(204).send();
  });

  app.get('/sessions/:id/messages', { schema: { params: idParams, querystring: page, tags: ['sessions'] } }, async (req) => {
    const org = req.principal.org_id;
    const session = await found('Session', req.params.id, () => sessions.getSession(db, org, req.params.id));
    const { limit, offset } = req.query;
    return paged(await listMessages(db, org, session.id, limit + 1, offset), limit);
  });
};
