-- A user's sessions across agents (episodic recall's index loads one user's messages, and a
-- search naming a user but no agent reads that user's sessions, not the organization's).
create index sessions_user on sessions (org_id, user_id, agent_id);
