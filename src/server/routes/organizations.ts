import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import * as orgs from '../../store/repos/organizations.ts';
import { createApiKey } from '../../store/repos/api-keys.ts';
import { found, idParams, page, paged } from '../http.ts';
import type { ServerContext } from '../context.ts';

const orgBody = z.strictObject({ name: z.string().min(1).max(200) });

export const organizationRoutes =
  (ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    // Creating an organization is the platform admin's (the bootstrap key's) job; the
    // answer carries the new org's first admin key, shown this once.
    app.post('/organizations', { config: { access: 'platform_admin' }, schema: { body: orgBody, tags: ['organizations'] } }, async (req, reply) => {
      const result = await ctx.db.transaction(async (tx) => {
        const organization = await orgs.createOrganization(tx, req.body.name);
        const { apiKey, key } = await createApiKey(tx, { org_id: organization.id, name: 'admin', role: 'admin' });
        return { ...organization, api_key: { ...apiKey, key } };
      });
      return reply.code(201).send(result);
    });

    app.get('/organizations', { config: { access: 'member' }, schema: { querystring: page, tags: ['organizations'] } }, async (req) => {
      const { limit, offset } = req.query;
      if (req.principal.platform_admin) return paged(await orgs.listOrganizations(ctx.db, limit + 1, offset), limit);
      const own = offset === 0 ? [await orgs.getOrganization(ctx.db, req.principal.org_id)] : [];
      return paged(
        own.filter((o) => o !== undefined),
        limit,
      );
    });

    app.get(
      '/organizations/:id',
      { config: { access: 'member', resource: 'organization' }, schema: { params: idParams, tags: ['organizations'] } },
      async (req) => {
        const { id } = req.params;
        return found('Organization', id, async () =>
          req.principal.platform_admin || id === req.principal.org_id ? orgs.getOrganization(ctx.db, id) : undefined,
        );
      },
    );

    app.patch(
      '/organizations/:id',
      { config: { access: 'admin', resource: 'organization' }, schema: { params: idParams, body: orgBody, tags: ['organizations'] } },
      async (req) => {
        const { id } = req.params;
        await found('Organization', id, async () => (req.principal.platform_admin || id === req.principal.org_id ? true : undefined));
        return found('Organization', id, () => orgs.renameOrganization(ctx.db, id, req.body.name));
      },
    );
  };
