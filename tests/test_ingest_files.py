"""Reading log files exactly once: reruns, rotation, following, kill -9.

Every test counts through :class:`mailtally.ingest.files.Ingester` (or the real
``mailtally ingest`` process) into a real SQLite file, and asserts on the rows
the counts produced.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from conftest import OPERATOR_CREDS, add_operator, cheap_config, hasher_for, rfc, ts
from mailtally.api import create_app
from mailtally.ingest.files import Ingester
from mailtally.periods import FixedClock, Periods
from mailtally.store import Store, open_store
from mailtally.store.base import KIND_CODES
from mailtally.tree import Ctx, Principal, do_change_company, do_change_domain, do_change_user

#: every test here runs with the compiled and with the pure-Python hot loop
pytestmark = pytest.mark.usefixtures("ingest_mode")

T0 = ts("2026-01-10T08:00:00Z")
USERS = ("bob@example.com", "alice@example.com", "carol@example.com")
UTC = Periods("UTC")


def build_tree(store: Store) -> None:
    op = Principal(name="test", operator=True)
    with store.write() as q:
        ctx = Ctx(q, UTC, T0 - 86400, op)
        q.set_meta("timezone", "UTC")
        do_change_company(ctx, "Acme", {"createtime": rfc(T0 - 30 * 86400)}, False)
        do_change_domain(ctx, "example.com", "Acme", {}, False)
        for u in USERS:
            attrs: dict[str, Any] = {}
            if u.startswith("alice"):
                attrs["aliases"] = ["al@example.com"]
            do_change_user(ctx, u, attrs, False, None)


@pytest.fixture
def store_db(store_url: str) -> str:
    """The URL of a store holding the tree (on each backend, conftest's ``store_url``)."""
    store = open_store(store_url)
    build_tree(store)
    store.close()
    return store_url


@pytest.fixture
def store(store_db: str) -> Iterator[Store]:
    s = open_store(store_db)
    yield s
    s.close()


def build_tree_at(url: str) -> None:
    with open_store(url) as store:
        build_tree(store)


def stamp(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime(t))


def inbound(qid: str, t: int, rcpt: str, size: int) -> list[str]:
    """The lines of one message delivered by LMTP (RFC 3339 stamps)."""
    s = stamp(t)
    return [
        f"{s} mx1 postfix/smtpd[100]: {qid}: client=mail.other.org[198.51.100.7]",
        f"{s} mx1 postfix/cleanup[101]: {qid}: message-id=<{qid}@other.org>",
        f"{s} mx1 postfix/qmgr[102]: {qid}: from=<x@other.org>, size={size}, nrcpt=1 "
        "(queue active)",
        f"{s} mx1 postfix/lmtp[103]: {qid}: to=<{rcpt}>, relay=mx1[private/dovecot-lmtp], "
        f"delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <{rcpt}> x Saved)",
        f"{s} mx1 postfix/qmgr[102]: {qid}: removed",
    ]


def login(t: int, user: str, rip: str = "203.0.113.9") -> str:
    return (
        f"{stamp(t)} mx1 dovecot: imap-login: Login: user=<{user}>, method=PLAIN, "
        f"rip={rip}, lip=10.0.0.1, mpid={t % 99991}, TLS, session=<s{t}>"
    )


def traffic(n: int, start: int = T0, seed: int = 1) -> list[str]:
    """``n`` messages and about as many logins, interleaved, one second apart."""
    rng = random.Random(seed)
    lines: list[str] = []
    for i in range(n):
        t = start + i
        lines += inbound(f"{i + 0x10000:X}A", t, rng.choice(USERS), 1000 + i)
        lines.append(login(t, rng.choice(USERS)))
    return lines


def write(path: Path, lines: list[str], mode: str = "w") -> None:
    with open(path, mode, encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


def totals(store: Store) -> tuple[int, int, int]:
    """(in_ham, in_size, imap4 logins) of the company, summed over its days."""
    with store.read() as q:
        row = q._one(
            "SELECT COALESCE(SUM(messages_in_ham), 0), COALESCE(SUM(messages_in_size), 0), "
            "COALESCE(SUM(logins_imap4), 0) FROM flows WHERE scope = 'c' AND kind = ?",
            KIND_CODES["day"],
        )
    return tuple(int(v) for v in row)  # type: ignore[return-value]


def expected(lines: list[str]) -> tuple[int, int, int]:
    ham = sum(1 for ln in lines if "status=sent" in ln)
    size = sum(int(ln.split("size=")[1].split(",")[0]) for ln in lines if " size=" in ln)
    logins = sum(1 for ln in lines if "imap-login: Login:" in ln and "rip=127." not in ln)
    return ham, size, logins


def flow_rows(store: Store) -> list[Any]:
    with store.read() as q:
        return q._all("SELECT * FROM flows ORDER BY scope, scope_id, kind, period")


@pytest.fixture(params=[50_000, 0], ids=["tree-read-whole", "asked-per-address"])
def tree_lookup(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test runs with the tree read whole at the start, then asked address by address."""
    monkeypatch.setattr("mailtally.ingest.files.PRELOAD_ADDRESSES", request.param)


def ingest(store: Store, *paths: Path, batch_lines: int = 50_000) -> Any:
    return Ingester(store, UTC, batch_lines=batch_lines).ingest([str(p) for p in paths])


# -- reruns and rotation -------------------------------------------------------------


def test_counts_each_line_once_across_runs(store: Store, tmp_path: Path) -> None:
    lines = traffic(50)
    write(tmp_path / "mail.log", lines)
    report = ingest(store, tmp_path / "mail.log")
    assert report.lines == len(lines)
    assert totals(store) == expected(lines)
    again = ingest(store, tmp_path / "mail.log")
    assert again.lines == 0
    assert totals(store) == expected(lines)


def test_a_file_named_twice_or_with_its_copy_in_one_run_counts_once(
    store: Store, tmp_path: Path
) -> None:
    lines = traffic(40)
    write(tmp_path / "mail.log", lines)
    with open(tmp_path / "mail.log", "rb") as src, gzip.open(tmp_path / "copy.gz", "wb") as gz:
        shutil.copyfileobj(src, gz)
    paths = (tmp_path / "mail.log", tmp_path / "copy.gz", tmp_path / "mail.log")
    report = ingest(store, *paths)
    assert report.lines == len(lines)
    assert totals(store) == expected(lines)


def gz(path: Path, data: bytes) -> Path:
    with gzip.open(path, "wb") as f:
        f.write(data)
    return path


def test_a_cut_gz_counts_what_it_holds_and_the_rest_when_whole(
    store: Store, tmp_path: Path
) -> None:
    """A .gz cut short (logrotate still compressing) spoils nothing read before or after."""
    first, second, third = traffic(30), traffic(30, T0 + 3600, 2), traffic(30, T0 + 7200, 3)
    write(tmp_path / "mail.log.2", first)
    whole = gz(tmp_path / "whole.gz", "".join(ln + "\n" for ln in second).encode())
    cut = tmp_path / "mail.log.1.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    write(tmp_path / "mail.log", third)
    paths = [tmp_path / "mail.log.2", cut, tmp_path / "mail.log"]
    report = ingest(store, *paths)
    assert list(report.damaged) == [str(cut)]
    assert totals(store)[0] > expected(first + third)[0]  # what the cut file held counted
    shutil.copyfile(whole, cut)  # compressed to its end now
    again = ingest(store, *paths)
    assert again.damaged == {}
    assert totals(store) == expected(first + second + third)


def test_a_corrupt_or_unreadable_file_is_reported_not_fatal(store: Store, tmp_path: Path) -> None:
    lines = traffic(10)
    write(tmp_path / "mail.log", lines)
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 40)
    locked = tmp_path / "locked.log"
    locked.mkdir()  # opening it fails, as an unreadable file's does
    report = ingest(store, bad, locked, tmp_path / "mail.log")
    assert set(report.damaged) == {str(bad), str(locked)}
    assert totals(store) == expected(lines)


def test_a_missing_file_is_named_in_the_report(store: Store, tmp_path: Path) -> None:
    """A file named but absent (a typo, a glob that matched nothing) is said, as one
    that cannot be opened is; the others are read all the same."""
    lines = traffic(10)
    write(tmp_path / "mail.log", lines)
    missing = tmp_path / "mail.log.1"
    report = ingest(store, missing, tmp_path / "mail.log")
    assert report.damaged == {str(missing): "not readable: no such file"}
    assert totals(store) == expected(lines)


def test_compressed_files_are_closed_when_read(store: Store, tmp_path: Path) -> None:
    """...not when the batch that read them is committed (a run names many)."""
    paths = [str(gz(tmp_path / f"m{i}.gz", f"{i}\n".encode() * 10)) for i in range(30)]
    ingest(store, paths[0])  # the store's own files are open from now on
    before = len(os.listdir("/proc/self/fd"))
    seen: list[int] = []
    Ingester(store, UTC).ingest(
        paths[1:], lambda src, n: seen.append(len(os.listdir("/proc/self/fd")))
    )
    assert max(seen) <= before + 2  # the file being read (and its twin for the thread)


def test_a_very_compressible_gz_is_inflated_in_bounded_chunks(tmp_path: Path) -> None:
    from mailtally.ingest.files import _inflate

    line = b"2026-01-10T08:00:00+00:00 mx1 postfix/qmgr[1]: 1A2B3C: removed\n"
    path = gz(tmp_path / "same.gz", line * 500_000)  # 32 MiB in about 100 KiB
    with open(path, "rb") as raw:
        sizes = [len(c) for c in _inflate(raw, 0)]
    assert sum(sizes) == len(line) * 500_000
    assert max(sizes) <= 8 << 20


def test_appended_lines_are_read_from_where_the_last_run_stopped(
    store: Store, tmp_path: Path
) -> None:
    first, second = traffic(20), traffic(20, start=T0 + 3600, seed=2)
    write(tmp_path / "mail.log", first)
    ingest(store, tmp_path / "mail.log")
    write(tmp_path / "mail.log", second, mode="a")
    report = ingest(store, tmp_path / "mail.log")
    assert report.lines == len(second)
    assert totals(store) == expected(first + second)


def test_a_rotated_and_compressed_file_is_known_as_the_one_already_read(
    store: Store, tmp_path: Path
) -> None:
    old, new = traffic(30), traffic(30, start=T0 + 7200, seed=3)
    write(tmp_path / "mail.log", old)
    ingest(store, tmp_path / "mail.log")
    # logrotate: mail.log -> mail.log.1.gz, a new mail.log
    with (
        open(tmp_path / "mail.log", "rb") as src,
        gzip.open(tmp_path / "mail.log.1.gz", "wb") as gz,
    ):
        shutil.copyfileobj(src, gz)
    write(tmp_path / "mail.log", new)
    report = ingest(store, tmp_path / "mail.log.1.gz", tmp_path / "mail.log")
    assert report.lines == len(new)
    assert totals(store) == expected(old + new)


def test_a_message_split_by_rotation_counts_once(store: Store, tmp_path: Path) -> None:
    msg = inbound("ABCDEF1234", T0, "bob@example.com", 4321)
    write(tmp_path / "mail.log.1", msg[:3])
    write(tmp_path / "mail.log", msg[3:])
    ingest(store, tmp_path / "mail.log.1")  # one run ends mid-message ...
    assert totals(store) == (0, 0, 0)
    ingest(store, tmp_path / "mail.log")  # ... the next finishes it
    assert totals(store) == (1, 4321, 0)


def test_a_last_line_without_newline_waits_for_the_writer(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    with open(path, "w") as f:
        f.write(login(T0, "bob@example.com") + "\n" + login(T0 + 1, "bob@example.com"))
    ingest(store, path)
    assert totals(store) == (0, 0, 1)
    with open(path, "a") as f:
        f.write("\n")
    ingest(store, path)
    assert totals(store) == (0, 0, 2)


def test_webmail_host_logins_are_not_counted(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "mail.log", [login(T0, "bob@example.com", rip="127.0.0.1")])
    ingest(store, tmp_path / "mail.log")
    assert totals(store) == (0, 0, 0)


def test_mail_to_an_alias_counts_for_the_real_user(
    store: Store, tmp_path: Path, tree_lookup: None
) -> None:
    write(tmp_path / "mail.log", inbound("1A2B3C4D5E", T0, "al@example.com", 700))
    ingest(store, tmp_path / "mail.log")
    with store.read() as q:
        alice = q.resolve_address("alice@example.com")[0]
        rows = q.flows("u", alice, "day", ["20260110"])
    assert rows and rows[0][7] == 1  # messages_in_ham of alice's day


def test_mail_a_catch_all_rewrote_counts_for_the_mailbox_it_reached(
    store: Store, tmp_path: Path, tree_lookup: None
) -> None:
    """The address it was sent to is no account: the one it reached is credited."""
    lines = inbound("1A2B3C4D5F", T0, "carol@example.com", 900)
    lines[3] = lines[3].replace(
        "to=<carol@example.com>,", "to=<carol@example.com>, orig_to=<sales@example.com>,"
    )
    write(tmp_path / "mail.log", lines)
    ingest(store, tmp_path / "mail.log")
    assert totals(store) == (1, 900, 0)


def test_an_account_added_between_batches_counts_from_then_on(
    store: Store, tmp_path: Path, tree_lookup: None
) -> None:
    """What the ingester knows of the tree is kept only while the tree stays the same."""
    log = tmp_path / "mail.log"
    write(log, [*inbound("1A1", T0, "dave@example.com", 100), login(T0, "dave@example.com")])
    ingester = Ingester(store, UTC)
    src = ingester.open_source(str(log))
    assert src is not None
    ingester.read(src)
    ingester.commit()
    assert totals(store) == (0, 0, 0)  # not an account (yet): not counted
    with store.write() as q:
        do_change_user(Ctx(q, UTC, T0, Principal(name="t", operator=True)), "dave@example.com",
                       {"aliases": ["d@example.com"]}, False, None)  # fmt: skip
    write(log, inbound("1A2", T0 + 9, "d@example.com", 200), mode="a")
    write(log, [login(T0 + 9, "dave@example.com")], mode="a")
    ingester.read(src)
    ingester.commit()
    src.close()
    assert totals(store) == (1, 200, 1)


def test_a_quota_report_sets_storage_once(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "quota.tsv"
    path.write_text(
        "Username\tQuota name\tType\tValue\tLimit\t%\n"
        "bob@example.com\tUser quota\tSTORAGE\t2048\t1048576\t0\n"
        "bob@example.com\tUser quota\tMESSAGE\t17\t-\t0\n"
    )
    os.utime(path, (T0, T0))
    ingest(store, path)
    ingest(store, path)  # the same report again changes nothing
    with store.read() as q:
        gauges = q.gauges_before("c", 1, "day", "99999999")
        reports = q.storage_reports(q.resolve_address("bob@example.com")[0], 0)
    cols = dict(zip(("items", "bytes"), gauges[-2:], strict=True))
    assert cols == {"items": 17, "bytes": 2048 * 1024}
    assert [(t, i, b) for t, i, b in reports] == [(T0, 17, 2048 * 1024)]


# -- following ---------------------------------------------------------------------------


class Follower:
    """``Ingester.follow`` in a thread, stopped on exit."""

    def __init__(self, store: Store, *paths: Path) -> None:
        self.stop = threading.Event()
        self.ingester = Ingester(store, UTC)
        self.thread = threading.Thread(
            target=self.ingester.follow,
            args=([str(p) for p in paths], self.stop.is_set),
            kwargs={"interval": 0.05},
            daemon=True,
        )

    def __enter__(self) -> Follower:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_follow_survives_rename_rotation(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    a, b, c = traffic(10), traffic(10, T0 + 100, 2), traffic(10, T0 + 200, 3)
    write(log, a)
    with Follower(store, log):
        assert wait_for(lambda: totals(store) == expected(a))
        write(log, b, mode="a")
        os.rename(log, tmp_path / "mail.log.1")  # the writer still has the old file ...
        write(tmp_path / "mail.log.1", c[:5], mode="a")
        write(log, c[5:])  # ... and then reopens the new one
        assert wait_for(lambda: totals(store) == expected(a + b + c))
    assert totals(store) == expected(a + b + c)


def test_follow_survives_copytruncate(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    a, b = traffic(10), traffic(10, T0 + 100, 2)
    write(log, a)
    with Follower(store, log):
        assert wait_for(lambda: totals(store) == expected(a))
        shutil.copyfile(log, tmp_path / "mail.log.1")
        with open(log, "r+") as f:
            f.truncate(0)
        write(log, b, mode="a")
        assert wait_for(lambda: totals(store) == expected(a + b))
    # and the copy, read later, is known as the lines already counted
    ingest(store, tmp_path / "mail.log.1")
    assert totals(store) == expected(a + b)


def test_follow_resumes_after_a_restart(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    a, b = traffic(10), traffic(10, T0 + 100, 2)
    write(log, a)
    with Follower(store, log):
        assert wait_for(lambda: totals(store) == expected(a))
    write(log, b, mode="a")  # written while nothing followed
    with Follower(store, log):
        assert wait_for(lambda: totals(store) == expected(a + b))
    assert totals(store) == expected(a + b)


def test_a_followed_line_shows_in_stats_summary_within_two_seconds(
    store: Store, tmp_path: Path
) -> None:
    config = cheap_config()
    add_operator(store, hasher_for(config), "root", "operator-secret")
    log = tmp_path / "mail.log"
    write(log, [])
    t = T0 + 3600
    with (
        TestClient(create_app(store, config, FixedClock(T0 + 86400))) as client,
        Follower(store, log),
    ):

        def imap_logins() -> str:
            body = {"credentials": OPERATOR_CREDS, "object": "bob@example.com"}
            answer = client.post("/api/stats_summary", json=body).json()
            return answer["summary"]["20260110"]["logins"]["imap4"]

        assert imap_logins() == ""
        write(log, [login(t, "bob@example.com")], mode="a")
        written = time.monotonic()
        assert wait_for(lambda: imap_logins() == "1", timeout=2.0)
        assert time.monotonic() - written < 2.0


def test_the_follow_command_tails_rotation_and_stops_cleanly_on_sigterm(
    store_db: str, tmp_path: Path
) -> None:
    """The real ``mailtally ingest --follow`` process: rename rotation, then SIGTERM."""
    log = tmp_path / "mail.log"
    a, b = traffic(10), traffic(10, T0 + 100, 2)
    write(log, a)
    code = "from mailtally.cli import main; main()"
    p = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "ingest",
            "--follow",
            "--db",
            store_db,
            str(log),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with open_store(store_db) as s:
            assert wait_for(lambda: totals(s) == expected(a), timeout=20)
            os.rename(log, tmp_path / "mail.log.1")
            write(log, b)
            assert wait_for(lambda: totals(s) == expected(a + b), timeout=20)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err.decode()
    assert b"lines read" in out  # the report is printed on the way out


def scripted(*actions: Any) -> Any:
    """A ``should_stop`` for ``Ingester.follow`` that runs one action before each
    round after the first, and stops when they are done: a deterministic tail."""
    steps = [lambda: None, *actions]

    def should_stop() -> bool:
        if not steps:
            return True
        steps.pop(0)()
        return False

    return should_stop


def test_lines_written_to_a_rotated_file_before_the_writer_reopens_are_counted(
    store: Store, tmp_path: Path
) -> None:
    log, old = tmp_path / "mail.log", tmp_path / "mail.log.1"
    a, b, c = traffic(5), traffic(5, T0 + 100, 2), traffic(5, T0 + 200, 3)
    write(log, a)

    def rotate() -> None:
        os.rename(log, old)
        write(log, b)

    Ingester(store, UTC).follow(
        [str(log)], scripted(rotate, lambda: write(old, c, mode="a"), lambda: None), 0.01
    )
    assert totals(store) == expected(a + b + c)


def test_a_truncated_file_written_past_the_old_position_is_read_from_its_start(
    store: Store, tmp_path: Path
) -> None:
    log = tmp_path / "mail.log"
    a, b = traffic(3), traffic(9, T0 + 100, 2)
    write(log, a)

    def copytruncate_and_regrow() -> None:
        with open(log, "r+") as f:
            f.truncate(0)
        write(log, b, mode="a")
        assert log.stat().st_size > sum(len(x) + 1 for x in a)

    Ingester(store, UTC).follow([str(log)], scripted(copytruncate_and_regrow), 0.01)
    assert totals(store) == expected(a + b)


def test_a_followed_log_running_into_january_dates_its_lines_in_the_new_year(
    store: Store, tmp_path: Path
) -> None:
    log = tmp_path / "mail.log"
    write(log, ["Dec 31 10:00:00 mx1 cron[5]: (root) CMD (true)"])
    opened = ts("2026-12-31T10:00:05Z")
    os.utime(log, (opened, opened))

    def new_year() -> None:
        line = "Jan  1 05:00:00 mx1 dovecot: imap-login: Login: user=<bob@example.com>, "
        write(log, [line + "method=PLAIN, rip=203.0.113.9, lip=10.0.0.1, mpid=7, TLS"], "a")
        later = ts("2027-01-01T05:00:05Z")
        os.utime(log, (later, later))

    Ingester(store, UTC).follow([str(log)], scripted(new_year), 0.01)
    with store.read() as q:
        bob = q.resolve_address("bob@example.com")[0]
        days = q._all(
            "SELECT period FROM flows WHERE kind = 0 AND scope = 'u' AND scope_id = ?", bob
        )
        assert days == [("20270101",)]


def test_a_longer_quota_report_is_a_new_report_not_a_grown_one(
    store: Store, tmp_path: Path
) -> None:
    header = "Username\tQuota name\tType\tValue\tLimit\t%\n"
    bob = "bob@example.com\tUser quota\tSTORAGE\t10\t-\t0\n"
    bob += "bob@example.com\tUser quota\tMESSAGE\t1\t-\t0\n"
    carol = bob.replace("bob@", "carol@")
    first, second = tmp_path / "q1.tsv", tmp_path / "q2.tsv"
    first.write_text(header + bob)
    second.write_text(header + bob + carol)  # starts with all of the first report
    os.utime(first, (T0, T0))
    os.utime(second, (T0 + 3600, T0 + 3600))
    ingest(store, first, second)
    with store.read() as q:
        times = [r[0] for r in q.storage_reports(q.resolve_address("bob@example.com")[0], 0)]
    assert times == [T0, T0 + 3600]  # bob's row of the second report was read too


# -- kill -9 -----------------------------------------------------------------------------


def run_ingest(db: str, log: Path) -> subprocess.Popen[bytes]:
    code = "from mailtally.cli import main; main()"
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "ingest",
            "--quiet",
            "--batch-lines",
            "700",
            "--db",
            db,
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_kill_9_at_random_points_gives_the_totals_of_an_uninterrupted_run(
    store_db: str, tmp_path: Path, ingest_mode: str, backend: str
) -> None:
    # the compiled loop reads ten times as fast: a longer log gives it as many kills
    lines = traffic(25_000 if ingest_mode == "python" else 150_000, seed=9)
    log = tmp_path / "mail.log"
    write(log, lines)
    # an uninterrupted run on a copy (SQLite: its flow rows are compared too)
    calm = f"sqlite:///{tmp_path / 'calm.sqlite3'}"
    if backend == "sqlite":
        shutil.copyfile(store_db[len("sqlite:///") :], calm[len("sqlite:///") :])
    else:
        build_tree_at(calm)
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    started = time.monotonic()
    scratch = tmp_path / "scratch.sqlite3"  # (ingest needs a store: a copy)
    shutil.copyfile(calm[len("sqlite:///") :], scratch)
    assert run_ingest(f"sqlite:///{scratch}", empty).wait(timeout=120) == 0
    startup = time.monotonic() - started  # imports, opening the store
    started = time.monotonic()
    p = run_ingest(calm, log)
    assert p.wait(timeout=120) == 0, p.stderr.read() if p.stderr else ""
    duration = time.monotonic() - started

    # kill at random moments of the run's reading and counting (each run goes on
    # from where the last one was killed: the moments fall in the first half)
    rng = random.Random(1234)
    kills = 0
    seen: set[int] = set()
    for _ in range(8):
        p = run_ingest(store_db, log)
        time.sleep(startup + rng.uniform(0.05, 0.5) * max(duration - startup, 0.01))
        if p.poll() is not None:
            break
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        kills += 1
        with open_store(store_db) as partial:
            seen.add(totals(partial)[0])
    p = run_ingest(store_db, log)  # and once more, to the end
    assert p.wait(timeout=120) == 0, p.stderr.read() if p.stderr else ""
    # the kills landed mid-file: some left part of the log counted
    assert any(0 < ham < expected(lines)[0] for ham in seen), (kills, seen)

    a, b = open_store(calm), open_store(store_db)
    try:
        assert totals(a) == expected(lines)
        assert totals(b) == totals(a)
        if backend == "sqlite":  # (the same rows; PostgreSQL's columns are in another order)
            assert flow_rows(b) == flow_rows(a)
    finally:
        a.close()
        b.close()


def test_a_line_with_a_broken_number_is_skipped_not_fatal(store: Store, tmp_path: Path) -> None:
    """A size no message has (it would overflow the sums) is a line not understood:
    the lines around it are counted, and the run goes on."""
    real = traffic(5)
    write(tmp_path / "mail.log", inbound("BAD1", T0, "bob@example.com", 10**25) + real)
    report = ingest(store, tmp_path / "mail.log")
    assert report.unknown_lines >= 1
    # (the broken message's delivery may still count, without a size)
    assert totals(store)[1:] == expected(real)[1:]
    quota = tmp_path / "quota.tsv"
    quota.write_text(
        "Username\tQuota name\tType\tValue\tLimit\t%\n"
        f"bob@example.com\tUser quota\tSTORAGE\t{'9' * 25}\t-\t0\n"
        "bob@example.com\tUser quota\tMESSAGE\t5\t-\t0\n"
    )
    ingest(store, quota)


# -- garbage -------------------------------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    # the one function-scoped fixture is ingest_mode: the same for every example
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(garbage=st.lists(st.binary(max_size=300), max_size=20), seed=st.integers(0, 1000))
# a plain log whose first line is gzip's two magic bytes (was read as a broken .gz)
@example(garbage=[b"", b"\x1f\x8b"], seed=524)
@example(garbage=[b"\x1f\x8b\x08"], seed=524)
def test_garbage_between_real_lines_changes_no_count(garbage: list[bytes], seed: int) -> None:
    """Any bytes among real lines: nothing raises, and the counts are those of the
    real lines alone (nothing corrupted, nothing counted twice)."""
    real = traffic(8, seed=seed)
    rng = random.Random(seed)
    mixed: list[bytes] = [line.encode() for line in real]
    for blob in garbage:
        mixed.insert(rng.randrange(len(mixed) + 1), blob.replace(b"\n", b" "))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite3"
        with open_store(f"sqlite:///{path}") as s:
            build_tree(s)
            log = Path(tmp) / "mail.log"
            log.write_bytes(b"\n".join(mixed) + b"\n")
            report = ingest(s, log)
            assert report.lines == len(mixed)
            assert totals(s) == expected(real)
            ingest(s, log)
            assert totals(s) == expected(real)


def test_a_failed_commit_keeps_what_was_read_for_the_next(store: Store, tmp_path: Path) -> None:
    """A write that fails (disk full, a lock) loses nothing and counts nothing twice."""
    lines = traffic(10)
    write(tmp_path / "mail.log", lines)
    ingester = Ingester(store, UTC)
    src = ingester.open_source(str(tmp_path / "mail.log"))
    assert src is not None
    ingester.read(src)
    real_write = store.write
    store.write = lambda: (_ for _ in ()).throw(OSError("disk full"))  # type: ignore[method-assign]
    with pytest.raises(OSError):
        ingester.commit()
    store.write = real_write  # type: ignore[method-assign]
    ingester.commit()
    src.close()
    assert totals(store) == expected(lines)
    assert ingest(store, tmp_path / "mail.log").lines == 0  # and the position was kept


def test_a_batch_committed_behind_as_the_last_file_ends_is_waited_for(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Committing behind (a whole-file ingest on PostgreSQL; forced here on every
    store): a batch handed to the commit thread just as the last file ends is
    committed, and counted in the report, before ingest returns."""
    monkeypatch.setattr(type(store), "overlap_commits", True)
    lines = traffic(40)
    write(tmp_path / "mail.log", lines)
    ingester = Ingester(store, UTC, batch_lines=len(lines))  # (the threshold at the end)
    report = ingester.ingest([str(tmp_path / "mail.log")])
    assert ingester._in_flight is None
    assert not [t for t in threading.enumerate() if t.name == "mailtally-commit"]
    assert report.lines == len(lines)
    assert report.events > 0
    assert totals(store) == expected(lines)
