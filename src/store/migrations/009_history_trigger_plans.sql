-- memory_history_set_user's lookups are planned per call. A plpgsql function caches its
-- statements' plans per connection, and after five calls may keep a generic plan made
-- while the tables were small: on a connection that lives while memories grow, each history
-- row then cost time in proportion to the table — 37,640 memories went in through 520
-- batches in 156 s instead of 7.3–8.0 s (`agentmem bench recall`, MemDaily, PostgreSQL).
alter function memory_history_set_user() set plan_cache_mode = force_custom_plan;
