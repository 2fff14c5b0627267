import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { forgetUser } from '../../memory/forget-user.ts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import * as users from '../../store/repos/users.ts';
import { AppError, notFound } from '../errors.ts';
import { page, paged } from '../http.ts';
import type { ServerContext } from '../context.ts';

export const userId = z.string().min(1).max(200);
const userParams = z.object({ id: userId });
const createBody = z.strictObject({
  id: userId.optional(),
  name: z.string().max(200).nullable().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
const updateBody = createBody.omit({ id: true });

export const userRoutes =
  (ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.post('/users', { config: { access: 'admin' }, schema: { body: createBody, tags: ['users'] } }, async (req, reply) => {
      const user = await users.createUser(ctx.db, req.principal.org_id, { ...req.body, id: req.body.id ?? randomUUID() });
      if (!user) throw new AppError('conflict', `User "${req.body.id}" already exists.`);
      return reply.code(201).send(user);
    });

    app.get('/users', { config: { access: 'member' }, schema: { querystring: page, tags: ['users'] } }, async (req) => {
      const { limit, offset } = req.query;
      return paged(await users.listUsers(ctx.db, req.principal.org_id, limit + 1, offset), limit);
    });

    app.get('/users/:id', { config: { access: 'member', resource: 'user' }, schema: { params: userParams, tags: ['users'] } }, async (req) => {
      const user = await users.getUser(ctx.db, req.principal.org_id, req.params.id);
      if (!user) throw notFound('User');
      return user;
    });

    app.patch(
      '/users/:id',
      { config: { access: 'admin', resource: 'user' }, schema: { params: userParams, body: updateBody, tags: ['users'] } },
      async (req) => {
        const user = await users.updateUser(ctx.db, req.principal.org_id, req.params.id, req.body);
        if (!user) throw notFound('User');
        return user;
      },
    );

    app.delete('/users/:id', { config: { access: 'admin', resource: 'user' }, schema: { params: userParams, tags: ['users'] } }, async (req, reply) => {
      // A user known only by what is kept under its id (no users row) is forgotten all the same.
      const deleted = await forgetUser(ctx, req.principal.org_id, req.params.id);
      if (!Object.values(deleted).some((n) => n > 0)) throw notFound('User');
      return reply.code(200).send({ deleted });
    });
  };
