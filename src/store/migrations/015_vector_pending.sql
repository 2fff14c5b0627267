-- A memory whose vector is still to be computed (issue 28): a write with a slow embedder
-- (`local-neural`, ~10 ms of CPU per memory) stores the memory at once, found by the text
-- side, and a durable job (memory/reembed.ts, `memory.embed`) embeds the pending ones in
-- batches later. The queue is these rows, so it is bounded by the store, not by memory,
-- and a restart finds it where it was. The partial index holds only the pending rows:
-- empty once the vectors are in, whatever the table's size.
alter table memories add column vector_pending boolean not null default false;
create index memories_vector_pending on memories (org_id, agent_id, id) where vector_pending;
