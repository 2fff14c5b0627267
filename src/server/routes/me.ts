import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ServerContext } from '../context.ts';

// The caller's own key: what it may do (a client adapts its UI to it), never the key itself.
export const meRoutes =
  (_ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/me',
      { config: { access: 'scoped' }, schema: { tags: ['api-keys'], summary: 'The calling API key: organization, role and scope' } },
      async (req) => {
        const p = req.principal;
        return {
          key_id: p.key_id,
          org_id: p.org_id,
          role: p.role,
          platform_admin: p.platform_admin,
          agent_ids: p.agent_ids,
          user_id: p.user_id,
          expires_at: p.expires_at === null ? null : new Date(p.expires_at).toISOString(),
        };
      },
    );
  };
