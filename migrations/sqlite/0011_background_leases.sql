-- Background tasks that must run on one replica at a time (pruning, the
-- webhook checks) hold a lease here: a row per task, its holder (one id per
-- process) and until when. A holder renews its lease while it runs; when it
-- dies the lease runs out and another replica takes the task over. The last
-- run's report is kept here too, so every replica's admin page shows it.
CREATE TABLE background_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    until_ms    INTEGER NOT NULL,
    report      TEXT,
    reported_at INTEGER
);
