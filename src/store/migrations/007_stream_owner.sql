-- A streaming answer belongs to the instance writing it, which renews its heartbeat while
-- it streams. Only rows whose owner stopped renewing (a lease) are another instance's to
-- close as incomplete: a rolling start no longer cuts live answers on other instances.
alter table messages add column owner text;
alter table messages add column heartbeat_at timestamptz;
create index messages_streaming on messages (heartbeat_at) where status = 'streaming';
