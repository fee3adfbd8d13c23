-- SPDX-License-Identifier: Apache-2.0
-- The keywords defined in each mailbox (domain::Mailbox::keywords, RFC 9051 §7.3.5
-- FLAGS): sorted, space separated, like entries.keywords. Kept in the mailbox row
-- so SELECT reads them without scanning the entries; appends, copies, moves and
-- flag changes add to it in their own transaction.
ALTER TABLE mailboxes ADD COLUMN keywords TEXT NOT NULL DEFAULT '';

-- Existing mailboxes start with every keyword their entries carry. The split is a
-- recursive CTE over the space-separated lists; readers sort the result again, so
-- group_concat's order does not matter.
WITH RECURSIVE split(mailbox_id, word, rest) AS (
  SELECT mailbox_id, '', keywords || ' ' FROM entries WHERE keywords <> ''
  UNION ALL
  SELECT mailbox_id, substr(rest, 1, instr(rest, ' ') - 1), substr(rest, instr(rest, ' ') + 1)
  FROM split WHERE rest <> ''
),
defined(mailbox_id, word) AS (
  SELECT DISTINCT mailbox_id, word FROM split WHERE word <> ''
)
UPDATE mailboxes
SET keywords = (SELECT group_concat(word, ' ') FROM defined WHERE defined.mailbox_id = mailboxes.id)
WHERE id IN (SELECT mailbox_id FROM defined);
