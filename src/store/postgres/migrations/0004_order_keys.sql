-- SPDX-License-Identifier: Apache-2.0
-- What IMAP SORT and THREAD compare of each message (mime/facts/order.hpp), beside
-- its ENVELOPE; NULL for messages stored before, whose keys SORT derives. Mirrors
-- sqlite's 0013_order_keys.sql.
ALTER TABLE message_envelopes ADD COLUMN order_keys bytea;
