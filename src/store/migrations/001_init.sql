create table organizations (
  id uuid primary key,
  name text not null,
  created_at timestamptz not null default now()
);

-- End users of an organization (the owners of memories). The id is the caller's own.
create table users (
  org_id uuid not null references organizations(id) on delete cascade,
  id text not null,
  name text,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  primary key (org_id, id)
);

create table api_keys (
  id uuid primary key,
  org_id uuid not null references organizations(id) on delete cascade,
  name text not null,
  role text not null check (role in ('admin', 'member')),
  platform_admin boolean not null default false,
  key_hash text not null unique,
  prefix text not null,
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
create index api_keys_org on api_keys (org_id, created_at);

create table agents (
  id uuid primary key,
  org_id uuid not null references organizations(id) on delete cascade,
  name text not null,
  description text,
  config jsonb not null,
  secrets text,
  metadata jsonb not null default '{}',
  version int not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index agents_org on agents (org_id, created_at, id);

create table sessions (
  id uuid primary key,
  org_id uuid not null references organizations(id) on delete cascade,
  agent_id uuid not null references agents(id) on delete cascade,
  user_id text,
  title text,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index sessions_agent on sessions (org_id, agent_id, updated_at desc);

create table messages (
  id uuid primary key,
  seq bigint generated always as identity,
  org_id uuid not null,
  session_id uuid not null references sessions(id) on delete cascade,
  role text not null check (role in ('system', 'user', 'assistant', 'tool')),
  content text not null default '',
  tool_calls jsonb,
  tool_call_id text,
  -- complete, or incomplete when the stream ended early (error, client abort, crash)
  status text not null default 'complete' check (status in ('complete', 'incomplete', 'streaming')),
  finish_reason text,
  usage jsonb,
  timings jsonb,
  error jsonb,
  created_at timestamptz not null default now()
);
create index messages_session on messages (session_id, seq);

create table memories (
  id uuid primary key,
  org_id uuid not null references organizations(id) on delete cascade,
  agent_id uuid references agents(id) on delete cascade,
  user_id text,
  content text not null,
  metadata jsonb not null default '{}',
  embedding vector,
  embedder text,
  content_tsv tsvector generated always as (to_tsvector('simple', content)) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index memories_scope on memories (org_id, agent_id, user_id, created_at);
create index memories_tsv on memories using gin (content_tsv);

create table memory_history (
  id uuid primary key,
  org_id uuid not null,
  memory_id uuid not null,
  event text not null check (event in ('ADD', 'UPDATE', 'DELETE')),
  old_content text,
  new_content text,
  old_metadata jsonb,
  new_metadata jsonb,
  source text,
  created_at timestamptz not null default now()
);
create index memory_history_memory on memory_history (memory_id, created_at);

-- Durable background work (memory extraction): survives restarts, retried with backoff.
create table jobs (
  id uuid primary key,
  org_id uuid not null,
  kind text not null,
  payload jsonb not null,
  idempotency_key text unique,
  status text not null default 'pending' check (status in ('pending', 'running', 'done', 'failed')),
  attempts int not null default 0,
  run_at timestamptz not null default now(),
  locked_until timestamptz,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index jobs_due on jobs (status, run_at);
