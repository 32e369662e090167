-- Conversations: a customer's engagement with one agent, from its first
-- message (or the agent's start) until it is closed by the agent, the API,
-- inactivity, an opt-out or a transfer to another agent. A session points
-- at its current conversation; each transcript line belongs to the
-- conversation that was current when it was written, so a closed
-- conversation stays readable. A closed conversation may be reopened while
-- it is still its session's current one.
CREATE TABLE conversations (
    id           TEXT PRIMARY KEY,
    session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    channel      TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    contact_id   TEXT REFERENCES contacts (id) ON DELETE SET NULL,
    -- The agent (collabAgentId) engaged in it; NULL while the customer is
    -- still in the dialogue that finds their agent.
    agent        TEXT,
    status       TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    opened_at    BIGINT NOT NULL,
    closed_at    BIGINT,
    -- agent, api, inactivity, opt_out or transfer (NULL: closed before
    -- conversations were recorded).
    closed_by    TEXT,
    -- Free text given with the close (e.g. "resolved").
    close_reason TEXT,
    reopened_at  BIGINT,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX conversations_session ON conversations (session_id, opened_at);
CREATE INDEX conversations_customer ON conversations (channel, customer_id, opened_at);
CREATE INDEX conversations_contact ON conversations (contact_id, opened_at);
CREATE INDEX conversations_agent ON conversations (agent, opened_at);

ALTER TABLE sessions ADD COLUMN conversation_id TEXT;
ALTER TABLE messages ADD COLUMN conversation_id TEXT;
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);

-- What existed before: one conversation per session,
-- with the session's id; ended sessions' conversations are closed
-- (by whom is not known: closed_by stays NULL).
INSERT INTO conversations (id, session_id, channel, customer_id, contact_id, agent, status,
                           opened_at, closed_at, updated_at)
SELECT s.id, s.id, s.customer_channel, s.customer_channel_id, s.contact_id, s.collab_agent_id,
       CASE WHEN s.status = 'ended' THEN 'closed' ELSE 'open' END,
       s.created_at,
       CASE WHEN s.status = 'ended' THEN s.updated_at END,
       s.updated_at
  FROM sessions s;
UPDATE sessions SET conversation_id = id;
UPDATE messages SET conversation_id = session_id;
