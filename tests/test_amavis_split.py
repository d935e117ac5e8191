"""amavis's long entries, split by amavis into several syslog lines, are joined.

amavisd-new's ``write_log`` (the monolithic amavisd of 2.11/2.12, ``Amavis/Log.pm``
of 2.13.0 as Debian 12 ships it; read in their sources, the same rule in each)
writes an entry through syslog in pieces when ``"(LOGID) "`` + alert mark + text is
longer than ``$logline_maxlen`` (980 by default, at least 50): every piece starts
with the same ``"(LOGID) "`` + mark and carries the same ``amavis[PID]:`` tag (one
process's ``syslog()`` calls, one right after the other); each but the last is
exactly ``$logline_maxlen`` long and ends in ``"..."``; each but the first has
``"..."`` right after the prefix; the cut falls at that length, anywhere.
:func:`split` below writes pieces by that rule (our own code, from the rule).

A verdict of a message to many recipients is such an entry: its first piece holds
the verdict, its last the ``Queue-ID`` and ``queued_as``.  Each table goes through
the reference parser and through the compiled one (which hands every piece back
to the reference: the one state of the source), and must give the same records.
"""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from mailtally.ingest import LineParser, _fastlog
from mailtally.ingest.files import Ingester
from mailtally.ingest.parsers import (
    AMAVIS_ENTRY,
    AMAVIS_PENDING,
    FilterBlocked,
    Reinjected,
    SpamVerdict,
)
from mailtally.ingest.parsers.families import AMAVIS_VERDICT
from mailtally.periods import Periods
from mailtally.store import open_store
from test_ingest_files import build_tree

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))
UTC = Periods("UTC")


def split(entry: str, size: int = 980, mark: str = "") -> list[str]:
    """The syslog messages amavis writes for ``entry`` (``"(LOGID) text"``), by
    ``write_log``'s rule with ``$logline_maxlen = size``; ``mark``: the alert mark."""
    am = entry[: entry.index(") ") + 2]
    text = entry[len(am) :]
    pieces = []
    pre = mark
    while len(am) + len(pre) + len(text) > size:
        avail = size - len(am) - len(pre) - 3
        pieces.append(am + pre + text[:avail] + "...")
        pre = mark + "..."
        text = text[avail:]
    pieces.append(am + pre + text)
    return pieces


def rcpts(n: int, domain: str = "lists.example.org") -> str:
    return ",".join(f"<member{i:03d}@{domain}>" for i in range(n))


def verdict(
    logid: str = "03260-98",
    n: int = 40,
    category: str = "SPAM",
    qid: str = "5kKn3y1jkjzwMkc",
    queued_as: str = "5kKn411jklzwV4M",
    message_id: str = "<51013ff6743b.216887@winner-mail.example.biz>",
    sender: str = "<promo4148@winner-mail.example.biz>",
) -> str:
    """A ``Passed`` entry of amavis 2.13's default template, to ``n`` recipients."""
    return (
        f"({logid}) Passed {category} {{RelayedTaggedInbound}}, [185.220.101.131]:16645 "
        f"[185.220.101.131] {sender} -> {rcpts(n)}, Queue-ID: {qid}, "
        f"Message-ID: {message_id}, mail_id: ccec0b033fe5, Hits: 8.232, size: 11724, "
        f"queued_as: {queued_as}, 1534 ms"
    )


def line(msg: str, pid: int = 3260, host: str = "mx", sec: int = 1) -> str:
    return f"2026-11-28T10:00:{sec:02d}.134217+00:00 {host} amavis[{pid}]: {msg}"


SPAM_RECS = (
    SpamVerdict("5kKn3y1jkjzwMkc", "spam", "amavis"),
    Reinjected("5kKn3y1jkjzwMkc", "5kKn411jklzwV4M"),
    SpamVerdict("5kKn411jklzwV4M", "spam", "amavis"),
)


def feed(lines: list[str], compiled: bool) -> tuple[list[tuple[str, tuple]], int, list[str]]:
    """Each line through one source's parser, as files.Ingester reads it: the compiled
    parser first (when ``compiled``), the reference for the lines it declines.
    Returns (status, records) of every line, the lines given up (counted by the
    reader as not understood, the source done), and the families of the lines not
    understood."""
    py = LineParser(reference=REF)
    fast = _fastlog.Parser(py.stamps) if compiled else None
    out = []
    families = []
    for ln in lines:
        r = fast.parse(ln) if fast is not None else None
        if r is None:
            r = py.parse(ln)
        out.append((r.status, r.records))
        if r.status == "unknown":
            families.append(r.family)
    py.flush()
    return out, py.dropped, families


def records(lines: list[str]) -> tuple[tuple, int, list[str]]:
    """All records of ``lines``, the lines given up and the families not understood,
    after checking the compiled route gives the same."""
    py = feed(lines, False)
    assert feed(lines, True) == py
    got, dropped, families = py
    return tuple(r for _, recs in got for r in recs), dropped, families


def whole(entry: str) -> tuple:
    """The records of ``entry`` written on one line (no split)."""
    r = LineParser(reference=REF).parse(line(entry))
    return r.records


# -- the rule's pieces ---------------------------------------------------------------------


def test_split_writes_pieces_as_amavis_does() -> None:
    pieces = split(verdict(n=80))
    assert len(pieces) == 3
    assert all(len(p) == 980 for p in pieces[:-1]) and len(pieces[-1]) <= 980
    assert all(p.startswith("(03260-98) ") for p in pieces)
    assert all(p.endswith("...") for p in pieces[:-1])
    assert all(p.startswith("(03260-98) ...") for p in pieces[1:])
    assert not pieces[0].startswith("(03260-98) ...")
    assert "".join(
        [pieces[0][:-3]] + [p[14:-3] for p in pieces[1:-1]] + [pieces[-1][14:]]
    ) == verdict(n=80)


# -- tables: split entries and what they give -----------------------------------------------

TWO = split(verdict(n=40))
THREE = split(verdict(n=80))
OTHER = split(verdict(logid="03261-07", n=40, qid="6AAA", queued_as="6BBB", category="CLEAN"))
OTHER_RECS = (
    SpamVerdict("6AAA", "ham", "amavis"),
    Reinjected("6AAA", "6BBB"),
    SpamVerdict("6BBB", "ham", "amavis"),
)
POSTFIX = "2026-11-28T10:00:01.2+00:00 mx postfix/smtpd[9]: connect from x[198.51.100.7]"

JOINED: dict[str, tuple[list[str], tuple]] = {
    "two pieces": ([line(p) for p in TWO], SPAM_RECS),
    "three pieces": ([line(p) for p in THREE], SPAM_RECS),
    "four pieces": ([line(p) for p in split(verdict(n=80), size=700)], SPAM_RECS),
    "logline_maxlen 50 (amavis's least)": (
        [line(p) for p in split(verdict(n=3), size=50)],
        SPAM_RECS,
    ),
    "classic stamps": (
        [f"Nov 28 10:00:01 mx amavis[3260]: {p}" for p in TWO],
        SPAM_RECS,
    ),
    "another child's pieces and a postfix line between": (
        [
            line(TWO[0]),
            line(OTHER[0], pid=3261),
            POSTFIX,
            line(TWO[1]),
            line(OTHER[1], pid=3261),
        ],
        SPAM_RECS + OTHER_RECS,
    ),
    "the same log id on another host, between": (
        [
            line(TWO[0]),
            line(TWO[0], host="mx2"),
            line(TWO[1], host="mx2"),
            line(TWO[1]),
        ],
        SPAM_RECS + SPAM_RECS,
    ),
    "a whole entry after one joined": (
        [line(p) for p in TWO] + [line(verdict(logid="03260-99", n=2))],
        SPAM_RECS + SPAM_RECS,
    ),
    "several queued_as on the last piece": (
        [line(p) for p in split(verdict(n=40, queued_as="5B1/5C2/5D3"))],
        whole(verdict(n=40, queued_as="5B1/5C2/5D3")),
    ),
    "cut inside queued_as": (
        [
            line(p)
            for p in split(
                verdict(n=40, queued_as="5B1/5C2/5D3"),
                size=verdict(n=40).index("queued_as: ") + 11 + 5 + 3,
            )
        ],
        whole(verdict(n=40, queued_as="5B1/5C2/5D3")),
    ),
}


@pytest.mark.parametrize("case", JOINED)
def test_split_entries_are_read_whole(case: str) -> None:
    lines, want = JOINED[case]
    got, dropped, families = records(lines)
    assert got == want
    assert dropped == 0 and families == []


def test_a_split_blocked_entry_names_every_recipient() -> None:
    entry = (
        "(03260-12) Blocked SPAM {DiscardedInbound,Quarantined}, [203.0.113.9]:4000 "
        f"[203.0.113.9] <a@b.example> -> {rcpts(70)}, quarantine: spam-xyz.gz, "
        "Queue-ID: 4ABC, Message-ID: <m@x>, mail_id: xyz, Hits: 12.1, size: 2345, 2345 ms"
    )
    got, dropped, _ = records([line(p) for p in split(entry)])
    assert len(split(entry)) == 3 and dropped == 0
    assert got == whole(entry)
    (fb,) = got
    assert isinstance(fb, FilterBlocked) and fb.qid == "4ABC" and len(fb.recipients) == 70
    assert fb.recipients[-1] == "member069@lists.example.org"


def test_the_first_piece_alone_counts_nothing_until_the_last() -> None:
    out, _, _ = feed([line(p) for p in THREE], False)
    assert [s for s, _ in out] == ["ignored", "ignored", "ok"]
    assert out[-1][1] == SPAM_RECS


def test_a_long_entry_of_no_verdict_is_joined_and_ignored() -> None:
    """A warning (alert mark ``(!)``) and a log level 2 line, split: nothing to count,
    nothing given up."""
    warn = "(03260-98) TROUBLE in check_mail: " + "x" * 2000
    info = "(03260-98) SA info: " + ", ".join(f"RULE_{i}=1.0" for i in range(200))
    lines = [line(p) for p in split(warn, mark="(!)")] + [line(p) for p in split(info)]
    assert split(warn, mark="(!)")[1].startswith("(03260-98) (!)...")
    out, dropped, families = feed(lines, False)
    assert all(s == "ignored" for s, _ in out)
    assert dropped == 0 and families == []
    assert feed(lines, True) == (out, dropped, families)


# -- what is not joined, and is reported ----------------------------------------------------

REPORTED: dict[str, tuple[list[str], tuple, int, int]] = {
    # lines, records, lines given up (not understood when the source is done),
    # lines not understood as read (family amavis verdict)
    "a continuation that never comes": ([line(TWO[0])], (), 1, 0),
    "a continuation that never comes, of three": ([line(p) for p in THREE[:2]], (), 2, 0),
    "a continuation without its first piece": ([line(TWO[1])], (), 0, 1),
    "a middle and a last piece without the first": ([line(p) for p in THREE[1:]], (), 0, 1),
    "another log id's continuation joins nothing": (
        [line(TWO[0]), line(OTHER[1].replace("(03261-07)", "(03260-99)"))],
        (),
        1,
        1,
    ),
    "another process's continuation joins nothing": (
        [line(TWO[0]), line(TWO[1], pid=3261)],
        (),
        1,
        1,
    ),
    "another host's continuation joins nothing": (
        [line(TWO[0]), line(TWO[1], host="mx2")],
        (),
        1,
        1,
    ),
    "a second first piece gives up the first": (
        [line(TWO[0]), line(TWO[0]), line(TWO[1])],
        SPAM_RECS,
        1,
        0,
    ),
    "a continuation too late": (
        [line(TWO[0], sec=1), line(OTHER[0], pid=3261, sec=59), line(TWO[1], sec=59)],
        (),
        2,
        1,
    ),
}


@pytest.mark.parametrize("case", REPORTED)
def test_pieces_not_joined_are_reported(case: str) -> None:
    lines, want, given_up, unknown = REPORTED[case]
    # (the last case: 1:01 past the first piece is over AMAVIS_WAIT)
    if case == "a continuation too late":
        lines = [lines[0].replace("10:00:01", "09:58:58"), *lines[1:]]
    got, dropped, families = records(lines)
    assert got == want
    assert dropped == given_up
    assert families == [AMAVIS_VERDICT] * unknown


# -- forgeries: a sender's text joins nothing to another message's entry --------------------


def test_a_sender_cannot_aim_the_cut_at_a_forged_queue_id() -> None:
    """Session 14's review: a Message-ID long enough to put the cut right after a forged
    ``Queue-ID: 4VICTIM, Hits: 1`` or ``queued_as: 4VICTIM/`` made the first piece
    read the forged id.  The joined entry is read by the whole line's rules."""
    for forged in (", Queue-ID: 4VICTIM, Hits: 1", ", queued_as: 4VICTIM/4V2"):
        pad = "a" * 300
        mid = f"<{pad}{forged}"
        entry = verdict(n=20, message_id=mid + "@evil.example>")
        cut = entry.index(forged) + len(forged) + len("...")
        pieces = split(entry, size=cut)
        assert pieces[0].endswith(forged + "...")
        got, dropped, families = records([line(p) for p in pieces])
        assert got == whole(entry)
        assert "4VICTIM" not in repr(got) and "4V2" not in repr(got)
        assert dropped == 0 and families == []


@pytest.mark.parametrize(
    "sender",
    [
        '<"x..."@evil.example>',
        '<"x) ...y"@evil.example>',
        '<"(03260-97) ...Queue-ID: 4VICTIM, queued_as: 4V2, 3 ms"@evil.example>',
    ],
)
def test_dots_in_a_senders_text_make_no_piece(sender: str) -> None:
    """Dots in an address or Message-ID are inside a line: the entry is whole."""
    entry = verdict(n=2, sender=sender, message_id="<m...@x>")
    got, dropped, families = records([line(entry)])
    assert got == whole(entry) == SPAM_RECS
    assert dropped == 0 and families == []


def test_a_forged_continuation_in_another_entry_joins_nothing() -> None:
    """A message whose own (whole) entry's text holds a continuation's shape, between a
    first piece and its continuation of another message of the same child."""
    forged = verdict(
        logid="03260-97", n=1, sender='<"(03260-98) ...>, Queue-ID: 4VICTIM"@evil.example>'
    )
    got, dropped, families = records([line(TWO[0]), line(forged), line(TWO[1])])
    assert got == whole(forged) + SPAM_RECS
    assert "4VICTIM" not in repr(got)
    assert dropped == 0 and families == []


def test_a_log_id_over_the_bound_is_read_as_a_line() -> None:
    """No amavis log id is that long: the line is read alone, as before."""
    entry = "(" + "9" * 70 + ") Passed SPAM {x}, <a@b> -> <c@d>, Queue-ID: 4A..."
    got, dropped, families = records([line(entry)])
    assert got == (SpamVerdict("4A", "spam", "amavis"),)
    assert dropped == 0 and families == []


# -- bounds ---------------------------------------------------------------------------------


def test_at_most_amavis_pending_entries_wait() -> None:
    firsts = [line(split(verdict(logid=f"{p:05d}-01"))[0], pid=p) for p in range(1, 1001)]
    py = LineParser(reference=REF)
    for ln in firsts:
        py.parse(ln)
    assert len(py._parts) == AMAVIS_PENDING
    assert py.dropped == 1000 - AMAVIS_PENDING
    # the newest still join
    last = line(split(verdict(logid="01000-01"))[1], pid=1000)
    assert py.parse(last).records == SPAM_RECS


def test_an_entry_over_amavis_entry_characters_is_given_up() -> None:
    pieces = split(verdict(n=3000))
    assert sum(len(p) for p in pieces) > AMAVIS_ENTRY
    got, dropped, families = records([line(p) for p in pieces])
    assert got == ()
    # given up at the piece that passed the bound (each piece's text counted: the
    # first's with its "(LOGID) ", the others' without it and their dots)
    size, i = len(pieces[0]) - 3, 0
    while size <= AMAVIS_ENTRY:
        i += 1
        size += len(pieces[i]) - len("(03260-98) ......")
    assert dropped == i + 1
    assert families == [AMAVIS_VERDICT]  # the last piece: a verdict's fields


# -- the ingest: report, both hot loops, the stored counts ----------------------------------

T = "2026-01-10T10:00:01+00:00 mx postfix/"
#: a message from a list to bob, carol and 40 others (elsewhere): amavis passes it as
#: SPAM (one split entry) and re-injects it as 1B6, delivered to bob and carol
LIST_MESSAGE = [
    T + "smtpd[1]: 1A6: client=lists.example.org[198.51.100.7]",
    T + "qmgr[3]: 1A6: from=<list@lists.example.org>, size=1200, nrcpt=42 (queue active)",
    T + "smtpd[1]: 1B6: client=localhost[127.0.0.1]",
    T + "qmgr[3]: 1B6: from=<list@lists.example.org>, size=1900, nrcpt=42 (queue active)",
    *(
        "2026-01-10T10:00:01+00:00 mx amavis[5]: " + p
        for p in split(
            "(00005-01) Passed SPAM {RelayedTaggedInbound}, [198.51.100.7]:4 [198.51.100.7] "
            f"<list@lists.example.org> -> <bob@example.com>,{rcpts(40, 'else.example')},"
            "<carol@example.com>, Queue-ID: 1A6, Message-ID: <m1@lists.example.org>, "
            "mail_id: xyz, Hits: 9.1, size: 1200, queued_as: 1B6, 99 ms"
        )
    ),
    *(
        T + f"smtp[6]: 1A6: to=<{to}>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, "
        "delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): "
        "250 2.0.0 Ok: queued as 1B6)"
        for to in ("bob@example.com", "carol@example.com")
    ),
    T + "qmgr[3]: 1A6: removed",
    *(
        T + f"lmtp[4]: 1B6: to=<{to}>, relay=mail[private/dovecot-lmtp], delay=0.1, "
        f"delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 <{to}> Saved)"
        for to in ("bob@example.com", "carol@example.com")
    ),
    T + "qmgr[3]: 1B6: removed",
]


def flows(store) -> list[tuple]:
    with store.read() as q:
        rows = q.conn.execute(
            "SELECT scope_id, messages_in_spam, messages_in_ham, messages_in_size "
            "FROM flows WHERE scope = 'u' AND kind = 0 ORDER BY scope_id"
        ).fetchall()
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_a_list_message_split_by_amavis_is_counted_as_spam(
    store_url: str, tmp_path: Path, compiled: bool
) -> None:
    """End to end, on each backend and hot loop: bob's and carol's copies are spam
    (before, the verdict's first piece had no Queue-ID and the last no verdict: ham)."""
    assert sum(1 for ln in LIST_MESSAGE if "amavis[" in ln) == 2
    log = tmp_path / "mail.log"
    log.write_text("\n".join(LIST_MESSAGE) + "\n")
    with open_store(store_url) as store:
        build_tree(store)
        report = Ingester(store, UTC, compiled=compiled).ingest([str(log)])
        assert report.unknown == {}
        assert report.lines == len(LIST_MESSAGE)
        got = flows(store)
    # bob (1) and carol (3): one spam message each (in_size counts ham only)
    assert got == [(1, 1, 0, 0), (3, 1, 0, 0)]


def runs(tmp_path: Path, contents: list[bytes]) -> list[tuple]:
    """For each hot loop, a fresh store and ``mail.log`` written with each of
    ``contents`` in turn (each the one before and more), ingested after each: the
    (lines, ignored lines, not understood) of every run, the same for both loops."""
    log = tmp_path / "mail.log"
    out: dict[bool, list[tuple]] = {}
    for compiled in (True, False):
        with open_store(f"sqlite:///{tmp_path / f'{compiled}.sqlite3'}") as store:
            build_tree(store)
            out[compiled] = []
            for data in contents:
                log.write_bytes(data)
                rep = Ingester(store, UTC, compiled=compiled).ingest([str(log)])
                out[compiled].append((rep.lines, rep.ignored_lines, rep.unknown))
    assert out[True] == out[False]
    return out[True]


def test_a_piece_left_at_a_files_end_is_reported_by_both_loops(tmp_path: Path) -> None:
    """The first piece ends the file read (its continuation not written yet): it is
    counted as not understood when the run is done, as the rest, read by the next
    run, is; both hot loops report alike."""
    first = LIST_MESSAGE[:5]
    assert "amavis[" in first[-1]
    (lines, ignored, unknown), (lines2, _, unknown2) = runs(
        tmp_path,
        [("\n".join(first) + "\n").encode(), ("\n".join(LIST_MESSAGE) + "\n").encode()],
    )
    # the first piece: read as ignored, then given up (not understood) at the end
    assert lines == 5 and ignored == 0 and unknown[AMAVIS_VERDICT][0] == 1
    assert unknown[AMAVIS_VERDICT][1].startswith(
        "2026-01-10T10:00:01+00:00 mx amavis[5]: (00005-01) Passed SPAM"
    )
    assert lines2 == len(LIST_MESSAGE) - 5
    assert unknown2 == {AMAVIS_VERDICT: [1, unknown2[AMAVIS_VERDICT][1]]}


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_pieces_parted_by_a_rotation_join_in_one_run(tmp_path: Path, compiled: bool) -> None:
    """The head ends mail.log.1, the rest starts mail.log (syslog reopened its file
    between two of amavis's syslog() calls): read in one run, oldest first, they
    join; newest first, both are reported."""
    (tmp_path / "mail.log.1").write_text("\n".join(LIST_MESSAGE[:5]) + "\n")
    (tmp_path / "mail.log").write_text("\n".join(LIST_MESSAGE[5:]) + "\n")
    for order, spam, unknown in (
        (["mail.log.1", "mail.log"], [(1, 1, 0), (3, 1, 0)], 0),
        (["mail.log", "mail.log.1"], [(1, 0, 1), (3, 0, 1)], 2),
    ):
        with open_store(f"sqlite:///{tmp_path / f'{order[0]}.sqlite3'}") as store:
            build_tree(store)
            ing = Ingester(store, UTC, compiled=compiled)
            rep = ing.ingest([str(tmp_path / f) for f in order])
            assert rep.unknown_lines == unknown
            # (user, in_spam, in_ham): newest first, the verdict is lost, the copies ham
            assert [r[:3] for r in flows(store)] == spam


def test_a_followed_files_new_parser_keeps_the_waiting_piece(tmp_path: Path) -> None:
    """Following a log, the source's parser is replaced now and then (a new year's
    reference, files.Ingester._poll): what waited is carried over."""
    log = tmp_path / "mail.log"
    log.write_text("\n".join(LIST_MESSAGE[:5]) + "\n")
    with open_store(f"sqlite:///{tmp_path / 's.sqlite3'}") as store:
        build_tree(store)
        ing = Ingester(store, UTC)
        src = ing.open_source(str(log))
        assert src is not None
        ing.read(src)
        with open(log, "a") as f:
            f.write("\n".join(LIST_MESSAGE[5:]) + "\n")
        src.set_parser(src.parser.stamps.reference + 3600, UTC.zone, ing.compiled)
        ing.read(src)
        ing.commit()
        ing._close(src)
        assert ing.report.unknown == {}
        assert flows(store) == [(1, 1, 0, 0), (3, 1, 0, 0)]


def test_a_utf8_sequence_cut_between_pieces_reads_alike(tmp_path: Path) -> None:
    """amavis counts octets: a cut may fall inside a UTF-8 sequence of an address;
    both hot loops read the file alike (the reference decodes each line)."""
    entry = verdict(n=40).replace("<member010@", "<jörg€010@")
    raw = entry.encode()
    cut = raw.index("€".encode()) + 1 + 3  # inside the 3-byte sequence
    pieces = []
    am = b"(03260-98) "
    rest = raw[len(am) :]
    avail = cut - len(am) - 3
    pieces.append(am + rest[:avail] + b"...")
    pieces.append(am + b"..." + rest[avail:])
    data = b"".join(b"2026-01-10T10:00:01+00:00 mx amavis[5]: " + p + b"\n" for p in pieces)
    assert runs(tmp_path, [data]) == [(2, 1, {})]
