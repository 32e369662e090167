-- Access and identity hardening (issue #10, points 6 and 7).

-- API keys: scopes (space-separated: connect, services, admin) and an
-- optional expiry. Keys made before scopes existed keep doing what they did:
-- Connect-flow calls and the services (never admin).
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
UPDATE api_keys SET scopes = 'connect services' WHERE scopes = '';

-- When the session was routed to its current agent: that agent's view of the
-- transcript starts here (domain/src/access.rs). Existing sessions: their
-- creation, as nothing older is known.
ALTER TABLE sessions ADD COLUMN agent_since BIGINT;
UPDATE sessions SET agent_since = created_at WHERE collab_agent_id IS NOT NULL;

-- Guest access tokens are now sealed (AES-256-GCM with CM_TOKEN_ENCRYPTION_KEY).
-- Plaintext rows are dropped: the next job logs the guest in again.
DROP TABLE guest_tokens;
CREATE TABLE guest_tokens (
    subject      TEXT PRIMARY KEY,
    sealed_token TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
