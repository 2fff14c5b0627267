// POST /api/v1/sessions/import: a user's past conversation brought in as a new session,
// with its original timestamps, all or nothing, so episodic recall (memory.semantic_recall.scope
// "messages" | "both") finds it. Its size is bounded by the kind of key (input-limits.ts), and
// it is written in bounded chunks (store/repos/message-search.ts importSession).
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ServerContext } from '../context.ts';
import { checkItems, importLimits } from '../input-limits.ts';
import { actingUser, checkAgent } from '../scope.ts';
import { userId } from './users.ts';

export const MAX_IMPORT = importLimits.member.items;

const importBody = z.strictObject({
  agent_id: z.uuid(),
  user_id: userId.optional(),
  title: z.string().max(500).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  messages: z
    .array(
      z.strictObject({
        role: z.enum(['user', 'assistant', 'system']),
        content: z.string().min(1).max(100_000),
        created_at: z.iso.datetime({ offset: true }).describe('when it was said (kept as the message time)'),
        metadata: z.record(z.string(), z.unknown()).optional(),
      }),
    )
    .min(1)
    .max(MAX_IMPORT),
});

export const sessionImportRoutes =
  (ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/sessions/import',
      {
        config: { access: 'scoped', inputLimits: importLimits },
        bodyLimit: Math.max(ctx.config.bodyLimit, importLimits.member.bytes),
        schema: { body: importBody, tags: ['sessions'], summary: `Import a past conversation (up to ${MAX_IMPORT} messages) as a new session` },
      },
      async (req, reply) => {
        const { agent_id, messages, ...rest } = req.body;
        checkAgent(req.principal, agent_id);
        checkItems(req.principal, importLimits, messages.length, 'messages');
        const user_id = actingUser(req.principal, req.body.user_id) ?? null;
        // An unknown agent is a 404 (client-error.ts).
        const out = await ctx.memories.importSession(
          req.principal.org_id,
          { ...rest, agent_id, user_id },
          messages.map((m) => ({ ...m, created_at: new Date(m.created_at) })),
        );
        return reply.code(201).send(out);
      },
    );
  };
