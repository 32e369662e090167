-- Guest access tokens, cached by guest subject (`{channel}_{channelId}`) and
-- reused until 5 minutes before they expire (see domain/src/guests.rs). Secret:
-- never logged.
CREATE TABLE guest_tokens (
    subject      TEXT PRIMARY KEY,
    access_token TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- Media fetched from Webex and served at CM_PUBLIC_URL/media/{id}/{filename}
-- until it expires (see domain/src/media.rs). The id is random (144 bits).
CREATE TABLE attachments (
    id         TEXT PRIMARY KEY,
    filename   TEXT NOT NULL,
    mime_type  TEXT NOT NULL,
    size       INTEGER NOT NULL,
    content    BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX attachments_expiry ON attachments (expires_at);
