"""Several ``mailtally serve`` processes on one store (issue 13), on each backend:
a SQLite file, and the session's PostgreSQL schema (its URL carries the schema's
``search_path``; the processes are handed that URL as ``--db``).

Real processes on free loopback ports, each with its own caches and store
connections: what one learns (a token, a failure, a password change, a tree
change, a count) the others must act on — credentials at their next request,
caches within a second — and a process killed or stopped loses nothing that
was committed, and doubles nothing.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    OPERATOR_CREDS,
    PW,
    as_user,
    consecutive_free_ports,
    creds,
    scrape_metrics,
)
from mailtally.store import open_store

BIN = Path(sys.executable).parent
ALICE = as_user("alice@acme.com")


def post(port: int, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /api/<method> on its own connection; (status, answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST", f"/api/{method}", json.dumps(body), {"Content-Type": "application/json"}
        )
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    """One ``mailtally serve`` (``workers`` processes behind one port)."""

    def __init__(
        self,
        workdir: Path,
        db: str,
        config: Path,
        name: str,
        workers: int = 1,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILTALLY_")}
        self.log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                *(str(BIN / "mailtally"), "--config", str(config), "serve", "--db", db),
                *("--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)),
                *extra,
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if post(self.port, "echo", {})[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)

    def call(self, method: str, credentials: Any = None, **body: Any) -> dict[str, Any]:
        body["credentials"] = OPERATOR_CREDS if credentials is None else credentials
        status, answer = post(self.port, method, body)
        assert status == 200, answer
        return answer

    def works(self, credentials: dict[str, str]) -> bool:
        return bool(self.call("stats_summary", credentials, type="user")["success"])

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=30)
        finally:
            self.log.close()
        return code


@pytest.fixture
def store_url(request, backend: str, tmp_path, platform_file) -> str:
    """The platform's store on the test's backend, for the processes to share."""
    if backend == "sqlite":
        path = tmp_path / "shared.sqlite3"
        shutil.copyfile(platform_file, path)
        return f"sqlite:///{path}"
    return str(request.getfixturevalue("pg_schemas").load(platform_file))


@pytest.fixture
def start(tmp_path, store_url) -> Iterator[Callable[..., list[Node]]]:
    """Start serving processes on the platform's store: ``start(n)`` → n nodes."""
    config = tmp_path / "mailtally.toml"
    # cheap argon2 for the passwords set here (the platform's are cheap already)
    config.write_text(
        "[auth]\nargon2_time_cost = 1\nargon2_memory_kib = 64\nargon2_parallelism = 1\n"
    )
    started: list[Node] = []

    def start_nodes(n: int, workers: int = 1, extra: tuple[str, ...] = ()) -> list[Node]:
        nodes = [
            Node(tmp_path, store_url, config, f"node{len(started) + i}", workers, extra)
            for i in range(n)
        ]
        started.extend(nodes)
        for node in nodes:
            node.wait_ready()
        return nodes

    yield start_nodes
    for node in started:
        if node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait()


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["success"] is True, answer
    return answer


def within(seconds: float, condition: Callable[[], bool]) -> float:
    """Seconds until ``condition()`` holds; fails past ``seconds``."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < seconds, f"not within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - began


def user_flows(store_url: str, user: str, *columns: str) -> tuple[int, ...]:
    """The sums of ``columns`` of the user's day rows, read from the store."""
    with open_store(store_url) as store, store.read() as q:
        uid = q.resolve_address(user)[0]
        row = q._one(
            f"SELECT {', '.join(f'COALESCE(SUM({c}), 0)' for c in columns)} FROM flows "
            "WHERE scope = 'u' AND scope_id = ? AND kind = 0",
            uid,
        )
    return tuple(int(v) for v in row)


# -- tokens --------------------------------------------------------------------------


def test_a_token_issued_by_one_process_works_on_another(start, store_url):
    a, b = start(2)
    token = ok(a.call("authenticate", ALICE, generate_session_token=True))["session_token"]
    assert b.works(creds("alice@acme.com", token=token))
    assert a.works(creds("alice@acme.com", token=token))
    # logged out through B: refused by A at its next request, though A had it cached
    ok(b.call("logout_user", user="alice@acme.com"))
    assert not a.works(creds("alice@acme.com", token=token))
    # what a node logs never holds the database's password
    password = re.match(r"[a-z]+://[^/@:]*:([^/@]*)@", store_url)
    if password:
        assert f":{password[1]}@" not in a.log_path.read_text() + b.log_path.read_text()


def test_an_sso_token_is_used_once_when_processes_race_for_it(start):
    nodes = start(3)
    for round_ in range(5):
        token = ok(
            nodes[0].call(
                "generate_token", user="bob@acme.com", reason=f"race {round_}", type="sso", oma=True
            )
        )["token"]
        gate = threading.Barrier(len(nodes))
        answers: list[bool] = []

        def race(node: Node, sso: dict[str, str], gate: threading.Barrier, out: list[bool]) -> None:
            gate.wait()
            out.append(node.works(sso))

        sso = creds("bob@acme.com", token=token)
        threads = [threading.Thread(target=race, args=(n, sso, gate, answers)) for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers) == [False, False, True]


# -- lockout ---------------------------------------------------------------------------


def test_failures_spread_over_processes_lock_the_name(start):
    nodes = start(3)
    for node in nodes:  # cached everywhere before the attack: the lockout still holds
        assert node.works(ALICE)
    wrong = as_user("alice@acme.com", "wrong")
    for i in range(9):
        assert not nodes[i % 3].works(wrong)
    assert all(node.works(ALICE) for node in nodes)  # nine do not lock
    assert not nodes[0].works(wrong)  # the tenth, on another process than the ninth
    for node in nodes:
        answer = node.call("stats_summary", ALICE, type="user")
        assert "too many failures" in answer["error"]
    assert nodes[1].works(as_user("bob@acme.com"))  # per name


# -- credentials -------------------------------------------------------------------


def test_a_password_changed_on_one_process_is_refused_by_another_at_once(start):
    a, b = start(2)
    token = ok(b.call("authenticate", ALICE, generate_session_token=True))["session_token"]
    assert b.works(ALICE) and b.works(creds("alice@acme.com", token=token))  # cached on B
    ok(a.call("change_user", user="alice@acme.com", attributes={"password": "n3w-password"}))
    # B's very next request: the old password and the token it issued are refused
    assert not b.works(ALICE)
    assert not b.works(creds("alice@acme.com", token=token))
    assert b.works(as_user("alice@acme.com", "n3w-password"))
    # and back, for A, which had cached nothing of the new one
    ok(b.call("change_user", user="alice@acme.com", attributes={"password": PW}))
    assert not a.works(as_user("alice@acme.com", "n3w-password"))
    assert a.works(ALICE)


def test_an_operator_password_reset_from_the_command_line_is_refused_at_once(
    platform, start, store_url, tmp_path
):
    (a,) = start(1)
    ok(a.call("echo", OPERATOR_CREDS))
    assert ok(a.call("stats_summary", type="company", object="Acme"))
    subprocess.run(
        [
            *(str(BIN / "mailtally"), "--config", str(tmp_path / "mailtally.toml")),
            *("operator", "add", OPERATOR_CREDS["user"], "--db", store_url),
        ],
        input=b"another-password\n",
        check=True,
        capture_output=True,
    )
    assert not a.call("stats_summary", type="company", object="Acme")["success"]


# -- caches --------------------------------------------------------------------------


def test_a_tree_change_on_one_process_is_seen_by_another_within_a_second(start):
    a, b = start(2)
    view = as_user("view@acme.com")
    assert ok(b.call("stats_summary", view, type="company", object="Acme"))  # cached on B
    ok(a.call("set_role", user="view@acme.com", role=""))
    seconds = within(
        1.0, lambda: not b.call("stats_summary", view, type="company", object="Acme")["success"]
    )
    assert seconds < 1.0


def test_a_count_written_on_one_process_is_seen_by_another_within_a_second(start):
    a, b = start(2)

    def in_ham(node: Node) -> int:
        days = ok(node.call("stats_summary", type="user", object="bob@acme.com"))["summary"]
        return sum(int(d["messages"]["in_ham"] or 0) for d in days.values())

    before = in_ham(b)  # cached on B
    # an hour ago: inside the summary's window of days whatever the date (the
    # servers run on the real clock; a fixed date fell out of it a month later)
    hour_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    event = {"time": hour_ago, "kind": "message_in", "user": "bob@acme.com", "size": 10}
    ok(a.call("ingest_events", batch_id="seen", events=[event]))
    within(1.0, lambda: in_ham(b) == before + 1)


# -- processes that stop ------------------------------------------------------------


def test_kill_9_of_a_process_loses_and_doubles_nothing_committed(start, store_url):
    a, b = start(2)
    batches = 60
    accepted: dict[str, bool] = {}
    lock = threading.Lock()

    def send(i: int) -> None:
        """A batch of one message: to B (A for even ones); retried on A when B is gone."""
        event = {"time": "2026-11-01T10:00:00Z", "kind": "message_in", "user": "carol@acme.net"}
        event["size"] = 1
        body = {"credentials": OPERATOR_CREDS, "batch_id": f"k{i}", "events": [event]}
        for node in [a] if i % 2 == 0 else [b, a]:
            try:
                status, answer = post(node.port, "ingest_events", body)
            except (OSError, http.client.HTTPException):
                continue  # (B killed: sent again, with the same batch id, to A)
            if status == 200 and answer["success"]:
                with lock:
                    accepted[f"k{i}"] = True
                return

    threads = [threading.Thread(target=send, args=(i,)) for i in range(batches)]
    for i, t in enumerate(threads):
        t.start()
        if i == batches // 2:
            b.proc.kill()  # SIGKILL, with requests in flight
    for t in threads:
        t.join()
    b.stop()
    assert len(accepted) == batches
    assert user_flows(store_url, "carol@acme.net", "messages_in_ham") == (batches,)
    with open_store(store_url) as store, store.read() as q:
        assert q._one("SELECT COUNT(*) FROM event_batches WHERE batch_id LIKE 'k%'")[0] == batches


def test_sigterm_flushes_the_auth_counts_of_every_worker(start, store_url):
    (node,) = start(1, workers=2)
    before = user_flows(store_url, "bob@acme.com", "logins_auth_password", "logins_auth_token")
    bob = as_user("bob@acme.com")
    token = ok(node.call("authenticate", bob, generate_session_token=True))["session_token"]
    passwords = 40
    for _ in range(passwords - 1):  # (the authenticate request was the first)
        assert node.works(bob)
    for _ in range(25):
        assert node.works(creds("bob@acme.com", token=token))
    assert node.stop(signal.SIGTERM) == 0
    after = user_flows(store_url, "bob@acme.com", "logins_auth_password", "logins_auth_token")
    assert (after[0] - before[0], after[1] - before[1]) == (passwords, 25)


def test_each_worker_serves_its_own_metrics_port(start):
    """On the API's port a scrape reaches one worker the kernel picks; with
    --metrics-port P each of N workers also answers on one of P..P+N-1, and the
    N scrapes add up to every request the node answered."""
    first = consecutive_free_ports(2)
    (node,) = start(1, workers=2, extra=("--metrics-port", str(first)))
    calls = 30  # (each on a connection of its own: spread over both workers)
    for _ in range(calls):
        assert node.call("stats_summary", type="company", object="Acme")["success"]
    answered = []
    deadline = time.monotonic() + 30
    while len(answered) < 2:  # (a worker may still be starting its metrics thread)
        answered = [p for p in (first, first + 1) if scrape_metrics(p, missing_ok=True)]
        assert time.monotonic() < deadline, "a worker's metrics port never answered"
        time.sleep(0.1)
    total = 0.0
    for port in (first, first + 1):
        total += scrape_metrics(port).get(
            ("mailtally_requests_total", (("method", "stats_summary"), ("outcome", "ok"))), 0.0
        )
    assert total == calls
    assert node.stop(signal.SIGTERM) == 0
