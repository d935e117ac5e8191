"""Hostile files (issue 7): over-long lines, a file without a newline, gz bombs.

A line over ``MAX_LINE`` bytes is counted as read and not understood (under
``LONG_LINE`` in the report) without being parsed or kept; a file or report is
never held whole in memory.  Every test runs on both hot loops (compiled and
pure Python), and one compares the two runs' outcome exactly.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtally.ingest import files
from mailtally.ingest.files import LONG_LINE, MAX_LINE, Ingester
from mailtally.ingest.join import MAX_HELD_RECIPIENTS
from mailtally.ingest.stamps import MAX_ADDRESS
from mailtally.store import Store, open_store
from test_ingest_files import (
    T0,
    UTC,
    build_tree,
    expected,
    ingest,
    totals,
    traffic,
    write,
)

pytestmark = pytest.mark.usefixtures("ingest_mode")


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "ingest.sqlite3"
    with open_store(f"sqlite:///{path}") as s:
        build_tree(s)
    return path


@pytest.fixture
def store(store_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{store_path}") as s:
        yield s


def long_line(n: int, fill: str = "x") -> str:
    """A syslog line of ``n`` bytes (``fill`` of one byte, or a 2-byte é)."""
    head = "Jan 10 08:00:00 mx postfix/smtpd[1]: 4ABC: reject: RCPT from x[1.2.3.4]: 554 to=<"
    body = n - len(head.encode())
    return head + fill * (body // len(fill.encode())) + "x" * (body % len(fill.encode()))


@pytest.mark.parametrize("chunk", [files.CHUNK, 40_000, 4096])
def test_a_line_over_the_limit_is_counted_as_not_understood(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(files, "CHUNK", chunk)
    good = traffic(300, seed=3)
    hostile = [
        long_line(MAX_LINE + 1),
        long_line(3 * MAX_LINE, "é"),
        long_line(200_000, "<"),
        long_line(MAX_LINE),  # at the limit: parsed (not understood: to= is over MAX_ADDRESS)
    ]
    lines = good[:100] + hostile[:2] + good[100:200] + hostile[2:] + good[200:]
    log = tmp_path / "mail.log"
    write(log, lines)
    rep = ingest(store, log)
    assert totals(store) == expected(good)
    assert rep.lines == len(lines)
    assert rep.long_lines == 3
    assert rep.unknown[LONG_LINE][0] == 3
    assert rep.unknown[LONG_LINE][1] == hostile[0][:300]
    assert not rep.damaged
    # nothing is read twice
    rep = ingest(store, log)
    assert rep.lines == 0 and totals(store) == expected(good)


def test_a_file_without_a_newline_is_bounded_and_reported(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    good = traffic(50, seed=4)
    write(log, good)
    with open(log, "ab") as f:
        for _ in range(8):
            f.write(b"A" * (1 << 20))
    ing = Ingester(store, UTC)
    src = ing.open_source(str(log))
    assert src is not None
    ing.read(src, max_lines=10**9)
    assert len(src.buffer) == 0 and src.skipping and src.skipped == 8 << 20
    ing.read(src)
    assert "without its newline" in ing.report.damaged[str(log)]
    ing.commit()
    src.close()
    assert totals(store) == expected(good)
    # the writer ends the line: it is counted once, as not understood
    with open(log, "ab") as f:
        f.write(b"\n")
    write(log, traffic(5, start=T0 + 1000, seed=5), mode="a")
    rep = ingest(store, log)
    assert rep.lines == 1 + len(traffic(5, start=T0 + 1000, seed=5))
    assert rep.long_lines == 1 and not rep.damaged
    assert totals(store) == expected(good + traffic(5, start=T0 + 1000, seed=5))


def test_the_compiled_and_python_loops_report_hostile_lines_alike(
    store_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = traffic(200, seed=6)
    lines = [*good[:50], long_line(MAX_LINE + 1, "é"), "\x00" * 100, *good[50:], "é" * 30_000]
    log = tmp_path / "mail.log"
    write(log, lines)
    outcomes = []
    for compiled in (True, False):
        copy = tmp_path / f"{compiled}.sqlite3"
        copy.write_bytes(store_path.read_bytes())
        with open_store(f"sqlite:///{copy}") as s:
            rep = Ingester(s, UTC, compiled=compiled).ingest([str(log)])
            outcomes.append((rep.lines, rep.long_lines, rep.unknown, rep.ignored_lines, totals(s)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] == 1


def test_long_addresses_and_many_recipients_are_reported_alike_by_both_loops(
    store_path: Path,
    tmp_path: Path,
) -> None:
    """Deliveries with an address over MAX_ADDRESS are lines not understood (under their
    program, with a sample), and deliveries of one message past MAX_HELD_RECIPIENTS are
    dropped and counted, the same in the compiled and the pure-Python loop."""
    good = traffic(100, seed=8)
    relay = "relay=mx[127.0.0.1]:24, delay=1, dsn=2.0.0, status=sent (250 2.0.0 ok)"
    long_to = "x" * MAX_ADDRESS + "@example.com"
    hostile = [
        f"Jan 10 08:00:0{i % 10} mx postfix/lmtp[1]: 9F00{i:02d}: to=<{long_to}>, {relay}"
        for i in range(5)
    ] + [
        f"Jan 10 08:00:10 mx postfix/lmtp[1]: 9FFF: to=<r{i}@example.com>, {relay}"
        for i in range(MAX_HELD_RECIPIENTS + 7)
    ]
    log = tmp_path / "mail.log"
    write(log, good[:50] + hostile + good[50:])
    outcomes = []
    for compiled in (True, False):
        copy = tmp_path / f"{compiled}.sqlite3"
        copy.write_bytes(store_path.read_bytes())
        with open_store(f"sqlite:///{copy}") as s:
            rep = Ingester(s, UTC, compiled=compiled).ingest([str(log)])
            outcomes.append(
                (rep.lines, rep.unknown, rep.dropped_recipients, rep.ignored_lines, totals(s))
            )
    assert outcomes[0] == outcomes[1]
    n_lines, unknown, dropped, _, counted = outcomes[0]
    assert n_lines == len(good) + len(hostile)
    assert unknown == {"postfix/lmtp": [5, hostile[0][:300]]}
    assert dropped == 7
    assert counted == expected(good)  # (9FFF's recipients are not in the tree)


def test_lines_of_ever_new_programs_keep_the_report_small(
    store_path: Path,
    tmp_path: Path,
) -> None:
    """`logger -t X$RANDOM`: the report groups lines not understood by program, at most
    UNKNOWN_PROGRAMS of them, the rest together; alike in both loops."""
    good = traffic(50, seed=8)
    noise = [f"Jan 10 08:00:0{i % 10} mx p{i}x[1]: hello {i}" for i in range(3000)]
    noise += [f"Jan 10 08:00:00 mx p{i}é[1]: hello" for i in range(300)]  # (Python-parsed)
    log = tmp_path / "mail.log"
    write(log, good[:20] + noise + good[20:])
    outcomes = []
    for compiled in (True, False):
        copy = tmp_path / f"{compiled}.sqlite3"
        copy.write_bytes(store_path.read_bytes())
        with open_store(f"sqlite:///{copy}") as s:
            rep = Ingester(s, UTC, compiled=compiled).ingest([str(log)])
            assert totals(s) == expected(good)
        assert len(rep.unknown) == files.UNKNOWN_PROGRAMS + 1
        assert rep.unknown[files.OTHER_PROGRAMS][0] == len(noise) - files.UNKNOWN_PROGRAMS
        assert rep.unknown_lines == len(noise)
        outcomes.append(rep.unknown)
    assert outcomes[0] == outcomes[1]


# -- the framing of lines, against a model ------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(st.integers(0, 70), st.sampled_from([b"\n", b"\r\n", b""])),
        max_size=12,
    ),
    st.integers(1, 50),
    st.booleans(),
)
def test_lines_are_framed_and_cut_as_the_model_says(
    tmp_path_factory: pytest.TempPathFactory,
    ingest_mode: str,
    parts: list[tuple[int, bytes]],
    chunk: int,
    final: bool,
) -> None:
    """Tiny limits, tiny chunks: every line boundary falls everywhere."""
    mp = pytest.MonkeyPatch()
    mp.setattr(files, "MAX_LINE", 32)
    mp.setattr(files, "_WINDOW", 16)
    mp.setattr(files, "CHUNK", chunk)
    try:
        d = tmp_path_factory.mktemp("framing")
        with open_store(f"sqlite:///{d / 's.sqlite3'}") as s:
            data = b"".join(b"z" * n + end for n, end in parts) + b"z"
            path = d / "f.log"
            path.write_bytes(data)
            ing = Ingester(s, UTC)
            seen: list[bytes] = []
            real = ing._lines

            def spy(src: Any, chunk_data: Any) -> int:
                seen.extend(bytes(chunk_data).splitlines(keepends=True))
                return real(src, chunk_data)

            ing._lines = spy  # type: ignore[method-assign]
            src = ing.open_source(str(path))
            assert src is not None
            ing.read(src, final=final, max_lines=10**9)
            # the model: split on "\n"; the last piece is a line only when final
            pieces = data.split(b"\n")
            whole = [p + b"\n" for p in pieces[:-1]] + ([pieces[-1]] if final else [])
            assert seen == [p for p in whole if len(p.rstrip(b"\n")) <= 32]
            assert ing.report.long_lines == sum(len(p.rstrip(b"\n")) > 32 for p in whole)
            assert ing.report.lines == len(whole)
            assert src.position == sum(len(p) for p in whole)
            assert len(src.buffer) <= 32
            src.close()
    finally:
        mp.undo()


# -- memory: in a child process, its peak RSS its own ---------------------------------------------

CHILD = """
import json, resource, sys, time
from mailtally.ingest.files import Ingester
from mailtally.periods import Periods
from mailtally.store import open_store
store = open_store(sys.argv[1])
ing = Ingester(store, Periods("UTC"))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
rep = ing.ingest(sys.argv[2:])
took = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grew_mb": (peak - base) / 1024, "peak_mb": peak / 1024, "s": took,
                  "lines": rep.lines, "long": rep.long_lines, "damaged": rep.damaged}))
"""


def run_child(store_path: Path, *paths: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, f"sqlite:///{store_path}", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def nul_bomb(path: Path, mib: int, head: bytes = b"", newline_every: int = 0) -> Path:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    if newline_every:
        block = (b"\0" * (newline_every - 1) + b"\n") * ((1 << 20) // newline_every)
    with open(path, "wb") as f:
        f.write(c.compress(head))
        for _ in range(mib):
            f.write(c.compress(block))
        f.write(c.flush())
    return path


def test_a_gz_bomb_of_nuls_costs_bounded_memory(store_path: Path, tmp_path: Path) -> None:
    """128 MiB of NULs without a newline: held whole before (RSS +256 MB), now skipped."""
    bomb = nul_bomb(tmp_path / "bomb.log.gz", 128)
    assert bomb.stat().st_size < 1 << 20
    r = run_child(store_path, bomb)
    assert r["grew_mb"] < 100, r
    assert r["s"] < 30, r
    assert r["lines"] == 0 and "without its newline" in r["damaged"][str(bomb)]


def test_a_gz_bomb_of_long_nul_lines_costs_bounded_memory(
    store_path: Path,
    tmp_path: Path,
) -> None:
    bomb = nul_bomb(tmp_path / "bomb.log.gz", 64, newline_every=1 << 18)
    r = run_child(store_path, bomb)
    assert r["grew_mb"] < 100, r
    assert r["lines"] == r["long"] == 64 * 4


def test_a_gzipped_quota_report_is_not_read_whole(store_path: Path, tmp_path: Path) -> None:
    """A quota report is hashed whole: a chunk at a time now, not read into memory."""
    head = b"Username\tQuota name\tType\tValue\tLimit\t%\n"
    bomb = nul_bomb(tmp_path / "quota.tsv.gz", 128, head=head)
    r = run_child(store_path, bomb)
    assert r["grew_mb"] < 100, r


def test_a_gzipped_quota_report_counts(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "quota.tsv.gz"
    with gzip.open(path, "wb") as f:
        f.write(
            b"Username\tQuota name\tType\tValue\tLimit\t%\n"
            b"bob@example.com\tUser quota\tSTORAGE\t2048\t1048576\t0\n"
            b"bob@example.com\tUser quota\tMESSAGE\t17\t-\t0\n"
        )
    os.utime(path, (T0, T0))
    assert ingest(store, path).lines == 3
    assert ingest(store, path).lines == 0  # known by all of its bytes
    with store.read() as q:
        reports = q.storage_reports(q.resolve_address("bob@example.com")[0], 0)
    assert [(t, i, b) for t, i, b in reports] == [(T0, 17, 2048 * 1024)]
