-- Bot hand-over (third-party bot seed): a new customer's messages go to the
-- configured bot first, in a bot conversation, until the bot hands the
-- customer over to agents (or cannot be reached: bypassed).
CREATE TABLE bot_conversations (
    id          TEXT PRIMARY KEY,
    channel     TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'handed_over', 'bypassed')),
    started_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    -- Who the bot handed over to, when it named an agent.
    agent       TEXT
);
CREATE INDEX bot_conversations_customer ON bot_conversations (channel, customer_id, started_at);

-- The bot's health: one row. Inactive after consecutive failed calls, until
-- an admin reactivates it; customers meanwhile go straight to agents.
CREATE TABLE bot_state (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    active               INTEGER NOT NULL DEFAULT 1,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    last_failure_at      INTEGER,
    last_success_at      INTEGER,
    inactive_since       INTEGER,
    reactivated_at       INTEGER,
    reactivated_by       TEXT
);
INSERT INTO bot_state (id) VALUES (1);
