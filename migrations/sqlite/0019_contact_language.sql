-- The language the relay writes to a customer in (`en`, `es`); NULL: the
-- server's default (CM_CUSTOMER_LANGUAGE).
ALTER TABLE contacts ADD COLUMN language TEXT;
