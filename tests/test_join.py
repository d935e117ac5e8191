"""Joining log lines of one message into events (SPEC §3), on real-format lines."""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable

import msgspec
import pytest

from mailtally.events import (
    Autoresponse,
    Event,
    Forward,
    Login,
    MessageDenied,
    MessageIn,
    MessageOut,
    StorageReport,
)
from mailtally.ingest import Joiner, LineParser
from mailtally.ingest.parsers import (
    CleanupMessageId,
    Delivery,
    FilterBlocked,
    QmgrFrom,
    QmgrRemoved,
    Reinjected,
    SieveAction,
    SmtpdClient,
)

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))
T0 = calendar.timegm((2026, 11, 28, 1, 0, 0))


def at(sec: int) -> str:
    """A classic stamp ``sec`` seconds after 01:00:00 on 28 Nov 2026."""
    m, s = divmod(sec, 60)
    h, m = divmod(m, 60)
    return f"Nov 28 {1 + h:02d}:{m:02d}:{s:02d}"


def pf(sec: int, daemon: str, msg: str) -> str:
    return f"{at(sec)} mail postfix/{daemon}[{100 + len(daemon)}]: {msg}"


def dc(sec: int, msg: str) -> str:
    return f"{at(sec)} mail dovecot: {msg}"


def lmtp(sec: int, qid: str, to: str, orig: str | None = None, status: str = "sent") -> str:
    o = f", orig_to=<{orig}>" if orig else ""
    resp = (
        f"(250 2.0.0 <{to}> Yn2LBZPxGFgFBgAA3AX0Sg Saved)"
        if status == "sent"
        else f"(host mail.example.com[private/dovecot-lmtp] said: 552 5.2.2 <{to}> Quota exceeded)"
    )
    dsn = "2.0.0" if status == "sent" else "5.2.2"
    return pf(
        sec,
        "lmtp",
        f"{qid}: to=<{to}>{o}, relay=mail.example.com[private/dovecot-lmtp], delay=0.2, "
        f"delays=0.1/0/0/0.1, dsn={dsn}, status={status} {resp}",
    )


def smtp_out(sec: int, qid: str, to: str, orig: str | None = None, status: str = "sent") -> str:
    o = f", orig_to=<{orig}>" if orig else ""
    return pf(
        sec,
        "smtp",
        f"{qid}: to=<{to}>{o}, relay=gmail-smtp-in.l.google.com[142.250.27.27]:25, delay=1.2, "
        f"delays=0.1/0/0.4/0.7, dsn=2.0.0, status={status} (250 2.0.0 OK  1764290400 x1si gsmtp)",
    )


def inbound(
    qid: str, sec: int = 0, size: int = 2048, nrcpt: int = 1, msgid: str | None = None
) -> list[str]:
    return [
        pf(sec, "smtpd", "connect from mx.example.org[203.0.113.9]"),
        pf(sec, "smtpd", f"{qid}: client=mx.example.org[203.0.113.9]"),
        pf(sec, "cleanup", f"{qid}: message-id=<{msgid or qid.lower() + '@example.org'}>"),
        pf(
            sec,
            "qmgr",
            f"{qid}: from=<sender@example.org>, size={size}, nrcpt={nrcpt} (queue active)",
        ),
        pf(
            sec,
            "smtpd",
            "disconnect from mx.example.org[203.0.113.9] ehlo=1 mail=1 rcpt=1 data=1 quit=1",
        ),
    ]


def removed(sec: int, qid: str) -> str:
    return pf(sec, "qmgr", f"{qid}: removed")


def run(lines: Iterable[str], joiner: Joiner | None = None, **config: object) -> list[Event]:
    parser = LineParser(reference=REF)
    j = joiner if joiner is not None else Joiner(**config)  # type: ignore[arg-type]
    events: list[Event] = []
    for line in lines:
        events.extend(j.feed(parser.parse(line)))
    events.extend(j.flush())
    assert j.errors == 0
    assert j.take() == []
    return events


def kinds(events: list[Event], cls: type) -> list[Event]:
    return [e for e in events if isinstance(e, cls)]


# -- inbound ------------------------------------------------------------------------------


def test_simple_inbound() -> None:
    lines = [
        *inbound("4F2A1B2C3D"),
        lmtp(1, "4F2A1B2C3D", "bob@example.com"),
        removed(1, "4F2A1B2C3D"),
    ]
    assert run(lines) == [MessageIn(T0 + 1, "bob@example.com", 2048, False)]


def nethserver(sec: int, qid: str, user: str) -> str:
    """A delivery as NethServer logs it: every account through one Dovecot user, the
    account named by the address extension (real line in its administrator manual)."""
    return pf(
        sec,
        "lmtp",
        f"{qid}: to=<vmail+{user}@mail.mynethserver.org>, orig_to=<{user}@example.com>, "
        "relay=mail.mynethserver.org[/var/run/dovecot/lmtp], delay=0.82, "
        "delays=0.8/0.01/0.01/0.01, dsn=2.0.0, status=sent (250 2.0.0 "
        f"<vmail+{user}@mail.mynethserver.org> gK8pHS8k+lr/ZAAAJc5BcA Saved)",
    )


def test_deliveries_through_an_address_extension_count_each_account_once() -> None:
    q = "A785B308622AB"
    lines = [
        *inbound(q, nrcpt=3),
        nethserver(1, q, "jsmith"),
        nethserver(1, q, "mrossi"),
        nethserver(2, q, "jsmith"),  # the same account again (a second alias, a retry)
        removed(2, q),
    ]
    assert run(lines) == [
        MessageIn(T0 + 1, "jsmith@example.com", 2048, False),
        MessageIn(T0 + 1, "mrossi@example.com", 2048, False),
    ]
    # With the tenant tree at hand, the same: orig_to is what it knows.
    known = {"jsmith@example.com", "mrossi@example.com"}
    assert run(lines, resolve=lambda a: a if a in known else None) == [
        MessageIn(T0 + 1, "jsmith@example.com", 2048, False),
        MessageIn(T0 + 1, "mrossi@example.com", 2048, False),
    ]


def test_an_alias_to_an_extended_address_and_the_address_count_once_with_the_tree() -> None:
    q = "8A0000000E"
    lines = [
        *inbound(q, nrcpt=2),
        lmtp(1, q, "bob@example.com"),
        lmtp(1, q, "bob+lists@example.com", orig="lists@example.com"),
        removed(1, q),
    ]
    known = {"bob@example.com": "bob@example.com", "lists@example.com": "bob@example.com"}
    assert run(lines, resolve=known.get) == [MessageIn(T0 + 1, "bob@example.com", 2048, False)]


def test_long_queue_ids() -> None:
    q = "4Xk3Lq2Z9bz9rxG"
    lines = [*inbound(q), lmtp(2, q, "bob@example.com"), removed(2, q)]
    assert run(lines) == [MessageIn(T0 + 2, "bob@example.com", 2048, False)]


def test_alias_via_orig_to_credits_the_alias() -> None:
    q = "4F2A1B2C3E"
    lines = [*inbound(q), lmtp(1, q, "bob@example.com", "info@example.com"), removed(1, q)]
    assert run(lines) == [MessageIn(T0 + 1, "info@example.com", 2048, False)]


def test_alias_and_direct_address_count_once() -> None:
    q = "4F2A1B2C3F"
    lines = [
        *inbound(q, nrcpt=2),
        lmtp(1, q, "bob@example.com", "bobby@example.com"),
        lmtp(1, q, "bob@example.com"),
        removed(1, q),
    ]
    assert run(lines) == [MessageIn(T0 + 1, "bobby@example.com", 2048, False)]


def test_group_alias_credits_each_mailbox() -> None:
    q = "4F2A1B2C40"
    lines = [
        *inbound(q),
        lmtp(1, q, "bob@example.com", "sales@example.com"),
        lmtp(1, q, "carol@example.com", "sales@example.com"),
        removed(2, q),
    ]
    got = run(lines)
    assert sorted(e.user for e in got) == ["bob@example.com", "carol@example.com"]  # type: ignore[union-attr]


def test_resolver_picks_the_known_address() -> None:
    q = "4F2A1B2C41"
    known = {"bob@example.com": "bob@example.com"}
    lines = [
        *inbound(q),
        lmtp(1, q, "bob@example.com", "random@example.com"),  # a catch-all
        removed(2, q),
    ]
    assert run(lines, resolve=known.get) == [MessageIn(T0 + 1, "bob@example.com", 2048, False)]


def test_address_extension_is_stripped() -> None:
    q = "4F2A1B2C42"
    lines = [*inbound(q), lmtp(1, q, "bob+lists@example.com"), removed(2, q)]
    assert run(lines) == [MessageIn(T0 + 1, "bob@example.com", 2048, False)]


def test_forward_to_outside() -> None:
    q = "4F2A1B2C43"
    lines = [
        *inbound(q, nrcpt=1),
        smtp_out(3, q, "bob.private@gmail.com", "bob@example.com"),
        removed(3, q),
    ]
    got = run(lines)
    assert got == [
        Forward(T0 + 3, "bob@example.com"),
        MessageIn(T0 + 3, "bob@example.com", 2048, False),
    ]


def test_forward_with_local_copy_counts_one_receipt() -> None:
    q = "4F2A1B2C44"
    lines = [
        *inbound(q),
        lmtp(1, q, "bob@example.com"),
        smtp_out(2, q, "bob.private@gmail.com", "bob@example.com"),
        smtp_out(2, q, "bob.other@gmail.com", "bob@example.com"),
        removed(3, q),
    ]
    got = run(lines)
    assert kinds(got, Forward) == [Forward(T0 + 2, "bob@example.com")]
    assert kinds(got, MessageIn) == [MessageIn(T0 + 1, "bob@example.com", 2048, False)]


def test_local_forwarded_as() -> None:
    q = "4F2A1B2C45"
    line = pf(
        1,
        "local",
        f"{q}: to=<bob@mail.example.com>, orig_to=<bob@example.com>, relay=local, delay=0.1, "
        "delays=0/0/0/0.1, dsn=2.0.0, status=sent (forwarded as 5ABCDEF012)",
    )
    got = run([*inbound(q), line, removed(2, q)])
    assert got == [
        Forward(T0 + 1, "bob@example.com"),
        MessageIn(T0 + 1, "bob@example.com", 2048, False),
    ]


@pytest.mark.parametrize(
    ("service", "relay", "response"),
    [
        ("virtual", "virtual", "delivered to maildir"),
        ("local", "local", "delivered to mailbox"),
        ("pipe", "dovecot", "delivered via dovecot service"),
        ("local", "local", "delivered to command: /usr/bin/procmail"),
    ],
)
def test_other_local_transports(service: str, relay: str, response: str) -> None:
    q = "4F2A1B2C46"
    line = pf(
        1,
        service,
        f"{q}: to=<bob@example.com>, relay={relay}, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, "
        f"status=sent ({response})",
    )
    assert run([*inbound(q), line, removed(2, q)]) == [
        MessageIn(T0 + 1, "bob@example.com", 2048, False)
    ]


def test_discard_transport_is_not_a_forward() -> None:
    q = "4F2A1B2C4F"
    line = pf(
        1,
        "discard",
        f"{q}: to=<devnull@example.com>, orig_to=<noreply@example.com>, relay=none, delay=0.1, "
        "delays=0/0/0/0, dsn=2.0.0, status=sent (discarded)",
    )
    assert run([*inbound(q), line, removed(2, q)]) == []


def test_bounced_and_deferred_are_not_ham() -> None:
    q = "4F2A1B2C47"
    lines = [
        *inbound(q, nrcpt=2),
        lmtp(1, q, "carol@example.com", status="deferred"),
        lmtp(2, q, "bob@example.com", status="bounced"),
        removed(3, q),
    ]
    got = run(lines)
    assert kinds(got, MessageIn) == []
    # A permanent failure of a local delivery is a rejection for that user.
    assert got == [MessageDenied(T0 + 2, "bob@example.com")]


def test_deferred_then_delivered_counts_once() -> None:
    q = "4F2A1B2C48"
    lines = [
        *inbound(q),
        lmtp(1, q, "bob@example.com", status="deferred"),
        pf(600, "qmgr", f"{q}: from=<sender@example.org>, size=2048, nrcpt=1 (queue active)"),
        lmtp(601, q, "bob@example.com"),
        removed(601, q),
    ]
    assert run(lines) == [MessageIn(T0 + 601, "bob@example.com", 2048, False)]


# -- sieve ----------------------------------------------------------------------------------


def test_sieve_vacation_and_redirect() -> None:
    q = "4F2A1B2C49"
    ctx = "lmtp(bob@example.com)<4242><Yn2LBZPxGFgFBgAA3AX0Sg>"
    lines = [
        *inbound(q, msgid="m1@example.org"),
        dc(
            1,
            f"{ctx}: sieve: msgid=<m1@example.org>: sent vacation response to <sender@example.org>",
        ),
        dc(1, f"{ctx}: sieve: msgid=<m1@example.org>: forwarded to <bob@elsewhere.org>"),
        dc(1, f"{ctx}: sieve: msgid=<m1@example.org>: forwarded to <bob2@elsewhere.org>"),
        lmtp(1, q, "bob@example.com"),
        removed(2, q),
    ]
    got = run(lines)
    assert got == [
        Autoresponse(T0 + 1, "bob@example.com"),
        Forward(T0 + 1, "bob@example.com"),
        MessageIn(T0 + 1, "bob@example.com", 2048, False),
    ]


@pytest.mark.parametrize("box", ["Junk", "spam", "INBOX.Junk", "Junk E-mail"])
def test_sieve_junk_folder_makes_the_delivery_spam(box: str) -> None:
    q = "4F2A1B2C4A"
    sieve = dc(
        1,
        "lmtp(bob@example.com)<4242><Yn2LBZPxGFgFBgAA3AX0Sg>: sieve: msgid=<m2@example.org>: "
        f"fileinto action: stored mail into mailbox '{box}'",
    )
    lines = [
        *inbound(q, msgid="m2@example.org"),
        sieve,
        lmtp(1, q, "bob@example.com"),
        removed(2, q),
    ]
    assert run(lines) == [MessageIn(T0 + 1, "bob@example.com", 2048, True)]


def test_sieve_junk_logged_after_the_delivery() -> None:
    q = "4F2A1B2C4B"
    sieve = dc(
        1,
        "deliver(bob@example.com): sieve: msgid=<m3@example.org>: stored mail into mailbox 'Junk'",
    )
    lines = [
        *inbound(q, msgid="m3@example.org"),
        lmtp(1, q, "bob@example.com"),
        sieve,
        removed(2, q),
    ]
    assert run(lines) == [MessageIn(T0 + 1, "bob@example.com", 2048, True)]


#: Pigeonhole's reject (2.4.4 ext-reject.c act_reject_commit: the message is not kept,
#: the refusal goes back to the sender, and Postfix logs the LMTP delivery ``sent``)
def _reject(msgid: str, user: str = "bob@example.com") -> str:
    return dc(
        1,
        f"lmtp({user})<4242><Yn2LBZPxGFgFBgAA3AX0Sg>: sieve: msgid=<{msgid}>: "
        "rejected message from <sender@example.org> (reject)",
    )


def test_sieve_reject_makes_the_delivery_denied() -> None:
    """Neither stored nor forwarded, and refused for the user: denied (SPEC §3)."""
    q = "4F2A1B2C5A"
    lines = [*inbound(q, msgid="r1@example.org"), _reject("r1@example.org")]
    lines += [lmtp(1, q, "bob@example.com"), removed(2, q)]
    assert run(lines) == [MessageDenied(T0 + 1, "bob@example.com")]


@pytest.mark.parametrize(
    ("text", "denied"),
    [
        ("not sending reject message to <>", True),
        ("not sending reject message (would cause second response to sender)", True),
        ("not sending reject message (skipped)", False),  # (2.4: the keep stands)
    ],
)
def test_a_reject_that_sends_no_refusal_still_drops_the_message(text: str, denied: bool) -> None:
    """Pigeonhole's ext-reject.c cancels the keep when it sends no refusal to a null
    sender, or none a second time: denied as well; "skipped" keeps the message."""
    q = "4F2A1B2C5E"
    sieve = dc(
        1, f"lmtp(bob@example.com)<4242><Yn2LBZPxGFgFBgAA3AX0Sg>: sieve: msgid=<r5@x.org>: {text}"
    )
    lines = [*inbound(q, msgid="r5@x.org"), sieve, lmtp(1, q, "bob@example.com"), removed(2, q)]
    want = (
        MessageDenied(T0 + 1, "bob@example.com")
        if denied
        else MessageIn(T0 + 1, "bob@example.com", 2048, False)
    )
    assert run(lines) == [want]


def test_sieve_reject_logged_after_the_delivery() -> None:
    q = "4F2A1B2C5B"
    lines = [*inbound(q, msgid="r2@example.org"), lmtp(1, q, "bob@example.com")]
    lines += [_reject("r2@example.org"), removed(2, q)]
    assert run(lines) == [MessageDenied(T0 + 1, "bob@example.com")]


def test_sieve_reject_of_one_recipient_leaves_the_others_received() -> None:
    q = "4F2A1B2C5C"
    lines = [*inbound(q, msgid="r3@example.org", nrcpt=2), _reject("r3@example.org")]
    lines += [lmtp(1, q, "carol@example.com"), lmtp(1, q, "bob@example.com"), removed(2, q)]
    assert run(lines) == [
        MessageIn(T0 + 1, "carol@example.com", 2048, False),
        MessageDenied(T0 + 1, "bob@example.com"),
    ]


def test_a_sieve_reject_waiting_for_its_delivery_is_kept_in_the_state() -> None:
    """The mark crosses a commit: saved with the joiner's state, read back, taken by
    the delivery after (and a junk fileinto's mark is not one: its delivery is spam)."""
    q = "4F2A1B2C5D"
    first, parser = Joiner(), LineParser(reference=REF)
    for line in [*inbound(q, msgid="r4@example.org"), _reject("r4@example.org")]:
        assert not first.feed(parser.parse(line))
    saved = msgspec.json.decode(msgspec.json.encode(first.state()))
    second = Joiner.from_state(saved)
    assert run([lmtp(1, q, "bob@example.com"), removed(2, q)], second) == [
        MessageDenied(T0 + 1, "bob@example.com")
    ]


def test_sieve_inbox_is_not_spam() -> None:
    q = "4F2A1B2C4C"
    sieve = dc(
        1,
        "lmtp(12345, bob@example.com): sieve: msgid=<m4@example.org>: stored mail into mailbox "
        "'INBOX'",
    )
    lines = [
        *inbound(q, msgid="m4@example.org"),
        sieve,
        lmtp(1, q, "bob@example.com"),
        removed(2, q),
    ]
    assert run(lines) == [MessageIn(T0 + 1, "bob@example.com", 2048, False)]


# -- outbound -------------------------------------------------------------------------------


def submission(
    qid: str, user: str = "alice@example.com", nrcpt: int = 3, size: int = 5000
) -> list[str]:
    return [
        f"{at(0)} mail postfix/submission/smtpd[77]: {qid}: client=unknown[198.51.100.7]:50123, "
        f"sasl_method=PLAIN, sasl_username={user}",
        pf(0, "cleanup", f"{qid}: message-id=<{qid}@example.com>"),
        pf(0, "qmgr", f"{qid}: from=<{user}>, size={size}, nrcpt={nrcpt} (queue active)"),
    ]


def test_outbound_authenticated_submission() -> None:
    q = "5A0000000A"
    lines = [
        *submission(q),
        smtp_out(1, q, "x@gmail.com"),
        smtp_out(1, q, "y@gmail.com"),
        pf(
            1,
            "smtp",
            f"{q}: to=<z@yahoo.com>, relay=mta5.am0.yahoodns.net[67.195.204.72]:25, "
            "delay=2, delays=0/0/1/1, dsn=2.0.0, status=sent (250 ok dirdel)",
        ),
        removed(2, q),
    ]
    assert run(lines) == [MessageOut(T0, "alice@example.com", 3, 5000)]


def test_outbound_to_a_local_user_counts_out_and_in() -> None:
    q = "5A0000000B"
    lines = [*submission(q, nrcpt=1), lmtp(1, q, "bob@example.com"), removed(2, q)]
    assert run(lines) == [
        MessageOut(T0, "alice@example.com", 1, 5000),
        MessageIn(T0 + 1, "bob@example.com", 5000, False),
    ]


def test_webmail_pickup_counts_out() -> None:
    q = "5A0000000C"
    lines = [
        pf(0, "pickup", f"{q}: uid=33 from=<alice@example.com>"),
        pf(0, "cleanup", f"{q}: message-id=<w1@example.com>"),
        pf(0, "qmgr", f"{q}: from=<alice@example.com>, size=900, nrcpt=2 (queue active)"),
        smtp_out(1, q, "x@gmail.com"),
        smtp_out(1, q, "y@gmail.com"),
        removed(1, q),
        # a cron mail of root is not a user's submission
        pf(5, "pickup", "5A0000000D: uid=0 from=<root>"),
        pf(5, "qmgr", "5A0000000D: from=<root@mail.example.com>, size=400, nrcpt=1 (queue active)"),
    ]
    assert run(lines) == [MessageOut(T0, "alice@example.com", 2, 900)]


# -- content filters ------------------------------------------------------------------------

AMAVIS_LINE = (
    "{sec} mail amavis[2716]: (02716-07) Passed {cat} {{RelayedInbound}}, [203.0.113.9]:41234 "
    "[203.0.113.9] <sender@example.org> -> <bob@example.com>, Queue-ID: {a}, "
    "Message-ID: <{a}@example.org>, mail_id: X1y2Z3, Hits: 1.2, size: 2048, queued_as: {b}, 420 ms"
)


def amavis_flow(a: str, b: str, cat: str = "CLEAN", client_sasl: bool = False) -> list[str]:
    """A message A through amavis (127.0.0.1:10024), re-injected on 10025 as B, delivered."""
    first = submission(a, nrcpt=1, size=3000) if client_sasl else inbound(a, size=2048)
    return [
        *first,
        pf(1, "smtpd", "connect from localhost[127.0.0.1]"),
        pf(1, "smtpd", f"{b}: client=localhost[127.0.0.1]"),
        pf(1, "cleanup", f"{b}: message-id=<{a}@example.org>"),
        pf(1, "qmgr", f"{b}: from=<sender@example.org>, size=2900, nrcpt=1 (queue active)"),
        AMAVIS_LINE.format(sec=at(1), cat=cat, a=a, b=b),
        pf(
            1,
            "smtp",
            f"{a}: to=<bob@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=0.5, "
            "delays=0/0/0/0.5, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): "
            f"250 2.0.0 Ok: queued as {b})",
        ),
        removed(1, a),
        lmtp(2, b, "bob@example.com"),
        removed(2, b),
    ]


def test_amavis_reinjection_counted_once_inbound() -> None:
    got = run(amavis_flow("6A0000000A", "6B0000000B"))
    # Once, with the size the sender sent (not the size grown by amavis's headers).
    assert got == [MessageIn(T0 + 2, "bob@example.com", 2048, False)]


def test_amavis_passed_spam_is_in_spam() -> None:
    got = run(amavis_flow("6A0000000C", "6B0000000D", cat="SPAM"))
    assert got == [MessageIn(T0 + 2, "bob@example.com", 2048, True)]


def test_amavis_reinjection_counted_once_outbound() -> None:
    got = run(amavis_flow("6A0000000E", "6B0000000F", client_sasl=True))
    assert got == [
        MessageOut(T0, "alice@example.com", 1, 3000),
        MessageIn(T0 + 2, "bob@example.com", 3000, False),
    ]


def test_reinjection_known_only_after_delivery() -> None:
    """B delivered and removed before A's "queued as B" line: B is held, then joined to A."""
    a, b = "6A00000010", "6B00000011"
    flow = amavis_flow(a, b)
    assert "amavis" in flow[9] and "queued as" in flow[10]
    reordered = [
        *flow[:9],
        rspamd(1, a, "add header"),
        lmtp(1, b, "bob@example.com"),
        removed(1, b),
        flow[10],  # A: "… queued as B", without amavis's own line
        removed(2, a),
    ]
    assert run(reordered) == [MessageIn(T0 + 1, "bob@example.com", 2048, True)]


def test_loopback_message_without_link_is_counted_after_the_grace() -> None:
    q = "6B00000015"
    lines = [
        pf(0, "smtpd", f"{q}: client=localhost[127.0.0.1]"),
        pf(0, "qmgr", f"{q}: from=<cron@example.com>, size=700, nrcpt=1 (queue active)"),
        lmtp(0, q, "bob@example.com"),
        removed(0, q),
    ]
    j = Joiner(reinject_grace=60)
    parser = LineParser(reference=REF)
    for line in lines:
        assert j.feed(parser.parse(line)) == ()  # held: a filter's "queued as" may still come
    assert j.feed(parser.parse(pf(61, "smtpd", "connect from x[192.0.2.1]"))) == ()
    got = j.feed(
        parser.parse(
            dc(
                61,
                "imap-login: Login: user=<a@example.com>, method=PLAIN, "
                "rip=192.0.2.1, lip=10.0.0.1, mpid=1, TLS, session=<a>",
            )
        )
    )
    assert got == [
        MessageIn(T0, "bob@example.com", 700, False),
        Login(T0 + 61, "a@example.com", "imap4"),
    ]


def test_xforward_orig_queue_id_links() -> None:
    a, b = "6A00000012", "6B00000013"
    lines = [
        *inbound(a, size=1000),
        pf(
            1,
            "smtpd",
            f"{b}: client=mx.example.org[203.0.113.9], orig_queue_id={a}, "
            "orig_client=mx.example.org[203.0.113.9]",
        ),
        pf(1, "qmgr", f"{b}: from=<sender@example.org>, size=1500, nrcpt=1 (queue active)"),
        f"{at(1)} mail rspamd[99]: <ab12cd>; task; rspamd_task_write_log: id: <m@x>, qid: <{a}>, "
        "ip: 203.0.113.9, from: <sender@example.org>, (default: T (add header): [8.10/15.00] "
        "[BAYES_SPAM(5.10){99.00%;}]), len: 1000, time: 90.1ms, dns req: 12",
        pf(
            1,
            "smtp",
            f"{a}: to=<bob@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, "
            "delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok, id=1234-01, from MTA"
            f"([127.0.0.1]:10025): 250 2.0.0 Ok: queued as {b})",
        ),
        removed(1, a),
        lmtp(2, b, "bob@example.com"),
        removed(2, b),
    ]
    assert run(lines) == [MessageIn(T0 + 2, "bob@example.com", 1000, True)]


def blocked_flow(a: str, head: str) -> list[str]:
    return [
        *inbound(a, nrcpt=2),
        f"{at(1)} mail amavis[2716]: (02716-08) {head}, "
        "[203.0.113.9]:41234 [203.0.113.9] <sender@example.org> -> "
        "<bob@example.com>,<carol+news@example.com>, "
        f"quarantine: spam-AbC.gz, Queue-ID: {a}, Message-ID: <z@example.org>, mail_id: AbC, "
        "Hits: 25.1, size: 2048, 300 ms",
        *(
            pf(
                1,
                "smtp",
                f"{a}: to=<{to}>, relay=127.0.0.1[127.0.0.1]:10024, delay=0.4, "
                "delays=0/0/0/0.4, dsn=2.7.0, status=sent (250 2.7.0 Ok, discarded, id=02716-08 - "
                "spam)",
            )
            for to in ("bob@example.com", "carol+news@example.com")
        ),
        removed(1, a),
    ]


@pytest.mark.parametrize(
    "head",
    [
        "Blocked INFECTED (Eicar-Signature) {DiscardedInbound,Quarantined}",
        "Blocked SPAM {BouncedInbound,Quarantined}",
        "Blocked BANNED (.exe) {DiscardedInbound}",
    ],
)
def test_amavis_blocked_denies_each_recipient(head: str) -> None:
    assert run(blocked_flow("6A00000014", head)) == [
        MessageDenied(T0 + 1, "bob@example.com"),
        MessageDenied(T0 + 1, "carol@example.com"),
    ]


def test_amavis_quarantined_spam_is_received_spam() -> None:
    """SPEC §3: spam held in quarantine (not refused to the sender) is in_spam."""
    got = run(blocked_flow("6A00000016", "Blocked SPAM {DiscardedInbound,Quarantined}"))
    assert got == [
        MessageIn(T0 + 1, "bob@example.com", 2048, True),
        MessageIn(T0 + 1, "carol@example.com", 2048, True),
    ]


def test_a_quarantined_re_injection_counts_the_size_its_sender_sent() -> None:
    """A second filter quarantines what the first re-injected: the original's size, even 0."""
    j = Joiner()
    j.add(QmgrFrom("6A00000030", "x@example.org", 0, 1), T0)
    j.add(Reinjected("6A00000030", "6B00000031"), T0)
    j.add(QmgrFrom("6B00000031", "x@example.org", 900, 1), T0 + 1)
    blocked = FilterBlocked("6B00000031", ("bob@example.com",), "SPAM", ("Quarantined",))
    assert j.add(blocked, T0 + 2) == [MessageIn(T0 + 2, "bob@example.com", 0, True)]


def test_a_restart_keeps_which_message_a_message_id_names() -> None:
    """Two messages in flight share a Message-ID (a filter's re-injection); the later
    one is delivered, and a sieve junk verdict logged after a restart finds it."""
    a, b = "6A00000040", "6B00000041"

    def before(j: Joiner) -> None:
        j.add(CleanupMessageId(a, "same@example.org"), T0)
        j.add(CleanupMessageId(b, "same@example.org"), T0 + 1)
        j.add(QmgrFrom(b, "x@example.org", 900, 1), T0 + 2)
        j.add(
            Delivery(b, "bob@example.com", None, "mail[private/dovecot-lmtp]", "sent", "lmtp"),
            T0 + 3,
        )
        j.add(QmgrFrom(a, "x@example.org", 900, 1), T0 + 3)  # a is the last one touched

    def after(j: Joiner) -> list[Event]:
        j.add(SieveAction("bob@example.com", "fileinto", "Junk", "same@example.org"), T0 + 4)
        return list(j.add(QmgrRemoved(b), T0 + 5))

    straight = Joiner()
    before(straight)
    restarted = Joiner()
    before(restarted)
    restarted = Joiner.from_state(json.loads(json.dumps(restarted.state())))
    assert after(restarted) == after(straight) == [MessageIn(T0 + 3, "bob@example.com", 900, True)]


def test_xforward_link_waits_for_the_filters_verdict() -> None:
    """B is linked to A by XFORWARD and delivered before amavis logs its verdict on A."""
    a, b = "6A00000017", "6B00000018"
    lines = [
        *inbound(a, size=1000),
        pf(1, "smtpd", "connect from localhost[127.0.0.1]"),
        pf(
            1,
            "smtpd",
            f"{b}: client=localhost[127.0.0.1], orig_queue_id={a}, "
            "orig_client=mx.example.org[203.0.113.9]",
        ),
        pf(1, "qmgr", f"{b}: from=<sender@example.org>, size=1500, nrcpt=1 (queue active)"),
        lmtp(1, b, "bob@example.com"),
        removed(1, b),
        AMAVIS_LINE.format(sec=at(2), cat="SPAM", a=a, b=b),
        pf(
            2,
            "smtp",
            f"{a}: to=<bob@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, "
            "delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): "
            f"250 2.0.0 Ok: queued as {b})",
        ),
        removed(2, a),
    ]
    assert run(lines) == [MessageIn(T0 + 1, "bob@example.com", 1000, True)]


def amavis_two_reinjections(
    a: str, b1: str, b2: str, cat: str, answer: str, verdict_late: bool
) -> list[str]:
    """Message A to bob and carol through amavis, whose copies differ (per-recipient tag
    levels) and go back in two SMTP transactions, B1 (bob's) and B2 (carol's); amavis
    logs "queued_as: B1/B2" (amavisd-new 2.13 $log_short_templ).  Postfix's smtp
    client logs amavis's answer per recipient: over SMTP one answer for all, naming
    B1 only (Amavis/rfc2821_2822_Tools.pm one_response_for_all: the first pass);
    over LMTP (``answer="lmtp"``) each recipient's own.  ``verdict_late``: B1 and B2
    are delivered and removed before amavis's line and A's."""
    inject = []
    for b in (b1, b2):
        inject += [
            pf(1, "smtpd", f"{b}: client=localhost[127.0.0.1]"),
            pf(1, "cleanup", f"{b}: message-id=<{a}@example.org>"),
            pf(1, "qmgr", f"{b}: from=<sender@example.org>, size=2900, nrcpt=1 (queue active)"),
        ]
    delivered = [
        lmtp(2, b1, "bob@example.com"),
        removed(2, b1),
        lmtp(2, b2, "carol@example.com"),
        removed(2, b2),
    ]
    amavis = (
        f"{at(2)} mail amavis[2716]: (02716-07) Passed {cat} {{RelayedInbound}}, "
        "[203.0.113.9]:41234 [203.0.113.9] <sender@example.org> -> "
        f"<bob@example.com>,<carol@example.com>, Queue-ID: {a}, Message-ID: <{a}@example.org>, "
        f"mail_id: X1y2Z3, Hits: 1.2, size: 2048, queued_as: {b1}/{b2}, 420 ms"
    )
    answered = [
        pf(
            2,
            "smtp" if answer == "smtp" else "lmtp",
            f"{a}: to=<{to}>, relay=127.0.0.1[127.0.0.1]:10024, delay=0.5, "
            "delays=0/0/0/0.5, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): "
            f"250 2.0.0 Ok: queued as {b1 if answer == 'smtp' else b})",
        )
        for to, b in (("bob@example.com", b1), ("carol@example.com", b2))
    ]
    tail = [amavis, *answered, removed(2, a)]
    return [
        *inbound(a, size=2048, nrcpt=2),
        *inject,
        *((delivered + tail) if verdict_late else (tail + delivered)),
    ]


@pytest.mark.parametrize("verdict_late", [False, True])
@pytest.mark.parametrize("answer", ["smtp", "lmtp"])
@pytest.mark.parametrize(("cat", "spam"), [("SPAM", True), ("CLEAN", False)])
def test_amavis_two_reinjections_count_each_recipient_once(
    cat: str, spam: bool, answer: str, verdict_late: bool
) -> None:
    """SPEC §3: bob and carol each receive A once -- with the size its sender sent and
    amavis's verdict -- though their copies went back as two messages, and Postfix's
    own answer names the second one only over LMTP: amavis's "queued_as: B1/B2" links
    both (its second id was dropped until session 14: carol's copy was counted alone
    after the re-injection grace, ham, with amavis's size)."""
    a, b1, b2 = "6A00000050", "6B00000051", "6B00000052"
    got = run(amavis_two_reinjections(a, b1, b2, cat, answer, verdict_late))
    assert sorted(got, key=lambda e: e.user) == [  # type: ignore[attr-defined]
        MessageIn(T0 + 2, "bob@example.com", 2048, spam),
        MessageIn(T0 + 2, "carol@example.com", 2048, spam),
    ]


def relay_line(sec: int, qid: str, to: str) -> str:
    return pf(
        sec,
        "smtp",
        f"{qid}: to=<{to}>, relay=mx1.customer.example[198.51.100.20]:25, delay=0.9, "
        "delays=0.1/0/0.3/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 3F1A2B4C5)",
    )


def test_relay_to_a_filter_only_accounts_own_server_is_a_receipt() -> None:
    """Inbound mail relayed on to another server (a filter-only account): a receipt."""
    q = "4F2A1B2C50"
    lines = [*inbound(q), relay_line(1, q, "carl@example.com"), removed(1, q)]
    assert run(lines) == [MessageIn(T0 + 1, "carl@example.com", 2048, False)]


def test_a_submission_relayed_out_is_no_receipt_without_the_tree() -> None:
    q = "5A0000000E"
    lines = [*submission(q, nrcpt=1), relay_line(1, q, "carl@example.com"), removed(1, q)]
    assert run(lines) == [MessageOut(T0, "alice@example.com", 1, 5000)]
    known = {"carl@example.com": "carl@example.com"}
    assert run(lines, resolve=known.get) == [
        MessageOut(T0, "alice@example.com", 1, 5000),
        MessageIn(T0 + 1, "carl@example.com", 5000, False),
    ]


# -- rspamd verdict order -----------------------------------------------------------------


def rspamd(sec: int, qid: str, action: str) -> str:
    flag = "T" if action in ("add header", "rewrite subject", "reject") else "F"
    return (
        f"2026-11-28 01:00:{sec:02d} #1234(normal) <ed2abb>; task; rspamd_task_write_log: "
        f"id: <{qid}@example.org>, qid: <{qid}>, ip: 203.0.113.9, from: <sender@example.org>, "
        f"(default: {flag} ({action}): [7.20/15.00] [BAYES_SPAM(5.10){{99.00%;}}]), len: 2048, "
        "time: 120.1ms, dns req: 18, digest: <0a1b2c>, rcpts: <bob@example.com>"
    )


@pytest.mark.parametrize("verdict_first", [True, False])
@pytest.mark.parametrize(
    ("action", "spam"),
    [("add header", True), ("rewrite subject", True), ("no action", False), ("greylist", False)],
)
def test_rspamd_verdict_before_or_after_delivery(
    verdict_first: bool, action: str, spam: bool
) -> None:
    q = "7A0000000A"
    head = inbound(q)
    delivery = lmtp(2, q, "bob@example.com")
    verdict = rspamd(1 if verdict_first else 2, q, action)
    body = [verdict, delivery] if verdict_first else [delivery, verdict]
    assert run([*head, *body, removed(3, q)]) == [MessageIn(T0 + 2, "bob@example.com", 2048, spam)]


def rspamd_json(sec: int, qid: str, action: str, syslog: bool) -> str:
    """The line of ``rspamd(…)`` as rspamd 3.8+ writes it with ``json = true``: to its
    own file (``ts`` with microseconds) or through syslog (3.8.2+, whole seconds)."""
    flag = "T" if action in ("add header", "rewrite subject", "reject") else "F"
    ts = calendar.timegm((2026, 11, 28, 1, 0, sec))
    obj = (
        f'{{"ts": {ts}{"" if syslog else ".123456"}, "pid": 1234, "severity": "notice", '
        '"worker_type": "normal", "id": "ed2abb", "module": "task", "function": '
        f'"rspamd_task_write_log", "message": "id: <{qid}@example.org>, qid: <{qid}>, ip: '
        f'203.0.113.9, from: <\\"s\\"@example.org>, (default: {flag} ({action}): '
        "[7.20/15.00] [BAYES_SPAM(5.10){99.00%;}]), len: 2048, time: 120.1ms, dns req: 18, "
        'digest: <0a1b2c>, rcpts: <bob@example.com>"}'
    )
    return f"{at(sec)} mail rspamd[1234]: {obj}" if syslog else obj


@pytest.mark.parametrize("syslog", [False, True])
@pytest.mark.parametrize("verdict_first", [True, False])
@pytest.mark.parametrize(("action", "spam"), [("add header", True), ("no action", False)])
def test_rspamd_json_verdict_joins_as_the_plain_one(
    syslog: bool, verdict_first: bool, action: str, spam: bool
) -> None:
    """rspamd's JSON log (3.8+) gives the message its verdict, as the plain line does
    (its verdict was lost until session 14: the spam counted as ham)."""
    q = "7A0000000E"
    delivery = lmtp(2, q, "bob@example.com")
    verdict = rspamd_json(1 if verdict_first else 2, q, action, syslog)
    body = [verdict, delivery] if verdict_first else [delivery, verdict]
    assert run([*inbound(q), *body, removed(3, q)]) == [
        MessageIn(T0 + 2, "bob@example.com", 2048, spam)
    ]


def test_rspamd_log_read_before_the_mail_log() -> None:
    q = "7A0000000B"
    j = Joiner()
    run([rspamd(0, q, "add header")], joiner=j)
    got = run([*inbound(q), lmtp(2, q, "bob@example.com"), removed(3, q)], joiner=j)
    assert got == [MessageIn(T0 + 2, "bob@example.com", 2048, True)]


def test_rspamd_reject_counted_once_by_milter_reject() -> None:
    q = "7A0000000C"
    lines = [
        pf(0, "smtpd", f"{q}: client=mx.example.org[203.0.113.9]"),
        pf(0, "cleanup", f"{q}: message-id=<r@example.org>"),
        rspamd(1, q, "reject"),
        pf(
            1,
            "cleanup",
            f"{q}: milter-reject: END-OF-MESSAGE from mx.example.org[203.0.113.9]: "
            "5.7.1 Spam message rejected; from=<sender@example.org> to=<bob@example.com> "
            "proto=ESMTP helo=<mx.example.org>",
        ),
    ]
    j = Joiner()
    got = run(lines, joiner=j)
    assert got == [MessageDenied(T0 + 1, "bob@example.com")]
    assert j.counters()["in_flight"] == 0 and j.expired == 0


def test_greylisting_milter_reject_is_not_denied() -> None:
    q = "7A0000000D"
    lines = [
        pf(0, "smtpd", f"{q}: client=mx.example.org[203.0.113.9]"),
        pf(
            1,
            "cleanup",
            f"{q}: milter-reject: END-OF-MESSAGE from mx.example.org[203.0.113.9]: "
            "4.7.1 Try again later; from=<sender@example.org> to=<bob@example.com> proto=ESMTP "
            "helo=<mx.example.org>",
        ),
    ]
    assert run(lines) == []


# -- rejections -------------------------------------------------------------------------------


def test_noqueue_reject_per_recipient() -> None:
    lines = [
        pf(
            5,
            "smtpd",
            "NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 550 5.1.1 <nobody@example.com>: "
            "Recipient address rejected: User unknown in virtual mailbox table; "
            "from=<s@spam.example> "
            "to=<nobody@example.com> proto=ESMTP helo=<spam.example>",
        ),
        pf(
            5,
            "smtpd",
            "NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 <x@example.com>: "
            "Relay access denied; from=<s@spam.example> to=<x@gmail.com> proto=ESMTP helo=<spam>",
        ),
        pf(
            6,
            "smtpd",
            "NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 450 4.7.1 Client host rejected: "
            "cannot find your hostname; from=<s@spam.example> to=<bob@example.com> proto=ESMTP "
            "helo=<x>",
        ),
        pf(
            6,
            "smtpd",
            "NOQUEUE: reject_warning: RCPT from unknown[192.0.2.7]: 550 5.7.1 Service "
            "unavailable; from=<s@spam.example> to=<bob@example.com> proto=ESMTP helo=<x>",
        ),
        pf(
            7,
            "postscreen",
            "NOQUEUE: reject: RCPT from [192.0.2.8]:40000: 550 5.7.1 Service "
            "unavailable; client [192.0.2.8] blocked using zen.spamhaus.org; "
            "from=<s@spam.example>, "
            "to=<carol@example.com>, proto=ESMTP, helo=<spam>",
        ),
    ]
    assert run(lines) == [
        MessageDenied(T0 + 5, "nobody@example.com"),
        MessageDenied(T0 + 5, "x@gmail.com"),
        MessageDenied(T0 + 7, "carol@example.com"),
    ]


def test_reject_with_queue_id_keeps_the_message() -> None:
    q = "8A0000000A"
    lines = [
        *inbound(q)[:2],
        pf(
            0,
            "smtpd",
            f"{q}: reject: RCPT from mx.example.org[203.0.113.9]: 550 5.1.1 <no@example.com>: "
            "Recipient address rejected: User unknown in virtual mailbox table; "
            "from=<sender@example.org> to=<no@example.com> proto=ESMTP helo=<mx.example.org>",
        ),
        *inbound(q)[2:],
        lmtp(1, q, "bob@example.com"),
        removed(1, q),
    ]
    assert run(lines) == [
        MessageDenied(T0, "no@example.com"),
        MessageIn(T0 + 1, "bob@example.com", 2048, False),
    ]


def test_reject_of_an_address_extension_counts_for_the_user() -> None:
    line = pf(
        5,
        "smtpd",
        "NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client "
        "host [192.0.2.7] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/"
        "192.0.2.7; from=<s@spam.example> to=<bob+shop@example.com> proto=ESMTP helo=<spam>",
    )
    assert run([line]) == [MessageDenied(T0 + 5, "bob@example.com")]


def test_proxy_reject_of_a_before_queue_filter_denies_each_recipient_named() -> None:
    q, q2 = "8A0000000C", "8A0000000D"
    lines = [
        pf(0, "smtpd", f"{q}: client=mx.example.org[203.0.113.9]"),
        pf(0, "cleanup", f"{q}: message-id=<p1@example.org>"),
        pf(
            1,
            "smtpd",
            f"{q}: proxy-reject: END-OF-MESSAGE: 554 5.7.1 Rejected for policy reasons "
            "(381C4E5DFA31DF9E90F); from=<s@example.org> to=<bob+news@example.com> proto=ESMTP "
            "helo=<mx.example.org>",
        ),
        # without a queue id, as Proxmox Mail Gateway's logs show it
        pf(
            2,
            "smtpd",
            "proxy-reject: END-OF-MESSAGE: 554 5.7.0 Reject, id=31619-02 - spam; "
            "from=<s@example.org> to=<carol@example.com> proto=ESMTP helo=<mx.example.org>",
        ),
        # a temporary refusal: the sender tries again, nothing counted
        pf(3, "smtpd", f"{q2}: client=mx.example.org[203.0.113.9]"),
        pf(
            3,
            "smtpd",
            f"{q2}: proxy-reject: END-OF-MESSAGE: 451 4.5.0 Error in processing, id=1-01; "
            "from=<s@example.org> to=<dave@example.com> proto=ESMTP helo=<mx.example.org>",
        ),
    ]
    j = Joiner()
    assert run(lines, j) == [
        MessageDenied(T0 + 1, "bob@example.com"),
        MessageDenied(T0 + 2, "carol@example.com"),
    ]
    # the refused message was never queued: it is finished, not left to expire
    assert j.counters()["expired"] == 0


def test_header_check_reject() -> None:
    q = "8A0000000B"
    lines = [
        pf(0, "smtpd", f"{q}: client=mx.example.org[203.0.113.9]"),
        pf(
            0,
            "cleanup",
            f"{q}: reject: header Subject: cheap pills from mx.example.org[203.0.113.9]; "
            "from=<s@example.org> to=<bob@example.com> proto=ESMTP helo=<mx>: 5.7.1 message "
            "content rejected",
        ),
    ]
    assert run(lines) == [MessageDenied(T0, "bob@example.com")]


# -- logins ----------------------------------------------------------------------------------


def test_logins_and_webmail_hosts() -> None:
    lines = [
        dc(
            0,
            "imap-login: Login: user=<alice@example.com>, method=PLAIN, rip=203.0.113.7, "
            "lip=10.0.0.1, mpid=12345, TLS, session=<abcDEF>",
        ),
        dc(
            1,
            "pop3-login: Login: user=<bob@example.com>, method=PLAIN, rip=203.0.113.8, "
            "lip=10.0.0.1, mpid=12346, TLS, session=<abcDEG>",
        ),
        dc(
            2,
            "imap-login: Login: user=<alice@example.com>, method=PLAIN, rip=127.0.0.1, "
            "lip=127.0.0.1, mpid=12347, secured, session=<abcDEH>",
        ),
        dc(
            2,
            "imap-login: Login: user=<alice@example.com>, method=PLAIN, rip=::1, lip=::1, "
            "mpid=12348, secured, session=<abcDEI>",
        ),
        dc(
            3,
            "imap-login: Disconnected (auth failed, 1 attempts in 2 secs): "
            "user=<alice@example.com>, "
            "method=PLAIN, rip=203.0.113.7, lip=10.0.0.1, TLS, session=<abcDEJ>",
        ),
        "[28-Nov-2026 01:00:04 +0000]: <k3j4h5g6> Successful login for alice@example.com (ID: 12) "
        "from 203.0.113.5 in session k3j4h5g6",
    ]
    assert run(lines) == [
        Login(T0, "alice@example.com", "imap4"),
        Login(T0 + 1, "bob@example.com", "pop3"),
        Login(T0 + 4, "alice@example.com", "webmail"),
    ]


def test_webmail_hosts_are_configurable() -> None:
    line = dc(
        0,
        "imap-login: Login: user=<alice@example.com>, method=PLAIN, rip=10.0.0.20, "
        "lip=10.0.0.1, mpid=1, TLS, session=<a>",
    )
    assert run([line], webmail_hosts=["10.0.0.20"]) == []
    assert run([line]) == [Login(T0, "alice@example.com", "imap4")]


# -- quota -----------------------------------------------------------------------------------


def test_quota_report() -> None:
    lines = [
        "Username\tQuota name\tType\tValue\tLimit\t%",
        "alice@example.com\tUser quota\tSTORAGE\t10240\t1048576\t0",
        "alice@example.com\tUser quota\tMESSAGE\t42\t-\t0",
        "bob@example.com\tUser quota\tSTORAGE\t0\t-\t0",
        "bob@example.com\tUser quota\tMESSAGE\t0\t-\t0",
    ]
    assert run(lines) == [
        StorageReport(REF, "alice@example.com", 42, 10240 * 1024),
        StorageReport(REF, "bob@example.com", 0, 0),
    ]


def test_quota_reports_of_two_days() -> None:
    j = Joiner()
    rows = [
        "alice@example.com\tUser quota\tSTORAGE\t1\t-\t0",
        "alice@example.com\tUser quota\tMESSAGE\t1\t-\t0",
    ]
    day1 = LineParser(reference=REF)
    day2 = LineParser(reference=REF + 86400)
    got = [e for row in rows for e in j.feed(day1.parse(row))]
    got += [e for row in rows for e in j.feed(day2.parse(row))]  # no header this time
    assert got == [
        StorageReport(REF, "alice@example.com", 1, 1024),
        StorageReport(REF + 86400, "alice@example.com", 1, 1024),
    ]


def test_second_quota_root_is_not_reported_twice() -> None:
    lines = [
        "Username\tQuota name\tType\tValue\tLimit\t%",
        "alice@example.com\tUser quota\tSTORAGE\t8\t-\t0",
        "alice@example.com\tUser quota\tMESSAGE\t2\t-\t0",
        "alice@example.com\tArchive\tSTORAGE\t99\t-\t0",
        "alice@example.com\tArchive\tMESSAGE\t99\t-\t0",
    ]
    assert run(lines) == [StorageReport(REF, "alice@example.com", 2, 8 * 1024)]


# -- expiry, bounds, state ----------------------------------------------------------------------


def test_unfinished_messages_expire_as_skipped() -> None:
    j = Joiner(max_age=3600)
    q = "9A0000000A"
    lines = [
        *inbound(q),
        lmtp(1, q, "bob@example.com"),
        # no "removed": the log was cut.  Two hours later, something else happens.
        dc(
            7200,
            "imap-login: Login: user=<alice@example.com>, method=PLAIN, rip=203.0.113.7, "
            "lip=10.0.0.1, mpid=1, TLS, session=<a>",
        ),
    ]
    got = run(lines, joiner=j)
    assert got == [
        MessageIn(T0 + 1, "bob@example.com", 2048, False),
        Login(T0 + 7200, "alice@example.com", "imap4"),
    ]
    assert j.counters()["skipped"] == 1
    assert j.counters()["in_flight"] == 0


def test_table_is_bounded() -> None:
    j = Joiner(max_entries=10)
    for i in range(100):
        q = f"9B{i:08X}"
        j.add(SmtpdClient(q, "203.0.113.9"), T0)
        j.add(QmgrFrom(q, "s@example.org", 100, 1), T0)
    assert j.counters()["in_flight"] <= 10
    assert j.expired == 90
    assert len(json.dumps(j.state())) < 20_000


def test_abandoned_sessions_are_not_skipped() -> None:
    j = Joiner(max_age=60)
    run(
        [
            pf(0, "smtpd", "9C0000000A: client=mx.example.org[203.0.113.9]"),
            pf(600, "smtpd", "connect from x[192.0.2.1]"),
            pf(600, "smtpd", "9C0000000B: client=mx.example.org[203.0.113.9]"),
        ],
        joiner=j,
    )
    assert j.expired == 0 and j.abandoned == 1


def full_day() -> list[str]:
    """A mixed log: every kind of message above, interleaved."""
    lines: list[str] = []
    lines += inbound("AA0000000A", sec=0)
    lines += submission("AB0000000A")
    lines += amavis_flow("AC0000000A", "AD0000000A", cat="SPAM")
    lines += [
        rspamd(2, "AA0000000A", "add header"),
        lmtp(3, "AA0000000A", "bob@example.com", "bobby@example.com"),
        smtp_out(3, "AB0000000A", "x@gmail.com"),
        dc(
            3,
            "lmtp(carol@example.com)<1><s1>: sieve: msgid=<m9@example.org>: forwarded to <c@x.org>",
        ),
        removed(4, "AB0000000A"),
        removed(5, "AA0000000A"),
        dc(
            6,
            "imap-login: Login: user=<alice@example.com>, method=PLAIN, rip=203.0.113.7, "
            "lip=10.0.0.1, mpid=1, TLS, session=<a>",
        ),
    ]
    return lines


@pytest.mark.parametrize("cut", range(0, 30))
def test_state_round_trip_gives_the_same_events(cut: int) -> None:
    lines = full_day()
    assert cut <= len(lines)
    uninterrupted = Joiner()
    whole = run(lines, joiner=uninterrupted)
    assert len(whole) == 5
    first = Joiner()
    parser = LineParser(reference=REF)
    events: list[Event] = []
    for line in lines[:cut]:
        events.extend(first.feed(parser.parse(line)))
    saved = json.loads(json.dumps(first.state()))
    second = Joiner.from_state(saved)
    assert second.state() == saved
    parser = LineParser(reference=REF)
    for line in lines[cut:]:
        events.extend(second.feed(parser.parse(line)))
    events.extend(second.flush())
    assert events == whole
    assert second.counters() == uninterrupted.counters()


def test_state_keeps_events_not_yet_handed_out() -> None:
    j = Joiner()
    assert j.add(SmtpdClient("4A0000000A", "203.0.113.9"), T0) == ()
    j._emit(Login(T0, "a@example.com", "imap4"))  # emitted, not yet handed out
    k = Joiner.from_state(json.loads(json.dumps(j.state())))
    assert k.take() == [Login(T0, "a@example.com", "imap4")]
    assert k.take() == []


def test_feed_hands_each_event_out_once() -> None:
    j = Joiner()
    parser = LineParser(reference=REF)
    line = dc(
        0, "imap-login: Login: user=<a@example.com>, method=PLAIN, rip=192.0.2.1, lip=10.0.0.1"
    )
    assert j.feed(parser.parse(line)) == [Login(T0, "a@example.com", "imap4")]
    assert j.take() == [] and j.flush() == [] and j.state()["outbox"] == []
    assert j.skipped == 0


def test_state_of_another_version_is_refused() -> None:
    with pytest.raises(ValueError):
        Joiner.from_state({"version": 999})


def test_counters() -> None:
    j = Joiner()
    run(
        [
            *inbound("AE0000000A"),
            "garbage",
            "",
            lmtp(1, "AE0000000A", "bob@example.com"),
            removed(1, "AE0000000A"),
        ],
        joiner=j,
    )
    c = j.counters()
    assert c["lines"] == 9 and c["unknown"] == 1 and c["ignored"] == 3 and c["ok"] == 5
    assert c["events"] == 1 and c["errors"] == 0


# -- Proxmox Mail Gateway -------------------------------------------------------------------

PMG_LOGID = "5F1C8A2B3D4E6F70A81"


def pmg_flow(a: str, b: str, port: int, score: str = "2/5", pmg_lines: bool = True) -> list[str]:
    """A message A through Proxmox Mail Gateway's filter: its Postfix hands A over by LMTP
    (master.cf's ``scan`` transport) to pmg-smtp-filter on 127.0.0.1:10024 (mail from
    outside) or :10023 (from the internal network).  The filter names it by a log id of
    its own, logs SpamAssassin's score, re-injects it on 127.0.0.1:10025 as B (with
    XFORWARD: smtpd logs the original client), logs that, and only then answers A's
    LMTP delivery with the log id; B goes on to the mailbox."""
    filt = f"{at(1)} mail pmg-smtp-filter[2146]: {PMG_LOGID}: "  # (one host: the gateway)
    lines = [
        *inbound(a, size=2048),
        f"{filt}SA score={score} time=1.220 bayes=undefined autolearn=no hits=AWL(0.1)",
        pf(1, "smtpd", "connect from localhost[127.0.0.1]"),
        pf(1, "smtpd", f"{b}: client=mx.example.org[203.0.113.9]"),
        pf(1, "cleanup", f"{b}: message-id=<{a.lower()}@example.org>"),
        pf(1, "qmgr", f"{b}: from=<sender@example.org>, size=2600, nrcpt=1 (queue active)"),
        f"{filt}accept mail to <bob@example.com> ({b}) (rule: default-accept)",
        pf(
            1,
            "lmtp",
            f"{a}: to=<bob@example.com>, relay=127.0.0.1[127.0.0.1]:{port}, delay=1.1, "
            f"delays=0.01/0/0.02/1.1, dsn=2.5.0, status=sent (250 2.5.0 OK ({PMG_LOGID}))",
        ),
        removed(1, a),
        lmtp(2, b, "bob@example.com"),
        removed(2, b),
    ]
    return lines if pmg_lines else [ln for ln in lines if "pmg-smtp-filter" not in ln]


@pytest.mark.parametrize("port", [10023, 10024])
@pytest.mark.parametrize(("score", "spam"), [("2/5", False), ("7/5", True), ("5/5", True)])
def test_pmg_lmtp_hand_over_counts_once(port: int, score: str, spam: bool) -> None:
    # Once, by the re-injected message, with the size the sender sent and PMG's verdict.
    got = run(pmg_flow("7A0000000A", "7B0000000B", port, score))
    assert got == [MessageIn(T0 + 2, "bob@example.com", 2048, spam)]


def test_pmg_without_its_own_lines_still_counts_once() -> None:
    # (pmg-smtp-filter logging elsewhere: the re-injected copy's size, no verdict)
    got = run(pmg_flow("7A0000000E", "7B0000000F", 10024, pmg_lines=False))
    assert got == [MessageIn(T0 + 2, "bob@example.com", 2600, False)]


def test_pmg_filter_port_is_a_setting() -> None:
    # A site whose filter listens elsewhere: 10023 is then a mailbox, 10030 the filter.
    flow = pmg_flow("7A0000000C", "7B0000000D", 10023)
    assert len(run(flow, filter_ports=[10030])) == 2
    moved = [ln.replace(":10023,", ":10030,") for ln in flow]
    assert run(moved, filter_ports=[10030]) == [MessageIn(T0 + 2, "bob@example.com", 2048, False)]
