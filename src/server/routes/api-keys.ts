import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import * as keys from '../../store/repos/api-keys.ts';
import { AppError } from '../errors.ts';
import { found, idParams, page, paged } from '../http.ts';
import type { ServerContext } from '../context.ts';
import { userId } from './users.ts';

const keyBody = z
  .strictObject({
    name: z.string().min(1).max(200),
    role: z.enum(['admin', 'member']).default('member'),
    agent_ids: z.array(z.uuid()).min(1).max(1_000).optional().describe('scoped key: only these agents of the organization'),
    user_id: userId.optional().describe('scoped key: only as this end user (its memories and sessions)'),
    expires_at: z.iso.datetime({ offset: true }).optional().describe('the key stops working at this time'),
  })
  .refine((k) => k.role === 'member' || (k.agent_ids === undefined && k.user_id === undefined), {
    message: 'a scoped key (agent_ids, user_id) has the member role',
    path: ['role'],
  });

export const apiKeyRoutes =
  (ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    const config = { access: 'admin', resource: 'api_key' } as const;
    const tags = ['api-keys'];

    app.post('/api-keys', { config, schema: { body: keyBody, tags } }, async (req, reply) => {
      const { agent_ids, expires_at, ...rest } = req.body;
      const org = req.principal.org_id;
      const expires = expires_at === undefined ? null : new Date(expires_at);
      if (expires && expires.getTime() <= Date.now()) throw new AppError('validation_error', 'body.expires_at: must be in the future');
      if (agent_ids) {
        const known = new Set((await ctx.agents.list(org, agent_ids.length, 0, agent_ids)).map((a) => a.id));
        const unknown = agent_ids.filter((id) => !known.has(id));
        if (unknown.length) throw new AppError('validation_error', `body.agent_ids: no such agent in this organization: ${unknown.join(', ')}`);
      }
      const { apiKey, key } = await keys.createApiKey(ctx.db, {
        org_id: org,
        ...rest,
        agent_ids: agent_ids ? [...new Set(agent_ids)] : null,
        expires_at: expires,
      });
      // The only time the key is ever shown.
      return reply.code(201).send({ ...apiKey, key });
    });

    app.get('/api-keys', { config, schema: { querystring: page, tags } }, async (req) => {
      const { limit, offset } = req.query;
      return paged(await keys.listApiKeys(ctx.db, req.principal.org_id, limit + 1, offset), limit);
    });

    app.get('/api-keys/:id', { config, schema: { params: idParams, tags } }, async (req) => {
      return found('API key', req.params.id, () => keys.getApiKey(ctx.db, req.principal.org_id, req.params.id));
    });

    app.delete('/api-keys/:id', { config, schema: { params: idParams, tags } }, async (req, reply) => {
      const revoked = await found('API key', req.params.id, () => keys.revokeApiKey(ctx.db, req.principal.org_id, req.params.id));
      ctx.bus.publish('api_key', revoked.key_hash);
      return reply.code(204).send();
    });
  };
