"""Joining Exim's main log (and spamd's verdicts) into events, with Postfix's rules (SPEC §3).

Each test is a message as the sequence of lines Exim writes for it (real formats:
see test_parsers_exim.py), and the events it must make.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterable

import pytest

from mailtally.events import Event, Forward, MessageDenied, MessageIn, MessageOut
from mailtally.ingest import Joiner, LineParser

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))
T0 = calendar.timegm((2026, 11, 28, 1, 0, 0))
ID = "1tFZ7e-00000000Ijk-2BKh"
ID2 = "1abcDE-0001Ab-C2"


def at(sec: int) -> str:
    """Exim's own stamp ``sec`` seconds after 01:00:00 on 28 Nov 2026 (UTC)."""
    m, s = divmod(sec, 60)
    return f"2026-11-28 01:{m:02d}:{s:02d}"


def ex(sec: int, text: str, qid: str = ID) -> str:
    return f"{at(sec)} {qid} {text}"


def arrival(sec: int = 0, qid: str = ID, size: int = 2345, msgid: str = "m1@remote.example") -> str:
    return ex(
        sec,
        "<= bob@remote.example H=mx.remote.example (mx.remote.example) [198.51.100.7]:41234 "
        f"P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no S={size} id={msgid}",
        qid,
    )


def submission(sec: int = 0, rcpts: Iterable[str] | None = None, qid: str = ID) -> str:
    f = " for " + " ".join(rcpts) if rcpts is not None else ""
    return ex(
        sec,
        "<= alice@example.com H=(laptop) [203.0.113.5]:52811 P=esmtpsa "
        "X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_login:alice@example.com S=1234 "
        f"id=s1@example.com{f}",
        qid,
    )


def local(sec: int, to: str, orig: str | None = None, qid: str = ID, spam: bool = False) -> str:
    o = f" <{orig}>" if orig else ""
    route = (
        "R=virtual_user_spam T=virtual_sa_userdelivery"
        if spam
        else ("R=virtual_user T=dovecot_virtual_delivery")
    )
    return ex(sec, f"=> {to}{o} {route}", qid)


def remote(sec: int, to: str, orig: str | None = None, mark: str = "=>", qid: str = ID) -> str:
    o = f" <{orig}>" if orig else ""
    return ex(
        sec,
        f"{mark} {to}{o} R=dnslookup T=remote_smtp H=mx.else.example [192.0.2.20] "
        'X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C="250 OK id=1x"',
        qid,
    )


def completed(sec: int, qid: str = ID) -> str:
    return ex(sec, "Completed", qid)


def spamd(sec: int, mid: str, spam: bool) -> str:
    m, s = divmod(sec, 60)
    flag, score = ("Y", 15) if spam else (".", -1)
    return (
        f"Nov 28 01:{m:02d}:{s:02d} mx1 spamd[4242]: spamd: result: {flag} {score:2d} - "
        f"BAYES_99 scantime=0.5,size=2345,user=alice,uid=1001,required_score=5.0,"
        f"rhost=localhost,raddr=127.0.0.1,rport=45678,mid=<{mid}>,autolearn=no"
    )


def run(lines: Iterable[str], joiner: Joiner | None = None, **config: object) -> list[Event]:
    parser = LineParser(reference=REF)
    j = joiner if joiner is not None else Joiner(**config)  # type: ignore[arg-type]
    events: list[Event] = []
    for line in lines:
        res = parser.parse(line)
        assert res.status != "unknown", line
        events.extend(j.feed(res))
    events.extend(j.flush())
    assert j.errors == 0
    return events


# -- receipts -------------------------------------------------------------------------------


def test_a_local_delivery_is_counted_at_completed_dated_at_the_delivery() -> None:
    lines = [arrival(0), local(1, "alice@example.com")]
    j = Joiner()
    assert run(lines, j) == []  # the verdict may still come: nothing before Completed
    assert run([completed(2)], j) == [MessageIn(T0 + 1, "alice@example.com", 2345, False)]


@pytest.mark.parametrize("before", [True, False])
def test_a_spamd_verdict_by_message_id_before_or_after_the_arrival(before: bool) -> None:
    verdict = spamd(0, "m1@remote.example", True)
    lines = [verdict, arrival(0)] if before else [arrival(0), verdict]
    lines += [local(1, "alice@example.com"), completed(1)]
    assert run(lines) == [MessageIn(T0 + 1, "alice@example.com", 2345, True)]


def test_a_ham_verdict_and_a_verdict_on_another_message() -> None:
    lines = [
        spamd(0, "other@remote.example", True),
        spamd(0, "m1@remote.example", False),
        arrival(0),
        local(1, "alice@example.com"),
        completed(1),
    ]
    assert run(lines) == [MessageIn(T0 + 1, "alice@example.com", 2345, False)]


def test_a_delivery_into_the_spam_folder_is_spam_for_that_mailbox_only() -> None:
    lines = [
        arrival(0),
        local(1, "alice@example.com", spam=True),
        local(1, "carol@example.com"),
        completed(2),
    ]
    assert sorted(run(lines), key=lambda e: e.user) == [  # type: ignore[attr-defined]
        MessageIn(T0 + 1, "alice@example.com", 2345, True),
        MessageIn(T0 + 1, "carol@example.com", 2345, False),
    ]


def test_debian_local_part_deliveries_are_credited_to_the_address() -> None:
    lines = [
        arrival(0),
        ex(1, "=> alice <alice@example.com> R=local_user T=mail_spool"),
        ex(1, "=> |/usr/bin/procmail <carol@example.com> R=userforward T=address_pipe"),
        completed(2),
    ]
    assert sorted(run(lines), key=lambda e: e.user) == [  # type: ignore[attr-defined]
        MessageIn(T0 + 1, "alice@example.com", 2345, False),
        MessageIn(T0 + 1, "carol@example.com", 2345, False),
    ]


def test_an_alias_to_one_mailbox_is_credited_to_the_alias_a_list_to_each_mailbox() -> None:
    lines = [
        arrival(0),
        local(1, "alice@example.com", "sales@example.com"),
        local(1, "bob@example.com", "team@example.com"),
        local(1, "carol@example.com", "team@example.com"),
        completed(2),
    ]
    assert sorted(run(lines), key=lambda e: e.user) == [  # type: ignore[attr-defined]
        MessageIn(T0 + 1, "bob@example.com", 2345, False),
        MessageIn(T0 + 1, "carol@example.com", 2345, False),
        MessageIn(T0 + 1, "sales@example.com", 2345, False),
    ]


def test_one_mailbox_reached_twice_counts_once() -> None:
    lines = [
        arrival(0),
        local(1, "alice@example.com"),
        local(2, "alice@example.com"),  # (a second copy through another route)
        completed(2),
    ]
    assert run(lines) == [MessageIn(T0 + 1, "alice@example.com", 2345, False)]


def test_a_forward_through_a_redirect_router() -> None:
    lines = [
        arrival(0),
        ex(
            1,
            "=> ext@gmail.example <alice@example.com> R=virtual_aliases T=remote_smtp "
            'H=gmail-smtp-in.l.google.example [192.0.2.10] X=TLS1.3:x:256 CV=yes C="250 OK"',
        ),
        completed(2),
    ]
    assert run(lines) == [
        Forward(T0 + 1, "alice@example.com"),
        MessageIn(T0 + 1, "alice@example.com", 2345, False),
    ]


def test_a_forward_and_a_local_copy_are_one_receipt() -> None:
    lines = [
        arrival(0),
        local(1, "alice@example.com"),
        remote(2, "ext@gmail.example", "alice@example.com"),
        completed(2),
    ]
    assert run(lines) == [
        Forward(T0 + 2, "alice@example.com"),
        MessageIn(T0 + 1, "alice@example.com", 2345, False),
    ]


def test_inbound_mail_relayed_to_another_server_is_a_receipt() -> None:
    lines = [arrival(0), remote(1, "filtered@customer.example"), completed(1)]
    assert run(lines) == [MessageIn(T0 + 1, "filtered@customer.example", 2345, False)]


def test_a_loopback_delivery_is_no_receipt() -> None:
    lines = [
        arrival(0),
        ex(1, "=> alice@example.com R=scan T=to_filter H=localhost [127.0.0.1]"),
        completed(1),
    ]
    assert run(lines) == []


# -- failures and rejections --------------------------------------------------------------


def test_a_local_failure_is_denied_unless_the_user_received_the_message() -> None:
    lines = [
        arrival(0),
        ex(1, "** full@example.com R=virtual_user T=dovecot_virtual_delivery: Mailbox is full"),
        ex(1, "** nouser@example.com: Unrouteable address"),
        ex(1, "** alice@example.com R=virtual_user T=dovecot_virtual_delivery : quota"),
        local(2, "alice@example.com"),
        remote(2, "gone@else.example", mark="**"),  # a remote refusal: not ours to count
        completed(3),
    ]
    assert run(lines) == [
        MessageIn(T0 + 2, "alice@example.com", 2345, False),
        MessageDenied(T0 + 1, "full@example.com"),
        MessageDenied(T0 + 1, "nouser@example.com"),
    ]


def test_rejected_rcpt_is_denied_a_temporary_rejection_is_not() -> None:
    lines = [
        f"{at(0)} H=mx.spam.example [198.51.100.9]:5123 F=<x@spam.example> rejected RCPT "
        "<alice+tag@example.com>: Unrouteable address",
        f"{at(0)} H=(helo) [198.51.100.9] F=<x@spam.example> temporarily rejected RCPT "
        "<bob@example.com>: greylisted",
        f"{at(1)} H=(helo) [198.51.100.9] F=<x@spam.example> rejected MAIL <x@spam.example>: "
        "sender verify failed",
    ]
    assert run(lines) == [MessageDenied(T0, "alice@example.com")]


# -- authenticated submissions ---------------------------------------------------------------


def test_a_submission_with_its_recipients_logged_counts_out_at_the_arrival() -> None:
    lines = [
        submission(0, ["carol@else.example", "dave@example.com", "Carol@Else.example"]),
        remote(1, "carol@else.example"),
        local(1, "dave@example.com"),
        completed(2),
    ]
    assert run(lines) == [
        MessageOut(T0, "alice@example.com", 2, 1234),
        MessageIn(T0 + 1, "dave@example.com", 1234, False),
    ]


def test_a_submission_without_its_recipients_counts_out_at_completed() -> None:
    j = Joiner()
    first = [
        submission(0),
        remote(1, "carol@else.example"),
        remote(1, "dan@else.example", mark="->"),
        remote(1, "carol@else.example", mark="->"),
    ]
    assert run(first, j) == []
    rest = [
        remote(2, "gone@else.example", mark="**"),
        local(2, "dave@example.com"),
        local(2, "erin@example.com", "team@example.com"),
        local(2, "frank@example.com", "team@example.com"),
        completed(3),
    ]
    # carol, dan, gone, dave, team: five recipients, dated at the "<=" line
    assert run(rest, j) == [
        MessageOut(T0, "alice@example.com", 5, 1234),
        MessageIn(T0 + 2, "dave@example.com", 1234, False),
        MessageIn(T0 + 2, "erin@example.com", 1234, False),
        MessageIn(T0 + 2, "frank@example.com", 1234, False),
    ]


def test_a_submission_is_no_relay_receipt() -> None:
    lines = [submission(0, ["carol@else.example"]), remote(1, "carol@else.example"), completed(1)]
    assert run(lines) == [MessageOut(T0, "alice@example.com", 1, 1234)]


def by_sendmail(
    user: str,
    rcpts: Iterable[str] | None = None,
    sender: str = "alice@example.com",
    p: str = "local",
) -> str:
    """A message handed to Exim's sendmail (``-t``; ``-bs`` is ``P=local-esmtp``) by ``user``."""
    f = " for " + " ".join(rcpts) if rcpts is not None else ""
    return ex(0, f'<= {sender} U={user} P={p} S=1234 id=w1@example.com T="Hi"{f}')


@pytest.mark.parametrize(
    ("line", "config", "counted"),
    [
        (by_sendmail("www-data", ["carol@else.example", "dave@example.com"]), {}, True),
        (by_sendmail("www-data", p="local-esmtp"), {}, True),
        (by_sendmail("apache"), {"webmail_users": ("apache", "nginx")}, True),
        # other local submissions (cron's, root's) count nothing
        (by_sendmail("root"), {}, False),
        (by_sendmail("Debian-exim", sender="root@example.com"), {}, False),
        (by_sendmail("www-data"), {"webmail_users": ("apache",)}, False),
        (by_sendmail("www-data"), {"webmail_users": ()}, False),
        (by_sendmail("www-data", sender="<>"), {}, False),
        # an SMTP client's U= is its ident answer, not a local user
        (
            ex(0, "<= alice@example.com H=(x) [198.51.100.7] U=www-data P=esmtp S=1234"),
            {},
            False,
        ),
    ],
)
def test_a_webmail_user_submitting_through_sendmail_counts_out_as_the_sender(
    line: str, config: dict[str, object], counted: bool
) -> None:
    rest = [remote(1, "carol@else.example"), local(1, "dave@example.com"), completed(2)]
    # the same message without the U= counts no submission
    anon = run([re.sub(r" U=\S+", "", line), *rest], **config)
    assert not any(isinstance(e, MessageOut) for e in anon)
    out = [MessageOut(T0, "alice@example.com", 2, 1234)] if counted else []
    assert run([line, *rest], **config) == out + anon


# -- bounds and state ---------------------------------------------------------------------------

MESSAGE = [
    spamd(0, "m1@remote.example", True),
    arrival(0),
    submission(0, qid=ID2),
    local(1, "alice@example.com"),
    remote(1, "carol@else.example", qid=ID2),
    remote(2, "ext@gmail.example", "bob2@example.com"),
    ex(2, "** full@example.com R=virtual_user T=dovecot_virtual_delivery: Mailbox is full"),
    local(2, "dave@example.com", qid=ID2),
    completed(3),
    completed(3, ID2),
]


@pytest.mark.parametrize("cut", range(len(MESSAGE) + 1))
def test_state_round_trip_mid_message_gives_the_same_events(cut: int) -> None:
    whole = run(MESSAGE)
    j = Joiner()
    before = run(MESSAGE[:cut], j)
    j2 = Joiner.from_state(json.loads(json.dumps(j.state())))
    assert j2.state() == j.state()
    assert before + run(MESSAGE[cut:], j2) == whole


def test_the_whole_message_makes_these_events() -> None:
    assert run(MESSAGE) == [
        Forward(T0 + 2, "bob2@example.com"),
        MessageIn(T0 + 1, "alice@example.com", 2345, True),
        MessageIn(T0 + 2, "bob2@example.com", 2345, True),
        MessageDenied(T0 + 2, "full@example.com"),
        MessageOut(T0, "alice@example.com", 2, 1234),
        MessageIn(T0 + 2, "dave@example.com", 1234, False),
    ]


def test_a_message_never_completed_expires_and_counts_as_it_stands() -> None:
    j = Joiner(max_age=60)
    lines = [submission(0), remote(1, "carol@else.example"), local(1, "dave@example.com")]
    assert run(lines, j) == []
    later = [arrival(600, qid=ID2)]  # the clock moves past max_age
    assert run(later, j) == [
        MessageOut(T0, "alice@example.com", 2, 1234),
        MessageIn(T0 + 1, "dave@example.com", 1234, False),
    ]
    assert j.expired == 1


def test_recipients_of_one_message_are_bounded() -> None:
    from mailtally.ingest.join import MAX_HELD_RECIPIENTS

    # A submission without its recipients logged holds each remote one twice (to count
    # it out, and as a relay that may be a receipt): half as many fit.
    half = MAX_HELD_RECIPIENTS // 2
    j = Joiner()
    lines = [submission(0)] + [remote(1, f"r{i}@else.example") for i in range(half + 5)]
    run(lines, j)
    assert j.dropped == 5
    (out,) = run([completed(2)], j)
    assert out == MessageOut(T0, "alice@example.com", half, 1234)
