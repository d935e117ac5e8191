"""Postfix lines → records, on lines in the formats Postfix really writes."""

from __future__ import annotations

import calendar

import pytest

from mailtally.ingest import LineParser, parse
from mailtally.ingest.parsers import (
    CleanupMessageId,
    Delivery,
    Discard,
    Pickup,
    QmgrFrom,
    QmgrRemoved,
    Record,
    Reject,
    SmtpdClient,
)

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))
T = calendar.timegm((2026, 11, 28, 1, 2, 3))
P = LineParser(reference=REF)


def line(prog: str, msg: str) -> str:
    return f"Nov 28 01:02:03 mail {prog}[4242]: {msg}"


LMTP_SAVED = "250 2.0.0 <bob@example.com> Yn2LBZPxGFgFBgAA3AX0Sg Saved"
AMAVIS_QUEUED = "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 4DEF0A1B2C"

CASES: list[tuple[str, str, tuple[Record, ...]]] = [
    # smtpd / submission / smtps
    (
        "postfix/smtpd",
        "4F2A1B2C3D: client=mx.example.org[203.0.113.9]",
        (SmtpdClient("4F2A1B2C3D", "203.0.113.9"),),
    ),
    (
        "postfix/submission/smtpd",
        "4Xk3Lq2Z9bz9rxG: client=unknown[198.51.100.7]:54321, sasl_method=PLAIN, "
        "sasl_username=alice@example.com",
        (SmtpdClient("4Xk3Lq2Z9bz9rxG", "198.51.100.7", 54321, "alice@example.com"),),
    ),
    (
        "postfix/smtps/smtpd",
        "3pJjgB6dpKz1JBPW: client=c-1.example.net[2001:db8::25], sasl_method=LOGIN, "
        "sasl_username=bob",
        (SmtpdClient("3pJjgB6dpKz1JBPW", "2001:db8::25", None, "bob"),),
    ),
    (
        "postfix-inbound/smtpd",
        "3pJjgB6dpKz1JBPW: client=mx9.example.net[127.0.0.1], orig_queue_id=3pJjg82Vycz1JBJG, "
        "orig_client=wursti.example.fi[198.51.100.223]",
        (SmtpdClient("3pJjgB6dpKz1JBPW", "127.0.0.1", None, None, "3pJjg82Vycz1JBJG"),),
    ),
    # pickup, cleanup, qmgr
    (
        "postfix/pickup",
        "4F2A1B2C3D: uid=33 from=<www-data>",
        (Pickup("4F2A1B2C3D", 33, "www-data"),),
    ),
    (
        "postfix/cleanup",
        "4F2A1B2C3D: message-id=<20261128010203.GA1234@example.org>",
        (CleanupMessageId("4F2A1B2C3D", "20261128010203.GA1234@example.org"),),
    ),
    (
        "postfix/cleanup",
        "4F2A1B2C3D: message-id=bare-id",
        (CleanupMessageId("4F2A1B2C3D", "bare-id"),),
    ),
    (
        "postfix/qmgr",
        "4F2A1B2C3D: from=<a@example.org>, size=1234, nrcpt=2 (queue active)",
        (QmgrFrom("4F2A1B2C3D", "a@example.org", 1234, 2),),
    ),
    (
        "postfix/qmgr",
        "4F2A1B2C3D: from=<>, size=3100, nrcpt=1 (queue active)",
        (QmgrFrom("4F2A1B2C3D", "", 3100, 1),),
    ),
    ("postfix/qmgr", "4F2A1B2C3D: removed", (QmgrRemoved("4F2A1B2C3D"),)),
    # deliveries
    (
        "postfix/lmtp",
        "4F2A1B2C3D: to=<bob@example.com>, orig_to=<alias@example.com>, "
        "relay=mail.example.com[private/dovecot-lmtp], delay=0.12, delays=0.05/0.01/0.02/0.04, "
        f"dsn=2.0.0, status=sent ({LMTP_SAVED})",
        (
            Delivery(
                "4F2A1B2C3D",
                "bob@example.com",
                "alias@example.com",
                "mail.example.com[private/dovecot-lmtp]",
                "sent",
                "lmtp",
                LMTP_SAVED,
            ),
        ),
    ),
    (
        "postfix/virtual",
        "4F2A1B2C3D: to=<bob@example.com>, relay=virtual, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, "
        "status=sent (delivered to maildir)",
        (
            Delivery(
                "4F2A1B2C3D",
                "bob@example.com",
                None,
                "virtual",
                "sent",
                "virtual",
                "delivered to maildir",
            ),
        ),
    ),
    (
        "postfix/pipe",
        "4F2A1B2C3D: to=<bob@example.com>, relay=dovecot, delay=0.3, delays=0.1/0/0/0.2, "
        "dsn=2.0.0, "
        "status=sent (delivered via dovecot service)",
        (
            Delivery(
                "4F2A1B2C3D",
                "bob@example.com",
                None,
                "dovecot",
                "sent",
                "pipe",
                "delivered via dovecot service",
            ),
        ),
    ),
    (
        "postfix/local",
        "4F2A1B2C3D: to=<bob@mail.example.com>, orig_to=<bob@example.com>, relay=local, delay=0.1, "
        "delays=0/0/0/0.1, dsn=2.0.0, status=sent (forwarded as 5ABCDEF012)",
        (
            Delivery(
                "4F2A1B2C3D",
                "bob@mail.example.com",
                "bob@example.com",
                "local",
                "sent",
                "local",
                "forwarded as 5ABCDEF012",
                None,
                "5ABCDEF012",
            ),
        ),
    ),
    (
        "postfix/smtp",
        "4F2A1B2C3D: to=<bob@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=0.9, "
        f"delays=0.1/0/0/0.8, dsn=2.0.0, status=sent ({AMAVIS_QUEUED})",
        (
            Delivery(
                "4F2A1B2C3D",
                "bob@example.com",
                None,
                "127.0.0.1[127.0.0.1]:10024",
                "sent",
                "smtp",
                AMAVIS_QUEUED,
                "4DEF0A1B2C",
            ),
        ),
    ),
    (
        "postfix-out/smtp",
        "4Xk3Lq2Z9bz9rxG: to=<x@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.27.27]:25, "
        "delay=1.1, delays=0.1/0/0.4/0.6, dsn=5.1.1, status=bounced (host "
        "gmail-smtp-in.l.google.com"
        "[142.250.27.27] said: 550 5.1.1 The email account does not exist (in reply to RCPT TO "
        "command))",
        (
            Delivery(
                "4Xk3Lq2Z9bz9rxG",
                "x@gmail.com",
                None,
                "gmail-smtp-in.l.google.com[142.250.27.27]:25",
                "bounced",
                "smtp",
                "host gmail-smtp-in.l.google.com[142.250.27.27] said: 550 5.1.1 The email account "
                "does not exist (in reply to RCPT TO command)",
            ),
        ),
    ),
    (
        "postfix/smtp",
        "4F2A1B2C3D: to=<x@example.net>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, "
        "status=deferred (connect to mx.example.net[192.0.2.1]:25: Connection timed out)",
        (
            Delivery(
                "4F2A1B2C3D",
                "x@example.net",
                None,
                "none",
                "deferred",
                "smtp",
                "connect to mx.example.net[192.0.2.1]:25: Connection timed out",
            ),
        ),
    ),
    # rejections
    (
        "postfix/smtpd",
        "NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 550 5.1.1 <x@example.com>: Recipient "
        "address "
        "rejected: User unknown in virtual mailbox table; from=<a@b.example> to=<x@example.com> "
        "proto=ESMTP helo=<h>",
        (Reject(None, "RCPT", "x@example.com", True),),
    ),
    (
        "postfix/smtpd",
        "4ABC12345D: reject: RCPT from mx.example.org[203.0.113.9]:25123: 450 4.2.0 "
        "<x@example.com>: "
        "Recipient address rejected: Greylisted; from=<a@b.example> to=<x@example.com> proto=ESMTP "
        "helo=<mx.example.org>",
        (Reject("4ABC12345D", "RCPT", "x@example.com", False),),
    ),
    (
        "postfix/cleanup",
        "4ABC12345D: milter-reject: END-OF-MESSAGE from mx.example.org[203.0.113.9]: 5.7.1 Spam "
        "message rejected; from=<a@b.example> to=<bob@example.com> proto=ESMTP "
        "helo=<mx.example.org>",
        (Reject("4ABC12345D", "END-OF-MESSAGE", "bob@example.com", True, True),),
    ),
    (
        "postfix/smtpd",
        "NOQUEUE: milter-reject: RCPT from mx.example.org[203.0.113.9]: 451 4.7.1 Try again later; "
        "from=<a@b.example> to=<bob@example.com> proto=ESMTP helo=<mx.example.org>",
        (Reject(None, "RCPT", "bob@example.com", False, True),),
    ),
    (
        "postfix/postscreen",
        "NOQUEUE: reject: RCPT from [192.0.2.8]:40000: 550 5.7.1 Service unavailable; client "
        "[192.0.2.8] blocked using zen.spamhaus.org; from=<s@spam.example>, "
        "to=<carol@example.com>, "
        "proto=ESMTP, helo=<spam>",
        (Reject(None, "RCPT", "carol@example.com", True),),
    ),
    (
        "postfix/smtpd",
        "NOQUEUE: reject: CONNECT from unknown[192.0.2.9]: 554 5.7.1 Service unavailable; "
        "proto=SMTP",
        (Reject(None, "CONNECT", None, True),),
    ),
    (
        "postfix/cleanup",
        "4ABC12345D: reject: header Subject: cheap pills from mx.example.org[203.0.113.9]; "
        "from=<a@b.example> to=<bob@example.com> proto=ESMTP helo=<mx>: 5.7.1 message content "
        "rejected",
        (Reject("4ABC12345D", "header", "bob@example.com", True),),
    ),
    # proxy-reject: a before-queue content filter (amavis, Proxmox Mail Gateway) refused
    # the message at the end of DATA (Postfix smtpd.c, smtpd_proxy.c).
    (
        "postfix/smtpd",
        "4ABC12345D: proxy-reject: END-OF-MESSAGE: 554 5.7.1 Rejected for policy reasons "
        "(381C4E5DFA31DF9E90F); from=<a@b.example> to=<bob@example.com> proto=ESMTP "
        "helo=<mx.example.org>",
        (Reject("4ABC12345D", "END-OF-MESSAGE", "bob@example.com", True),),
    ),
    (
        "postfix/smtpd",
        "proxy-reject: END-OF-MESSAGE: 554 5.7.0 Reject, id=31619-02 - spam from 10.0.0.1; "
        "from=<> to=<carol@example.com> proto=SMTP helo=<[192.0.2.8]>",
        (Reject(None, "END-OF-MESSAGE", "carol@example.com", True),),
    ),
    (
        "postfix/smtpd",
        "NOQUEUE: proxy-reject: END-OF-MESSAGE: 451 4.5.0 Error in processing, id=123-01; "
        "from=<a@b.example> to=<bob@example.com> proto=ESMTP helo=<mx.example.org>",
        (Reject(None, "END-OF-MESSAGE", "bob@example.com", False),),
    ),
    (
        "postfix/submission/smtpd",
        "4ABC12345D: proxy-reject: END-OF-MESSAGE: 550 5.7.1 Message contains a virus; "
        "from=<alice@example.com> to=<x@elsewhere.org> proto=ESMTP helo=<[10.1.1.1]>",
        (Reject("4ABC12345D", "END-OF-MESSAGE", "x@elsewhere.org", True),),
    ),
    (
        "postfix/cleanup",
        "4ABC12345D: milter-discard: END-OF-MESSAGE from mx.example.org[203.0.113.9]: milter "
        "triggers DISCARD action; from=<a@b.example> to=<bob@example.com> proto=ESMTP helo=<mx>",
        (Discard("4ABC12345D"),),
    ),
]


@pytest.mark.parametrize(("prog", "msg", "records"), CASES)
def test_records(prog: str, msg: str, records: tuple[Record, ...]) -> None:
    res = P.parse(line(prog, msg))
    assert res.status == "ok", res
    assert res.program == prog
    assert res.time == T
    assert res.records == records


@pytest.mark.parametrize(
    "msg",
    [
        "connect from mx.example.org[203.0.113.9]",
        "disconnect from mx.example.org[203.0.113.9] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5",
        "lost connection after DATA from unknown[192.0.2.4]",
        "warning: hostname x.example does not resolve to address 192.0.2.4",
        "unknown[192.0.2.4]: SASL LOGIN authentication failed: authentication failure",
        "Anonymous TLS connection established from mx.example.org[203.0.113.9]: TLSv1.3 with "
        "cipher",
        "statistics: max connection rate 3/60s for (smtp:192.0.2.4) at Nov 28 01:00:00",
        "NOQUEUE: reject_warning: RCPT from unknown[192.0.2.7]: 550 5.7.1 Service unavailable; "
        "from=<a@b> to=<bob@example.com> proto=ESMTP helo=<h>",
        "4F2A1B2C3D: reject_warning: header Subject: x from h[192.0.2.1]; from=<a@b> to=<c@d>",
        "4F2A1B2C3D: from=<a@example.org>, status=expired, returned to sender",
        "4F2A1B2C3D: sender non-delivery notification: 5ABCDEF012",
        "4F2A1B2C3D: host mx.example.net[192.0.2.1] said: 451 4.7.1 try later (in reply to RCPT "
        "TO)",
        "NOQUEUE: client=mx.example.org[203.0.113.9]",
        "NOQUEUE: filter: RCPT from unknown[192.0.2.7]: <bob@example.com>: Recipient address "
        "triggers FILTER smtp-amavis:[127.0.0.1]:10024; from=<a@b> to=<bob@example.com>",
        "NOQUEUE: lost connection after RCPT from unknown[192.0.2.7]",
        "NOQUEUE: discard: RCPT from unknown[192.0.2.7]: <a@b>: Sender address triggers DISCARD",
        "daemon started -- version 3.7.11, configuration /etc/postfix",
    ],
)
def test_ignored(msg: str) -> None:
    res = P.parse(line("postfix/smtpd", msg))
    assert res.status == "ignored", res
    assert res.records == () and res.program == "postfix/smtpd"


@pytest.mark.parametrize(
    "msg",
    [
        "4F2A1B2C3D: something new=<x>",
        "4F2A1B2C3D: from=<a@example.org> without a size",
        # a broken number: counting it would overflow the sums
        "4F2A1B2C3D: from=<a@example.org>, size=99999999999999999999999, nrcpt=1 (queue active)",
        "4F2A1B2C3D: from=<a@example.org>, size=1, nrcpt=99999999999999999999999 (queue active)",
        "4F2A1B2C3D: uid=abc from=<x>",
        "NOQUEUE: reject: RCPT from unknown[192.0.2.7]: no code here",
        # a NOQUEUE line of a form not known (it is how rejections are logged)
        "NOQUEUE: quarantine: RCPT from unknown[192.0.2.7]: 550 5.7.1 held; to=<bob@example.com>",
        # a proxy-reject without a reply code cannot be told 4xx or 5xx
        "proxy-reject: END-OF-MESSAGE: ; from=<a@b> to=<bob@example.com> proto=ESMTP helo=<h>",
        "4F2A1B2C3D: proxy-reject: END-OF-MESSAGE: ; from=<a@b> to=<bob@example.com>",
    ],
)
def test_not_understood(msg: str) -> None:
    res = P.parse(line("postfix/qmgr", msg))
    assert res.status == "unknown"
    assert res.program == "postfix/qmgr"


def test_rfc3339_stamps_and_custom_syslog_names() -> None:
    for stamp, t in [
        ("2026-11-28T01:02:03.123456+00:00", T),
        ("2026-11-28T01:02:03Z", T),
        ("2026-11-28T02:02:03+01:00", T),
        ("2026-11-28T01:02:03+0000", T),
    ]:
        res = parse(f"{stamp} mail postfix-out/qmgr[22]: 4F2A1B2C3D: removed")
        assert (res.status, res.program, res.time) == ("ok", "postfix-out/qmgr", t)


def test_program_without_pid_and_without_host() -> None:
    res = P.parse("Nov 28 01:02:03 postfix/qmgr: 4F2A1B2C3D: removed\n")
    assert res.records == (QmgrRemoved("4F2A1B2C3D"),)
    res = P.parse("Nov 28 01:02:03 mail postfix/qmgr: 4F2A1B2C3D: removed\r\n")
    assert res.records == (QmgrRemoved("4F2A1B2C3D"),)


def test_records_are_frozen_and_hashable() -> None:
    r = QmgrRemoved("4F2A1B2C3D")
    with pytest.raises(AttributeError):
        r.qid = "x"  # type: ignore[misc]
    assert hash(r) == hash(QmgrRemoved("4F2A1B2C3D"))
    assert Delivery("q", "t", None, "r", "sent", "lmtp") == Delivery(
        qid="q", to="t", orig_to=None, relay="r", status="sent", service="lmtp"
    )
