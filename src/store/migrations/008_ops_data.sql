-- Forgetting a user (DELETE /users/:id) removes every history row of their memories,
-- those of memories deleted earlier included: each row now names its memory's user,
-- set on insert from the memory (or, for a DELETE row written after the memory is
-- gone, from an earlier row of the same memory), whatever code path writes it.
alter table memory_history add column user_id text;
update memory_history h set user_id = m.user_id from memories m where m.id = h.memory_id and m.org_id = h.org_id;
-- Rows of memories already deleted: extraction wrote the session into the metadata; its user is the memory's.
update memory_history h set user_id = s.user_id from sessions s
where h.user_id is null and h.source like 'extraction:%' and s.org_id = h.org_id
  and s.id::text = coalesce(h.new_metadata, h.old_metadata)->>'session_id';
create index memory_history_user on memory_history (org_id, user_id) where user_id is not null;

create function memory_history_set_user() returns trigger language plpgsql as $$
begin
  if new.user_id is null then
    select m.user_id into new.user_id from memories m where m.id = new.memory_id and m.org_id = new.org_id;
    if new.user_id is null then
      select h.user_id into new.user_id from memory_history h
      where h.memory_id = new.memory_id and h.org_id = new.org_id and h.user_id is not null limit 1;
    end if;
  end if;
  return new;
end
$$;
create trigger memory_history_set_user before insert on memory_history
  for each row execute function memory_history_set_user();

-- Extraction jobs carry a turn's text: deleting its user deletes them (found by this index).
create index jobs_user on jobs (org_id, (payload->>'user_id')) where payload ? 'user_id';
-- Finished jobs are purged after AGENTMEM_JOB_RETENTION_MS (found by this index).
create index jobs_finished on jobs (updated_at) where status in ('done', 'failed');
