"""Build ``store.sql.gz`` and ``answers.json`` with the release before migration 4.

Run from a checkout of commit 760122a (schema 3), with that checkout's tests on
the path::

    git worktree add --detach /tmp/old 760122a && make -C /tmp/old venv
    cd /tmp/old/tests && PYTHONPATH=. ../.venv/bin/python /path/to/tests/data/schema3/make.py OUTDIR

The store: the demo platform (14 months of counts, quota reports, deleted
accounts) and a 20-day synthesized Postfix + Dovecot log with its quota reports,
ingested by the compiled path.  ``answers.json``: the SHA-256 of the body of
every ``stats_summary`` (every company, domain and user, by day, week and month)
as that release's API sent it, at the fixed time ``NOW``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from conftest import (
    OPERATOR,
    OPERATOR_CREDS,
    OPERATOR_PASSWORD,
    add_operator,
    cheap_config,
    hasher_for,
)
from mailtally.api import create_app
from mailtally.demo import build_demo
from mailtally.periods import KINDS, FixedClock, Periods
from mailtally.store.sqlite import SQLiteStore
from test_floods import post
from test_ingest_e2e import synth_and_ingest

LOG_START, LOG_DAYS = date(2026, 1, 26), 20
NOW = int(datetime(2026, 2, 15, 12, tzinfo=UTC).timestamp())


def main(out: Path) -> None:
    work = Path(tempfile.mkdtemp())
    store = SQLiteStore(work / "store.sqlite3")
    assert store.schema_version() == 3
    add_operator(store, hasher_for(cheap_config()), OPERATOR, OPERATOR_PASSWORD)
    build_demo(store, Periods("UTC"), hasher_for(cheap_config()), NOW)
    synth_and_ingest(store, work / "logs", 5, 4000, LOG_DAYS, LOG_START)
    with store.read() as q:
        objects = [("company", r[0]) for r in q.conn.execute("SELECT name FROM companies")]
        objects += [("domain", r[0]) for r in q.conn.execute("SELECT name FROM domains")]
        objects += [("user", r[0]) for r in q.conn.execute("SELECT address FROM users")]
        dump = "\n".join(q.conn.iterdump())
    app = create_app(store, cheap_config(), FixedClock(NOW))

    async def ask_all() -> dict[str, str]:
        answers = {}
        async with app.router.lifespan_context(app):
            for type_, name in objects:
                for by in KINDS:
                    req = {"credentials": OPERATOR_CREDS, "type": type_, "object": name, "by": by}
                    status, body = await post(app, "stats_summary", req)
                    assert status == 200, body
                    answers[f"{type_} {name} {by}"] = hashlib.sha256(body).hexdigest()
        return answers

    answers = asyncio.run(ask_all())
    store.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "store.sql.gz").write_bytes(gzip.compress(dump.encode(), mtime=0))
    (out / "answers.json").write_text(json.dumps(answers, indent=0, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
