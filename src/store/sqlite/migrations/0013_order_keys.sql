-- SPDX-License-Identifier: Apache-2.0
-- What IMAP SORT and THREAD compare of each message (mime/facts/order.hpp), beside
-- its ENVELOPE: read for every message of a sorted or threaded mailbox, so they
-- are kept as short as the keys, not parsed out of the ENVELOPE and the message
-- each time. NULL for messages stored before: SORT derives their keys.
ALTER TABLE message_envelopes ADD COLUMN order_keys BLOB;
