"""What operators run mailtally with, as real processes (issue 13): SIGTERM to
``mailtally serve`` and ``mailtally ingest --follow``, and the ingester's
``--metrics-port``; the ingester on each backend (conftest's ``store_url``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from mailtally.store import open_store
from test_ingest_files import build_tree, expected, totals, traffic, write  # (helpers)

COMMAND = [sys.executable, "-c", "from mailtally.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_ingest_follow_metrics_then_sigterm_commits_what_was_read(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url)
    build_tree(store)
    store.close()
    log = tmp_path / "mail.log"
    a, b = traffic(10), traffic(10, 1768100000, 2)
    garbage = ["Jan 10 08:00:00 mx1 dovecot: imap-login: Login: garbled"] * 3
    write(log, a + garbage)
    port = free_port()
    p = subprocess.Popen(
        [*COMMAND, "ingest", "--follow", "--db", store_url, str(log),
         "--metrics-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    f = (("file", str(log)),)
    try:
        assert wait_for(lambda: scrape(port)[("mailtally_ingest_commits_total", ())] >= 1, 30)
        m = scrape(port)
        assert m[("mailtally_ingest_lines_read_total", f)] == len(a) + 3
        assert m[("mailtally_ingest_lines_not_understood_total", f)] == 3
        assert m[("mailtally_ingest_bytes_behind", f)] == 0
        assert m[("mailtally_ingest_seconds_since_commit", f)] >= 0
        assert ("mailtally_process_resident_memory_bytes", ()) in m
        # more lines; SIGTERM as soon as they are read, whether or not their batch
        # was committed yet (commits are twice a second): nothing read is lost
        write(log, b, mode="a")
        total = len(a) + 3 + len(b)
        assert wait_for(lambda: scrape(port)[("mailtally_ingest_lines_read_total", f)] == total, 30)
        p.send_signal(signal.SIGTERM)
        _out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err.decode()
    with open_store(store_url) as s:
        assert totals(s) == expected(a + b)


def test_ingest_metrics_port_needs_follow(tmp_path: Path) -> None:
    r = subprocess.run(
        [*COMMAND, "ingest", "--db", f"sqlite:///{tmp_path}/x", "x.log", "--metrics-port", "9"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode != 0 and "--metrics-port" in r.stderr


# -- serve -------------------------------------------------------------------------

#: argon2 slow enough (~0.3-1 s a check here) that a request is in flight when
#: SIGTERM comes
SLOW_TOML = """
[auth]
argon2_time_cost = 12
argon2_memory_kib = 65536
argon2_parallelism = 1
"""


def post(port: int, method: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/{method}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_serve_sigterm_answers_the_request_in_flight_and_writes_the_auth_counts(
    tmp_path: Path,
) -> None:
    """(SQLite only, for CI time: its slow argon2 costs ~25 s a run; test_nodes'
    SIGTERM test writes the auth counts on PostgreSQL.)"""
    config = tmp_path / "m.toml"
    config.write_text(SLOW_TOML)
    db = f"sqlite:///{tmp_path}/s.sqlite3"
    env = {**os.environ, "MAILTALLY_CONFIG": str(config)}
    subprocess.run([*COMMAND, "operator", "add", "root", "--db", db], input="op-secret-1\n",
                   text=True, check=True, env=env, capture_output=True)  # fmt: skip
    port = free_port()
    p = subprocess.Popen(
        [*COMMAND, "serve", "--db", db, "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert wait_for(lambda: urllib.request.urlopen(
            f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200, 30)  # fmt: skip
        op = {"user": "root", "password": "op-secret-1"}
        for call, body in (
            ("change_company", {"company": "Acme"}),
            ("change_domain", {"domain": "acme.com", "company": "Acme"}),
            ("change_user", {"user": "bob@acme.com", "attributes": {"password": "bob-pw-123"}}),
        ):
            assert post(port, call, {"credentials": op, **body})["success"], call
        answers: list[Any] = []

        def in_flight() -> None:  # bob's first request: an argon2 check, slow
            bob = {"user": "bob@acme.com", "password": "bob-pw-123"}
            try:
                answers.append(post(port, "get_user", {"credentials": bob, "user": "bob@acme.com"}))
            except Exception as exc:
                answers.append(exc)

        t = threading.Thread(target=in_flight)
        t.start()
        # SIGTERM while the request waits for its argon2 check (/metrics says so)
        assert wait_for(lambda: scrape(port)[("mailtally_argon2_checks_in_flight", ())] == 1, 30)
        p.send_signal(signal.SIGTERM)
        t.join(60)
        _out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    # uvicorn shuts down, then raises the signal it caught again: the exit of a
    # process SIGTERM stopped, which systemd counts as clean
    assert p.returncode in (0, -signal.SIGTERM), err.decode()
    assert b"Traceback" not in err, err.decode()
    assert len(answers) == 1 and isinstance(answers[0], dict), answers
    assert answers[0]["success"] is True  # answered, not cut off
    # bob's password login was buffered in memory: written on the way out
    with open_store(db) as s, s.read() as q:
        n = q.conn.execute(
            "SELECT COALESCE(SUM(logins_auth_password), 0) FROM flows f JOIN users u "
            "ON f.scope = 'u' AND f.scope_id = u.id WHERE u.address = 'bob@acme.com' "
            "AND f.kind = 0"
        ).fetchone()[0]
    assert n == 1
