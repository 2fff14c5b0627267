-- Keys for end users: restricted to some agents and to one user, optionally expiring.
alter table api_keys add column agent_ids uuid[];
alter table api_keys add column user_id text;
alter table api_keys add column expires_at timestamptz;
