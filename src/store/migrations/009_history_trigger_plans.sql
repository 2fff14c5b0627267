-- memory_history_set_user's lookups are planned per call. A plpgsql function caches its
-- statements' plans per connection, and after five calls may keep a generic plan made
-- while the tables were small (a sequential scan): on a connection that lives while
-- memories grow, every history row then scanned the whole table — 37,640 memories went in
-- through 520 batches in 156 s instead of 7.6 s (`agentmem bench recall`, MemDaily).
alter function memory_history_set_user() set plan_cache_mode = force_custom_plan;
