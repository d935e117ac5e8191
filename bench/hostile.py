"""Time (and peak memory) of the hostile inputs of issue 7, one per row.

    .venv/bin/python bench/hostile.py [NAME...]

Each case is run in a child process (so that its peak RSS is its own) with a
time limit; a case over the limit is reported as such.  Run it with
``PYTHONPATH=<a checkout>/src`` to measure another version of the code.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable

LIMIT = float(os.environ.get("HOSTILE_LIMIT", "60"))
N = int(os.environ.get("HOSTILE_N", "200000"))  # bytes of a long line
K = int(os.environ.get("HOSTILE_K", "14"))  # queue ids linked to each other


def _verdict_chain(k: int) -> Callable[[], object]:
    from mailtally.ingest import ParseResult
    from mailtally.ingest.parsers import QmgrFrom, SmtpdClient, SpamVerdict

    def ok(*r: object) -> ParseResult:
        return ParseResult("ok", "t", 1, tuple(r))

    qids = [f"Q{i:04X}" for i in range(k)]
    rs = [ok(QmgrFrom(q, "s@x.org", 1, 1)) for q in qids]
    rs += [ok(SmtpdClient(b, "203.0.113.9", None, None, a)) for b in qids for a in qids if a != b]
    verdict = ok(SpamVerdict(qids[0], "spam"))

    def run(joiner_class: type) -> Callable[[], object]:
        j = joiner_class()
        for r in rs:
            j.feed(r)
        return lambda: j.feed(verdict)

    return run  # type: ignore[return-value]


def case_verdict_python() -> Callable[[], object]:
    from mailtally.ingest.join import Joiner

    return _verdict_chain(K)(Joiner)  # type: ignore[operator,no-any-return]


def case_verdict_c() -> Callable[[], object]:
    from mailtally.ingest._fastlog import Joiner

    return _verdict_chain(K)(Joiner)  # type: ignore[operator,no-any-return]


def case_verdict_c_k64() -> Callable[[], object]:
    from mailtally.ingest._fastlog import Joiner

    return _verdict_chain(64)(Joiner)  # type: ignore[operator,no-any-return]


#: Message-IDs whose unkeyed hash (the C tables' before issue 7) falls in one of
#: 65,536 buckets, found by brute force in C (a few seconds; as cheap offline as
#: the audit said)
_COLLIDE_C = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static uint64_t old_hash(const char *p, long n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
    while (n >= 8) { uint64_t w; memcpy(&w, p, 8); h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
                     h ^= h >> 31; p += 8; n -= 8; }
    uint64_t w = 0; if (n) memcpy(&w, p, (size_t)n);
    h = (h ^ w) * 0x94d049bb133111ebull; h ^= h >> 29; h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32; return h;
}
int main(int argc, char **argv) {
    long want = atol(argv[1]), found = 0; char key[64];
    uint64_t target = 0; int have = 0;
    for (unsigned long i = 0; found < want; i++) {
        int n = snprintf(key, sizeof key, "<%012lx@x>", i);
        uint64_t h = old_hash(key, n) & 0xffff;
        if (!have) { target = h; have = 1; }
        if (h == target) { puts(key); found++; }
    }
    return 0;
}
"""


def _colliding(n: int) -> list[str]:
    d = tempfile.gettempdir()
    cache = os.path.join(d, f"mailtally-colliding-{n}.json")
    if os.path.exists(cache):
        with open(cache) as f:
            return json.load(f)  # type: ignore[no-any-return]
    src, exe = os.path.join(d, "mailtally-collide.c"), os.path.join(d, "mailtally-collide")
    with open(src, "w") as f:
        f.write(_COLLIDE_C)
    subprocess.run(["gcc", "-O2", "-o", exe, src], check=True)
    ids = subprocess.run([exe, str(n)], capture_output=True, text=True, check=True).stdout.split()
    with open(cache, "w") as f:
        json.dump(ids, f)
    return ids


def case_colliding_msgids() -> Callable[[], object]:
    from mailtally.ingest import ParseResult
    from mailtally.ingest._fastlog import Joiner
    from mailtally.ingest.parsers import CleanupMessageId

    ids = _colliding(50_000)
    rs = [ParseResult("ok", "t", 1, (CleanupMessageId(f"Q{i:06X}", m),)) for i, m in enumerate(ids)]
    j = Joiner()
    return lambda: [j.feed(r) for r in rs]


def _parse(line: str) -> Callable[[], object]:
    from mailtally.ingest import LineParser

    p = LineParser(reference=1_736_100_000)
    return lambda: p.parse(line)


def case_amavis_rcpts() -> Callable[[], object]:
    return _parse("Jan  5 10:00:01 mx amavis[1]: (01234-05) Blocked SPAM {Q}, " + "<" * N)


def case_amavis_queued_as() -> Callable[[], object]:
    return _parse(
        "Jan  5 10:00:01 mx amavis[1]: (01234-05) Passed CLEAN {R}, Queue-ID: 4ABC, "
        + "queued_as: " * (N // 11)
    )


def case_rspamd_action() -> Callable[[], object]:
    return _parse(
        "Jan  5 10:00:01 mx rspamd[9]: <ab>; task; rspamd_task_write_log: id: <m@x>, "
        "qid: <4ABC>, " + "(x: T (" * (N // 7)
    )


def case_postfix_angle_to() -> Callable[[], object]:
    return _parse(
        "Jan  5 10:00:01 mx postfix/smtpd[1]: 4ABC: reject: RCPT from x[1.2.3.4]: "
        "554 5.7.1 x; to=<" + " to=<" * (N // 5)
    )


def case_join_session() -> Callable[[], object]:
    from mailtally.ingest import join

    text = "<" * N + "> x"
    if hasattr(join, "_session"):
        return lambda: join._session(text)
    return lambda: join._SESSION.search(text)  # type: ignore[attr-defined]


def _ingest(make: Callable[[str], None]) -> Callable[[], object]:
    from mailtally.ingest.files import Ingester
    from mailtally.periods import Periods
    from mailtally.store import open_store

    d = tempfile.mkdtemp()
    path = os.path.join(d, "hostile.log")
    make(path)
    store = open_store(f"sqlite:///{d}/s.sqlite3")
    ing = Ingester(store, Periods())
    return lambda: ing.ingest([path])


def case_no_newline_64mib() -> Callable[[], object]:
    def make(path: str) -> None:
        with open(path, "wb") as f:
            for _ in range(64):
                f.write(b"x" * (1 << 20))

    return _ingest(make)


def case_gz_bomb_256mib_nul() -> Callable[[], object]:
    def make(path: str) -> None:
        with open(path + ".gz", "wb") as raw:
            c = zlib.compressobj(9, zlib.DEFLATED, 31)
            block = b"\0" * (1 << 20)
            for _ in range(256):
                raw.write(c.compress(block))
            raw.write(c.flush())
        os.rename(path + ".gz", path)  # (known as gzip by its magic, not its name)

    return _ingest(make)


def case_gz_bomb_1gib_nul() -> Callable[[], object]:
    """The audit's bomb (1 GiB of NULs, 1 MiB compressed): 35 s and 2.1 GB before."""

    def make(path: str) -> None:
        with open(path, "wb") as raw:
            c = zlib.compressobj(9, zlib.DEFLATED, 31)
            block = b"\0" * (1 << 20)
            for _ in range(1024):
                raw.write(c.compress(block))
            raw.write(c.flush())

    return _ingest(make)


def case_gz_quota_report_64mib() -> Callable[[], object]:
    def make(path: str) -> None:
        with gzip.open(path, "wb", compresslevel=9) as f:
            f.write(b"Username\tQuota name\tType\tValue\tLimit\t%\n")
            row = b"u@x.org\tUser quota\tSTORAGE\t1\t2\t0\n" * 1024
            for _ in range((64 << 20) // len(row)):
                f.write(row)

    return _ingest(make)


ADDR_MSGS = int(os.environ.get("HOSTILE_ADDR_MSGS", "5000"))  # messages of long_addresses
RCPTS = int(os.environ.get("HOSTILE_RCPTS", "300000"))  # recipients of many_recipients


def _lmtp(qid: str, to: str, orig: str) -> bytes:
    return (
        f"Nov 28 01:02:03 mx postfix/lmtp[1]: {qid}: to=<{to}>, orig_to=<{orig}>, "
        "relay=mx[127.0.0.1]:24, delay=1, dsn=2.0.0, status=sent (250 2.0.0 ok)\n"
    ).encode()


def case_long_addresses() -> Callable[[], object]:
    """ADDR_MSGS messages in flight, each with a delivery of a 30,000-character to=
    and orig_to= (a line under the 64 KiB limit): the joiner kept both."""

    def make(path: str) -> None:
        with open(path, "wb") as f:
            for i in range(ADDR_MSGS):
                a = f"{i:08d}" + "a" * 29_980 + "@x.org"
                f.write(_lmtp(f"{i:010X}", a, "o" + a))

    return _ingest(make)


def case_many_recipients() -> Callable[[], object]:
    """One queue id, RCPTS deliveries to distinct 300-character addresses (each under
    the address bound): the message in flight held them all."""

    def make(path: str) -> None:
        with open(path, "wb") as f:
            for i in range(RCPTS):
                a = f"{i:08d}" + "r" * 286 + "@x.org"
                f.write(_lmtp("4ABCDEF", a, "o" + a[1:]))

    return _ingest(make)


AT_BOUND_MSGS = int(os.environ.get("HOSTILE_AT_BOUND_MSGS", "100000"))


def case_in_flight_at_the_bounds() -> Callable[[], object]:
    """What the bounds leave: AT_BOUND_MSGS messages in flight (the table's cap), each
    with a 320-character sasl_username, a 998-character Message-ID and one delivery
    of 320-character to= and orig_to= (all at the bounds), never removed."""

    def make(path: str) -> None:
        with open(path, "wb") as f:
            for i in range(AT_BOUND_MSGS):
                q, a = f"{i:010X}", f"{i:08d}" + "a" * 306 + "@x.org"
                f.write(
                    f"Nov 28 01:02:03 mx postfix/smtpd[1]: {q}: client=x[203.0.113.9]:25, "
                    f"sasl_method=PLAIN, sasl_username={a}\n"
                    f"Nov 28 01:02:03 mx postfix/cleanup[1]: {q}: message-id=<{a[:-6]}"
                    f"{'m' * (998 - 314)}@x.org>\n".encode()
                )
                f.write(_lmtp(q, a, "o" + a[1:]))

    return _ingest(make)


def case_recipients_at_the_bound() -> Callable[[], object]:
    """RCPTS deliveries of 320-character addresses, 1,000 to each message (the bound)."""

    def make(path: str) -> None:
        with open(path, "wb") as f:
            for i in range(RCPTS):
                a = f"{i:08d}" + "r" * 306 + "@x.org"
                f.write(_lmtp(f"{i // 1000:010X}", a, "o" + a[1:]))

    return _ingest(make)


TABLE_LINES = int(os.environ.get("HOSTILE_TABLE_LINES", "200000"))


def case_sieve_at_the_bounds() -> Callable[[], object]:
    """TABLE_LINES Dovecot sieve lines, half filing into Junk and half redirecting,
    each with a 320-character user and session and a 998-character Message-ID of no
    message in flight: the keys of _pending_junk and _sieve_fwd (1.3 KB each)."""

    def make(path: str) -> None:
        with open(path, "wb") as f:
            for i in range(TABLE_LINES):
                u = f"{i:08d}" + "u" * 306 + "@x.org"
                s, m = f"{i:08d}" + "s" * 312, f"{i:08d}" + "m" * 984 + "@x.org"
                act = "stored mail into mailbox 'Junk'" if i % 2 else "forwarded to <c@y.org>"
                f.write(
                    f"Nov 28 01:02:03 mx dovecot: lmtp({u})<1234><{s}>: sieve: msgid=<{m}>: "
                    f"{act}\n".encode()
                )

    return _ingest(make)


def case_links_at_the_bounds() -> Callable[[], object]:
    """TABLE_LINES re-injections (smtpd orig_queue_id=), 64 of each message, the
    original's queue id of 320 characters: _children (and the messages in flight)."""

    def make(path: str) -> None:
        with open(path, "wb") as f:
            for i in range(TABLE_LINES):
                a, b = f"{i // 64:08d}" + "A" * 312, f"{i:08d}" + "B" * 16
                f.write(
                    f"Nov 28 01:02:03 mx postfix/smtpd[1]: {b}: client=x[127.0.0.1]:25, "
                    f"orig_queue_id={a}, orig_client=x\n".encode()
                )

    return _ingest(make)


def case_quota_rows_at_the_bound() -> Callable[[], object]:
    """A quota report of TABLE_LINES users of 320 characters, each with a STORAGE row
    only (a 320-character root): rows never completed, waiting in _quota."""

    def make(path: str) -> None:
        with open(path, "wb") as f:
            f.write(b"Username\tQuota name\tType\tValue\tLimit\t%\n")
            root = "User quota " + "r" * 309
            for i in range(TABLE_LINES):
                u = f"{i:08d}" + "u" * 306 + "@x.org"
                f.write(f"{u}\t{root}\tSTORAGE\t{i}\t-\t0\n".encode())

    return _ingest(make)


CASES = {n[5:]: f for n, f in sorted(globals().items()) if n.startswith("case_")}


def _child(name: str) -> None:
    if name == "colliding_msgids":
        _colliding(50_000)  # (made once, before the clock starts)
    run = CASES[name]()
    t0 = time.perf_counter()
    run()
    took = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"s": took, "rss_mb": rss}))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
        return
    names = sys.argv[1:] or list(CASES)
    print(f"{'case':28} {'time':>10} {'peak RSS':>10}")
    for name in names:
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--child", name],
                capture_output=True,
                text=True,
                timeout=LIMIT,
            )
        except subprocess.TimeoutExpired:
            print(f"{name:28} {'>' + str(int(LIMIT)) + ' s':>10} {'-':>10}", flush=True)
            continue
        if out.returncode != 0:
            print(f"{name:28} failed: {out.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:28} {r['s']:>8.3f} s {r['rss_mb']:>7.0f} MB", flush=True)


if __name__ == "__main__":
    main()
