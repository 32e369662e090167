-- The WhatsApp template the agent chose when starting the conversation,
-- with the values they typed (JSON: {"id": ..., "values": {...}}): a later
-- template in the same conversation (the agent wrote outside the 24-hour
-- window) is the same one. NULL: none chosen, the first configured goes.
ALTER TABLE sessions ADD COLUMN start_template TEXT;
