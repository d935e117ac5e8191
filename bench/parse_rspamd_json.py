"""What a line of rspamd's JSON log costs to parse, against its plain line (session 14).

    .venv/bin/python bench/parse_rspamd_json.py [N]

CPU seconds (process_time) for N lines of each form through the C parser
(``_fastlog.Parser``) and the reference (``LineParser``), best of 5 rounds; and
amavis's result line with one and with three ``queued_as`` ids.
"""

from __future__ import annotations

import calendar
import sys
import time

from mailtally.ingest import LineParser, _fastlog
from mailtally.ingest.stamps import StampParser

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))
TASK = (
    "id: <m1@example.org>, qid: <4F2A1B2C3D>, ip: 203.0.113.9, from: <s@example.org>, "
    "(default: T (add header): [7.20/15.00] [BAYES_SPAM(5.10){99%;},R_SPF_FAIL(1.00){-all;},"
    "MIME_GOOD(-0.10){text/plain;}]), len: 2345, time: 120.5ms, dns req: 18, digest: "
    "<0a1b2c>, rcpts: <bob@example.com>, mime_rcpts: <bob@example.com>"
)
JSON = (
    '{"ts": 1795827723.12345, "pid": 12345, "severity": "notice", "worker_type": "normal", '
    '"id": "ed2abb", "module": "task", "function": "rspamd_task_write_log", "message": "'
)
AMAVIS = (
    "Nov 28 01:02:03 mail amavis[2716]: (02716-07) Passed SPAM {{RelayedTaggedInbound}}, "
    "[203.0.113.9]:41234 [203.0.113.9] <s@example.org> -> <bob@example.com>,<carol@example.com>,"
    "<dan@example.com>, Queue-ID: 4ABC12345D, Message-ID: <m@example.org>, mail_id: X1y2Z3, "
    "Hits: 9.1, size: 2345, queued_as: {ids}, 420 ms"
)
LINES = {
    "rspamd plain (own file)": f"2026-11-28 01:02:03 #12345(normal) <ed2abb>; task; "
    f"rspamd_task_write_log: {TASK}",
    "rspamd JSON (own file)": JSON + TASK + '"}',
    "rspamd JSON, escaped quotes": JSON
    + TASK.replace("<s@example.org>", '<\\"s t\\"@x.org>')
    + '"}',
    "rspamd JSON through syslog": "Nov 28 01:02:03 mail rspamd[12345]: " + JSON + TASK + '"}',
    "amavis, queued_as: 1 id": AMAVIS.format(ids="4DEF67890A"),
    "amavis, queued_as: 3 ids": AMAVIS.format(ids="4DEF67890A/4DEF67890B/4DEF67890C"),
}


def cpu(parse, line: str, n: int) -> float:
    best = float("inf")
    for _ in range(5):
        t = time.process_time()
        for _ in range(n):
            parse(line)
        best = min(best, time.process_time() - t)
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with open("/proc/loadavg") as f:
        print("load:", f.read().strip())
    c = _fastlog.Parser(StampParser(REF))
    py = LineParser(reference=REF)
    for name, line in LINES.items():
        assert c.parse(line) == py.parse(line) and py.parse(line).status == "ok", name
        tc, tp = cpu(c.parse, line, n), cpu(py.parse, line, n)
        us_c, us_py = tc / n * 1e6, tp / n * 1e6
        print(f"{name:30s} {len(line):4d} chars  C {us_c:6.2f} µs  Python {us_py:6.2f} µs")


if __name__ == "__main__":
    main()
