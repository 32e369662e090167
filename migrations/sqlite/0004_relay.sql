-- The relay: the transcript of relayed messages, and the ids of webhook
-- events already accepted (redeliveries are acknowledged and dropped).

CREATE TABLE messages (
    id                  TEXT PRIMARY KEY,
    session_id          TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    direction           TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    channel             TEXT NOT NULL,
    body                TEXT NOT NULL,
    provider            TEXT,
    provider_message_id TEXT,
    connect_transid     TEXT,
    status              TEXT NOT NULL,
    error_code          TEXT,
    error_text          TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX messages_session ON messages (session_id, created_at);
CREATE UNIQUE INDEX messages_provider_id ON messages (provider, provider_message_id);

CREATE TABLE inbound_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (provider, event_id)
);

ALTER TABLE sessions ADD COLUMN webex_webhook_id TEXT;
-- The 1:1 space of the guest and the current agent, to check on a retry
-- whether a message was already posted (Webex has no idempotency keys).
ALTER TABLE sessions ADD COLUMN webex_room_id TEXT;
