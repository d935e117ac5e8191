"""Instructions per cached ``stats_summary`` request through the whole ASGI app
(Starlette, the error envelope, api/ops.py's middleware, the view), before and
after a change (issue 13: /metrics and the access log must cost at most a few µs
a request).

Builds nothing: give it a store with the demo platform (``mailtally demo --db
URL``).  It makes the app, asks once (the argon2 check and the summary are
cached), then sends ``--calls`` more requests straight to the ASGI app, no
sockets.  Run it twice under callgrind, with 0 and N calls: the difference of the
totals over N is the cost of one request, which the machine's load does not
change::

    for src in /tmp/base/src src; do for n in 0 2000; do
      PYTHONPATH=$src valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/ops_request_cost.py --db sqlite:///DEMO --calls $n 2>&1 | grep refs
    done; done

``--turns`` puts each request in its own turn of the event loop (as a lightly
loaded server sees them; without it every call is in one turn, which shares
one credential read: auth.py) and prints the CPU time a request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

BODY = json.dumps(
    {
        "credentials": {"user": "admin@example.com", "password": "demo-password"},
        "type": "domain",
        "object": "example.com",
        "by": "month",
    }
).encode()
SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "POST",
    "scheme": "http",
    "path": "/api/stats_summary",
    "raw_path": b"/api/stats_summary",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))],
    "client": ("127.0.0.1", 40000),
    "server": ("127.0.0.1", 8080),
}


async def request(app: Any) -> bytes:
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(dict(SCOPE, state={}), receive, send)
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def main(
    db: str, calls: int, access_log: bool, skip_observe: bool, turns: bool = False
) -> None:
    from mailtally.api import create_app
    from mailtally.config import load_config
    from mailtally.store import open_store

    config = load_config(None, db=db)
    if access_log:
        import msgspec

        config = msgspec.structs.replace(config, access_log=True)
    app = create_app(open_store(db), config)
    first = await request(app)
    assert first.startswith(b'{"success":true'), first[:200]
    if skip_observe:  # the same app without api/ops.py's middleware (built by now)
        outer = app.middleware_stack
        assert type(outer.app).__name__ == "Observe"
        outer.app = outer.app.app
    for _ in range(200 if turns else 0):  # (warm: the statements, the caches)
        await request(app)
        await asyncio.sleep(0)
    start = time.thread_time()
    for _ in range(calls):
        await request(app)
        if turns:
            # each request in its own turn of the event loop, as a lightly loaded
            # server sees them: otherwise every call is in the first one, and the
            # credential read of one turn serves them all (auth.py)
            await asyncio.sleep(0)
    if turns and calls:
        print(f"{(time.thread_time() - start) / calls * 1e6:.1f} µs of CPU a request")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--access-log", action="store_true", help="(lines to stderr)")
    ap.add_argument("--skip-observe", action="store_true",
                    help="take api/ops.py's middleware out after the first request")  # fmt: skip
    ap.add_argument("--turns", action="store_true",
                    help="each request in its own loop turn; print its CPU µs")  # fmt: skip
    a = ap.parse_args()
    asyncio.run(main(a.db, a.calls, a.access_log, a.skip_observe, a.turns))
