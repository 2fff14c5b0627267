// Emitting events: the outbox rows are written with the caller's transaction (`q`), so an
// event is stored exactly when the change it reports commits — a crash after the commit
// loses none (the worker, delivery.ts, sends them from the table), a rollback sends none.
import type { Queryable } from '../store/db.ts';
import { enqueueEvents } from '../store/repos/webhooks.ts';
import type { WebhookEvent } from './events.ts';

/** The body a delivery sends: `{type, timestamp, data}`, serialized once, signed as is on every attempt. */
export const eventBody = (e: WebhookEvent, at = new Date()) => JSON.stringify({ type: e.type, timestamp: at.toISOString(), data: e.data });

export function emitEvents(q: Queryable, orgId: string, events: WebhookEvent[]): Promise<void> {
  const at = new Date();
  return enqueueEvents(
    q,
    orgId,
    events.map((e) => ({ type: e.type, user_id: e.user_id, body: eventBody(e, at) })),
  );
}
