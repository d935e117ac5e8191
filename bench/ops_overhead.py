"""The per-request cost of api/ops.py's middleware (issue 13: at most a few µs).

Calls a minimal ASGI app (one ``http.response.start``, one body: what a cached
``stats_summary`` answer sends) N times directly and N times through
:class:`mailtally.api.ops.Observe`, with the access log off and on (written to
/dev/null), in one event loop, alternating rounds; prints the best round's µs
per call and the difference.

    .venv/bin/python bench/ops_overhead.py [--calls 200000]

Instructions per call, which the machine's load does not change (callgrind;
the difference of two runs over the difference of their calls)::

    for t in "bare app" "Observe (counts, histogram)" "Observe + access log"; do
      for n in 0 20000; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python bench/ops_overhead.py --only "$t" --calls $n 2>&1 | grep refs; done; done
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from mailtally.api.app import METHODS
from mailtally.api.ops import Observe, RequestStats

BODY = b'{"success":true,"summary":{}}' + b" " * 2000
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json")],
}
SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/api/stats_summary",
    "client": ("10.0.0.1", 5555),
    "mailtally.user": "alice@acme.com",
}


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    await send(START)
    await send({"type": "http.response.body", "body": BODY})


async def receive():  # type: ignore[no-untyped-def]
    return {"type": "http.request", "body": b""}


async def send(message):  # type: ignore[no-untyped-def]
    return None


async def per_call(target, n: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for _ in range(n):
        await target(SCOPE, receive, send)
    return (time.perf_counter() - started) / n * 1e6


def targets() -> dict[str, object]:
    null = os.open(os.devnull, os.O_WRONLY)
    return {
        "bare app": app,
        "Observe (counts, histogram)": Observe(app, RequestStats(), METHODS),
        "Observe + access log": Observe(app, RequestStats(), METHODS, lambda b: os.write(null, b)),
    }


async def only(name: str, n: int) -> None:
    """One target, n calls: for callgrind (instructions per call = the
    difference of two runs' totals / the difference of their n)."""
    target = targets()[name]
    for _ in range(n):
        await target(SCOPE, receive, send)  # type: ignore[operator]


async def main(n: int, rounds: int) -> None:
    targets_ = targets()
    best = dict.fromkeys(targets_, float("inf"))
    for _ in range(rounds):
        for name, target in targets_.items():
            best[name] = min(best[name], await per_call(target, n))
    base = best["bare app"]
    print(f"load {os.getloadavg()[0]:.2f}; best of {rounds} rounds of {n:,} calls")
    for name, us in best.items():
        print(f"| {name} | {us:.2f} µs | +{us - base:.2f} µs |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default=None, help="run one target --calls times (callgrind)")
    a = ap.parse_args()
    asyncio.run(only(a.only, a.calls) if a.only else main(a.calls, a.rounds))
