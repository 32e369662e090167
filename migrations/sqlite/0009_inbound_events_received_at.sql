-- Pruning webhook dedup records by age (CM_DEDUP_RETENTION_HOURS) reads this.
CREATE INDEX inbound_events_received_at ON inbound_events (received_at);
