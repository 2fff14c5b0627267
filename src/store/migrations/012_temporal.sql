-- Facts that know their time (issue 28, docs/memory.md "Facts over time").
--
-- A memory is current while valid_to is null. When extraction (or PATCH) replaces its
-- content, the old content is kept as a row of its own: valid_from..valid_to, superseded_by
-- the memory that carries the fact on (its id stays), ended_by the message that ended it.
-- When extraction deletes a memory, the row stays with valid_to set and no successor.
-- Search, recall and lists read current rows; `as_of` reads the rows valid at that time.
-- An API delete or forgetting a user erases rows for real (memories.ts, users.ts).
alter table memories add column valid_from timestamptz;
update memories set valid_from = created_at;
alter table memories alter column valid_from set default now();
alter table memories alter column valid_from set not null;
alter table memories add column valid_to timestamptz;
alter table memories add column superseded_by uuid;
alter table memories add column ended_by text;
-- A row written without it (an export from before this migration, re-imported) holds from its creation.
create function memories_valid_from() returns trigger language plpgsql as $$
begin
  new.valid_from := coalesce(new.valid_from, new.created_at, now());
  return new;
end $$;
create trigger memories_valid_from before insert on memories for each row execute function memories_valid_from();

-- The duplicate test at write time: the same fact once normalized (case, punctuation,
-- spacing), within one (agent, user) scope. One definition, used by the column and by the
-- lookup (memories.ts), hashed so a long memory still fits a btree entry.
create function memory_key(content text) returns text language sql immutable parallel safe
  return md5(btrim(regexp_replace(lower(content), '[[:space:][:punct:]。，、！？；：“”‘’（）《》【】…·～]+', ' ', 'g')));
alter table memories add column content_key text generated always as (memory_key(content)) stored;
create index memories_current_key on memories (org_id, content_key) where valid_to is null;
-- A memory's earlier versions (its history chain).
create index memories_superseded_by on memories (org_id, superseded_by) where superseded_by is not null;
