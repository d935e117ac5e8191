"""No input whatsoever makes the parsers or the joiner raise."""

from __future__ import annotations

import calendar
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtally.ingest import Joiner, LineParser
from mailtally.ingest.parsers import (
    CleanupMessageId,
    Delivery,
    Discard,
    FilterBlocked,
    MailLogin,
    ParseResult,
    Pickup,
    QmgrFrom,
    QmgrRemoved,
    QuotaHeader,
    QuotaRow,
    Reinjected,
    Reject,
    SieveAction,
    SmtpdClient,
    SpamVerdict,
    WebmailLogin,
)

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Real-format lines to mutate: every parser's paths, not just its first test.
SEEDS = [
    "Nov 28 01:02:03 mail postfix/smtpd[1]: 4F2A1B2C3D: client=h[203.0.113.9]:25, "
    "sasl_method=PLAIN, "
    "sasl_username=a@example.com, orig_queue_id=4F2A1B2C3E, orig_client=h[1.2.3.4]",
    "Nov 28 01:02:03 mail postfix/qmgr[1]: 4F2A1B2C3D: from=<a@b>, size=12, nrcpt=1 (queue active)",
    "Nov 28 01:02:03 mail postfix/lmtp[1]: 4F2A1B2C3D: to=<b@example.com>, "
    "orig_to=<c@example.com>, "
    "relay=h[private/dovecot-lmtp], delay=0.1, dsn=2.0.0, status=sent (250 2.0.0 <b@example.com> s "
    "Saved)",
    "Nov 28 01:02:03 mail postfix/smtp[1]: 4F2A1B2C3D: to=<b@example.com>, "
    "relay=127.0.0.1[127.0.0.1]:10024, "
    "status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 4DEF)",
    "Nov 28 01:02:03 mail postfix/local[1]: 4F2A1B2C3D: to=<b@h>, relay=local, status=sent "
    "(forwarded as 5A)",
    "Nov 28 01:02:03 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from h[1.2.3.4]: 550 5.1.1 "
    "<x@y>: no; "
    "from=<a@b> to=<x@y> proto=ESMTP helo=<h>",
    "Nov 28 01:02:03 mail postfix/cleanup[1]: 4F2A1B2C3D: reject: header Subject: x from "
    "h[1.2.3.4]; "
    "from=<a@b> to=<c@d> proto=ESMTP helo=<h>: 5.7.1 no",
    "Nov 28 01:02:03 mail postfix/pickup[1]: 4F2A1B2C3D: uid=33 from=<a@b>",
    "Nov 28 01:02:03 mail dovecot: imap-login: Login: user=<a@b>, method=PLAIN, rip=1.2.3.4, "
    "lip=5.6.7.8",
    "Nov 28 01:02:03 mail dovecot: lmtp(a@b)<1><s>: sieve: msgid=<m@x>: stored mail into mailbox "
    "'Junk'",
    "Nov 28 01:02:03 lmtp(12, a@b): Info: sieve: msgid=<m@x>: redirect action: forwarded to <c@d>",
    "[28-Nov-2026 01:02:03 +0000]: <s> Successful login for a@b (ID: 1) from 1.2.3.4 in session s",
    "2026-11-28 01:02:03 #1(normal) <t>; task; rspamd_task_write_log: qid: <4F2A>, (default: T "
    "(reject): [1/2] [])",
    "2026-11-28T01:02:03.5+01:00 mail amavis[1]: (1-01) Blocked SPAM {x}, <a@b> -> <c@d>,<e@f>, "
    "Queue-ID: 4A",
    "2026-11-28T01:02:03Z mail amavis[1]: (1-01) Passed SPAM, <a@b> -> <c@d>, Queue-ID: 4A, "
    "queued_as: 4B",
    "Nov 28 01:02:03 mail amavis[1]: (1-01) Passed CLEAN, <a@b> -> <c@d>,<e@f>, Queue-ID: 4A, "
    "queued_as: 4B/4C/4D, 1 ms",
    '{"ts": 1795827723.5, "pid": 1, "severity": "notice", "worker_type": "normal", "id": "t", '
    '"module": "task", "function": "rspamd_task_write_log", "message": "qid: <4F2A>, from: '
    '<\\"a b\\"@c\\/d>, (default: T (add header): [1/2] [])"}',
    'Nov 28 01:02:03 mail rspamd[1]: {"ts":1795827723,"worker_type":"normal","function":'
    '"rspamd_task_write_log","message":"qid: <4F2\\u0041>, (default: F (no action): [1/2] []"}',
    "alice@example.com\tUser quota\tSTORAGE\t10240\t-\t0",
]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(line)))
        j = draw(st.integers(i, min(len(line), i + 12)))
        line = line[:i] + draw(st.text(max_size=8)) + line[j:]
    return line


def check(lines: list[str]) -> None:
    parser = LineParser(reference=REF, tz="Europe/Berlin")
    joiner = Joiner(max_entries=8, max_age=60, reinject_grace=5)
    for line in lines:
        res = parser.parse(line)
        assert isinstance(res, ParseResult)
        assert res.status in ("ok", "ignored", "unknown")
        assert (res.status == "ok") == bool(res.records)
        assert res.status != "ok" or isinstance(res.time, int)
        for ev in joiner.feed(res):
            assert ev.time >= 0 or isinstance(ev.time, int)
    joiner.flush()
    assert joiner.take() == []
    assert parser.errors == 0
    assert joiner.errors == 0
    state = json.loads(json.dumps(joiner.state()))
    assert Joiner.from_state(state).state() == state


@FAST
@given(st.lists(st.text(), max_size=5))
def test_any_text(lines: list[str]) -> None:
    check(lines)


@FAST
@given(st.lists(st.binary(), max_size=5))
def test_any_bytes(blobs: list[bytes]) -> None:
    check([b.decode("utf-8", errors="replace") for b in blobs])


@FAST
@given(st.lists(mutated(), min_size=1, max_size=12))
def test_mutated_real_lines(lines: list[str]) -> None:
    check(lines)


def test_every_seed_is_understood() -> None:
    parser = LineParser(reference=REF)
    assert [parser.parse(s).status for s in SEEDS] == ["ok"] * len(SEEDS)


# -- the joiner on arbitrary records ---------------------------------------------------------

qids = st.sampled_from(["4A", "4B", "4C", "4D", ""]) | st.text(max_size=6)
texts = st.text(max_size=12)
addrs = st.sampled_from(["a@example.com", "b@example.com", "A+x@Example.com", "", "x"]) | texts
opt = st.none() | addrs
ints = st.integers(-(2**40), 2**40)

records = st.one_of(
    st.builds(
        SmtpdClient,
        qids,
        st.sampled_from(["127.0.0.1", "::1", "1.2.3.4", ""]) | texts,
        st.none() | ints,
        opt,
        st.none() | qids,
    ),
    st.builds(Pickup, qids, st.sampled_from([0, 33]) | ints, addrs),
    st.builds(CleanupMessageId, qids, texts),
    st.builds(QmgrFrom, qids, addrs, ints, ints),
    st.builds(QmgrRemoved, qids),
    st.builds(
        Delivery,
        qids,
        addrs,
        opt,
        st.sampled_from(
            ["127.0.0.1[127.0.0.1]:10024", "h[1.2.3.4]:25", "local", "none", "x[", "[]:"]
        )
        | texts,
        st.sampled_from(["sent", "bounced", "deferred"]) | texts,
        st.sampled_from(["smtp", "lmtp", "local", "virtual", "pipe"]) | texts,
        texts | st.just("250 2.0.0 <a@example.com> s Saved"),
        st.none() | qids,
        st.none() | qids,
    ),
    st.builds(
        Reject,
        st.none() | qids,
        st.sampled_from(["RCPT", "END-OF-MESSAGE", "header"]) | texts,
        opt,
        st.booleans(),
        st.booleans(),
    ),
    st.builds(Discard, qids),
    st.builds(MailLogin, addrs, texts, st.sampled_from(["imap4", "pop3"])),
    st.builds(WebmailLogin, addrs, texts),
    st.builds(
        SieveAction,
        addrs,
        st.sampled_from(["vacation", "redirect", "fileinto"]),
        st.sampled_from(["Junk", "INBOX", "a.Spam"]) | texts,
        texts,
        texts,
    ),
    st.builds(SpamVerdict, qids, st.sampled_from(["spam", "ham", "reject", "tempfail"]), texts),
    st.builds(Reinjected, qids, qids),
    st.builds(FilterBlocked, st.none() | qids, st.lists(addrs, max_size=3).map(tuple), texts),
    st.builds(QuotaHeader),
    st.builds(QuotaRow, addrs, texts, st.sampled_from(["STORAGE", "MESSAGE"]), ints),
)


@FAST
@given(st.lists(st.tuples(records, st.integers(0, 2**34)), max_size=40), st.booleans())
def test_joiner_on_arbitrary_records(items: list[tuple[object, int]], resolver: bool) -> None:
    known = {"a@example.com": "a@example.com"}
    config = {"max_entries": 4, "max_age": 100, "resolve": known.get if resolver else None}
    joiner = Joiner(**config)  # type: ignore[arg-type]
    half = len(items) // 2
    for rec, t in items[:half]:
        joiner.add(rec, t)  # type: ignore[arg-type]
    state = json.loads(json.dumps(joiner.state()))
    joiner = Joiner.from_state(state, **config)  # type: ignore[arg-type]
    for rec, t in items[half:]:
        joiner.add(rec, t)  # type: ignore[arg-type]
    joiner.flush()
    joiner.expire_all()
    assert joiner.take() == []
    assert joiner.errors == 0
    assert joiner.counters()["in_flight"] == 0
