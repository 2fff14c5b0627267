// Webhook endpoints and their outbox (011_webhooks.sql): plain SQL, the same on PGlite and
// PostgreSQL. The sealed secret never leaves this module except to the delivery worker.
import { one, type Queryable } from '../db.ts';

export interface WebhookEndpoint {
  id: string;
  url: string;
  description: string | null;
  events: string[];
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

export type DeliveryStatus = 'pending' | 'sending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  id: string;
  endpoint_id: string;
  event: string;
  status: DeliveryStatus;
  attempts: number;
  next_at: Date;
  last_status: number | null;
  last_error: string | null;
  created_at: Date;
  delivered_at: Date | null;
}

/** A delivery leased to this instance, with what it takes to send it. */
export interface ClaimedDelivery {
  id: string;
  org_id: string;
  endpoint_id: string;
  event: string;
  body: string;
  attempts: number;
  url: string;
  /** sealed "<origin>\n<secret>" */
  secret: string;
}

const endpointColumns = 'id, url, description, events, enabled, created_at, updated_at';
const deliveryColumns = 'id, endpoint_id, event, status, attempts, next_at, last_status, last_error, created_at, delivered_at';

export const createEndpoint = (
  db: Queryable,
  e: { id: string; org_id: string; url: string; description: string | null; events: string[]; enabled: boolean; secret: string },
) =>
  one<WebhookEndpoint>(
    db,
    `insert into webhook_endpoints (id, org_id, url, description, events, enabled, secret)
     values ($1, $2, $3, $4, $5, $6, $7) returning ${endpointColumns}`,
    [e.id, e.org_id, e.url, e.description, e.events, e.enabled, e.secret],
  ) as Promise<WebhookEndpoint>;

export const listEndpoints = (db: Queryable, orgId: string, limit: number, offset: number) =>
  db.query<WebhookEndpoint>(`select ${endpointColumns} from webhook_endpoints where org_id = $1 order by created_at, id limit $2 offset $3`, [
    orgId,
    limit,
    offset,
  ]);

export const getEndpoint = (db: Queryable, orgId: string, id: string) =>
  one<WebhookEndpoint>(db, `select ${endpointColumns} from webhook_endpoints where org_id = $1 and id = $2`, [orgId, id]);

/** Undefined fields are left as they are; `secret` is given with a new origin (or a rotation). */
export const updateEndpoint = (
  db: Queryable,
  orgId: string,
  id: string,
  c: { url?: string; description?: string | null; events?: string[]; enabled?: boolean; secret?: string },
) =>
  one<WebhookEndpoint>(
    db,
    `update webhook_endpoints set url = coalesce($3, url),
       description = case when $4 then $5 else description end,
       events = coalesce($6, events), enabled = coalesce($7, enabled), secret = coalesce($8, secret), updated_at = now()
     where org_id = $1 and id = $2 returning ${endpointColumns}`,
    [orgId, id, c.url ?? null, c.description !== undefined, c.description ?? null, c.events ?? null, c.enabled ?? null, c.secret ?? null],
  );

export const deleteEndpoint = async (db: Queryable, orgId: string, id: string) =>
  (await db.query('delete from webhook_endpoints where org_id = $1 and id = $2 returning id', [orgId, id])).length > 0;

/** The events the org's enabled endpoints want (none: no endpoint, the common case). */
export const subscribedEvents = async (db: Queryable, orgId: string) =>
  new Set(
    (await db.query<{ event: string }>('select distinct unnest(events) as event from webhook_endpoints where org_id = $1 and enabled', [orgId])).map(
      (r) => r.event,
    ),
  );

/**
 * The outbox write: one delivery per event and enabled endpoint of the org that wants it,
 * in the caller's transaction (nothing at all when the org has no endpoint). `body` is the
 * JSON sent; each delivery gets its own webhook-id.
 */
export async function enqueueEvents(db: Queryable, orgId: string, events: Array<{ type: string; user_id: string | null; body: string }>): Promise<void> {
  if (!events.length) return;
  await db.query(
    `insert into webhook_deliveries (id, org_id, endpoint_id, event, user_id, body)
     select 'msg_' || replace(gen_random_uuid()::text, '-', ''), $1, e.id, t.type, t.user_id, t.body
     from unnest($2::text[], $3::text[], $4::text[]) with ordinality as t(type, user_id, body, n)
     join webhook_endpoints e on e.org_id = $1 and e.enabled and t.type = any(e.events)
     order by t.n`,
    [orgId, events.map((e) => e.type), events.map((e) => e.user_id), events.map((e) => e.body)],
  );
}

/**
 * Leases the next due delivery to the caller for `leaseMs`: a pending one whose time has
 * come, or one whose lease ran out (its instance died mid-delivery). Rows of the endpoints
 * in `busy` (as many in flight here as allowed) are left for later; SKIP LOCKED keeps two
 * instances from taking the same row.
 */
export const claimDelivery = (db: Queryable, leaseMs: number, busy: string[]) =>
  one<ClaimedDelivery>(
    db,
    `update webhook_deliveries d set status = 'sending', attempts = d.attempts + 1, updated_at = now(),
       locked_until = now() + make_interval(secs => $1::float8 / 1000)
     from webhook_endpoints e
     where e.id = d.endpoint_id and d.id = (
       select w.id from webhook_deliveries w
       where ((w.status = 'pending' and w.next_at <= now()) or (w.status = 'sending' and w.locked_until < now()))
         and w.endpoint_id <> all($2::uuid[])
         and exists (select 1 from webhook_endpoints x where x.id = w.endpoint_id and x.enabled)
       order by w.next_at limit 1 for update of w skip locked)
     returning d.id, d.org_id, d.endpoint_id, d.event, d.body, d.attempts, e.url, e.secret`,
    [leaseMs, busy],
  );

export const markDelivered = (db: Queryable, id: string, status: number) =>
  db.query(
    `update webhook_deliveries set status = 'delivered', locked_until = null, last_status = $2, last_error = null,
       delivered_at = now(), updated_at = now() where id = $1`,
    [id, status],
  );

/** A failed attempt: pending again after `retryInMs`, or failed for good (null). */
export const markFailed = (db: Queryable, id: string, f: { status: number | null; error: string; retryInMs: number | null }) =>
  db.query(
    `update webhook_deliveries set status = $2, locked_until = null, last_status = $3, last_error = $4, updated_at = now(),
       next_at = case when $5::float8 is null then next_at else now() + make_interval(secs => $5::float8 / 1000) end
     where id = $1`,
    [id, f.retryInMs === null ? 'failed' : 'pending', f.status, f.error.slice(0, 1_000), f.retryInMs],
  );

/** A lease given back unsent (a graceful stop): due again at once, the attempt not counted. */
export const releaseDelivery = (db: Queryable, id: string) =>
  db.query(
    `update webhook_deliveries set status = 'pending', attempts = attempts - 1, locked_until = null, updated_at = now() where id = $1 and status = 'sending'`,
    [id],
  );

/** Newest first, optionally of one status. */
export const listDeliveries = (db: Queryable, orgId: string, endpointId: string, status: DeliveryStatus | undefined, limit: number, offset: number) =>
  db.query<WebhookDelivery>(
    `select ${deliveryColumns} from webhook_deliveries
     where org_id = $1 and endpoint_id = $2 and ($3::text is null or status = $3)
     order by created_at desc, id desc limit $4 offset $5`,
    [orgId, endpointId, status ?? null, limit, offset],
  );

/** Sends a delivery again (same webhook-id, same body), now; not one that is being sent. */
export const redeliver = (db: Queryable, orgId: string, endpointId: string, id: string) =>
  one<WebhookDelivery>(
    db,
    `update webhook_deliveries set status = 'pending', next_at = now(), attempts = 0, updated_at = now()
     where org_id = $1 and endpoint_id = $2 and id = $3 and status <> 'sending' returning ${deliveryColumns}`,
    [orgId, endpointId, id],
  );

export const getDelivery = (db: Queryable, orgId: string, endpointId: string, id: string) =>
  one<WebhookDelivery>(db, `select ${deliveryColumns} from webhook_deliveries where org_id = $1 and endpoint_id = $2 and id = $3`, [orgId, endpointId, id]);

/** Retention: deletes deliveries created more than `olderThanMs` ago, whatever became of them; returns how many. */
export const purgeDeliveries = async (db: Queryable, olderThanMs: number) =>
  (await db.query(`delete from webhook_deliveries where created_at < now() - make_interval(secs => $1::float8 / 1000) returning 1`, [olderThanMs])).length;

/** Forgetting a user: every delivery about them (their text) goes. */
export const deleteUserDeliveries = (db: Queryable, orgId: string, userId: string) =>
  db.query('delete from webhook_deliveries where org_id = $1 and user_id = $2', [orgId, userId]);
