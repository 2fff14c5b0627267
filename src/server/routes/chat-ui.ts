// Chat for the AI SDK's `useChat`: POST /agents/:id/chat/ui answers with the UI
// message stream protocol v1 (encoders/ui-stream.ts).
//
// The body is what useChat's DefaultChatTransport sends — {id, messages, trigger,
// messageId} — plus our optional user_id and session_id. The client resends the whole
// conversation: its earlier messages are this turn's history (a lone user message uses
// the session's stored window), the last one must be the user's. Sessions:
//   - `session_id` given: the turn continues that session;
//   - else the chat `id` maps to one session of this agent, derived from (org, agent, id):
//     the first request of a chat creates it, later ones continue it, so one useChat
//     conversation is one stored session; its id is in the `start` part's messageMetadata
//     (and the `x-session-id` header).
// `trigger: 'regenerate-message'` runs a new turn from the messages sent (the earlier
// answer stays stored in the session).
import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ServerContext } from '../context.ts';
import { uiStreamHeaders, uiStreamParts } from '../encoders/ui-stream.ts';
import { flowLimits } from '../encoders/backpressure.ts';
import { AppError } from '../errors.ts';
import { idParams } from '../http.ts';
import { streamTurn } from '../stream-turn.ts';
import { clientHistory } from './client-history.ts';
import { loadAgent, scopeTurn, streamedTurn } from './turn.ts';
import { userId } from './users.ts';
// Parts other than text (files, tool calls, step-start, data-*) are accepted and not sent upstream.
const uiPart = z.union([z.looseObject({ type: z.literal('text'), text: z.string() }), z.looseObject({ type: z.string().max(200) })]);
const uiMessage = z.looseObject({
  id: z.string().max(200),
  role: z.enum(['system', 'user', 'assistant']),
  parts: z.array(uiPart).max(1_000),
});

// Not strict: useChat's `body` option lets an app add fields of its own.
export const uiChatBody = z.object({
  id: z.string().min(1).max(200).optional(),
  messages: z.array(uiMessage).min(1).max(10_000),
  trigger: z.enum(['submit-message', 'regenerate-message']).optional(),
  messageId: z.string().max(200).optional(),
  user_id: userId.optional(),
  session_id: z.string().max(200).optional(),
});

const textOf = (m: z.output<typeof uiMessage>): string => m.parts.map((p) => (p.type === 'text' && typeof p.text === 'string' ? p.text : '')).join('');

/** A name-based (v5-style) UUID: the same chat of the same agent always names the same session. */
export function chatSessionId(orgId: string, agentId: string, chatId: string): string {
  const h = createHash('sha1').update(`agentmem:ui-chat\n${orgId}\n${agentId}\n${chatId}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export const chatUiRoutes =
  (ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/agents/:id/chat/ui',
      { config: { access: 'scoped', resource: 'agent' }, schema: { params: idParams, body: uiChatBody, tags: ['chat'] } },
      async (req, reply) => {
        const body = req.body;
        const orgId = req.principal.org_id;
        const agent = await loadAgent(ctx, orgId, req.params.id, req.timings);
        const last = body.messages.at(-1)!;
        const text = last.role === 'user' ? textOf(last) : '';
        if (!text.trim()) throw new AppError('validation_error', 'body.messages: the last message must be a user message with a text part that is not blank.');
        const history = clientHistory(body.messages.slice(0, -1).map((m) => ({ role: m.role, content: textOf(m) })));
        const chatSession = body.session_id ?? (body.id ? chatSessionId(orgId, agent.id, body.id) : undefined);
        const userId = await scopeTurn(ctx, req.principal, agent, body.user_id, chatSession);
        // The chat's session: created by its first request, continued by the later ones.
        if (body.session_id === undefined && chatSession)
          await ctx.history.ensureSession({ id: chatSession, orgId, agentId: agent.id, userId: userId ?? null });
        const input = { orgId, message: text, userId, sessionId: chatSession, history };
        const stream = streamTurn(reply, uiStreamParts(), uiStreamHeaders, { flow: flowLimits(ctx.config), last: '[DONE]' });
        await streamedTurn(ctx, { route: 'ui', timings: req.timings, log: req.log, agent, input }, reply, stream);
      },
    );
  };
