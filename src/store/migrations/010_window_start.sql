-- A prompt whose prefix stays put (issue 25): the history window gives way in chunks. When
-- it is full it drops to a low-water mark and is appended to for many turns; the first
-- message it keeps is stored here, so every instance (and a restarted one) sends the same
-- window. Null: from the start of the session (or its summary).
alter table sessions add column window_seq bigint;
