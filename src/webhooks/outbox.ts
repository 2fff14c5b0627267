// Emitting events: the outbox rows are written with the caller's transaction (`q`), so an
// event is stored exactly when the change it reports commits — a crash after the commit
// loses none (the worker, delivery.ts, sends them from the table), a rollback sends none.
import type { Queryable } from '../store/db.ts';
import { enqueueEvents, subscribedEvents } from '../store/repos/webhooks.ts';
import type { WebhookEvent } from './events.ts';

/** The body a delivery sends: `{type, timestamp, data}`, serialized once, signed as is on every attempt. */
export const eventBody = (e: WebhookEvent, at = new Date()) => JSON.stringify({ type: e.type, timestamp: at.toISOString(), data: e.data });

/**
 * Writes the events some endpoint of the org wants. One small query first: an org without
 * endpoints (most) pays that round trip, and no body is built or sent to the store.
 */
export async function emitEvents(q: Queryable, orgId: string, events: WebhookEvent[]): Promise<void> {
  if (!events.length) return;
  const wanted = await subscribedEvents(q, orgId);
  const sent = events.filter((e) => wanted.has(e.type));
  if (!sent.length) return;
  const at = new Date();
  await enqueueEvents(
    q,
    orgId,
    sent.map((e) => ({ type: e.type, user_id: e.user_id, body: eventBody(e, at) })),
  );
}
