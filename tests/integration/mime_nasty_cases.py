# SPDX-License-Identifier: Apache-2.0
"""Hand-made messages that stress what ENVELOPE/BODYSTRUCTURE renderers disagree
on: odd addresses, groups, folding, 8-bit, RFC 2231, missing boundaries, nesting."""

CASES = {
    "group-and-empty-group": (
        b"From: Team: alice@example.com, \"Bob B.\" <bob@example.com>;\r\n"
        b"To: undisclosed-recipients:;\r\nCc: a@b.example, , c@d.example\r\n"
        b"Subject: groups\r\n\r\nbody\r\n"),
    "no-from-sender-only": (
        b"Sender: s@example.com\r\nReply-To:\r\nSubject: x\r\n\r\nbody\r\n"),
    "comment-names-and-route": (
        b"From: jdoe@example.org (John Doe)\r\n"
        b"To: <@relay.example,@other.example:user@final.example>\r\n"
        b"Subject: route\r\n\r\nx\r\n"),
    "quoted-local-part-and-escapes": (
        b"From: \"Joe \\\"Q\\\" Public\" <\"joe q\"@example.com>\r\n"
        b"Subject: \"quoted\" \\ subject\r\n\r\nx\r\n"),
    "folded-subject-and-encoded-words": (
        b"From: =?utf-8?q?J=C3=B6rg?= <j@example.com>\r\n"
        b"Subject: =?utf-8?b?w6nDqcOp?=\r\n =?iso-8859-1?q?caf=E9?=\r\n\tend\r\n"
        b"Message-ID: <id@example.com>\r\nIn-Reply-To: <a@b> <c@d>\r\n\r\nx\r\n"),
    "eight-bit-headers": (
        "From: Jörg <jörg@exämple.com>\r\nSubject: café ☕\r\n\r\nbody\r\n".encode()),
    "no-header-at-all": b"\r\njust a body\r\n",
    "no-blank-line": b"Subject: only a header\r\nFrom: a@b.example\r\n",
    "empty-message": b"",
    "rfc2231-params": (
        b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        b"--b1\r\nContent-Type: application/octet-stream;\r\n"
        b" name*0=\"long\"; name*1=\"name.txt\"\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates.txt\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b1--\r\n"),
    "missing-close-delimiter": (
        b"Content-Type: multipart/alternative; boundary=zz\r\n\r\n"
        b"--zz\r\nContent-Type: text/plain\r\n\r\none\r\n--zz\r\n"
        b"Content-Type: text/html\r\n\r\n<p>two</p>\r\n"),
    "uppercase-types-and-params": (
        b"Content-Type: TEXT/PLAIN; CHARSET=\"UTF-8\"; Format=Flowed\r\n"
        b"Content-Transfer-Encoding: QUOTED-PRINTABLE\r\n"
        b"Content-ID: <part1@x>\r\nContent-Description: a description\r\n"
        b"Content-Language: en-GB, fr\r\nContent-Location: http://x.example/a\r\n"
        b"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n\r\ncaf=C3=A9\r\n"),
    "nested-message-in-message": (
        b"From: outer@example.com\r\nContent-Type: message/rfc822\r\n\r\n"
        b"From: inner@example.com\r\nSubject: inner\r\n"
        b"Content-Type: multipart/mixed; boundary=in\r\n\r\n"
        b"--in\r\nContent-Type: message/rfc822\r\n\r\nSubject: innermost\r\n\r\ndeep\r\n"
        b"--in--\r\n"),
    "digest-default-type": (
        b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n"
        b"Subject: m1\r\n\r\nbody1\r\n--d\r\nContent-Type: text/plain\r\n\r\nplain\r\n--d--\r\n"),
    "empty-multipart": (
        b"Content-Type: multipart/mixed; boundary=e\r\n\r\nno parts at all\r\n"),
    "bad-content-type": (
        b"Content-Type: garbage\r\nContent-Transfer-Encoding: x-unknown\r\n\r\nx\r\n"),
    "long-header-literal": (
        b"Subject: " + b"x" * 2000 + b"\r\nFrom: a@b.example\r\n\r\nx\r\n"),
    "deep-nesting": (
        b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                 for i in range(30)) + b"\r\nleaf\r\n"),
    "base64-with-junk": (
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"JVBERi0xLjQK\r\n!!junk!!\r\nJVBERi0xLjQK\r\n"),
    "qp-soft-breaks": (
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
        b"\r\nline one =\r\ncontinued=3D =\r\n\r\nbad =ZZ escape\r\n"),
    "dup-fields": (
        b"Subject: first\r\nSubject: second\r\nFrom: a@b.example\r\nFrom: c@d.example\r\n\r\nx\r\n"),
    "bare-addresses-without-domain": (
        b"From: postmaster\r\nTo: Some Name\r\nCc: <>\r\n\r\nx\r\n"),
    "tab-folded-content-type": (
        b"Content-Type: multipart/mixed;\r\n\tboundary=\"=_tab\"\r\n\r\n--=_tab\r\n\r\nx\r\n--=_tab--\r\n"),
}
