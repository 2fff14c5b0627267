// Memory for apps that call their own model: the prompt a chat turn would send (the same
// window, recall, working memory, summary and budget, agent/turn-prompt.ts), then the
// exchange stored afterwards as a turn stores one (agent/exchange-store.ts). The client
// package's AI SDK middleware calls the two around the app's model call.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { storeExchange } from '../../agent/exchange-store.ts';
import { turnContext } from '../../agent/turn-context.ts';
import { turnPrompt } from '../../agent/turn-prompt.ts';
import type { ServerContext } from '../context.ts';
import { idParams } from '../http.ts';
import { chatBody } from './chat.ts';
import { clientGone, loadAgent, scopeTurn } from './turn.ts';

const contextBody = chatBody.extend({
  system: z.array(z.string().max(200_000)).max(20).optional().describe("the app's own system messages: sent after the agent's, and counted in the budget"),
});

const message = z.object({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string().nullable(),
  tool_calls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.string() })).optional(),
  tool_call_id: z.string().optional(),
});

const contextAnswer = z.object({
  session_id: z.string().nullable().describe('the session the window came from (null: none yet; storing the exchange starts one)'),
  user_id: z.string().nullable(),
  messages: z.array(message).describe("what to send the model, in the order a chat turn sends it: the user's message last, with its memory blocks"),
  cache_breakpoints: z
    .array(z.number().int())
    .describe('indexes of the last message of each part that stays the same from turn to turn (where a prefix cache may end)'),
  recalled: z.array(z.object({ id: z.string(), content: z.string(), score: z.number() })),
});

const exchangeBody = chatBody.extend({
  answer: z.string().max(2_000_000).describe("the model's answer to `message`"),
  reasoning: z.string().max(2_000_000).optional(),
  finish_reason: z.enum(['stop', 'length', 'tool_calls', 'content_filter', 'error', 'other']).optional(),
  usage: z.strictObject({ prompt_tokens: z.number().int().min(0), completion_tokens: z.number().int().min(0) }).optional(),
  memory_updates: z.boolean().optional().describe("wait for memory extraction and answer what it changed (it runs in any case, off the request's path)"),
});

const memoryUpdate = z.object({ event: z.enum(['ADD', 'UPDATE', 'DELETE', 'DUPLICATE']), memory_id: z.string(), content: z.string().nullable() });

const exchangeAnswer = z.object({
  session_id: z.string(),
  user_message_id: z.string(),
  message_id: z.string(),
  memory_updates: z.array(memoryUpdate).optional(),
});

export const contextRoutes =
  (ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    const tags = ['memory for your own model'];
    const config = { access: 'scoped', resource: 'agent' } as const;

    app.post(
      '/agents/:id/context',
      {
        config,
        schema: {
          params: idParams,
          body: contextBody,
          response: { 200: contextAnswer },
          tags,
          summary: 'The messages to send your own model',
          description:
            "What a chat turn would send upstream for `message`, fitted to the agent's model window: the system prompt and the session's summary, the history window, " +
            'working memory and the memories recalled for the message. Nothing is stored (but where the window starts); store the answer with POST …/exchanges.',
        },
      },
      async (req, reply) => {
        const { system, ...body } = req.body;
        const orgId = req.principal.org_id;
        const agent = await loadAgent(ctx, orgId, req.params.id, req.timings);
        const userId = await scopeTurn(ctx, req.principal, agent, body.user_id, body.session_id);
        const gone = clientGone(reply);
        const input = { orgId, message: body.message, userId, sessionId: body.session_id, system };
        // (no gate: nothing here awaits a first token)
        const turn = turnContext({ ...ctx.run, gate: undefined }, agent, input, { emit() {} }, gone.signal, req.timings);
        try {
          const p = await turnPrompt(turn);
          return {
            session_id: p.sessionId,
            user_id: p.userId,
            messages: p.messages,
            cache_breakpoints: p.breakpoints,
            recalled: p.recalled.map((m) => ({ id: m.id, content: m.content, score: m.score })),
          };
        } finally {
          turn.end();
          gone.release();
        }
      },
    );

    app.post(
      '/agents/:id/exchanges',
      {
        config,
        schema: {
          params: idParams,
          body: exchangeBody,
          response: { 201: exchangeAnswer },
          tags,
          summary: 'Store an exchange with your own model',
          description:
            "The user's message and the model's answer, stored in the session (a new one when `session_id` is left out) as a chat turn stores them; " +
            'memory extraction and summaries follow as after a turn.',
        },
      },
      async (req, reply) => {
        const { answer, reasoning, finish_reason, usage, memory_updates, ...body } = req.body;
        const orgId = req.principal.org_id;
        const agent = await loadAgent(ctx, orgId, req.params.id, req.timings);
        const userId = await scopeTurn(ctx, req.principal, agent, body.user_id, body.session_id);
        const stored = await storeExchange(
          ctx.run,
          agent,
          {
            orgId,
            message: body.message,
            userId,
            sessionId: body.session_id,
            answer,
            reasoning,
            finishReason: finish_reason,
            usage: usage && { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens, cached_prompt_tokens: 0 },
          },
          memory_updates ?? false,
        );
        reply.code(201);
        return {
          session_id: stored.sessionId,
          user_message_id: stored.userMessageId,
          message_id: stored.messageId,
          ...(stored.memoryUpdates ? { memory_updates: stored.memoryUpdates.map(({ event, memory_id, content }) => ({ event, memory_id, content })) } : {}),
        };
      },
    );
  };
