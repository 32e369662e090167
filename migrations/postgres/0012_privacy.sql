-- Data protection (issue #15, point 5): erasing a customer finds their
-- sessions and start attempts by contact; retention prunes transcript lines
-- and cached files by age.
CREATE INDEX sessions_contact ON sessions (contact_id);
CREATE INDEX start_attempts_contact ON start_attempts (contact_id);
CREATE INDEX messages_created ON messages (created_at);
CREATE INDEX attachments_created ON attachments (created_at);
