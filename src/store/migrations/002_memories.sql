-- Memory search indexes (see docs/memory.md, "How recall works").
--
-- `memories.embedding` is an untyped `vector` because its dimension follows each agent's
-- embedder. HNSW needs a fixed dimension, so there is one partial expression index per
-- common dimension; a query uses one by ordering by the same expression under the same
-- predicate. Rows of other dimensions are still searched, by exact scan.
-- Default HNSW parameters (m 16, ef_construction 64): lower ones cut insert cost by
-- little and recall by a lot on our measurements.
create index memories_hnsw_256 on memories using hnsw ((embedding::vector(256)) vector_cosine_ops) where vector_dims(embedding) = 256;
create index memories_hnsw_384 on memories using hnsw ((embedding::vector(384)) vector_cosine_ops) where vector_dims(embedding) = 384;
create index memories_hnsw_512 on memories using hnsw ((embedding::vector(512)) vector_cosine_ops) where vector_dims(embedding) = 512;
create index memories_hnsw_768 on memories using hnsw ((embedding::vector(768)) vector_cosine_ops) where vector_dims(embedding) = 768;
create index memories_hnsw_1024 on memories using hnsw ((embedding::vector(1024)) vector_cosine_ops) where vector_dims(embedding) = 1024;
create index memories_hnsw_1536 on memories using hnsw ((embedding::vector(1536)) vector_cosine_ops) where vector_dims(embedding) = 1536;
-- HNSW on `vector` stops at 2,000 dimensions; half precision goes to 4,000.
create index memories_hnsw_2048 on memories using hnsw ((embedding::halfvec(2048)) halfvec_cosine_ops) where vector_dims(embedding) = 2048;

-- Lists: newest first, by org, optionally by user (agent + user lists use memories_scope).
create index memories_org_created on memories (org_id, created_at desc, id desc);
create index memories_org_user on memories (org_id, user_id, created_at desc);

-- A memory's history is read by its org, also after the memory was deleted.
create index memory_history_org on memory_history (org_id, memory_id, created_at);

-- The full-text GIN index without a pending list: a fast-update list (up to 4 MB) is
-- scanned linearly by every search until vacuum merges it — ~2 ms per query after a
-- bulk import, while updating the tree directly costs ~15 µs per inserted memory.
alter index memories_tsv set (fastupdate = off);
select gin_clean_pending_list('memories_tsv'::regclass);

-- An extraction job checks whether it already applied its changes (a retry after a crash).
create index memory_history_source on memory_history (org_id, source);
