-- The admins' message log: one row per try of an outbox job, written in the
-- transaction that records the try's outcome (store/src/outbox.rs), so a try
-- is never counted twice or missed. An attempt goes with its job (retention
-- prunes finished jobs, erasure deletes a customer's) and with its message.
CREATE TABLE delivery_attempts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      BIGINT NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    -- The transcript line the job carries, when there is one.
    message_id  TEXT REFERENCES messages (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('done', 'retry', 'dead')),
    -- What the platform answered (an id, or the error), short, no secrets.
    answer      TEXT,
    http_status BIGINT
);
CREATE INDEX delivery_attempts_job ON delivery_attempts (job_id, attempt);
CREATE INDEX delivery_attempts_message ON delivery_attempts (message_id);

-- When the job's current try began: the attempt's start.
ALTER TABLE outbox ADD COLUMN claimed_at BIGINT;

-- When a line first reached each status (set with the status).
ALTER TABLE messages ADD COLUMN sent_at BIGINT;
ALTER TABLE messages ADD COLUMN delivered_at BIGINT;
ALTER TABLE messages ADD COLUMN read_at BIGINT;
