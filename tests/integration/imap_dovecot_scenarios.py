# SPDX-License-Identifier: Apache-2.0
"""The scripted sessions of the IMAP differential test (test_imap_dovecot.py).

Each scenario runs as a fresh user whose only mailboxes are the defaults tern gives a
new account (INBOX, Drafts, Sent, Junk, Trash, Archive, all subscribed); Dovecot is
configured to create the same ones (DOVECOT_CONF). Labels name the steps; the
differences document refers to them as `session:label`."""
import datetime
import json
import os
from pathlib import Path

from imap_diff import highestmodseq, uidvalidity

USER_PASSWORD = "correct horse"
REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO.parent / "shared" / "testdata"
CORPUS = Path(os.environ.get("TERN_TESTDATA_CACHE", "/var/cache/tern-testdata")) / \
    "spamassassin" / "node_modules" / "@stdlib" / "datasets-spam-assassin" / "data"
MIME_ALLOWLIST = Path(__file__).with_name("mime_dovecot_allowlist.json")

# tern's hierarchy delimiter is "/" and new accounts get the RFC 6154 special-use
# mailboxes, subscribed (src/domain/accounts.hpp); Dovecot is told the same.
DOVECOT_CONF = """
namespace inbox {
  inbox = yes
  separator = /
  prefix =
  mailbox INBOX {
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Archive {
    special_use = \\Archive
    auto = subscribe
  }
}
"""


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


HAND_MADE = [
    b"From: Bob Example <bob@example.org>\r\nTo: alice@example.org, \"Carol, C.\" <carol@example.net>\r\n"
    b"Cc: undisclosed-recipients:;\r\nSubject: lunch on friday\r\nDate: Mon, 6 Nov 2023 10:00:00 +0100\r\n"
    b"Message-ID: <lunch.1@example.org>\r\nIn-Reply-To: <menu@example.org>\r\n\r\n"
    b"Shall we try the new place?\r\nIt has a garden.\r\n",
    b"From: carol@example.net\r\nTo: alice@example.org\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n"
    b"Date: Tue, 7 Nov 2023 08:30:00 -0500\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n"
    b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln, the budget report is attached.\r\n"
    b"--XX\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n"
    b"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\n"
    b"--XX--\r\nepilogue\r\n",
    b"From: Dave <dave@example.com>\r\nTo: alice@example.org\r\nSubject: Fwd: the minutes\r\n"
    b"Date: Wed, 8 Nov 2023 17:45:10 +0000\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
    b"--outer\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
    b"--outer\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: Erin <erin@example.com>\r\nSubject: the minutes\r\nDate: Tue, 7 Nov 2023 09:00:00 +0000\r\n"
    b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
    b"--inner\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nMinutes: nothing decided.\r\n"
    b"--inner\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<p>Minutes: nothing decided.</p>\r\n"
    b"--inner--\r\n\r\n--outer--\r\n",
    b"From: frank@example.org\r\nTo: alice@example.org\r\nSubject: binary attachment\r\n"
    b"Date: Thu, 9 Nov 2023 12:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\r\n",
    b"From: grace@example.org\r\nTo: alice@example.org\r\nSubject: a much bigger body for SIZE\r\n"
    b"Date: Fri, 10 Nov 2023 07:00:00 +0000\r\nX-Priority: 1\r\n\r\n"
    + b"".join(b"line %04d of the weekly report with the word budget\r\n" % i for i in range(200)),
]

# Flags and dates given to APPEND, cycled over the messages.
APPEND_FLAGS = ["", "(\\Seen)", "(\\Flagged \\Answered)", "(\\Seen $Forwarded)", "(\\Draft)",
                "(custom1 \\Seen)"]
APPEND_DATES = ['"06-Nov-2023 10:00:00 +0100"', '"07-Nov-2023 08:30:00 -0500"',
                '"08-Nov-2023 17:45:10 +0000"', '" 9-Nov-2023 12:00:00 +0000"',
                '"10-Nov-2023 07:00:00 +0000"', '"01-Jan-2024 00:00:00 +0000"']


def _corpus(count=12):
    """`count` SpamAssassin messages spread over the corpus, skipping those whose MIME
    facts already differ from Dovecot's (mime_dovecot_allowlist.json)."""
    if not CORPUS.is_dir():
        return []
    known = {e["message"] for e in json.loads(MIME_ALLOWLIST.read_text())["differences"]}
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".json"
                   and p.name != "cmds" and not p.name.endswith(".js"))
    picked = []
    step = max(1, len(files) // (count * 3))
    for p in files[::step]:
        if "spamassassin/" + str(p.relative_to(CORPUS)) in known or p.stat().st_size > 30000:
            continue
        picked.append(p.read_bytes())
        if len(picked) == count:
            break
    return picked


def _stalwart():
    known = {e["message"] for e in json.loads(MIME_ALLOWLIST.read_text())["differences"]}
    folder = TESTDATA / "imap" / "stalwart-bodystructure"
    return [p.read_bytes() for p in sorted(folder.glob("*.txt"))
            if str(p.relative_to(TESTDATA)) not in known]


def messages():
    return [crlf(m) for m in HAND_MADE + _stalwart() + _corpus()]


def append_all(s, mailbox="INBOX", label="append", limit=None):
    for i, data in enumerate(messages()[:limit]):
        flags = APPEND_FLAGS[i % len(APPEND_FLAGS)]
        date = APPEND_DATES[i % len(APPEND_DATES)]
        args = " ".join(x for x in (flags, date) if x)
        s.cmd(f"{label}-{i + 1}", f"APPEND {mailbox} {args} ", data)


# --- scenarios ----------------------------------------------------------------------------


def fetch_items(rec):
    """APPEND with flags and dates into the selected INBOX, then FETCH every item."""
    a = rec.session("A")
    a.cmd("select-empty", "SELECT INBOX")
    append_all(a)
    count = len(messages())
    a.cmd("noop", "NOOP")
    a.cmd("fetch-meta", "FETCH 1:* (FLAGS UID INTERNALDATE RFC822.SIZE)")
    a.cmd("fetch-envelope", "FETCH 1:* (ENVELOPE)")
    a.cmd("fetch-bodystructure", "FETCH 1:* (BODYSTRUCTURE)")
    a.cmd("fetch-body", "FETCH 1:* (BODY)")
    a.cmd("fetch-macros", "FETCH 1:3 FAST")
    a.cmd("fetch-all", "FETCH 1:3 ALL")
    a.cmd("fetch-full", "FETCH 1:3 FULL")
    for n in range(1, count + 1):
        a.cmd(f"fetch-sections-{n}", f"FETCH {n} (BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT] "
              "BODY.PEEK[HEADER.FIELDS (From Subject Date)] BODY.PEEK[HEADER.FIELDS.NOT (Received)] "
              "BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[]<0.10> BODY.PEEK[TEXT]<5.20>)")
        a.cmd(f"fetch-binary-{n}", f"FETCH {n} (BINARY.PEEK[1] BINARY.SIZE[1])")
    a.cmd("fetch-rfc822", "FETCH 1 (RFC822.HEADER RFC822.TEXT)")
    a.cmd("fetch-rfc822-seen", "FETCH 2 (RFC822)")
    a.cmd("fetch-body-seen", "FETCH 5 (BODY[TEXT]<0.12>)")
    a.cmd("fetch-preview", "FETCH 1:* (PREVIEW)")
    a.cmd("fetch-preview-lazy", "FETCH 1:3 (UID PREVIEW (LAZY) FLAGS)")
    a.cmd("uid-fetch", "UID FETCH 2:4 (FLAGS)")
    a.cmd("fetch-flags-after", "FETCH 1:* (FLAGS)")
    a.cmd("fetch-bad-section", "FETCH 1 (BODY[9.9.9])")
    a.cmd("fetch-beyond", f"FETCH {count + 5} (FLAGS)")
    a.cmd("uid-fetch-beyond", "UID FETCH 9000:9100 (FLAGS)")


def store_flags(rec):
    a = rec.session("A")
    append_all(a, limit=6)
    a.cmd("select", "SELECT INBOX")
    a.cmd("add", "STORE 1:3 +FLAGS (\\Flagged)")
    a.cmd("remove", "STORE 2 -FLAGS (\\Seen \\Flagged)")
    a.cmd("replace", "STORE 4 FLAGS (\\Answered work)")
    a.cmd("silent", "STORE 1:* +FLAGS.SILENT (\\Seen)")
    a.cmd("silent-remove", "STORE 3 -FLAGS.SILENT (\\Seen)")
    a.cmd("keyword", "STORE 5 +FLAGS ($Junk project-x)")
    a.cmd("uid-store", "UID STORE 6 +FLAGS (\\Deleted)")
    a.cmd("uid-store-silent", "UID STORE 1,6 -FLAGS.SILENT (\\Deleted)")
    a.cmd("noop", "NOOP")
    a.cmd("fetch", "FETCH 1:* (FLAGS)")
    a.cmd("reselect", "SELECT INBOX")
    a.cmd("examine", "EXAMINE INBOX")
    a.cmd("store-readonly", "STORE 1 +FLAGS (\\Seen)")


def search_keys(rec):
    a = rec.session("A")
    append_all(a)
    a.cmd("select", "SELECT INBOX")
    a.cmd("store", "STORE 3 +FLAGS (\\Deleted)")
    keys = {
        "all": "ALL", "seen": "SEEN", "unseen": "UNSEEN", "flagged": "FLAGGED",
        "answered": "ANSWERED", "unanswered": "UNANSWERED", "draft": "DRAFT",
        "deleted": "DELETED", "undeleted": "UNDELETED", "keyword": "KEYWORD $Forwarded",
        "unkeyword": "UNKEYWORD custom1", "new": "NEW", "old": "OLD", "recent": "RECENT",
        "seq": "2:4,7", "uid-range": "UID 3:5", "uid-star": "UID 4:*", "star": "*",
        "larger": "LARGER 2000", "smaller": "SMALLER 1000", "before": "BEFORE 8-Nov-2023",
        "on": "ON 10-Nov-2023", "since": "SINCE 9-Nov-2023",
        "sentbefore": "SENTBEFORE 8-Nov-2023", "senton": "SENTON 7-Nov-2023",
        "sentsince": "SENTSINCE 8-Nov-2023", "from": "FROM bob", "to": "TO alice",
        "cc": "CC undisclosed", "subject": "SUBJECT minutes", "subject-case": "SUBJECT LUNCH",
        "header": "HEADER X-Priority 1", "header-empty": "HEADER Message-ID \"\"",
        "body": "BODY budget", "text": "TEXT garden", "not": "NOT SEEN",
        "or": "OR FLAGGED DRAFT", "nested": "OR (SEEN FLAGGED) NOT (OR DRAFT SMALLER 500)",
        "and": "SEEN SINCE 1-Jan-2000 LARGER 100", "none": "SUBJECT no-such-words",
        "charset": "CHARSET UTF-8 SUBJECT report", "younger": "YOUNGER 3600",
        "older": "OLDER 3600", "within": "OR YOUNGER 60 NOT OLDER 999999999",
    }
    for label, key in keys.items():
        a.cmd(f"search-{label}", f"SEARCH {key}")
    for label in ("uid-range", "flagged", "or", "body"):
        a.cmd(f"uid-search-{label}", f"UID SEARCH {keys[label]}")
    a.cmd("esearch", "SEARCH RETURN (MIN MAX COUNT ALL) SEEN")
    a.cmd("esearch-uid", "UID SEARCH RETURN (COUNT) ALL")
    a.cmd("esearch-empty", "SEARCH RETURN (MIN MAX) SUBJECT no-such-words")
    a.cmd("search-bad-charset", "SEARCH CHARSET KLINGON SUBJECT x")


def copy_move(rec):
    a = rec.session("A")
    append_all(a, limit=6)
    a.cmd("create", "CREATE Work")
    a.cmd("select", "SELECT INBOX")
    a.cmd("copy", "COPY 1:2 Work")
    a.cmd("uid-copy", "UID COPY 5 Work")
    a.cmd("copy-missing", "COPY 1 Nowhere")
    a.cmd("move", "MOVE 3 Work")
    a.cmd("uid-move", "UID MOVE 5:6 Archive")
    a.cmd("fetch-left", "FETCH 1:* (UID FLAGS)")
    a.cmd("status-work", "STATUS Work (MESSAGES UIDNEXT UNSEEN)")
    a.cmd("select-work", "SELECT Work")
    a.cmd("fetch-work", "FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)")
    a.cmd("select-archive", "SELECT Archive")
    a.cmd("fetch-archive", "FETCH 1:* (UID FLAGS INTERNALDATE)")


def expunge(rec):
    a = rec.session("A")
    append_all(a, limit=8)
    a.cmd("select", "SELECT INBOX")
    a.cmd("delete-some", "STORE 2,4,5 +FLAGS.SILENT (\\Deleted)")
    a.cmd("expunge", "EXPUNGE")
    a.cmd("fetch", "FETCH 1:* (UID)")
    a.cmd("delete-more", "STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    a.cmd("uid-expunge", "UID EXPUNGE 1:3")
    a.cmd("fetch-after", "FETCH 1:* (UID FLAGS)")
    a.cmd("delete-last", "STORE 1 +FLAGS.SILENT (\\Deleted)")
    a.cmd("close", "CLOSE")
    a.cmd("status", "STATUS INBOX (MESSAGES UIDNEXT)")
    a.cmd("select-again", "SELECT INBOX")
    a.cmd("expunge-readonly-examine", "EXAMINE INBOX")
    a.cmd("expunge-readonly", "EXPUNGE")
    a.cmd("unselect", "UNSELECT")
    a.cmd("expunge-unselected", "EXPUNGE")


def status_items(rec):
    a = rec.session("A")
    append_all(a, limit=6)
    a.cmd("status-empty", "STATUS Drafts (MESSAGES UIDNEXT UNSEEN SIZE)")
    a.cmd("status-all", "STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE)")
    a.cmd("status-recent", "STATUS INBOX (RECENT)")
    a.cmd("status-modseq", "STATUS INBOX (HIGHESTMODSEQ)")
    a.cmd("status-missing", "STATUS Nowhere (MESSAGES)")
    a.cmd("status-bad", "STATUS INBOX (BOGUS)")
    a.cmd("select", "SELECT INBOX")
    a.cmd("status-selected", "STATUS INBOX (MESSAGES UNSEEN)")


def list_mailboxes(rec):
    a = rec.session("A")
    a.cmd("list-all", 'LIST "" "*"')
    a.cmd("list-top", 'LIST "" "%"')
    a.cmd("list-delimiter", 'LIST "" ""')
    a.cmd("create-parent", "CREATE Projects")
    a.cmd("create-parent-2", "CREATE Projects/2023")
    a.cmd("create-tree", "CREATE Projects/2023/Q4")
    a.cmd("create-leaf", "CREATE Projects/tern")
    a.cmd("create-trailing", "CREATE Lists/")
    a.cmd("create-dup", "CREATE Projects/tern")
    a.cmd("create-inbox", "CREATE inbox")
    a.cmd("create-special", "CREATE Important (USE (\\Flagged))")
    a.cmd("list-special-created", 'LIST "" "Important"')
    a.cmd("delete-special", "DELETE Important")
    a.cmd("list-all-after", 'LIST "" "*"')
    a.cmd("list-pct", 'LIST "" "Projects/%"')
    a.cmd("list-ref", 'LIST "Projects/" "%"')
    a.cmd("list-inbox-case", 'LIST "" "iNbOx"')
    a.cmd("subscribe", "SUBSCRIBE Projects/tern")
    a.cmd("lsub", 'LSUB "" "*"')
    a.cmd("lsub-pct", 'LSUB "" "%"')
    a.cmd("list-subscribed", 'LIST (SUBSCRIBED) "" "*"')
    a.cmd("list-recursive", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    a.cmd("list-children", 'LIST "" "%" RETURN (CHILDREN)')
    a.cmd("list-special", 'LIST (SPECIAL-USE) "" "*"')
    a.cmd("list-return-special", 'LIST "" "%" RETURN (SPECIAL-USE)')
    a.cmd("list-status", 'LIST "" "Projects/%" RETURN (STATUS (MESSAGES UNSEEN))')
    a.cmd("list-multi", 'LIST "" ("Drafts" "Sent")')
    a.cmd("unsubscribe", "UNSUBSCRIBE Projects/tern")
    a.cmd("lsub-after", 'LSUB "" "*"')
    a.cmd("rename", "RENAME Projects/2023 Projects/2024")
    a.cmd("list-renamed", 'LIST "" "Projects/*"')
    a.cmd("rename-exists", "RENAME Projects/tern Drafts")
    a.cmd("delete-leaf", "DELETE Projects/2024/Q4")
    a.cmd("delete-missing", "DELETE Nowhere")
    a.cmd("delete-inbox", "DELETE INBOX")
    a.cmd("list-final", 'LIST "" "*"')
    a.cmd("namespace", "NAMESPACE")
    # Last, as the two servers' mailbox lists differ afterwards.
    a.cmd("rename-inbox", "RENAME INBOX Saved")
    a.cmd("list-after-inbox-rename", 'LIST "" "Saved"')
    a.cmd("create-implicit", "CREATE Deep/er/est")
    a.cmd("list-implicit", 'LIST "" "Deep*"')


def two_sessions(rec):
    """Session B changes the mailbox A has selected; A must learn of it as EXISTS,
    FETCH and EXPUNGE at NOOP, after other commands and in IDLE, never during a
    FETCH/STORE/SEARCH by sequence number (RFC 9051 §7.4.1, §5.5)."""
    a = rec.session("A")
    b = rec.session("B")
    append_all(a, limit=4)
    a.cmd("select", "SELECT INBOX")
    b.cmd("select", "SELECT INBOX")
    b.cmd("append-1", "APPEND INBOX (\\Seen) \"11-Nov-2023 09:00:00 +0000\" ", messages()[4])
    a.cmd("noop-exists", "NOOP")
    b.cmd("store-1", "STORE 1 +FLAGS (\\Flagged)")
    a.cmd("noop-fetch", "NOOP")
    b.cmd("expunge-prep", "STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.cmd("expunge-1", "EXPUNGE")
    a.cmd("fetch-during-expunge", "FETCH 1:* (UID)")
    a.cmd("store-during-expunge", "STORE 1 +FLAGS.SILENT (\\Answered)")
    a.cmd("search-during-expunge", "SEARCH ALL")
    a.cmd("uid-search-after-expunge", "UID SEARCH ALL")
    a.cmd("noop-after", "NOOP")
    b.cmd("noop-b", "NOOP")
    a.idle("idle-append", lambda: b.cmd("append-2", "APPEND INBOX \"12-Nov-2023 09:00:00 +0000\" ",
                                        messages()[5]))
    a.idle("idle-store", lambda: b.cmd("store-2", "STORE 1:2 +FLAGS (\\Seen)"))

    def expunge_from_b():
        b.cmd("expunge-prep-2", "STORE 3 +FLAGS.SILENT (\\Deleted)")
        b.cmd("expunge-2", "EXPUNGE")
    a.idle("idle-expunge", expunge_from_b)
    b.cmd("append-3", "APPEND INBOX ", messages()[6])
    a.cmd("status-other", "STATUS Drafts (MESSAGES)")
    a.cmd("fetch-final", "FETCH 1:* (UID FLAGS)")
    b.cmd("fetch-final", "FETCH 1:* (UID FLAGS)")


def keywords(rec):
    """FLAGS and PERMANENTFLAGS list the keywords defined in the mailbox (RFC 9051
    §7.3.5, §7.1); a STORE, APPEND or COPY that defines a new one makes the sessions
    on the mailbox resend them before the responses that use it, and a keyword
    stays defined when no message carries it any more."""
    a = rec.session("A")
    b = rec.session("B")
    data = messages()
    a.cmd("append-1", "APPEND INBOX ($Work) ", data[0])
    a.cmd("append-2", "APPEND INBOX ", data[1])
    a.cmd("select", "SELECT INBOX")
    b.cmd("select", "SELECT INBOX")
    a.cmd("store-new", "STORE 2 +FLAGS (Project-X)")
    b.cmd("noop-new", "NOOP")
    a.cmd("store-known", "STORE 1 +FLAGS (Project-X)")
    # Keywords are atoms, compared without case (RFC 9051 §9 note 1): another
    # spelling names the same keyword, and the first spelling stays.
    a.cmd("store-other-case", "STORE 2 +FLAGS (project-x)")
    a.cmd("store-remove-case", "STORE 1 -FLAGS (PROJECT-X)")
    a.cmd("store-back", "STORE 1 +FLAGS (Project-X)")
    a.cmd("store-silent-new", "STORE 1 +FLAGS.SILENT ($Later)")
    b.cmd("fetch-flags", "FETCH 1:* (FLAGS)")
    a.cmd("append-new", "APPEND INBOX (fresh \\Seen) ", data[2])
    b.cmd("noop-append", "NOOP")
    b.idle("idle-store", lambda: a.cmd("store-idle", "STORE 1 +FLAGS (idle-kw)"))
    a.cmd("store-remove", "STORE 1:* -FLAGS ($Later Project-X $Work fresh idle-kw)")
    a.cmd("reselect", "SELECT INBOX")
    b.cmd("examine", "EXAMINE INBOX")
    a.cmd("store-copy", "STORE 1 +FLAGS (to-copy)")
    a.cmd("copy", "COPY 1 Drafts")
    a.cmd("examine-drafts", "EXAMINE Drafts")


def condstore_qresync(rec):
    a = rec.session("A")
    b = rec.session("B")
    append_all(b, limit=6)
    a.cmd("enable-condstore", "ENABLE CONDSTORE")
    untagged, _ = a.cmd("select-condstore", "SELECT INBOX (CONDSTORE)")
    validity = uidvalidity(untagged)
    modseq = highestmodseq(untagged)
    a.cmd("fetch-modseq", "FETCH 1:* (UID MODSEQ)")
    a.cmd("store-unchanged", f"STORE 1:2 (UNCHANGEDSINCE {modseq}) +FLAGS (\\Flagged)")
    a.cmd("store-conflict", f"STORE 1:3 (UNCHANGEDSINCE {modseq}) +FLAGS (\\Answered)")
    a.cmd("fetch-changedsince", f"FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq})")
    a.cmd("search-modseq", f"SEARCH MODSEQ {modseq + 1}")
    b.cmd("select", "SELECT INBOX")
    b.cmd("store", "STORE 4 +FLAGS (\\Seen)")
    a.cmd("noop-modseq", "NOOP")
    a.cmd("logout-prep", "UNSELECT")

    q = rec.session("Q")
    q.cmd("enable-qresync", "ENABLE QRESYNC")
    untagged, _ = q.cmd("select-qresync-first", "SELECT INBOX (QRESYNC ({} {}))".format(validity, modseq))
    before = highestmodseq(untagged)
    q.cmd("unselect", "UNSELECT")
    b.cmd("expunge-prep", "STORE 2,5 +FLAGS.SILENT (\\Deleted)")
    b.cmd("expunge", "EXPUNGE")
    b.cmd("store-more", "STORE 1 -FLAGS (\\Flagged)")
    q.cmd("select-qresync", f"SELECT INBOX (QRESYNC ({validity} {before} 1:10))")
    q.cmd("select-qresync-stale", f"EXAMINE INBOX (QRESYNC ({validity + 1} {before}))")
    q.cmd("select-back", "SELECT INBOX")
    q.cmd("uid-fetch-vanished", f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)")
    b.cmd("expunge-prep-2", "STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.cmd("expunge-2", "EXPUNGE")
    q.cmd("noop-vanished", "NOOP")
    q.cmd("fetch-final", "FETCH 1:* (UID FLAGS MODSEQ)")


def _message(fields, body):
    """A message of the (name, value) header fields whose value is not None."""
    head = b"".join(name + b": " + value + b"\r\n" for name, value in fields if value is not None)
    return head + b"\r\n" + body


def _sorting_message(subject, sender, to, date, cc=None, body=b"sort me\r\n"):
    return _message([(b"From", sender), (b"To", to), (b"Cc", cc), (b"Subject", subject),
                     (b"Date", date)], body)


# What SORT compares (RFC 5256 §2.1, §2.2, §3, §7): reply and forward artifacts in
# subjects, encoded words, case, non-ASCII; zones, obsolete and broken dates; the
# first address of a list, groups, display names and missing fields.
SORTING = [
    _sorting_message(b"Re: [tern-dev] Fwd: release plan (fwd)", b"Zed <zed@example.org>",
                     b"bob@example.org", b"Mon, 6 Nov 2023 23:30:00 -0800"),
    _sorting_message(b"[fwd: Re: Release Plan]", b"anna@example.org", b"Carol <carol@example.org>",
                     b"Tue, 7 Nov 2023 07:00:00 +0000", cc=b"dave@example.org, bob@example.org"),
    _sorting_message(b"RE:  re:\tRelease   Plan", b"\"Brown, Bea\" <bea@example.org>",
                     b"undisclosed-recipients:;", b"7 Nov 2023 07:00:00 GMT"),
    _sorting_message(b"Fw: [list] [tag] budget", b"=?utf-8?q?=C3=84rger?= <aerger@example.org>",
                     b"alice@example.org", b"Wed, 08 Nov 23 12:00 EST"),
    _sorting_message(b"[only blob]", b"BOB@example.org", b"Alice <ALICE@example.org>",
                     b"not a date at all"),
    _sorting_message(b"=?utf-8?q?=C3=84pfel_und_Birnen?=", b"carl@example.org", None,
                     b"Thu, 9 Nov 2023 10:00:00 +0200", cc=b"zoe@example.org"),
    _sorting_message(b"apple pie", b"_under@example.org", b"team: a@example.org, b@example.org;",
                     b"Thu, 9 Nov 2023 10:00:00 (no zone)"),
    _sorting_message(b"Zebra crossing", None, b"zed@example.org", None),
    _sorting_message(None, b"yann@example.org", b"yann@example.org", b"Fri, 10 Nov 2023 09:00:00 +0000",
                     body=b"a longer body to sort by size\r\n" * 5),
    _sorting_message(b"_underscore first?", b"Eve <eve@example.org>", b"eve@example.org",
                     b"Sat, 11 Nov 2023 09:00:00 +0000"),
    _sorting_message(b"Re: Re: Fwd: [a] [b]", b"mallory@example.org", b"x@example.org",
                     b"Sat, 11 Nov 2023 08:59:59 -0000"),
]


def _threading_message(subject, message_id=None, references=None, in_reply_to=None, day=12):
    return _message([(b"From", b"t@example.org"), (b"Subject", subject),
                     (b"Date", b"%d Nov 2023 10:00:00 +0000" % day), (b"Message-ID", message_id),
                     (b"References", references), (b"In-Reply-To", in_reply_to)],
                    b"thread me\r\n")


# What THREAD=REFERENCES links (RFC 5256 §3): References chains, In-Reply-To
# alone, references to messages not in the mailbox, quoted ids, a duplicate
# Message-ID, a loop, and replies known only by their subject.
THREADING = [
    _threading_message(b"thread root", b"<t1@x>", day=12),
    _threading_message(b"Re: thread root", b"<t2@x>", in_reply_to=b"<t1@x>", day=14),
    _threading_message(b"Re: thread root", b"<t3@x>", b"<t1@x> <t2@x>", day=13),
    _threading_message(b"Re: thread root", b"<t4@x>", b"<t1@x>\r\n <missing@x>", day=15),
    _threading_message(b"Re: lost parent", b"<t5@x>", b"<gone@x>", day=16),
    _threading_message(b"Re: lost parent", b"<t6@x>", b"<gone@x>", day=11),
    _threading_message(b"quoted", b"<\"q.id\"@x>", day=17),
    _threading_message(b"Re: quoted", b"<t8@x>", b"<q.id@x>", day=18),
    _threading_message(b"dup", b"<t1@x>", day=19),
    _threading_message(b"no id", None, None, b"<t9@x> (Your message of Monday)", day=20),
    _threading_message(b"loop one", b"<l1@x>", b"<l2@x>", day=21),
    _threading_message(b"loop two", b"<l2@x>", b"<l1@x>", day=22),
    _threading_message(b"Re: Zebra crossing", b"<z2@x>", day=23),
    _threading_message(b"Zebra crossing", b"<z3@x>", day=24),
]


def sort_orders(rec):
    """SORT and UID SORT (RFC 5256) over every message of the other scenarios and
    SORTING: each key alone and reversed, several keys, with search keys, and the
    errors."""
    a = rec.session("A")
    append_all(a)
    for i, data in enumerate(SORTING):
        s_date = APPEND_DATES[(i * 5) % len(APPEND_DATES)]
        a.cmd(f"append-sorting-{i + 1}", f"APPEND INBOX {s_date} ", crlf(data))
    for i, data in enumerate(THREADING):
        # A fixed INTERNALDATE: "now" would differ between the two servers' runs
        # whenever their APPENDs straddle a second, and ARRIVAL would with it.
        a.cmd(f"append-threading-{i + 1}", 'APPEND INBOX "12-Nov-2023 12:00:00 +0000" ',
              crlf(data))
    a.cmd("select", "SELECT INBOX")
    a.cmd("flag", "STORE 2,5,7 +FLAGS (\\Flagged)")
    criteria = {
        "arrival": "ARRIVAL", "cc": "CC", "date": "DATE", "from": "FROM", "size": "SIZE",
        "subject": "SUBJECT", "to": "TO", "reverse-arrival": "REVERSE ARRIVAL",
        "reverse-subject": "REVERSE SUBJECT", "subject-reverse-date": "SUBJECT REVERSE DATE",
        "reverse-from-size": "REVERSE FROM SIZE", "to-cc": "TO CC",
        "every-key": "SUBJECT FROM TO CC DATE ARRIVAL SIZE",
        "displayfrom": "DISPLAYFROM", "displayto": "DISPLAYTO",
        "reverse-displayfrom-date": "REVERSE DISPLAYFROM DATE",
    }
    for label, keys in criteria.items():
        a.cmd(f"sort-{label}", f"SORT ({keys}) UTF-8 ALL")
    a.cmd("uid-sort", "UID SORT (SUBJECT DATE) US-ASCII UNSEEN")
    a.cmd("sort-search", "SORT (REVERSE SIZE) UTF-8 OR FLAGGED SUBJECT plan")
    a.cmd("sort-none", "SORT (DATE) UTF-8 SUBJECT no-such-words")
    a.cmd("sort-lower-case", "sort (reverse date) utf-8 all")
    a.cmd("sort-bad-charset", "SORT (DATE) KLINGON ALL")
    a.cmd("sort-bad-key", "SORT (COLOR) UTF-8 ALL")
    a.cmd("sort-empty", "SORT () UTF-8 ALL")
    a.cmd("esort", "SORT RETURN (MIN MAX COUNT ALL) (REVERSE DATE) UTF-8 ALL")
    a.cmd("esort-uid", "UID SORT RETURN () (SUBJECT) UTF-8 UNSEEN")
    a.cmd("esort-count", "SORT RETURN (COUNT) (SIZE) UTF-8 SUBJECT no-such-words")
    a.cmd("esort-minmax", "SORT RETURN (MIN MAX) (SIZE) UTF-8 SUBJECT no-such-words")
    a.cmd("esort-save", "SORT RETURN (SAVE MIN) (REVERSE SUBJECT) UTF-8 NOT DELETED")
    a.cmd("esort-saved", "FETCH $ (UID)")
    a.cmd("esort-save-all", "UID SORT RETURN (SAVE) (FROM) UTF-8 FLAGGED")
    a.cmd("esort-saved-all", "UID FETCH $ (UID)")
    a.cmd("esort-bad", "SORT RETURN (BOGUS) (DATE) UTF-8 ALL")
    a.cmd("thread-orderedsubject", "THREAD ORDEREDSUBJECT UTF-8 ALL")
    a.cmd("thread-references", "THREAD REFERENCES UTF-8 ALL")
    a.cmd("uid-thread-references", "UID THREAD REFERENCES US-ASCII UNSEEN")
    a.cmd("thread-search", "THREAD REFERENCES UTF-8 SUBJECT thread")
    a.cmd("thread-none", "THREAD ORDEREDSUBJECT UTF-8 SUBJECT no-such-words")
    a.cmd("thread-bad-algorithm", "THREAD SHUFFLE UTF-8 ALL")
    a.cmd("thread-bad-charset", "THREAD REFERENCES KLINGON ALL")


def save_dates(rec):
    """SAVEDATE (RFC 8514): FETCH SAVEDATE is when a message was saved in its
    mailbox, not the INTERNALDATE its APPEND gave (all in 2023 here); COPY and MOVE
    save anew; SAVEDBEFORE, SAVEDON and SAVEDSINCE compare its day,
    SAVEDATESUPPORTED matches every message of a mailbox that keeps save dates."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    day = lambda d: f"{d.day}-{d.strftime('%b')}-{d.year}"  # noqa: E731
    a = rec.session("A")
    append_all(a, limit=6)
    a.cmd("create", "CREATE Later")
    a.cmd("select", "SELECT INBOX")
    a.cmd("fetch", "FETCH 1:* (INTERNALDATE SAVEDATE)")
    a.cmd("uid-fetch", "UID FETCH 2:3 (SAVEDATE FLAGS)")
    keys = {
        "before-2024": "BEFORE 1-Jan-2024", "savedbefore-2024": "SAVEDBEFORE 1-Jan-2024",
        "savedsince-2024": "SAVEDSINCE 1-Jan-2024", "savedon-today": f"SAVEDON {day(today)}",
        "savedsince-today": f"SAVEDSINCE {day(today)}",
        "savedbefore-tomorrow": f"SAVEDBEFORE {day(today + datetime.timedelta(days=1))}",
        "savedon-2023": "SAVEDON 6-Nov-2023", "supported": "SAVEDATESUPPORTED",
        "not-supported": "NOT SAVEDATESUPPORTED", "or": "OR SAVEDON 6-Nov-2023 FLAGGED",
    }
    for label, key in keys.items():
        a.cmd(f"search-{label}", f"SEARCH {key}")
    a.cmd("uid-search", "UID SEARCH SAVEDSINCE 1-Jan-2024 UID 2:4")
    a.cmd("copy", "COPY 1:2 Later")
    a.cmd("move", "MOVE 3 Later")
    a.cmd("select-later", "SELECT Later")
    a.cmd("fetch-later", "FETCH 1:* (UID INTERNALDATE SAVEDATE)")
    a.cmd("search-later", "SEARCH SAVEDSINCE 1-Jan-2024")
    a.cmd("search-bad-date", "SEARCH SAVEDON 31-Feb-2024")


SCENARIOS = {
    "fetch_items": fetch_items,
    "store_flags": store_flags,
    "search_keys": search_keys,
    "copy_move": copy_move,
    "expunge": expunge,
    "status_items": status_items,
    "list_mailboxes": list_mailboxes,
    "two_sessions": two_sessions,
    "keywords": keywords,
    "condstore_qresync": condstore_qresync,
    "sort_orders": sort_orders,
    "save_dates": save_dates,
}
