-- Customers who opted out of a channel (replied STOP, UNSUBSCRIBE...): no
-- message goes to them on it until they opt back in (START, UNSTOP), which
-- deletes the row. The history of both is in the audit log.
CREATE TABLE opt_outs (
    channel        TEXT NOT NULL,
    customer_id    TEXT NOT NULL,
    opted_out_at   INTEGER NOT NULL,
    -- How: the keyword the customer sent ("keyword STOP").
    source         TEXT NOT NULL,
    PRIMARY KEY (channel, customer_id)
);
CREATE INDEX opt_outs_at ON opt_outs (opted_out_at);
