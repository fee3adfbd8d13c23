-- SPDX-License-Identifier: Apache-2.0
-- Outbound delivery (issue #7, docs/adr/0010-outbound-delivery.md): the envelope
-- facts a transport must honour (SMTPUTF8, BODY=, REQUIRETLS), who submitted the
-- message, whether its delay warning went out, and per recipient the enhanced status
-- and remote host of the last outcome (for DSNs and `tern queue show`).
ALTER TABLE queue ADD COLUMN smtputf8 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue ADD COLUMN body_type INTEGER NOT NULL DEFAULT 0;  -- domain::BodyType
ALTER TABLE queue ADD COLUMN requiretls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue ADD COLUMN submitter TEXT NOT NULL DEFAULT '';
ALTER TABLE queue ADD COLUMN delay_warned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue_recipients ADD COLUMN status TEXT NOT NULL DEFAULT '';
ALTER TABLE queue_recipients ADD COLUMN remote_host TEXT NOT NULL DEFAULT '';
