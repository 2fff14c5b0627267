-- Context that fits (issue 16): a token count per message (counted once, when stored),
-- a rolling summary per session, and working memory per (agent, user) or per session.
alter table messages add column tokens int;

alter table sessions add column summary text;
-- the last message the summary covers (its id, and its seq for ordering)
alter table sessions add column summarized_through uuid;
alter table sessions add column summarized_seq bigint;
-- the last message memory extraction has read (memory.extract with idle_ms batches from there)
alter table sessions add column extracted_seq bigint;

create table working_memory (
  org_id uuid not null references organizations(id) on delete cascade,
  agent_id uuid not null references agents(id) on delete cascade,
  -- 'user' (owner = the user id) or 'session' (owner = the session id)
  scope text not null check (scope in ('user', 'session')),
  owner text not null,
  content text not null,
  updated_at timestamptz not null default now(),
  primary key (org_id, agent_id, scope, owner)
);
