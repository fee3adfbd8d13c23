-- SPDX-License-Identifier: Apache-2.0
-- Batched appends (append_batch.cpp, since migration 0010) stored an entry's
-- save date in seconds where every other date of this store is in
-- SystemTime ticks (nanoseconds), so those entries read as saved in January
-- 1970. A save date in seconds is below 10^11 until the year 5138; one in
-- nanoseconds is above 10^17 for any date after 1973: the two cannot be
-- confused. COPY, MOVE and imports wrote ticks and are left as they are.
UPDATE entries SET save_date = save_date * 1000000000
  WHERE save_date > 0 AND save_date < 100000000000;
