// Chat over native SSE and as one JSON answer. Both run the same turn; they differ
// only in the sink the events go to.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { onAbort } from '../../abort.ts';
import { AppError, errorBody, notFound } from '../errors.ts';
import { idParams, isUuid } from '../http.ts';
import { openSse, type SseWriter } from '../encoders/sse.ts';
import { nativeEvents } from '../encoders/encoder.ts';
import { flowLimits } from '../encoders/backpressure.ts';
import type { ServerContext } from '../context.ts';
import type { Frame, HeldStream } from '../stream-hold.ts';
import { streamTurn } from '../stream-turn.ts';
import { userId } from './users.ts';
import { jsonTurn, loadAgent, scopeTurn, streamedTurn, type TurnRequest } from './turn.ts';
import { checkAgent } from '../scope.ts';

export const chatBody = z.strictObject({
  message: z.string().min(1).max(200_000).regex(/\S/, 'must not be blank'),
  user_id: userId.optional(),
  session_id: z.string().max(200).optional(),
});

const streamBody = chatBody.extend({
  resumable: z.boolean().optional().describe('keep the turn running for AGENTMEM_STREAM_GRACE_MS after the client leaves, so it can resume'),
});

const resumeParams = z.object({ id: z.string().max(200), message_id: z.string().max(200) });
const resumeQuery = z.object({ last_event_id: z.string().max(20).optional() });

/** The seq a client has seen (0: none); anything but a non-negative integer is a 400. */
function lastEventId(raw: string | string[] | undefined): number {
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v.trim() === '') return 0;
  if (!/^\d{1,15}$/.test(v.trim())) throw new AppError('bad_request', 'Last-Event-ID must be a non-negative integer (the `id:` of the last frame received).');
  return Number(v.trim());
}

/**
 * The turn's signal for a `resumable` stream: the client leaving starts a grace period; it
 * aborts the turn when it ends with no client following the stream on this instance.
 */
function afterGrace(gone: AbortSignal, graceMs: number, followers: () => number): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    if (followers() > 0) timer = setTimeout(check, graceMs);
    else controller.abort();
  };
  const onGone = () => {
    timer = setTimeout(check, graceMs);
  };
  const detach = onAbort(gone, onGone);
  return {
    signal: controller.signal,
    release() {
      clearTimeout(timer);
      detach();
    },
  };
}

export const chatRoutes =
  (ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    /** The turn: the agent (cached) and the chat input, or a 4xx before any byte is streamed. */
    async function prepare(req: FastifyRequest, route: string, agentId: string, body: z.output<typeof chatBody>): Promise<TurnRequest> {
      const agent = await loadAgent(ctx, req.principal.org_id, agentId, req.timings);
      const userId = await scopeTurn(ctx, req.principal, agent, body.user_id, body.session_id);
      const input = { orgId: req.principal.org_id, message: body.message, userId, sessionId: body.session_id };
      return { route, timings: req.timings, log: req.log, agent, input };
    }

    // Every stream is held (stream-hold.ts) while it runs and `streamHoldMs` after, for
    // GET …/chat/stream/:message_id with Last-Event-ID. The client leaving still cancels
    // the turn at once; with `resumable: true` it runs on for `streamGraceMs` unfollowed.
    app.post(
      '/agents/:id/chat/stream',
      { config: { access: 'scoped', resource: 'agent' }, schema: { params: idParams, body: streamBody, tags: ['chat'] } },
      async (req, reply) => {
        const { resumable, ...body } = req.body;
        const turn = await prepare(req, 'stream', req.params.id, body);
        const { agent, input } = turn;
        let held: HeldStream | undefined;
        // Every frame is held for a resume, from the start event (which opens the held stream) on.
        const stream = streamTurn(
          reply,
          nativeEvents(),
          {},
          {
            flow: flowLimits(ctx.config),
            onFrame(event, frame) {
              if (event.chunk_type === 'start')
                held = ctx.streams.open(event.message_id, { orgId: input.orgId, agentId: agent.id, userId: input.userId ?? null });
              held?.push(frame);
            },
          },
        );
        await streamedTurn(ctx, turn, reply, stream, {
          outlive: resumable ? (gone) => afterGrace(gone, ctx.config.streamGraceMs, () => held?.followers ?? 0) : undefined,
          ended(result) {
            // A resumed stream learns how the turn ended; the one who left is not written to.
            if (result?.aborted) {
              stream.emit({
                chunk_type: 'error',
                code: 'client_aborted',
                message: 'The client went away; the answer was cut off.',
                retryable: true,
                message_id: result.messageId,
              });
            }
            held?.end();
          },
        });
      },
    );

    app.get(
      '/agents/:id/chat/stream/:message_id',
      {
        config: { access: 'scoped' },
        schema: {
          params: resumeParams,
          querystring: resumeQuery,
          tags: ['chat'],
          summary: 'Resume a held SSE chat stream',
          description:
            'The frames after `Last-Event-ID` (header, or `last_event_id` query; none: from the start), then the live rest while it runs. ' +
            "Streams are held while running and AGENTMEM_STREAM_HOLD_MS (5 min) after; unknown, expired and other orgs' streams are 404.",
        },
      },
      async (req, reply) => {
        const after = lastEventId(req.headers['last-event-id'] ?? req.query.last_event_id);
        const { id, message_id } = req.params;
        if (!isUuid(id) || !isUuid(message_id)) throw notFound('Stream');
        checkAgent(req.principal, id);
        // A scoped key resumes only the streams of its own user.
        const owner = { orgId: req.principal.org_id, agentId: id, ...(req.principal.user_id !== null ? { userId: req.principal.user_id } : {}) };
        // Frames may arrive before the answer is known to be a 200: kept until then.
        let sse: SseWriter | undefined;
        const early: Frame[] = [];
        const result = await ctx.streams.resume(message_id, owner, after, (f) => (sse ? sse.writeFrame(f) : early.push(f)));
        if (!result.ok) {
          throw result.reason === 'truncated'
            ? new AppError('not_found', `Stream frames after ${after} are no longer held; start from a later Last-Event-ID or fetch the session's messages.`)
            : notFound('Stream');
        }
        reply.hijack();
        sse = openSse(reply.raw);
        for (const f of early) sse.writeFrame(f);
        const cancel = () => result.follow.cancel();
        reply.raw.once('close', cancel);
        if (req.raw.socket?.destroyed) cancel(); // left while the replay was read
        // A shutdown ends a replay of another instance's stream (the client resumes elsewhere).
        const live = ctx.live.track(undefined, 'follow');
        const detach = onAbort(live.signal, cancel);
        try {
          await result.follow.done;
        } finally {
          detach();
          live.release();
          reply.raw.off('close', cancel);
          sse.end();
        }
      },
    );

    app.post(
      '/agents/:id/chat',
      { config: { access: 'scoped', resource: 'agent' }, schema: { params: idParams, body: chatBody, tags: ['chat'] } },
      async (req, reply) => {
        const result = await jsonTurn(ctx, await prepare(req, 'json', req.params.id, req.body), reply);
        const timings = req.timings.toJSON();
        if (result.error) {
          return {
            ...errorBody(result.error.code, result.error.message),
            retryable: result.error.retryable,
            content: result.content,
            session_id: result.sessionId,
            message_id: result.messageId,
          };
        }
        return {
          content: result.content,
          ...(result.reasoning ? { reasoning: result.reasoning } : {}),
          session_id: result.sessionId,
          message_id: result.messageId,
          finish_reason: result.finishReason ?? 'stop',
          usage: result.usage,
          timings,
        };
      },
    );
  };
