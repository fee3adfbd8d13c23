-- SPDX-License-Identifier: Apache-2.0
-- A delivered message's bytes may live in a segment file (segments/<id>.seg) at
-- seg_offset, seg_length bytes long, instead of in message_bytes.data, which is
-- then empty (docs/adr/0020-message-segments.md). The appending threads write the
-- bytes there and the writer syncs each segment once per batch, so the bytes no
-- longer pass through the WAL and a checkpoint. The row, its refs and the
-- trigger that drops it stay as they were; a span whose row is gone is dead
-- space that collect_garbage() reclaims with its segment.
ALTER TABLE message_bytes ADD COLUMN segment INTEGER;
ALTER TABLE message_bytes ADD COLUMN seg_offset INTEGER;
ALTER TABLE message_bytes ADD COLUMN seg_length INTEGER;
