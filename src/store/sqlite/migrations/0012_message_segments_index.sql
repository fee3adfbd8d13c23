-- SPDX-License-Identifier: Apache-2.0
-- collect_garbage() sums the live bytes of each segment and moves the spans of
-- one at a time; without this index both scan every message_bytes row, which on
-- a large store holds the writer (and so every delivery) for as long. Partial:
-- rows with their bytes inline, the most on a quiet store, are not in it.
CREATE INDEX message_bytes_segment ON message_bytes(segment, seg_length) WHERE segment IS NOT NULL;
