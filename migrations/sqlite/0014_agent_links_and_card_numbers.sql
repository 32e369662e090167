-- Agents' links and QR codes name the agent by a public id (the routing
-- keyword `webexAgent_{public_id}`), which does not reveal the email.
-- Ten random hex characters: no run of digits long enough to look like a
-- card number, which would be masked. New agents get one from the server.
ALTER TABLE agents ADD COLUMN public_id TEXT;
UPDATE agents SET public_id = lower(hex(randomblob(5))) WHERE public_id IS NULL;
CREATE UNIQUE INDEX agents_public_id ON agents (public_id);

-- When the customer was told that card numbers are not accepted here
-- (CM_PCI_WARN_CUSTOMER): once per session.
ALTER TABLE sessions ADD COLUMN pci_warned_at INTEGER;
