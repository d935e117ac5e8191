"""Wall, thread CPU and page faults of each phase of one ``mailtally ingest`` (issue 9).

    .venv/bin/python bench/ingest_phases.py STORE.sqlite3 LOG...

Ingests LOG... into STORE (written to: give it a copy) with the phases of
files.py, record.py and store/base.py wrapped: for each, its thread, when it
started and ended (s since start-up), its wall and thread-CPU seconds and the
process's minor page faults meanwhile (other threads' included).  Where
bench/profile_ingest.py says which functions cost CPU, this says which of
them are on the critical path: the writer thread ("user-flows") runs beside
the main thread's sums, and what the main thread waits for shows as wall
without CPU.  Run another commit's code with PYTHONPATH=OTHER/src first.
"""

from __future__ import annotations

import functools
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

T0 = time.perf_counter()

from mailtally import record  # noqa: E402
from mailtally.ingest import _fastlog, files  # noqa: E402
from mailtally.periods import Periods  # noqa: E402
from mailtally.store import base, open_store  # noqa: E402

Row = tuple[str, str, float, float, float, int]
LOG: list[Row] = []


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def wrap(owner: Any, name: str) -> None:
    """Time every call of ``owner.name`` into LOG."""
    fn: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(fn)
    def timed(*args: Any, **kw: Any) -> Any:
        wall, cpu, flt = time.perf_counter(), time.thread_time(), faults()
        try:
            return fn(*args, **kw)
        finally:
            LOG.append(
                (
                    name,
                    threading.current_thread().name,
                    wall - T0,
                    time.perf_counter() - wall,
                    time.thread_time() - cpu,
                    faults() - flt,
                )
            )

    setattr(owner, name, timed)


PHASES: list[tuple[Any, str]] = [
    (record.Resolver, "preload"),
    (files.Ingester, "_lines"),
    (files.Ingester, "_write_batch"),
    (_fastlog, "sum_events"),
    (_fastlog, "tally_events"),
    (record._Tally, "user_deltas"),
    (base.Queries, "add_user_flows"),
    (base.Queries, "_user_flows_writer"),
    (record._Tally, "scope_rows"),
    (files.Ingester, "_encoded_state"),
    (base, "delta_logins"),
    (base.Queries, "raise_lastlogins"),
    (base.Queries, "add_flow_rows"),
]


def main() -> None:
    for owner, name in PHASES:
        wrap(owner, name)
    store = open_store(f"sqlite:///{sys.argv[1]}")
    opened = time.perf_counter()
    files.Ingester(store, Periods("UTC")).ingest(sys.argv[2:])
    ingested = time.perf_counter()
    store.close()
    closed = time.perf_counter()
    sums: dict[tuple[str, str], list[float]] = {}
    for name, thread, start, wall, cpu, flt in LOG:
        s = sums.setdefault((name, thread), [start, 0.0, 0.0, 0.0, 0.0, 0.0])
        s[1] = max(s[1], start + wall)
        s[2] += wall
        s[3] += cpu
        s[4] += flt
        s[5] += 1
    for (name, thread), (start, end, wall, cpu, flt, n) in sorted(
        sums.items(), key=lambda kv: kv[1][0]
    ):
        print(
            f"{name:20} {thread:11} {start:6.3f}-{end:6.3f}  wall {wall:6.3f}  "
            f"cpu {cpu:6.3f}  faults {int(flt):6}  n={int(n)}"
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"imports+open {opened - T0:.3f} s, ingest {ingested - opened:.3f} s, close "
        f"{closed - ingested:.3f} s; CPU {usage.ru_utime:.2f} user + {usage.ru_stime:.2f} sys; "
        f"faults {usage.ru_minflt}"
    )


if __name__ == "__main__":
    main()
