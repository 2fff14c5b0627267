// Working memory through the API: the block an agent keeps per user (memory.working),
// read and replaced whole. Scoped keys reach only their own user's block; another
// organization's agent is a 404.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WORKING_MEMORY_MAX_CHARS } from '../../memory/working-memory.ts';
import type { ServerContext } from '../context.ts';
import { AppError, notFound } from '../errors.ts';
import { isUuid } from '../http.ts';
import { actingUser, checkAgent } from '../scope.ts';
import { userId } from './users.ts';

const params = z.object({ id: z.string().max(200), user_id: userId });
const body = z.strictObject({
  content: z.string().max(WORKING_MEMORY_MAX_CHARS, `content: working memory holds at most ${WORKING_MEMORY_MAX_CHARS} characters`),
});

export const workingMemoryRoutes =
  (ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    const tags = ['memories'];
    const config = { access: 'scoped', resource: 'agent' } as const;

    /** The org's agent, the user this key may act as, and the store. */
    async function target(orgId: string, p: Parameters<typeof actingUser>[0], agentId: string, user: string) {
      const agent = isUuid(agentId) ? await ctx.agentCache.get(orgId, agentId) : undefined;
      if (!agent) throw notFound('Agent');
      checkAgent(p, agent.id);
      const owner = actingUser(p, user)!;
      const working = ctx.run.working;
      if (!working) throw new AppError('internal_error', 'Working memory is not available.');
      return { agent, owner, working };
    }

    const view = (agentId: string, user: string, w: { content: string; updated_at: Date | null }) => ({ agent_id: agentId, user_id: user, ...w });

    app.get(
      '/agents/:id/working-memory/:user_id',
      {
        config,
        schema: {
          params,
          tags,
          summary: "A user's working memory",
          description: "The block in the system prompt of this user's turns (memory.working); the template until something is written.",
        },
      },
      async (req) => {
        const { agent, owner, working } = await target(req.principal.org_id, req.principal, req.params.id, req.params.user_id);
        return view(agent.id, owner, await working.get(req.principal.org_id, agent.id, 'user', owner, agent.config.memory.working.template));
      },
    );

    app.put(
      '/agents/:id/working-memory/:user_id',
      {
        config,
        schema: {
          params,
          body,
          tags,
          summary: "Replace a user's working memory",
          description: `At most ${WORKING_MEMORY_MAX_CHARS} characters. With memory.working.scope "session" the blocks are per session and written by the agent's tool.`,
        },
      },
      async (req) => {
        const { agent, owner, working } = await target(req.principal.org_id, req.principal, req.params.id, req.params.user_id);
        if (agent.config.memory.working.scope === 'session') {
          throw new AppError('bad_request', 'This agent keeps working memory per session (memory.working.scope "session"), not per user.');
        }
        return view(agent.id, owner, await working.put(req.principal.org_id, agent.id, 'user', owner, req.body.content.replaceAll('\u0000', '')));
      },
    );
  };
