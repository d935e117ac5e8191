"""A cache miss of ``stats_summary`` without HTTP, as the server does it: what it costs
and what it answers (issue 9).

For USERS different accounts (spread over the ids) and each period kind asked, one
reading session in this thread (``Store.read_now``, as api/stats.py on a miss) that
finds the account and builds and encodes its answer (``summary_body``).  Prints the
CPU time a request (``time.thread_time``) and the SHA-256 of every answer in order,
so that two versions of the code can be compared byte for byte at a fixed "now"::

    .venv/bin/python bench/summary_cpu.py STORE [--users 300] [--by day,week,month] \
        [--now 1795000000] [--companies] [--hashes FILE] [--cprofile FILE] [--shuffle]

The old code of a commit runs with ``PYTHONPATH`` set to its ``git archive`` (and the
compiled extension copied in).  Under ``valgrind --tool=callgrind --instr-atstart=no``,
``--callgrind`` switches counting on for the requests only (``callgrind_control``),
so that the instructions per request leave start-up out.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import random
import subprocess
import sys
import time

from mailtally.api.service import Service
from mailtally.api.stats import summary_body
from mailtally.config import load_config
from mailtally.periods import FixedClock
from mailtally.store import open_store
from mailtally.tree import find_target


def read_syscalls() -> int:
    """This process's read system calls so far (``/proc/self/io``; 0 without it)."""
    try:
        with open("/proc/self/io") as f:
            return next(int(ln.split()[1]) for ln in f if ln.startswith("syscr:"))
    except (OSError, StopIteration):
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", help="a store file")
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--by", default="day", help="comma-separated period kinds")
    ap.add_argument("--now", type=int, default=0, help="epoch seconds (default: the clock)")
    ap.add_argument("--companies", action="store_true", help="also the company and 20 domains")
    ap.add_argument("--cprofile", metavar="FILE")
    ap.add_argument("--callgrind", action="store_true", help="toggle callgrind around the work")
    ap.add_argument("--hashes", metavar="FILE", help="write each answer's SHA-256 here")
    ap.add_argument(
        "--shuffle", action="store_true", help="ask in a random order (seed 1), as a sweep does"
    )
    args = ap.parse_args()

    config = load_config(None, db=f"sqlite:///{args.store}")
    store = open_store(config.db)
    svc = Service(store, config, FixedClock(args.now) if args.now else None)
    now = svc.clock.now()
    with store.read() as q:
        ids = q.ids("users")
        step = max(1, len(ids) // args.users)
        names = [("user", q.user_by_id(i)[3]) for i in ids[::step][: args.users]]
        if args.companies:
            names.append(("company", q.company_by_id(1)[1]))
            names += [("domain", f"d{i}.example") for i in range(1, 21)]
    kinds = args.by.split(",")
    work = [(t, n, by) for by in kinds for t, n in names]
    if args.shuffle:
        random.Random(1).shuffle(work)

    def one(t: str, n: str, by: str) -> bytes:
        def fn(q):  # type: ignore[no-untyped-def]
            target = find_target(q, t, n)  # type: ignore[arg-type]
            assert target is not None, n
            return summary_body(svc, q, target, by, now)  # type: ignore[arg-type]

        return store.read_now(fn)

    one(*work[0])  # warm: the statements, the period windows
    prof = cProfile.Profile(time.thread_time) if args.cprofile else None
    if args.callgrind:
        subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())])
    if prof:
        prof.enable()
    reads0, times0 = read_syscalls(), os.times()
    t0 = time.thread_time()
    bodies = [one(*w) for w in work]
    cpu = time.thread_time() - t0
    reads, system = read_syscalls() - reads0, os.times().system - times0.system
    if prof:
        prof.disable()
    if args.callgrind:
        subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())])
    digest = hashlib.sha256()
    lines = []
    for w, b in zip(work, bodies, strict=True):
        h = hashlib.sha256(b).hexdigest()
        digest.update(h.encode())
        lines.append(f"{w[0]} {w[1]} {w[2]} {len(b)} {h}")
    if args.hashes:
        with open(args.hashes, "w") as f:
            f.write("\n".join(lines) + "\n")
    print(
        f"{len(work)} answers (now {now}): {cpu * 1000 / len(work):.3f} ms CPU each; "
        f"all answers' digest {digest.hexdigest()[:16]}"
    )
    # the store's pages that were not in SQLite's page cache: one pread each
    print(
        f"  {reads / len(work):.1f} read syscalls and {system * 1000 / len(work):.3f} ms "
        "of system time an answer"
    )
    if prof:
        prof.dump_stats(args.cprofile)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
