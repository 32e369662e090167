-- The relay, part 2: files on transcript lines, the onboarding dialogue's
-- answers, and the WhatsApp re-engagement template.

ALTER TABLE messages ADD COLUMN attachment_url TEXT;
ALTER TABLE messages ADD COLUMN attachment_mime TEXT;
ALTER TABLE messages ADD COLUMN attachment_name TEXT;
-- Delivery receipts name the message by Connect's transid.
CREATE INDEX messages_transid ON messages (connect_transid);

-- The name the customer gave while onboarding (the step is onboarding_step).
ALTER TABLE sessions ADD COLUMN onboarding_name TEXT;
-- When the re-engagement template was last sent: once per silence of the customer.
ALTER TABLE sessions ADD COLUMN template_sent_at INTEGER;

-- Guest access tokens are cached by guest in guest_tokens (0005).
ALTER TABLE sessions DROP COLUMN guest_token;
ALTER TABLE sessions DROP COLUMN guest_token_expires_at;
