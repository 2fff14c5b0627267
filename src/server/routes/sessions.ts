import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { getAgent } from '../../store/repos/agents.ts';
import { listMessages, type Message } from '../../store/repos/messages.ts';
import * as sessions from '../../store/repos/sessions.ts';
import { found, idParams, page, paged } from '../http.ts';
import { isScoped } from '../auth.ts';
import type { ServerContext } from '../context.ts';
import { actingUser, checkAgent, checkOwner } from '../scope.ts';
import { userId } from './users.ts';

const sessionBody = z.strictObject({
  user_id: userId.optional(),
  title: z.string().max(500).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

export const sessionRoutes =
  (ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    const { db } = ctx;
    const tags = ['sessions'];
    const ofAgent = { access: 'scoped', resource: 'agent' } as const;
    const ofSession = { access: 'scoped', resource: 'session' } as const;

    app.post('/agents/:id/sessions', { config: ofAgent, schema: { params: idParams, body: sessionBody, tags } }, async (req, reply) => {
      const org = req.principal.org_id;
      const agent = await found('Agent', req.params.id, () => getAgent(db, org, req.params.id));
      checkAgent(req.principal, agent.id);
      const user_id = actingUser(req.principal, req.body.user_id);
      return reply.code(201).send(await sessions.createSession(db, { org_id: org, agent_id: agent.id, ...req.body, user_id }));
    });

    app.get(
      '/agents/:id/sessions',
      { config: ofAgent, schema: { params: idParams, querystring: page.extend({ user_id: userId.optional() }), tags } },
      async (req) => {
        const org = req.principal.org_id;
        const agent = await found('Agent', req.params.id, () => getAgent(db, org, req.params.id));
        checkAgent(req.principal, agent.id);
        const { limit, offset } = req.query;
        const user = actingUser(req.principal, req.query.user_id);
        return paged(await sessions.listSessions(db, org, agent.id, user, limit + 1, offset), limit);
      },
    );

    /** The org's session, within the key's scope (403 outside it). */
    async function session(orgId: string, id: string, p: Parameters<typeof checkOwner>[0]) {
      const s = await found('Session', id, () => sessions.getSession(db, orgId, id));
      checkOwner(p, s);
      return s;
    }

    app.get('/sessions/:id', { config: ofSession, schema: { params: idParams, tags } }, async (req) => {
      return session(req.principal.org_id, req.params.id, req.principal);
    });

    app.delete('/sessions/:id', { config: ofSession, schema: { params: idParams, tags } }, async (req, reply) => {
      if (isScoped(req.principal)) await session(req.principal.org_id, req.params.id, req.principal);
      await found('Session', req.params.id, async () => (await ctx.history.deleteSession(req.principal.org_id, req.params.id)) || undefined);
      return reply.code(204).send();
    });

    app.get('/sessions/:id/messages', { config: ofSession, schema: { params: idParams, querystring: page, tags } }, async (req) => {
      const org = req.principal.org_id;
      const s = await session(org, req.params.id, req.principal);
      const { limit, offset } = req.query;
      // owner and heartbeat_at are this deployment's bookkeeping (heartbeat.ts), not the conversation's
      return paged(
        await listMessages(db, org, s.id, limit + 1, offset),
        limit,
        ({ owner, heartbeat_at, ...m }: Message & { owner?: unknown; heartbeat_at?: unknown }) => m,
      );
    });
  };
