"""The compiled hot loop counts exactly what the pure-Python one counts.

``mailtally ingest`` parses and joins lines with :mod:`mailtally.ingest._fastlog`
(C) when it is built, and with :mod:`mailtally.ingest.parsers` and
:mod:`mailtally.ingest.join` otherwise.  Here the same files go through both,
into two copies of one store, and everything the runs leave behind must be the
same: every counted row, the saved positions and joiner state, and the report.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from conftest import table_rows
from mailtally.ingest import files
from mailtally.ingest.files import Ingester
from mailtally.periods import Periods
from mailtally.store import Store, open_store
from mailtally.synth import synthesize
from test_ingest_files import build_tree

TABLES = ("flows", "gauges", "storage_reports", "user_versions", "ingest_files", "ingest_state")
UTC = Periods("UTC")


def outcome(store: Store, report: Any) -> dict[str, Any]:
    rows = table_rows(store, *TABLES)
    # when a file was last read differs between runs; everything else must not
    with store.read() as q:
        columns = [r[1] for r in q.conn.execute("PRAGMA table_info(ingest_files)")]
    updated = columns.index("updated")
    rows["ingest_files"] = [r[:updated] + r[updated + 1 :] for r in rows["ingest_files"]]
    return {
        "rows": rows,
        "report": (
            report.lines,
            report.events,
            report.ignored_lines,
            report.outside_tree,
            report.skipped_messages,
            report.unknown,
        ),
    }


@pytest.fixture(scope="module")
def synth_log(tmp_path_factory) -> tuple[Path, list[str], list[str]]:
    """A platform store (never ingested into) and its synth log files."""
    base = tmp_path_factory.mktemp("compiled")
    with open_store(f"sqlite:///{base / 'platform.sqlite3'}") as store:
        result = synthesize(
            store, base / "logs", lines=6000, days=3, seed=11, start=date(2026, 2, 27)
        )
    truth = json.loads(result.truth.read_text())
    paths = [str(base / "logs" / f) for f in truth["files"]]
    return base / "platform.sqlite3", paths, truth["webmail_hosts"]


def run(platform: Path, tmp: Path, name: str, steps: list[tuple[bool, list[str], int]]):
    """Ingest into a copy of the platform: each step is (compiled, paths, batch_lines)."""
    path = tmp / f"{name}.sqlite3"
    shutil.copyfile(platform, path)
    with open_store(f"sqlite:///{path}") as store:
        report = None
        for compiled, paths, batch in steps:
            report = Ingester(store, UTC, batch_lines=batch, compiled=compiled).ingest(paths)
        return outcome(store, report)


@pytest.mark.parametrize("summed", [True, False], ids=["summed", "not-summed"])
@pytest.mark.parametrize("batch", [500_000, 977])
def test_a_synth_log_gives_the_same_rows_state_and_report(
    synth_log, tmp_path, batch, summed, monkeypatch
) -> None:
    if not summed:  # (files._sums_pay: a batch of more than two events is never summed)
        monkeypatch.setattr(files, "SUM_SAMPLE", 1)
        monkeypatch.setattr(files, "SUM_WORTH", -1)
    platform, paths, _ = synth_log
    python = run(platform, tmp_path, "python", [(False, paths, batch)])
    compiled = run(platform, tmp_path, "compiled", [(True, paths, batch)])
    assert compiled["rows"]["flows"], "the log counted nothing"
    assert compiled == python


def test_a_store_may_be_fed_by_either_in_turn(synth_log, tmp_path) -> None:
    """The joiner state one saves, the other takes up (messages in flight included)."""
    platform, paths, _ = synth_log
    half = len(paths) // 2
    python = run(platform, tmp_path, "python", [(False, paths, 733)])
    mixed = run(
        platform, tmp_path, "mixed", [(True, paths[:half], 733), (False, paths[half:], 733)]
    )
    flipped = run(
        platform, tmp_path, "flipped", [(False, paths[:half], 733), (True, paths[half:], 733)]
    )
    assert mixed["rows"] == python["rows"]
    assert flipped["rows"] == python["rows"]


T = "2026-01-10T10:00:{:02d}+00:00 mx postfix/"
INBOUND = [
    T + "smtpd[1]: 1A{i}: client=mx.example.net[198.51.100.7]",
    T + "cleanup[2]: 1A{i}: message-id=<m{i}@example.net>",
    T + "qmgr[3]: 1A{i}: from=<x@example.net>, size=1200, nrcpt=1 (queue active)",
    T + "lmtp[4]: 1A{i}: to=<bob@example.com>, relay=mail[private/dovecot-lmtp], delay=0.1, "
    "delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.com> Saved)",
    T + "qmgr[3]: 1A{i}: removed",
]


def inbound(i: int) -> list[bytes]:
    return [line.format(i, i=i).encode() for line in INBOUND]


E = "2026-01-10 10:00:{:02d} "
EXIM = [
    # spamd in the DATA ACL, before the arrival; then an alias and a spam-folder delivery
    "Jan 10 10:00:00 mx spamd[7]: spamd: result: Y 15 - BAYES_99 scantime=0.5,size=2345,"
    "user=bob,uid=1001,required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport=4,"
    "mid=<e1@example.net>,autolearn=no",
    E.format(1) + "1tFZ7e-00000000Ijk-2BKh <= x@example.net H=mx.example.net "
    "[198.51.100.7]:25 P=esmtps S=2345 id=e1@example.net",
    E.format(2) + "1tFZ7e-00000000Ijk-2BKh => bob@example.com <al@example.com> "
    "R=virtual_aliases T=dovecot_virtual_delivery",
    E.format(2) + "1tFZ7e-00000000Ijk-2BKh => alice@example.com R=virtual_user_spam "
    "T=virtual_sa_userdelivery",
    E.format(3) + "1tFZ7e-00000000Ijk-2BKh Completed",
    # an authenticated submission without +received_recipients, with the old id
    E.format(4) + "[77] 1abcDE-0001Ab-C2 <= bob@example.com H=(laptop) [203.0.113.5] "
    "P=esmtpsa A=dovecot_login:bob@example.com S=900 id=s1@example.com",
    E.format(5) + "1abcDE-0001Ab-C2 => c@else.example R=dnslookup T=remote_smtp "
    'H=mx.else.example [192.0.2.20] C="250 OK"',
    E.format(5) + "1abcDE-0001Ab-C2 ** full@example.com R=virtual_user "
    "T=dovecot_virtual_delivery: Mailbox is full",
    E.format(6) + "1abcDE-0001Ab-C2 Completed",
    E.format(7) + "H=(x) [198.51.100.9] F=<s@spam.example> rejected RCPT <bob@example.com>: no",
    E.format(8) + "SMTP connection from [198.51.100.9]:4 (TCP/IP connection count = 1)",
    E.format(9) + "1abcDE-0001Ab-C2 => bob@example.com",  # not understood
]


def rspamd_json(sec: int, qid: str, sender: str) -> bytes:
    """rspamd 3.8+'s JSON log line (``json = true``) of an "add header" verdict."""
    ts = 1768039200 + sec  # 2026-01-10T10:00:00Z
    return (
        f'{{"ts": {ts}.25, "pid": 9, "severity": "notice", "worker_type": "normal", '
        '"id": "ab12cd", "module": "task", "function": "rspamd_task_write_log", "message": '
        f'"id: <m@x>, qid: <{qid}>, ip: 198.51.100.7, from: <{sender}>, (default: T (add '
        'header): [9.10/15.00] [BAYES_SPAM(5.10){99.00%;}]), len: 1200"}'
    ).encode()


# amavis re-injects bob's and carol's copies of 1A6 as 1B6 and 1C6 ("queued_as: 1B6/1C6");
# Postfix's answer over SMTP names 1B6 only.
AMAVIS_TWO = [
    T + "smtpd[1]: 1A6: client=mx.example.net[198.51.100.7]",
    T + "qmgr[3]: 1A6: from=<x@example.net>, size=1200, nrcpt=2 (queue active)",
    *(
        line.replace("{b}", b)
        for b in ("1B6", "1C6")
        for line in (
            T + "smtpd[1]: {b}: client=localhost[127.0.0.1]",
            T + "qmgr[3]: {b}: from=<x@example.net>, size=1900, nrcpt=1 (queue active)",
        )
    ),
    "2026-01-10T10:00:{:02d}+00:00 mx amavis[5]: (00005-01) Passed SPAM {{RelayedTaggedInbound}}, "
    "[198.51.100.7]:4 [198.51.100.7] <x@example.net> -> <bob@example.com>,<carol@example.com>, "
    "Queue-ID: 1A6, Hits: 9.1, size: 1200, queued_as: 1B6/1C6, 99 ms",
    *(
        T + f"smtp[6]: 1A6: to=<{to}>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, "
        "delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): "
        "250 2.0.0 Ok: queued as 1B6)"
        for to in ("bob@example.com", "carol@example.com")
    ),
    T + "qmgr[3]: 1A6: removed",
    *(
        T + f"lmtp[4]: {b}: to=<{to}>, relay=mail[private/dovecot-lmtp], delay=0.1, "
        f"delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 <{to}> Saved)"
        for b, to in (("1B6", "bob@example.com"), ("1C6", "carol@example.com"))
    ),
    T + "qmgr[3]: 1B6: removed",
    T + "qmgr[3]: 1C6: removed",
]


def amavis_split() -> list[bytes]:
    """AMAVIS_TWO's message to 40 more recipients elsewhere: amavis splits its verdict
    in two syslog lines (Amavis/Log.pm write_log, $logline_maxlen 980: each piece
    starts "(LOGID) ", the first ends "...", the second goes on after "..."), another
    child's line between them.  The reference joins them (the compiled parser
    declines both)."""
    lines = [line.format(6) for line in AMAVIS_TWO]
    k = next(i for i, ln in enumerate(lines) if " amavis[" in ln)
    head, msg = lines[k].split(": ", 1)
    others = ",".join(f"<member{i:02d}@lists.else.example>" for i in range(40))
    msg = msg.replace("<carol@example.com>,", f"<carol@example.com>,{others},")
    am = msg[: msg.index(") ") + 2]
    pieces = [
        f"{head}: {msg[:977]}...",
        "2026-01-10T10:00:06+00:00 mx amavis[6]: (00006-01) Checking: x",
        f"{head}: {am}...{msg[977:]}",
    ]
    assert len(pieces[0]) - len(head) - 2 == 980
    return [ln.encode() for ln in lines[:k] + pieces + lines[k + 1 :]]


# Lines as files really hold them, with what the line splitter must get right.
ODD_LINES: dict[str, list[bytes]] = {
    "crlf": [line + b"\r" for line in inbound(1)],
    "blank and whitespace": [b"", b"   ", b"\t\x0b\x0c", b"\x1c\x1d\x1e\x1f", *inbound(2)],
    "non-ascii": [
        *inbound(3),
        "2026-01-10T10:00:09+00:00 mx dovecot: imap-login: Login: user=<jörg@example.com>, "
        "method=PLAIN, rip=203.0.113.9, lip=192.0.2.1, mpid=1, TLS".encode(),
        b"\xff\xfe garbage \xc3",
        "\u00a0\u2003".encode(),  # whitespace only, but not ASCII whitespace
    ],
    "lone cr and nul": [b"abc\rdef", b"\x00\x00", b"2026-01-10T10:00:01+00:00 mx \x00: x"],
    "exim": [line.encode() for line in EXIM],
    # rspamd's JSON log: escaped (read in C), non-ASCII raw and escaped (left to Python)
    "rspamd json, amavis's several queued_as": [
        rspamd_json(7, "1A7", '\\"x y\\"@example.net'),  # (the milter: before the queue)
        *inbound(7),
        rspamd_json(8, "1A8", "jörg@example.net"),
        *inbound(8),
        rspamd_json(9, "1A9", "j\\u00f6rg@example.net"),
        *inbound(9),
        rspamd_json(10, "1A10", "x@example.net")[:-30],  # cut: no message 1A10
        *(line.format(6).encode() for line in AMAVIS_TWO),
    ],
    "amavis's split verdict": amavis_split(),
    "unknown programs": [
        b"2026-01-10T10:00:01+00:00 mx sshd[9]: Accepted publickey for root",
        b"2026-01-10T10:00:02+00:00 mx sshd[9]: Accepted publickey for bob",
        b"not a log line at all",
        *inbound(4),
    ],
}


@pytest.mark.parametrize("case", ODD_LINES)
@pytest.mark.parametrize("newline_at_end", [True, False])
def test_odd_lines_are_split_and_reported_alike(tmp_path, case, newline_at_end) -> None:
    data = b"\n".join(ODD_LINES[case]) + (b"\n" if newline_at_end else b"")
    log = tmp_path / "mail.log"
    log.write_bytes(data)
    results = {}
    for compiled in (False, True):
        with open_store(f"sqlite:///{tmp_path / f'{compiled}.sqlite3'}") as store:
            build_tree(store)
            ing = Ingester(store, UTC, compiled=compiled)
            src = ing.open_source(str(log))
            assert src is not None
            ing.read(src, final=True)
            ing.commit()
            src.close()
            results[compiled] = outcome(store, ing.report)
    assert results[True] == results[False]
    if case.startswith("rspamd json"):
        # bob: 1A7, 1A8 and 1A9, and his copy of 1A6; carol: hers; each once, all spam
        with open_store(f"sqlite:///{tmp_path / 'True.sqlite3'}") as store, store.read() as q:
            got = q.conn.execute(
                "SELECT scope_id, messages_in_spam, messages_in_ham, messages_in_size "
                "FROM flows WHERE scope = 'u' AND kind = 0 ORDER BY scope_id"
            ).fetchall()
        assert [tuple(r) for r in got] == [(1, 4, 0, 0), (3, 1, 0, 0)]  # (in_size: ham only)
    if case == "amavis's split verdict":
        # the verdict's two pieces joined: bob's and carol's copies spam, each once
        with open_store(f"sqlite:///{tmp_path / 'True.sqlite3'}") as store, store.read() as q:
            got = q.conn.execute(
                "SELECT scope_id, messages_in_spam, messages_in_ham "
                "FROM flows WHERE scope = 'u' AND kind = 0 ORDER BY scope_id"
            ).fetchall()
        assert [tuple(r) for r in got] == [(1, 1, 0), (3, 1, 0)]
        assert results[True]["report"][-1] == {}
    if case == "exim":
        # both paths counted it: receipts, spam, a submission, denials; one line not read
        assert results[True]["rows"]["flows"]
        assert results[True]["report"][-1]
