-- The head of each ordering key: its earliest pending job, the only one that
-- may be claimed, and when it is due (its next try, or the end of its lease).
-- Claims read the due heads through outbox_heads_due, so a claim costs the
-- same whatever the backlog (see store/src/outbox.rs).
CREATE TABLE outbox_heads (
    ordering_key TEXT PRIMARY KEY,
    job_id       INTEGER NOT NULL,
    due_at       INTEGER NOT NULL
);

-- Jobs written before this migration: each key's earliest pending job is its head.
INSERT INTO outbox_heads (ordering_key, job_id, due_at)
SELECT o.ordering_key, o.id, MAX(o.next_attempt_at, COALESCE(o.locked_until, 0))
  FROM outbox o
 WHERE o.id IN (SELECT MIN(id) FROM outbox WHERE status = 'pending' GROUP BY ordering_key);

CREATE INDEX outbox_heads_due ON outbox_heads (due_at, job_id);
