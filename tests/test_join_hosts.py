"""Many hosts in one log (issue 8): what the joiner keeps in flight is keyed by host.

Lines of several hosts (MX, IMAP backends) interleave in one central syslog, and two
hosts may use one queue id at once.  Each table of real-format lines below says which
events the log must make; tests/test_fastlog_join.py runs every test here on the
compiled joiner too (``tj.Joiner`` is swapped there).
"""

from __future__ import annotations

import heapq
import json
import os
from collections import Counter
from datetime import date
from typing import Any

import pytest

import test_join as tj
from mailtally.events import Event, Forward, MessageIn, MessageOut
from mailtally.ingest import LineParser, ParseResult
from mailtally.ingest.parsers import MAX_HOST
from test_join import REF, T0, at, dc, inbound, lmtp, pf, removed, rspamd, submission


def on(host: str, lines: str | list[str]) -> list[str]:
    """The lines as ``host`` logs them (test_join's lines are host ``mail``'s)."""
    if isinstance(lines, str):
        lines = [lines]
    return [line.replace(" mail ", f" {host} ", 1) for line in lines]


def run(lines: list[str], **config: Any) -> list[Event]:
    return tj.run(lines, **config)


def feed(j: Any, lines: list[str]) -> list[Event]:
    parser = LineParser(reference=REF)
    out: list[Event] = []
    for line in lines:
        out.extend(j.feed(parser.parse(line)))
    return out


def lmtp_to(
    sec: int, qid: str, to: str, relay: str, session: str = "Yn2LBZPxGFgFBgAA3AX0Sg"
) -> str:
    """An LMTP delivery to a backend over the network (``relay`` names it)."""
    return pf(
        sec,
        "lmtp",
        f"{qid}: to=<{to}>, relay={relay}, delay=0.2, delays=0.1/0/0/0.1, dsn=2.0.0, "
        f"status=sent (250 2.0.0 <{to}> {session} Saved)",
    )


def smtp_to(sec: int, qid: str, to: str, relay: str, orig: str | None = None) -> str:
    o = f", orig_to=<{orig}>" if orig else ""
    return pf(
        sec,
        "smtp",
        f"{qid}: to=<{to}>{o}, relay={relay}, delay=0.9, delays=0.1/0/0.3/0.5, dsn=2.0.0, "
        "status=sent (250 2.0.0 Ok: queued as 3F1A2B4C5)",
    )


def junk(sec: int, user: str, msgid: str, session: str = "Yn2LBZPxGFgFBgAA3AX0Sg") -> str:
    return dc(
        sec,
        f"lmtp({user})<4242><{session}>: sieve: msgid=<{msgid}>: fileinto action: "
        "stored mail into mailbox 'Junk'",
    )


def rspamd_syslog(sec: int, qid: str, action: str) -> str:
    """rspamd's verdict as syslog writes it (host ``mail``)."""
    text = rspamd(sec, qid, action)
    return f"{at(sec)} mail rspamd[1234]: " + text.split(" ", 3)[3]


# -- the parsers hand the host over ------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "host"),
    [
        (pf(0, "qmgr", "4F2A1B2C3D: removed"), "mail"),
        (on("MX1.Example.COM", pf(0, "qmgr", "4F2A1B2C3D: removed"))[0], "mx1.example.com"),
        (
            "2026-11-28T01:00:00.123456+00:00 imap-2 dovecot: imap-login: Login: "
            "user=<a@example.com>, method=PLAIN, rip=192.0.2.1, lip=10.0.0.1",
            "imap-2",
        ),
        (on("10.0.0.5", pf(0, "qmgr", "4F2A1B2C3D: removed"))[0], "10.0.0.5"),
        # Dovecot's own log file: no host
        (
            "Nov 28 01:00:00 imap-login: Info: Login: user=<a@example.com>, method=PLAIN, "
            "rip=192.0.2.1, lip=10.0.0.1",
            "",
        ),
        (rspamd(0, "4F2A1B2C3D", "no action"), ""),
    ],
)
def test_a_parse_result_names_the_host_lower_cased(line: str, host: str) -> None:
    r = LineParser(reference=REF).parse(line)
    assert r.status == "ok"
    assert r.host == host


@pytest.mark.parametrize(
    "host", ["a" * (MAX_HOST + 1), "mx1/evil", "mx1;x", "mx1,example", "mx1\x01", "mx1%eth0"]
)
def test_a_line_of_no_hostname_is_not_understood(host: str) -> None:
    r = LineParser(reference=REF).parse(on(host, pf(0, "qmgr", "4F2A1B2C3D: removed"))[0])
    assert r.status == "unknown" and r.host == ""


def test_the_longest_hostname_is_understood() -> None:
    host = ("a" * 62 + ".") * 4 + "a" * (MAX_HOST - 252)
    assert len(host) == MAX_HOST
    r = LineParser(reference=REF).parse(on(host, pf(0, "qmgr", "4F2A1B2C3D: removed"))[0])
    assert r.status == "ok" and r.host == host


# -- one queue id, one Message-ID on two hosts ---------------------------------------------


def test_the_same_queue_id_in_flight_on_two_hosts_counts_twice() -> None:
    q = "4F2A1B2C3D"
    a = on("mx1", [*inbound(q, size=1000), lmtp(1, q, "bob@example.com")])
    b = on("mx2", [*inbound(q, size=2000), lmtp(2, q, "carol@example.com")])
    lines = [x for pair in zip(a, b, strict=True) for x in pair]
    lines += on("mx2", removed(3, q)) + on("mx1", removed(4, q))
    assert run(lines) == [
        MessageIn(T0 + 2, "carol@example.com", 2000, False),
        MessageIn(T0 + 1, "bob@example.com", 1000, False),
    ]


def test_a_removed_line_of_one_host_leaves_the_other_hosts_message_in_flight() -> None:
    q = "4F2A1B2C3E"
    j = tj.Joiner()
    feed(j, on("mx1", [*inbound(q), lmtp(1, q, "bob@example.com")]))
    feed(j, on("mx2", inbound(q)))
    assert feed(j, on("mx2", removed(2, q))) == []  # mx2's message had no delivery
    assert j.counters()["in_flight"] == 1
    assert feed(j, on("mx1", removed(3, q))) == [MessageIn(T0 + 1, "bob@example.com", 2048, False)]


def test_a_verdict_of_one_host_never_reaches_another_hosts_message() -> None:
    q = "7A0000000A"
    lines = [
        *on("mx1", inbound(q)),
        *on("mx2", inbound(q)),
        *on("mx2", rspamd_syslog(1, q, "add header")),
        *on("mx1", lmtp(2, q, "bob@example.com")),
        *on("mx2", lmtp(2, q, "carol@example.com")),
        *on("mx1", removed(3, q)),
        *on("mx2", removed(3, q)),
    ]
    assert run(lines) == [
        MessageIn(T0 + 2, "bob@example.com", 2048, False),
        MessageIn(T0 + 2, "carol@example.com", 2048, True),
    ]


def test_a_verdict_for_a_queue_id_not_yet_seen_waits_on_its_own_host() -> None:
    q = "7A0000000B"
    lines = [
        *on("mx1", rspamd_syslog(0, q, "add header")),
        *on("mx2", [*inbound(q), lmtp(1, q, "carol@example.com"), removed(1, q)]),
        *on("mx1", [*inbound(q), lmtp(2, q, "bob@example.com"), removed(2, q)]),
    ]
    assert run(lines) == [
        MessageIn(T0 + 1, "carol@example.com", 2048, False),
        MessageIn(T0 + 2, "bob@example.com", 2048, True),
    ]


def test_the_same_message_id_on_two_hosts_takes_the_sieve_verdict_of_its_own() -> None:
    q1, q2, mid = "4F2A1B2C40", "4F2A1B2C41", "same@example.org"
    lines = [
        *on("mx1", [*inbound(q1, msgid=mid), lmtp(1, q1, "bob@example.com")]),
        *on("mx2", [*inbound(q2, msgid=mid), lmtp(1, q2, "bob@example.com")]),
        *on("mx2", junk(2, "bob@example.com", mid)),  # after the delivery: by Message-ID
        *on("mx1", removed(3, q1)),
        *on("mx2", removed(3, q2)),
    ]
    assert run(lines) == [
        MessageIn(T0 + 1, "bob@example.com", 2048, False),
        MessageIn(T0 + 1, "bob@example.com", 2048, True),
    ]


def test_sieve_redirects_count_once_per_host() -> None:
    redirect = dc(
        1, "lmtp(bob@example.com)<1><s1>: sieve: msgid=<m1@example.org>: forwarded to <b@x.org>"
    )
    lines = [*on("mx1", redirect), *on("mx1", redirect), *on("mx2", redirect)]
    assert run(lines) == [Forward(T0 + 1, "bob@example.com"), Forward(T0 + 1, "bob@example.com")]


def test_a_filters_reinjection_links_on_its_own_host() -> None:
    a, b = "6A0000000A", "6B0000000B"
    one = on("mx1", tj.amavis_flow(a, b, cat="SPAM"))
    two = on("mx2", tj.amavis_flow(a, b, cat="CLEAN"))
    lines = [x for pair in zip(one, two, strict=True) for x in pair]
    got = run(lines)
    assert sorted(got, key=repr) == [
        MessageIn(T0 + 2, "bob@example.com", 2048, False),
        MessageIn(T0 + 2, "bob@example.com", 2048, True),
    ]


# -- sieve on an IMAP backend, the message on the MX -------------------------------------

BACKEND = "imap1.example.com[10.0.0.5]:24"


@pytest.mark.parametrize("sieve_host", ["imap1", "imap1.example.com", "10.0.0.5"])
def test_sieve_junk_on_the_backend_the_lmtp_relay_names(sieve_host: str) -> None:
    """Dovecot logs its sieve action before it answers LMTP: the MX's delivery line
    takes the junk verdict its relay's host logged (by name, short name or address)."""
    q, mid = "4F2A1B2C42", "cross@example.org"
    lines = [
        *on("mx1", inbound(q, msgid=mid)),
        *on(sieve_host, junk(1, "bob@example.com", mid)),
        *on("mx1", [lmtp_to(1, q, "bob@example.com", BACKEND), removed(2, q)]),
    ]
    assert run(lines) == [MessageIn(T0 + 1, "bob@example.com", 2048, True)]


def test_sieve_junk_on_a_backend_the_relay_does_not_name_stays_there() -> None:
    q, mid = "4F2A1B2C43", "cross2@example.org"
    lines = [
        *on("mx1", inbound(q, msgid=mid)),
        *on("imap2", junk(1, "bob@example.com", mid)),
        *on("mx1", [lmtp_to(1, q, "bob@example.com", BACKEND), removed(2, q)]),
    ]
    assert run(lines) == [MessageIn(T0 + 1, "bob@example.com", 2048, False)]


@pytest.mark.parametrize(
    ("own_hosts", "spam"),
    [((), False), (("mx1", "imap1"), True), (("imap1",), False), (("MX1", "IMAP1"), True)],
)
def test_sieve_junk_logged_after_the_delivery_looks_on_the_own_hosts(
    own_hosts: tuple[str, ...], spam: bool
) -> None:
    """Logged after the MX's delivery line (a central syslog may reorder two hosts'
    lines): the backend's line finds the message on another of ``own_hosts``."""
    q, mid = "4F2A1B2C44", "cross3@example.org"
    lines = [
        *on("mx1", [*inbound(q, msgid=mid), lmtp_to(1, q, "bob@example.com", BACKEND)]),
        *on("imap1", junk(1, "bob@example.com", mid)),
        *on("mx1", removed(2, q)),
    ]
    assert run(lines, own_hosts=own_hosts) == [MessageIn(T0 + 1, "bob@example.com", 2048, spam)]


def test_sieve_on_the_backend_needs_the_users_delivery() -> None:
    q, mid = "4F2A1B2C45", "cross4@example.org"
    lines = [
        *on("mx1", [*inbound(q, msgid=mid), lmtp_to(1, q, "bob@example.com", BACKEND)]),
        *on("imap1", junk(1, "carol@example.com", mid, session="other")),
        *on("mx1", removed(2, q)),
    ]
    assert run(lines, own_hosts=("mx1", "imap1")) == [
        MessageIn(T0 + 1, "bob@example.com", 2048, False)
    ]


# -- own_hosts: hand-overs inside the platform --------------------------------------------

MX2 = "mx2.example.com[10.0.0.2]:25"


def mx1_to_mx2(q1: str, q2: str, orig: str | None = None) -> list[str]:
    """Mail from the outside received by mx1, relayed to mx2, delivered there."""
    return [
        *on("mx1", [*inbound(q1, size=3000), smtp_to(1, q1, "bob@example.com", MX2, orig)]),
        *on(
            "mx2",
            [
                pf(1, "smtpd", f"{q2}: client=mx1.example.com[10.0.0.1]"),
                pf(1, "cleanup", f"{q2}: message-id=<{q1.lower()}@example.org>"),
                pf(
                    1, "qmgr", f"{q2}: from=<sender@example.org>, size=3100, nrcpt=1 (queue active)"
                ),
                lmtp(2, q2, "bob@example.com"),
                removed(2, q2),
            ],
        ),
        *on("mx1", removed(3, q1)),
    ]


@pytest.mark.parametrize(
    "own_hosts",
    [
        ("mx1.example.com", "mx2.example.com"),
        ("10.0.0.1", "10.0.0.2"),
        ("MX2.example.com", "::ffff:10.0.0.1"),
    ],
)
def test_a_relay_to_an_own_host_is_a_hand_over(own_hosts: tuple[str, ...]) -> None:
    q1, q2 = "4F2A1B2C46", "9E2A1B2C46"
    assert run(mx1_to_mx2(q1, q2), own_hosts=own_hosts) == [
        MessageIn(T0 + 2, "bob@example.com", 3100, False)
    ]
    # without own_hosts mx1's relay is a receipt of the filter-only kind (counted twice)
    assert run(mx1_to_mx2(q1, q2)) == [
        MessageIn(T0 + 2, "bob@example.com", 3100, False),
        MessageIn(T0 + 1, "bob@example.com", 3000, False),
    ]


def test_an_alias_relayed_to_an_own_host_is_no_forward() -> None:
    q1, q2 = "4F2A1B2C47", "9E2A1B2C47"
    lines = mx1_to_mx2(q1, q2, orig="info@example.com")
    assert run(lines, own_hosts=("mx2.example.com", "10.0.0.1")) == [
        MessageIn(T0 + 2, "bob@example.com", 3100, False)
    ]
    assert Forward(T0 + 1, "info@example.com") in run(lines)


def test_mail_from_an_own_host_relayed_out_is_no_receipt() -> None:
    """A user's submission handed from the submission host to the MX, relayed out by it:
    counted out once (on the submission host), and not received by the outside address."""
    q1, q2 = "5A0000000A", "9E0000000A"
    lines = [
        *on("sub1", [*submission(q1, nrcpt=1), smtp_to(1, q1, "x@gmail.com", MX2)]),
        *on(
            "mx2",
            [
                pf(1, "smtpd", f"{q2}: client=sub1.example.com[10.0.0.3]"),
                pf(1, "qmgr", f"{q2}: from=<alice@example.com>, size=5100, nrcpt=1 (queue active)"),
                smtp_to(2, q2, "x@gmail.com", "gmail-smtp-in.l.google.com[142.250.27.27]:25"),
                removed(2, q2),
            ],
        ),
        *on("sub1", removed(3, q1)),
    ]
    out = MessageOut(T0, "alice@example.com", 1, 5000)
    assert run(lines, own_hosts=("mx2.example.com", "10.0.0.3")) == [out]
    assert run(lines) == [out, MessageIn(T0 + 2, "x@gmail.com", 5100, False)]


# -- state ----------------------------------------------------------------------------------


def interleaved_day() -> list[str]:
    """Two MX hosts using the same queue ids, a backend's sieve line, verdicts."""
    q, a, b = "AA0000000A", "AC0000000A", "AD0000000A"
    one = on("mx1", [*inbound(q, msgid="m1@example.org"), *tj.amavis_flow(a, b, cat="SPAM")])
    two = on("mx2", [*inbound(q, msgid="m1@example.org"), *tj.amavis_flow(a, b)])
    lines = [x for pair in zip(one, two, strict=False) for x in pair]
    lines += [
        *on("mx2", rspamd_syslog(2, q, "add header")),
        *on("imap1", junk(2, "bob@example.com", "m1@example.org")),
        *on("mx1", lmtp_to(3, q, "bob@example.com", BACKEND)),
        *on("mx2", lmtp(3, q, "carol@example.com")),
        *on("mx1", removed(4, q)),
        *on("mx2", removed(5, q)),
    ]
    return lines


def test_the_interleaved_day() -> None:
    got = run(interleaved_day())
    assert sorted(got, key=repr) == sorted(
        [
            MessageIn(T0 + 2, "bob@example.com", 2048, True),  # mx1's amavis flow: SPAM
            MessageIn(T0 + 2, "bob@example.com", 2048, False),  # mx2's: CLEAN
            MessageIn(T0 + 3, "bob@example.com", 2048, True),  # junk on imap1
            MessageIn(T0 + 3, "carol@example.com", 2048, True),  # rspamd on mx2
        ],
        key=repr,
    )


@pytest.mark.parametrize("cut", range(0, 48, 3))
def test_state_saved_mid_interleave_gives_the_same_events(cut: int) -> None:
    lines = interleaved_day()
    whole = run(lines)
    first = tj.Joiner()
    events = feed(first, lines[:cut])
    saved = json.loads(json.dumps(first.state()))
    assert saved["version"] == 2
    second = tj.Joiner.from_state(saved)
    assert second.state() == saved
    events += feed(second, lines[cut:])
    events += second.flush()
    assert events == whole


@pytest.mark.parametrize("cut", [3, 6, 12, 20])
def test_a_version_1_state_goes_on_with_a_hosted_log(cut: int) -> None:
    """An installation upgrading mid-log: a state saved by the joiner before hosts (its
    keys are bare queue ids) goes on with the same syslog lines, host and all."""
    lines = tj.full_day()
    whole = run(lines)
    first = tj.Joiner()
    events = feed(first, lines[:cut])
    v1 = json.loads(json.dumps(first.state()))
    v1["version"] = 1
    del v1["first_host"]
    assert any(q == "AA0000000A" for q, _ in v1["msgs"])  # bare keys, as version 1 wrote
    second = tj.Joiner.from_state(v1)
    events += feed(second, lines[cut:])
    events += second.flush()
    assert events == whole
    assert second.state()["first_host"] == "mail"


def test_a_version_1_state_with_a_second_host_keeps_them_apart() -> None:
    """A version-1 state's keys are of the first host the joiner sees after it (the one
    whose log it was reading); a second host's lines key apart from them."""
    q = "4F2A1B2C48"
    first = tj.Joiner()
    feed(first, [*inbound(q), lmtp(1, q, "bob@example.com")])
    v1 = json.loads(json.dumps(first.state()))
    v1["version"] = 1
    del v1["first_host"]
    j = tj.Joiner.from_state(v1)
    events = feed(j, [lmtp(2, q, "dave@example.com")])
    events += feed(j, on("mx2", [*inbound(q, size=10), lmtp(2, q, "carol@example.com")]))
    events += feed(j, on("mx2", removed(3, q)))
    events += feed(j, [removed(4, q)])
    assert events == [
        MessageIn(T0 + 2, "carol@example.com", 10, False),
        MessageIn(T0 + 1, "bob@example.com", 2048, False),
        MessageIn(T0 + 2, "dave@example.com", 2048, False),
    ]


def test_a_state_version_3_is_refused() -> None:
    with pytest.raises(ValueError):
        tj.Joiner.from_state({"version": 3, "now": 0, "next_sweep": 0})


# -- three hosts writing the same log count three times its events ---------------------------

HOSTS = ("mx1", "mx2.example.com", "imap3")


@pytest.fixture(scope="module")
def synth_files(tmp_path_factory) -> list[list[str]]:
    """The lines of each file of a small ``mailtally synth`` log (host ``mail``)."""
    from mailtally.store import open_store
    from mailtally.synth import synthesize

    base = tmp_path_factory.mktemp("hosts")
    store = open_store(f"sqlite:///{base / 'store.sqlite3'}")
    try:
        result = synthesize(
            store, base / "logs", lines=6000, days=2, seed=5, start=date(2026, 3, 2)
        )
    finally:
        store.close()
    out = []
    for name in json.loads(result.truth.read_text())["files"]:
        path = base / "logs" / name
        opener: Any = open
        if name.endswith(".gz"):
            import gzip

            opener = gzip.open
        with opener(path, "rt", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
        out.append((os.stat(path).st_mtime, lines))
    return out


def _parsed(mtime: float, lines: list[str], host: str | None) -> list[ParseResult]:
    parser = LineParser(reference=mtime)
    return [parser.parse(line if host is None else _rehost(line, host)) for line in lines]


def _rehost(line: str, host: str) -> str:
    # the header's host: the word after a classic (15 chars) or RFC 3339 stamp
    i = line.find(" mail ", 0, 40)
    return line if i < 0 else line[:i] + f" {host} " + line[i + 6 :]


def _timed(results: list[ParseResult]) -> list[tuple[int, ParseResult]]:
    """Each result with its time (a line without one: the time of the line before)."""
    t = 0
    out = []
    for r in results:
        t = r.time if r.time is not None else t
        out.append((t, r))
    return out


def test_three_hosts_writing_one_log_count_three_times_its_events(synth_files) -> None:
    single = tj.Joiner()
    multi = tj.Joiner()
    one: list[Event] = []
    three: list[Event] = []
    for mtime, lines in synth_files:
        if not any(" mail " in line[:40] for line in lines[:50]):
            continue  # Roundcube's own log, quota reports: no host to tell apart
        alone = _parsed(mtime, lines, None)
        for r in alone:
            one.extend(single.feed(r))
        copies = [_parsed(mtime, lines, h) for h in HOSTS]
        assert {r.host for r in copies[1] if r.status == "ok"} == {HOSTS[1]}
        # interleaved by time: of one second, the lines of each host in turn
        keyed = [_timed(c) for c in copies]
        for _, r in heapq.merge(*keyed, key=lambda x: x[0]):
            three.extend(multi.feed(r))
    one += single.flush()
    three += multi.flush()
    assert len(one) > 500
    assert Counter(three) == Counter({e: 3 * n for e, n in Counter(one).items()})
    c1, c3 = single.counters(), multi.counters()
    for k in ("expired", "abandoned", "dropped", "errors"):
        assert c3[k] == 3 * c1[k], k
