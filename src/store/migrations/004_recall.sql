-- Recall (issue 15): the lexical side of search runs in process (src/memory/lexical/);
-- what the database still answers is metadata filters and the imported conversation.
--
-- Metadata filters: equality, `in` and array `contains` compile to `metadata @> …`,
-- which this index serves (jsonb_path_ops: containment only, a third the size of the default).
create index memories_metadata on memories using gin (metadata jsonb_path_ops);

-- Episodic recall reads a scope's messages (agent, user) through its sessions.
create index sessions_scope on sessions (org_id, agent_id, user_id);

-- Imported messages keep what the caller said about them (and filters read it).
alter table messages add column metadata jsonb not null default '{}'::jsonb;
