"""Where the CPU of one ``mailtally ingest`` goes (issue 9), by stage.

    .venv/bin/python bench/profile_ingest.py STORE.sqlite3 LOG...

Ingests LOG... into STORE (written to: give it a copy) under cProfile with a CPU
clock (``time.process_time``: the machine is shared, so wall time says little),
then prints each stage's CPU seconds, the functions that make it (by their own
time), and the top functions.  Stages:

- parse+join: the compiled scan() and the Python glue of files.py;
- sum: ``_fastlog.sum_events``;
- tally+rows: record.py's Python (resolving, summing into cells, building rows);
- resolver preload: reading the tree once (``Resolver.preload``, ``accounts``);
- flow upserts, lastlogin, other SQL: statements, by what runs them;
- state: the joiner's state saved with each commit.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from collections import defaultdict

from mailtally.ingest.files import Ingester
from mailtally.periods import Periods
from mailtally.store import open_store

STAGES = {
    "parse+join": ("_fastlog.scan", "files.py", "Joiner' objects>", "method 'take'"),
    "sum": ("sum_events",),
    "tally+rows": ("record.py", "_fastlog.tally"),
    "resolver preload": ("base.py:4", "preload"),
}


def stage_of(key: tuple[str, int, str], caller: tuple[str, int, str] | None = None) -> str:
    """A function's stage, by its file and name (SQL and builtins by their caller)."""
    file, line, name = key
    where = f"{file}:{line}({name})"
    sql = "executemany" in name or "method 'execute'" in name or "commit" in name
    if sql and caller is not None:
        if caller[2] == "add_flow_rows":
            return "flow upserts"
        if "lastlogin" in caller[2]:
            return "lastlogin"
    if sql:
        return "other SQL"
    if "state' of" in name:
        return "state"
    for stage, marks in STAGES.items():
        if any(m in where for m in marks):
            return stage
    if file == "~" and caller is not None and stage_of(caller) != "other":
        return stage_of(caller)
    return "other"


def main() -> None:
    store = open_store(f"sqlite:///{sys.argv[1]}")
    prof = cProfile.Profile(time.process_time)
    t0 = time.process_time()
    prof.enable()
    report = Ingester(store, Periods("UTC")).ingest(sys.argv[2:])
    prof.disable()
    total = time.process_time() - t0
    store.close()
    stats = pstats.Stats(prof)
    by_stage: dict[str, float] = defaultdict(float)
    parts: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for key, (_cc, _nc, tt, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        name = f"{key[0].rsplit('/', 1)[-1]}:{key[1]}({key[2]})"
        # a builtin's or a statement's time goes to its callers' stages
        shares = [(c, v[2]) for c, v in callers.items()] if key[0] == "~" and callers else []
        for caller, t in shares or [(None, tt)]:
            stage = stage_of(key, caller)
            by_stage[stage] += t
            parts[stage].append((t, name))
    print(f"lines {report.lines}  events {report.events}  CPU {total:.2f} s (profiled)")
    for stage, secs in sorted(by_stage.items(), key=lambda kv: -kv[1]):
        top = ", ".join(f"{n} {t:.2f}" for t, n in sorted(parts[stage], reverse=True)[:4])
        print(f"  {stage:18} {secs:6.2f} s   {top}")


if __name__ == "__main__":
    main()
