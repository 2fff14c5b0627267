// Webhook endpoints and their deliveries (docs/webhooks.md): admin keys only. A secret is
// in the answer of a create, a rotation, or a change of URL to another origin — never in
// any other answer, list or log.
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { egressDenial } from '../../llm/egress.ts';
import * as repo from '../../store/repos/webhooks.ts';
import { SUBSCRIBABLE_EVENTS, type WebhookEventType } from '../../webhooks/events.ts';
import type { ServerContext } from '../context.ts';
import { AppError, notFound } from '../errors.ts';
import { found, idParams, isUuid, page, paged } from '../http.ts';

const url = z
  .url({ protocol: /^https?$/, normalize: true })
  .max(2_000)
  .refine((u) => {
    const p = new URL(u);
    return !p.username && !p.password && !p.hash;
  }, 'an http(s) URL without credentials or fragment')
  .describe('where events are POSTed; must pass the egress policy (AGENTMEM_EGRESS); redirects are not followed');
const events = z
  .array(z.enum(SUBSCRIBABLE_EVENTS as [WebhookEventType, ...WebhookEventType[]]))
  .min(1)
  .max(SUBSCRIBABLE_EVENTS.length)
  .describe(`events to receive: ${SUBSCRIBABLE_EVENTS.join(', ')}`);
const description = z.string().max(500).nullable();

const endpointInput = z.strictObject({ url, events, description: description.optional(), enabled: z.boolean().default(true) });
const endpointPatch = z
  .strictObject({ url: url.optional(), events: events.optional(), description: description.optional(), enabled: z.boolean().optional() })
  .refine((p) => Object.values(p).some((v) => v !== undefined), 'give url, events, description or enabled');
const deliveryQuery = page.extend({ status: z.enum(['pending', 'sending', 'delivered', 'failed']).optional() });
const deliveryParams = z.object({ id: z.string().max(200), delivery_id: z.string().max(200) });

/** An egress refusal of the URL as a 400 naming the field. */
async function checked<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const denied = egressDenial(err);
    if (denied) throw new AppError('egress_denied', `body.url: ${denied.message}`);
    throw err;
  }
}

export const webhookRoutes =
  (ctx: ServerContext): FastifyPluginAsyncZod =>
  async (app) => {
    const config = { access: 'admin', resource: 'webhook' } as const;
    const tags = ['webhooks'];
    const endpoint = (org: string, id: string) => found('Webhook endpoint', id, () => repo.getEndpoint(ctx.db, org, id));

    app.post('/webhooks', { config, schema: { body: endpointInput, tags } }, async (req, reply) => {
      const { endpoint, secret } = await checked(() => ctx.webhooks.create(req.principal.org_id, req.body));
      // The only time the secret is shown (and at a rotation).
      return reply.code(201).send({ ...endpoint, secret });
    });

    app.get('/webhooks', { config, schema: { querystring: page, tags } }, async (req) => {
      const { limit, offset } = req.query;
      return paged(await repo.listEndpoints(ctx.db, req.principal.org_id, limit + 1, offset), limit);
    });

    app.get('/webhooks/:id', { config, schema: { params: idParams, tags } }, async (req) => endpoint(req.principal.org_id, req.params.id));

    app.patch('/webhooks/:id', { config, schema: { params: idParams, body: endpointPatch, tags } }, async (req) => {
      const { id } = req.params;
      if (!isUuid(id)) throw notFound('Webhook endpoint');
      const out = await checked(() => ctx.webhooks.update(req.principal.org_id, id, req.body));
      if (!out) throw notFound('Webhook endpoint');
      // A new origin gets a new secret, shown here once.
      return out.secret ? { ...out.endpoint, secret: out.secret } : out.endpoint;
    });

    app.delete('/webhooks/:id', { config, schema: { params: idParams, tags } }, async (req, reply) => {
      const { id } = req.params;
      if (!isUuid(id) || !(await repo.deleteEndpoint(ctx.db, req.principal.org_id, id))) throw notFound('Webhook endpoint');
      return reply.code(204).send();
    });

    app.post('/webhooks/:id/rotate-secret', { config, schema: { params: idParams, tags } }, async (req) => {
      const { id } = req.params;
      const out = isUuid(id) ? await ctx.webhooks.rotate(req.principal.org_id, id) : undefined;
      if (!out) throw notFound('Webhook endpoint');
      return { ...out.endpoint, secret: out.secret };
    });

    app.get('/webhooks/:id/deliveries', { config, schema: { params: idParams, querystring: deliveryQuery, tags } }, async (req) => {
      const org = req.principal.org_id;
      await endpoint(org, req.params.id);
      const { limit, offset, status } = req.query;
      return paged(await repo.listDeliveries(ctx.db, org, req.params.id, status, limit + 1, offset), limit);
    });

    app.get('/webhooks/:id/deliveries/:delivery_id', { config, schema: { params: deliveryParams, tags } }, async (req) => {
      const org = req.principal.org_id;
      await endpoint(org, req.params.id);
      const d = await repo.getDelivery(ctx.db, org, req.params.id, req.params.delivery_id);
      if (!d) throw notFound('Delivery');
      return d;
    });

    app.post('/webhooks/:id/deliveries/:delivery_id/redeliver', { config, schema: { params: deliveryParams, tags } }, async (req, reply) => {
      const org = req.principal.org_id;
      await endpoint(org, req.params.id);
      if (!(await repo.getDelivery(ctx.db, org, req.params.id, req.params.delivery_id))) throw notFound('Delivery');
      const d = await repo.redeliver(ctx.db, org, req.params.id, req.params.delivery_id);
      if (!d) throw new AppError('conflict', 'The delivery is being sent right now.');
      return reply.code(202).send(d);
    });
  };
