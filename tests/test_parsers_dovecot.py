"""Dovecot lines → records: IMAP/POP3 logins and Pigeonhole sieve actions."""

from __future__ import annotations

import calendar

import pytest

from mailtally.ingest import LineParser
from mailtally.ingest.parsers import MailLogin, Record, SieveAction

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))
T = calendar.timegm((2026, 11, 28, 1, 2, 3))
P = LineParser(reference=REF)

SYSLOG = "Nov 28 01:02:03 mail dovecot: "
SYSLOG_PID = "Nov 28 01:02:03 mail dovecot[812]: "
FILE = "Nov 28 01:02:03 "  # Dovecot's own log file: no host, "Info:" level

CASES: list[tuple[str, tuple[Record, ...]]] = [
    (
        SYSLOG + "imap-login: Login: user=<alice@example.com>, method=PLAIN, rip=203.0.113.7, "
        "lip=10.0.0.1, mpid=12345, TLS, session=<abcDEF>",
        (MailLogin("alice@example.com", "203.0.113.7", "imap4"),),
    ),
    (
        SYSLOG_PID + "pop3-login: Login: user=<bob@example.com>, method=PLAIN, rip=2001:db8::7, "
        "lip=2001:db8::1, mpid=12346, TLS, session=<abcDEG>",
        (MailLogin("bob@example.com", "2001:db8::7", "pop3"),),
    ),
    (
        SYSLOG + "imap-login: Login: user=<carol>, method=PLAIN, rip=::ffff:203.0.113.8, "
        "lip=::ffff:10.0.0.1, PID=4711, TLS",
        (MailLogin("carol", "::ffff:203.0.113.8", "imap4"),),
    ),
    (
        FILE + "imap-login: Info: Login: user=<alice@example.com>, method=PLAIN, rip=203.0.113.7, "
        "lip=10.0.0.1, mpid=12345, TLS, session=<abcDEF>",
        (MailLogin("alice@example.com", "203.0.113.7", "imap4"),),
    ),
    (
        "2026-11-28T01:02:03.000000+00:00 mail dovecot: imap-login: Login: "
        "user=<alice@example.com>, "
        "method=XOAUTH2, rip=203.0.113.7, lip=10.0.0.1, mpid=9, secured, session=<x>",
        (MailLogin("alice@example.com", "203.0.113.7", "imap4"),),
    ),
    # Dovecot 2.4: "Logged in:" (dovecot/core 2.4.1 src/login-common/client-common-auth.c
    # client_destroy_success(client, "Logged in"); the fields are login-settings.c's
    # login_log_format_elements, joined ", " by client-common.c client_get_log_str).
    (
        SYSLOG + "imap-login: Logged in: user=<alice@example.com>, method=PLAIN, "
        "rip=203.0.113.7, lip=10.0.0.1, mpid=12345, TLS, session=<abcDEF>",
        (MailLogin("alice@example.com", "203.0.113.7", "imap4"),),
    ),
    (
        SYSLOG_PID + "pop3-login: Logged in: user=<bob@example.com>, method=PLAIN, "
        "rip=2001:db8::7, lip=2001:db8::1, mpid=12346, TLS, session=<abcDEG>",
        (MailLogin("bob@example.com", "2001:db8::7", "pop3"),),
    ),
    (
        FILE + "imap-login: Info: Logged in: user=<alice@example.com>, method=SCRAM-SHA-256, "
        "rip=203.0.113.7, lip=10.0.0.1, mpid=4242, TLS, session=<k2Lm>",
        (MailLogin("alice@example.com", "203.0.113.7", "imap4"),),
    ),
    (
        FILE + "pop3-login: Info: Logged in: user=<carol@example.com>, method=PLAIN, "
        "rip=198.51.100.9, lip=10.0.0.1, mpid=4243, session=<k2Ln>",
        (MailLogin("carol@example.com", "198.51.100.9", "pop3"),),
    ),
    (
        "2026-11-28T01:02:03.000000+00:00 mail dovecot[812]: imap-login: Logged in: "
        "user=<alice@example.com>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, mpid=9, "
        "secured, session=<x>",
        (MailLogin("alice@example.com", "127.0.0.1", "imap4"),),
    ),
    # Dovecot 2.2 (Pigeonhole 0.4): the session id after the context, "Info:" before it
    # in Dovecot's own log file.
    (
        SYSLOG + "lmtp(alice@example.com): wArTL0TxF2AccAAAYr7Zvw: sieve: msgid=<x@y.example>: "
        "stored mail into mailbox 'Junk'",
        (
            SieveAction(
                "alice@example.com", "fileinto", "Junk", "x@y.example", "wArTL0TxF2AccAAAYr7Zvw"
            ),
        ),
    ),
    (
        FILE + "lmtp(alice@example.com): Info: SuVyGjQjNFg6GAAABNQJ0Q: sieve: "
        "msgid=<x@y.example>: forwarded to <carol@elsewhere.org>",
        (
            SieveAction(
                "alice@example.com",
                "redirect",
                "carol@elsewhere.org",
                "x@y.example",
                "SuVyGjQjNFg6GAAABNQJ0Q",
            ),
        ),
    ),
    (
        SYSLOG + "lmtp(alice@example.com): SuVyGjQjNFg6GAAABNQJ0Q: sieve: msgid=<x@y.example>: "
        "sent vacation response to <bob@z.example>",
        (
            SieveAction(
                "alice@example.com",
                "vacation",
                "bob@z.example",
                "x@y.example",
                "SuVyGjQjNFg6GAAABNQJ0Q",
            ),
        ),
    ),
    (
        FILE + "lda(alice@example.com): Info: sessX: sieve: msgid=<x@y.example>: "
        "stored mail into mailbox 'Spam'",
        (SieveAction("alice@example.com", "fileinto", "Spam", "x@y.example", "sessX"),),
    ),
    # Pigeonhole
    (
        SYSLOG
        + "lmtp(alice@example.com)<1234><Yn2LBZPxGFgFBgAA3AX0Sg>: sieve: msgid=<x@y.example>: "
        "sent vacation response to <bob@z.example>",
        (
            SieveAction(
                "alice@example.com",
                "vacation",
                "bob@z.example",
                "x@y.example",
                "Yn2LBZPxGFgFBgAA3AX0Sg",
            ),
        ),
    ),
    (
        SYSLOG + "lmtp(alice@example.com)<1234><sess1>: sieve: msgid=<x@y.example>: "
        "forwarded to <carol@elsewhere.org>",
        (
            SieveAction(
                "alice@example.com", "redirect", "carol@elsewhere.org", "x@y.example", "sess1"
            ),
        ),
    ),
    (
        SYSLOG + "lmtp(alice@example.com)<1234><sess1>: sieve: msgid=<x@y.example>: "
        "stored mail into mailbox 'Junk'",
        (SieveAction("alice@example.com", "fileinto", "Junk", "x@y.example", "sess1"),),
    ),
    (
        SYSLOG + "lmtp(alice@example.com)<1234><sess1>: sieve: msgid=<x@y.example>: "
        "fileinto action: stored mail into mailbox 'Junk E-mail'",
        (SieveAction("alice@example.com", "fileinto", "Junk E-mail", "x@y.example", "sess1"),),
    ),
    (
        SYSLOG + "lmtp(alice@example.com)<1234><sess1>: sieve: msgid=<x@y.example>: "
        "vacation action: sent vacation response to <bob@z.example>",
        (SieveAction("alice@example.com", "vacation", "bob@z.example", "x@y.example", "sess1"),),
    ),
    (
        SYSLOG + "lmtp(alice@example.com)<1234><sess1>: sieve: msgid=<x@y.example>: "
        "redirect action: forwarded to <carol@elsewhere.org>",
        (
            SieveAction(
                "alice@example.com", "redirect", "carol@elsewhere.org", "x@y.example", "sess1"
            ),
        ),
    ),
    (
        SYSLOG
        + "lmtp(alice@example.com): sieve: msgid=unspecified: stored mail into mailbox 'INBOX'",
        (SieveAction("alice@example.com", "fileinto", "INBOX", "unspecified", ""),),
    ),
    (
        SYSLOG + "lmtp(12345, alice@example.com): sieve: msgid=<x@y.example>: stored mail into "
        "mailbox 'INBOX'",
        (SieveAction("alice@example.com", "fileinto", "INBOX", "x@y.example", ""),),
    ),
    (
        SYSLOG + "deliver(alice@example.com): sieve: msgid=<x@y.example>: sent vacation response "
        "to <bob@z.example>",
        (SieveAction("alice@example.com", "vacation", "bob@z.example", "x@y.example", ""),),
    ),
    (
        SYSLOG + "lda(alice@example.com)<77><sessL>: sieve: msgid=<x@y.example>: forwarded to "
        "<carol@elsewhere.org>",
        (
            SieveAction(
                "alice@example.com", "redirect", "carol@elsewhere.org", "x@y.example", "sessL"
            ),
        ),
    ),
    (
        FILE
        + "lmtp(alice@example.com)<1234><sess1>: Info: sieve: msgid=<x@y.example>: stored mail "
        "into mailbox 'Spam'",
        (SieveAction("alice@example.com", "fileinto", "Spam", "x@y.example", "sess1"),),
    ),
]


@pytest.mark.parametrize(("text", "records"), CASES)
def test_records(text: str, records: tuple[Record, ...]) -> None:
    res = P.parse(text)
    assert res.status == "ok", res
    assert res.program == "dovecot"
    assert res.time == T
    assert res.records == records


@pytest.mark.parametrize(
    "text",
    [
        SYSLOG
        + "imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<alice@example.com>, "
        "method=PLAIN, rip=203.0.113.7, lip=10.0.0.1, TLS, session=<abc>",
        SYSLOG + "imap-login: Aborted login (no auth attempts in 0 secs): user=<>, rip=192.0.2.1, "
        "lip=10.0.0.1, session=<abc>",
        SYSLOG
        + "pop3-login: Login aborted: Connection closed (auth failed, 3 attempts in 12 secs) "
        "(auth_failed): user=<x>, rip=192.0.2.1",
        SYSLOG + "imap(alice@example.com)<12345><abcDEF>: Disconnected: Logged out in=120 out=1200",
        SYSLOG + "lmtp(1234): Connect from local",
        SYSLOG + "lmtp(alice@example.com)<1234><sess1>: msgid=<x@y>: saved mail to INBOX",
        SYSLOG
        + "lmtp(alice@example.com)<1234><sess1>: sieve: msgid=<x@y>: discarded duplicate vacation "
        "response to <bob@z>",
        SYSLOG + "lmtp(alice@example.com)<1234><sess1>: sieve: msgid=<x@y>: marked message to be "
        "discarded if not explicitly delivered (discard action)",
        SYSLOG + "lmtp(alice@example.com): sieve: script /home/alice/.dovecot.sieve: line 3: error",
        SYSLOG + "auth: Error: ldap(alice,203.0.113.7): connection failed",
        SYSLOG
        + "managesieve-login: Login: user=<alice@example.com>, method=PLAIN, rip=203.0.113.7",
        SYSLOG + "master: Dovecot v2.3.21 (47349e2482) starting up for imap, pop3, lmtp",
        FILE + "imap-login: Warning: something odd",
        # Dovecot 2.4's failures (client-common.c login_aborted_event, 2.4.1)
        SYSLOG + "imap-login: Login aborted: Connection closed (auth failed, 1 attempts in 2 "
        "secs) (auth_failed): user=<alice@example.com>, method=PLAIN, rip=203.0.113.7, "
        "lip=10.0.0.1, TLS, session=<abc>",
        FILE + "pop3-login: Info: Login aborted: Connection closed (no auth attempts in 0 secs) "
        "(no_auth_attempts): user=<>, rip=192.0.2.1, lip=10.0.0.1, session=<abc>",
        SYSLOG + "imap-login: Disconnected: Connection closed (auth failed, 2 attempts in 9 "
        "secs): user=<a@b>, method=PLAIN, rip=192.0.2.1",
        SYSLOG + "imap-login: Login failed: Plaintext authentication disabled: user=<>, "
        "rip=192.0.2.1",
        SYSLOG + "imap-login: Maximum number of connections from user+IP exceeded "
        "(mail_max_userip_connections=10): user=<a@b>, rip=192.0.2.1",
        SYSLOG + "lmtp(alice@example.com): wArTL0TxF2AccAAAYr7Zvw: msgid=<x@y>: "
        "saved mail to INBOX",
        FILE + "lmtp(alice@example.com): Info: SuVyGjQjNFg6GAAABNQJ0Q: sieve: msgid=<x@y>: "
        "discarded duplicate vacation response to <bob@z>",
        # (a reject with no refusal sent to a null sender is a reject: ext-reject.c
        # cancels the keep; "skipped" keeps the message)
        SYSLOG + "lmtp(admin@example.com): wUc3LDtjDVrkeQAABvoInA: sieve: msgid=<x@y>: "
        "not sending reject message (skipped)",
    ],
)
def test_ignored(text: str) -> None:
    res = P.parse(text)
    assert res.status == "ignored", res
    assert res.program == "dovecot"


@pytest.mark.parametrize(
    "text",
    [
        SYSLOG + "imap-login: Login: method=PLAIN, rip=203.0.113.7",
        SYSLOG + "lmtp(alice@example.com)<1><s>: sieve: msgid=<x@y>: did something new",
        # A login line of a form not known: never silently "understood" (issue 8)
        SYSLOG + "imap-login: Logged in: method=PLAIN, rip=203.0.113.7",
        SYSLOG + "imap-login: Authenticated: user=<alice@example.com>, rip=203.0.113.7",
        FILE + "pop3-login: Info: Successful login: user=<alice@example.com>",
        SYSLOG + "lmtp(alice@example.com): sess1: sieve: msgid=<x@y>: did something new",
    ],
)
def test_not_understood(text: str) -> None:
    res = P.parse(text)
    assert res.status == "unknown"
    assert res.program == "dovecot"
