-- Signed-in browser sessions of agents. Only a hash of the cookie value is stored.
CREATE TABLE web_sessions (
    token_hash   TEXT PRIMARY KEY,
    agent_id     TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX web_sessions_agent ON web_sessions (agent_id);

-- Each press of a Start conversation button, so a double click sends once.
CREATE TABLE start_attempts (
    id          TEXT PRIMARY KEY,
    agent_id    TEXT NOT NULL,
    contact_id  TEXT NOT NULL,
    channel     TEXT NOT NULL,
    status      TEXT NOT NULL,
    detail      TEXT,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER
);
