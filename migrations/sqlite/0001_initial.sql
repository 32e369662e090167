-- Times are milliseconds since the Unix epoch (BIGINT in both dialects, so the
-- same queries run on SQLite and Postgres). Ids are UUID text.

CREATE TABLE agents (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    webex_person_id TEXT,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    disabled        INTEGER NOT NULL DEFAULT 0,
    password_hash   TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE contacts (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    msisdn         TEXT NOT NULL UNIQUE,
    owner_agent_id TEXT REFERENCES agents (id) ON DELETE SET NULL,
    version        INTEGER NOT NULL DEFAULT 1,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX contacts_name ON contacts (name);

CREATE TABLE contact_channels (
    contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    channel    TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    PRIMARY KEY (contact_id, channel),
    UNIQUE (channel, channel_id)
);

CREATE TABLE sessions (
    id                     TEXT PRIMARY KEY,
    customer_channel       TEXT NOT NULL,
    customer_channel_id    TEXT NOT NULL,
    collab_agent_id        TEXT,
    collab_guest_id        TEXT,
    collab_extra1          TEXT,
    collab_extra2          TEXT,
    collab_extra3          TEXT,
    contact_id             TEXT REFERENCES contacts (id) ON DELETE SET NULL,
    status                 TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('onboarding', 'active', 'ended')),
    onboarding_step        TEXT,
    guest_token            TEXT,
    guest_token_expires_at INTEGER,
    last_inbound_at        INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    UNIQUE (customer_channel, customer_channel_id)
);
CREATE INDEX sessions_guest ON sessions (collab_guest_id);
CREATE INDEX sessions_agent ON sessions (collab_agent_id);

CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    key_hash       TEXT NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    scopes         TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER,
    revoked_at     INTEGER
);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT,
    request_id  TEXT
);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id);
CREATE INDEX audit_log_at ON audit_log (at);
