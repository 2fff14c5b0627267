-- Signed webhooks (docs/webhooks.md). An organization's endpoints, each with its secret
-- (sealed, bound to the endpoint's origin) and the events it wants; and the outbox: one
-- row per event and endpoint, written in the transaction of the change it reports, then
-- delivered (and retried) by any instance from here. A row's id is its webhook-id.
create table webhook_endpoints (
  id uuid primary key,
  org_id uuid not null references organizations (id) on delete cascade,
  url text not null,
  description text,
  events text[] not null,
  enabled boolean not null default true,
  -- secret-box ciphertext of "<origin>\n<whsec_…>": opened only to sign for that origin
  secret text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index webhook_endpoints_org on webhook_endpoints (org_id, created_at);

create table webhook_deliveries (
  id text primary key,
  org_id uuid not null,
  endpoint_id uuid not null references webhook_endpoints (id) on delete cascade,
  event text not null,
  -- the end user the payload is about (forgetting them deletes their deliveries)
  user_id text,
  -- the exact bytes signed and sent, the same on every attempt
  body text not null,
  -- pending → sending (leased to one instance) → delivered | failed; back to pending to retry
  status text not null default 'pending',
  attempts int not null default 0,
  next_at timestamptz not null default now(),
  locked_until timestamptz,
  last_status int,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  delivered_at timestamptz
);
-- What the workers claim: due rows (and leases a dead instance left), oldest due first.
create index webhook_deliveries_due on webhook_deliveries (next_at) where status in ('pending', 'sending');
create index webhook_deliveries_endpoint on webhook_deliveries (endpoint_id, created_at);
create index webhook_deliveries_user on webhook_deliveries (org_id, user_id) where user_id is not null;
-- Retention: everything older than AGENTMEM_WEBHOOK_RETENTION_MS is purged (found by this index).
create index webhook_deliveries_created on webhook_deliveries (created_at);
