-- When each agent last opened each session, for the sidebar's unread counts
-- (inbound messages since then). Gone with the session.
CREATE TABLE session_reads (
    agent_id   TEXT NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    read_at    BIGINT NOT NULL,
    PRIMARY KEY (agent_id, session_id)
);

-- The live sidebar asks each second what changed in the last few seconds.
CREATE INDEX sessions_updated ON sessions (updated_at);
CREATE INDEX messages_updated ON messages (updated_at);
