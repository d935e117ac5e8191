"""An ingester on every mail server (issue 13): ``--source`` and the agent (``--to``).

The logs are a synth platform of three mail servers (``--hosts 3``), its central
log split back into each server's own (a server's ingester reads only its
lines).  The reference is each server's logs read alone, one after the other,
by an uninterrupted direct ingester; the runs below — two direct ingesters and
an agent at once, with API writes between through two ``serve`` processes,
``kill -9`` of an ingester, of the agent and of a node mid-run, a proxy that
loses answers — must end with the very same rows.

The reference is a SQLite file; the runs go to a store on each backend (a
SQLite file, the session's PostgreSQL schema: conftest's ``backend``), and
their rows are compared column by column (PostgreSQL's are in another order).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailtally.config import Site
from mailtally.ingest.agent import Agent, ApiClient
from mailtally.ingest.files import Ingester
from mailtally.periods import Periods
from mailtally.store import Store, open_store
from mailtally.store.sqlite import SQLiteStore
from mailtally.synth import synthesize
from test_migration_15 import before_15

HOSTS = ("mx1", "mx2", "mx3")
PASSWORD = "agent-password-1"
CHEAP = "\n[auth]\nargon2_time_cost = 1\nargon2_memory_kib = 64\nargon2_parallelism = 1\n"


# -- the logs ----------------------------------------------------------------------------


def split_hosts(src: Path, out: Path) -> dict[str, tuple[Path, list[Path]]]:
    """Each server's mail log (its lines of every rotated file, in order, in one file)
    and its other files (quota reports; Roundcube's log on mx1)."""
    truth = json.loads((src / "truth.json").read_text())
    lines: dict[str, list[bytes]] = {h: [] for h in HOSTS}
    extra: dict[str, list[Path]] = {h: [] for h in HOSTS}
    for name in truth["files"]:
        p = src / name
        if not name.startswith("mail.log"):
            host = name.split("/")[1] if name.startswith("quota/") else HOSTS[0]
            dst = out / host / name.replace("/", "-")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dst)
            extra[host].append(dst)
            continue
        data = gzip.decompress(p.read_bytes()) if name.endswith(".gz") else p.read_bytes()
        for line in data.splitlines(keepends=True):
            f = line.split(b" ")
            # RFC 3339 stamps: the host is the 2nd field; classic ones: the 4th
            host = (f[1] if f[0][:1].isdigit() else f[3] if len(f) > 3 else b"").decode(
                "utf-8", "replace"
            )
            lines[host if host in lines else HOSTS[0]].append(line)  # garbage: mx1's
    logs = {}
    for h in HOSTS:
        log = out / h / "all.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_bytes(b"".join(lines[h]))
        logs[h] = (log, extra[h])
    return logs


#: the tables of counted rows: their columns, in SQLite's order (the platform's
#: store is read for them once)
COUNTED: dict[str, list[str]] = {"flows": [], "gauges": [], "storage_reports": []}


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def rows(url: str, skip_company: int | None = None) -> dict[str, list[Any]]:
    """Every counted row of the store at ``url`` (flows, gauges, storage reports),
    its columns named (in the same order on both backends)."""
    out = {}
    with open_store(url, create=False) as store, store.read() as q:
        for table, columns in COUNTED.items():
            got = q.conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
            if skip_company is not None and table != "storage_reports":
                got = [r for r in got if r[0] != skip_company]
            out[table] = sorted(tuple(r) for r in got)
    return out


def reference(platform: dict[str, Any], host: str, extra: bool = True) -> dict[str, list[Any]]:
    """The rows of ``host``'s mail log (and its other files) read alone, by an
    uninterrupted direct ingester (computed once a module)."""
    key = (host, extra)
    if key not in platform["alone"]:
        log, others = platform["logs"][host]
        path = platform["base"].with_name(f"alone-{host}-{int(extra)}.sqlite3")
        shutil.copyfile(platform["base"], path)
        files = [str(log), *(map(str, others) if extra else ())]
        assert cli("ingest", "--quiet", "--db", sqlite_url(path), "--source", host, *files,
                   config=platform["config"]).wait() == 0  # fmt: skip
        platform["alone"][key] = rows(sqlite_url(path))
    return platform["alone"][key]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("platform")
    store = SQLiteStore(base / "base.sqlite3")
    synthesize(store, base / "logs", lines=30_000, days=2, seed=3, hosts=3)
    with store.read() as q:
        for table, columns in COUNTED.items():
            columns[:] = [
                d[0] for d in q.conn.execute(f"SELECT * FROM {table} LIMIT 0").description
            ]
    store.close()
    truth = json.loads((base / "logs" / "truth.json").read_text())
    site = (
        f'timezone = "UTC"\n[site]\nwebmail_hosts = {json.dumps(truth["webmail_hosts"])}\n'
        f"own_hosts = {json.dumps(truth['own_hosts'])}\n"
    )
    config = base / "mailtally.toml"
    config.write_text(site + CHEAP)
    logs = split_hosts(base / "logs", base / "hosts")
    # the reference: each server's logs alone, one after the other, uninterrupted
    ref = base / "reference.sqlite3"
    shutil.copyfile(base / "base.sqlite3", ref)
    for h in HOSTS:
        assert cli("ingest", "--quiet", "--db", sqlite_url(ref), "--source", h,
                   str(logs[h][0]), *map(str, logs[h][1]), config=config).wait() == 0  # fmt: skip
    return {"base": base / "base.sqlite3", "config": config, "logs": logs,
            "ref": rows(sqlite_url(ref)), "alone": {}}  # fmt: skip


# -- processes ---------------------------------------------------------------------------


def cli(*args: str, config: Path, stdin: bytes | None = None) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(
        [sys.executable, "-c", "from mailtally.cli import main; main()",
         "--config", str(config), *args],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    if stdin is not None:
        assert p.stdin is not None
        p.stdin.write(stdin)
        p.stdin.close()
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(url: str, method: str, **body: Any) -> dict[str, Any]:
    body.setdefault("credentials", {"user": "agentop", "password": PASSWORD})
    req = urllib.request.Request(
        f"{url}api/{method}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as answer:
        out: dict[str, Any] = json.loads(answer.read())
    return out


class Node:
    """A ``mailtally serve`` on a store, on a port of its own (kept when restarted)."""

    def __init__(self, store: str, config: Path) -> None:
        self.store, self.config = store, config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.start()

    def start(self) -> None:
        """Start it (:meth:`ready` waits for its answers)."""
        self.proc = cli("serve", "--db", self.store, "--port", str(self.port), config=self.config)

    def ready(self) -> None:
        for _ in range(600):
            try:
                call(self.url, "echo")
                return
            except OSError:
                assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
                time.sleep(0.05)
        raise AssertionError("serve did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


@contextlib.contextmanager
def serving(store: str, config: Path, nodes: int = 1) -> Iterator[list[Node]]:
    """``nodes`` ``mailtally serve`` processes on ``store``."""
    started: list[Node] = []
    try:
        for _ in range(nodes):
            started.append(Node(store, config))
        for node in started:  # (started together, waited for in turn)
            node.ready()
        yield started
    finally:
        for node in started:
            node.stop()


def agent_config(platform: dict[str, Any], tmp: Path) -> Path:
    config = tmp / "agent.toml"
    config.write_text(
        platform["config"].read_text()
        + f'\n[agent]\nuser = "agentop"\npassword = "{PASSWORD}"\nstate_dir = "{tmp}/state"\n'
    )
    return config


def store_with_operator(platform: dict[str, Any], url: str) -> str:
    """``url`` (the platform's store, loaded) after adding the agent's operator."""
    op = cli("operator", "add", "--db", url, "agentop",
             config=platform["config"], stdin=PASSWORD.encode() + b"\n")  # fmt: skip
    assert op.wait(timeout=60) == 0
    return url


def sqlite_copy(platform: dict[str, Any], path: Path) -> str:
    shutil.copyfile(platform["base"], path)
    return sqlite_url(path)


@pytest.fixture
def loaded(request: pytest.FixtureRequest, backend: str, platform: dict[str, Any],
           tmp_path: Path) -> str:  # fmt: skip
    """The URL of the platform's store on the test's backend."""
    if backend == "sqlite":
        return sqlite_copy(platform, tmp_path / "s.sqlite3")
    return str(request.getfixturevalue("pg_schemas").load(platform["base"]))


@pytest.fixture
def shared(platform: dict[str, Any], loaded: str) -> str:
    """:func:`loaded`, with the agent's operator."""
    return store_with_operator(platform, loaded)


# -- sources -----------------------------------------------------------------------------


def test_sources_keep_their_own_positions_and_joiner_state(
    platform: dict[str, Any], loaded: str, tmp_path: Path
) -> None:
    log = platform["logs"]["mx2"][0]
    half = log.read_bytes()
    cut = half.index(b"\n", len(half) // 2) + 1
    mine = tmp_path / "mail.log"
    mine.write_bytes(half[:cut])
    with open_store(loaded) as store:
        Ingester(store, Periods("UTC"), source="a").ingest([str(mine)])
        # the same file is news to another source: its positions are its own
        Ingester(store, Periods("UTC"), source="b").ingest([str(mine)])
        with mine.open("ab") as f:
            f.write(half[cut:])
        Ingester(store, Periods("UTC"), source="a").ingest([str(mine)])
        with store.read() as q:
            a, b = q.ingest_files("a"), q.ingest_files("b")
            assert [r[6] for r in a] == [len(half)] and [r[6] for r in b] == [cut]
            assert q.ingest_files() == []  # the default source read nothing
            assert q.ingest_state("joiner/a") != q.ingest_state("joiner/b")
            assert q.ingest_state("joiner/default") is None


# (SQLite only: it undoes SQLite's migration 0012; PostgreSQL's schema starts past it)
def test_a_store_ingested_before_sources_resumes_as_the_default_source(
    platform: dict[str, Any], tmp_path: Path
) -> None:
    log = platform["logs"]["mx3"][0]
    data = log.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    mine = tmp_path / "mail.log"
    mine.write_bytes(data[:cut])
    path = tmp_path / "old.sqlite3"
    shutil.copyfile(platform["base"], path)
    with open_store(f"sqlite:///{path}") as store:
        Ingester(store, Periods("UTC")).ingest([str(mine)])
    # as it was before migration 0012: no source column, the state under 'joiner'
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(
        "DROP INDEX ingest_files_source; ALTER TABLE ingest_files DROP COLUMN source;"
        "UPDATE ingest_state SET name = 'joiner' WHERE name = 'joiner/default';"
        "UPDATE meta SET value = '11' WHERE key = 'schema_version';"
    )
    db.close()
    before_15(path, 11)  # (and lastlogin in users, as it was then)
    mine.write_bytes(data)
    with open_store(f"sqlite:///{path}") as store:
        assert store.schema_version() >= 12
        Ingester(store, Periods("UTC")).ingest([str(mine)])
    whole = tmp_path / "whole.sqlite3"
    shutil.copyfile(platform["base"], whole)
    with open_store(f"sqlite:///{whole}") as store:
        Ingester(store, Periods("UTC")).ingest([str(mine)])
    assert rows(sqlite_url(path)) == rows(sqlite_url(whole))
    assert rows(sqlite_url(path))["flows"]


# -- the agent ---------------------------------------------------------------------------


class DroppingProxy:
    """Forwards each HTTP request to ``upstream`` and, for every third one, closes
    the client's connection instead of handing over the answer: the request was
    served (and a batch counted), the client never learns it."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.answers = 0
        self.dropped = 0
        #: answers of ingest_events that were counted and lost
        self.dropped_batches = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        self._ready.set()
        self.loop.run_forever()
        server.close()

    @staticmethod
    async def _message(reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return head + await reader.readexactly(length)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await self._message(reader)
                up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream)
                up_w.write(request)
                await up_w.drain()
                answer = await self._message(up_r)
                up_w.close()
                self.answers += 1
                if self.answers % 3 == 0:
                    self.dropped += 1
                    if b"/api/ingest_events" in request.split(b"\r\n", 1)[0]:
                        self.dropped_batches += 1
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def test_the_agent_through_a_proxy_losing_every_third_answer_counts_once(
    platform: dict[str, Any], shared: str, tmp_path: Path
) -> None:
    log, extra = platform["logs"]["mx3"]
    config = agent_config(platform, tmp_path)
    live = tmp_path / "mail.log"
    live.write_bytes(b"")
    lines = log.read_bytes().splitlines(keepends=True)
    step = len(lines) // 20 + 1
    state = tmp_path / "state" / "agent-mx3.json"
    with serving(shared, config) as (node,):
        proxy = DroppingProxy(node.port)
        to = f"http://127.0.0.1:{proxy.port}/"
        try:
            p = cli("ingest", "--follow", "--source", "mx3", "--to", to, str(live),
                    config=config)  # fmt: skip
            for i in range(0, len(lines), step):  # a batch or more each
                with live.open("ab") as f:
                    f.write(b"".join(lines[i : i + step]))
                time.sleep(0.4)
            for _ in range(600):
                if agent_position(state) == live.stat().st_size:
                    break
                assert p.poll() is None, p.stderr.read() if p.stderr else ""
                time.sleep(0.1)
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=60) == 0, p.stderr.read() if p.stderr else ""
            p = cli("ingest", "--quiet", "--source", "mx3", "--to", to, *map(str, extra),
                    config=config)  # fmt: skip
            assert p.wait(timeout=300) == 0, p.stderr.read() if p.stderr else ""
        finally:
            proxy.close()
    # batches were counted whose answers never came: each was sent again, once counted
    assert proxy.dropped_batches >= 3, (proxy.answers, proxy.dropped)
    assert rows(shared) == reference(platform, "mx3")
    assert json.loads(state.read_bytes())["batch"] is None


class Killed(BaseException):
    """The agent's process ends here (as by kill -9: nothing after it runs)."""


@pytest.mark.parametrize("when", ["before the post", "after the server counted it"])
def test_an_agent_killed_around_a_post_resends_its_journalled_batch_once(
    platform: dict[str, Any],
    shared: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    when: str,
) -> None:
    log, _extra = platform["logs"]["mx3"]
    config = agent_config(platform, tmp_path)
    truth = json.loads((platform["base"].parent / "logs" / "truth.json").read_text())
    site = Site(webmail_hosts=truth["webmail_hosts"], own_hosts=truth["own_hosts"])
    state = tmp_path / "state" / "agent-mx3.json"
    post = Agent._post_part
    posts: list[str] = []

    def post_and_die(self: Agent, batch_id: str, events: list[dict[str, Any]]) -> int:
        if when == "before the post":
            raise Killed
        post(self, batch_id, events)
        posts.append(batch_id)
        raise Killed

    with serving(shared, config) as (node,):

        def agent() -> Agent:
            api = ApiClient(node.url, "agentop", PASSWORD)
            return Agent(api, state, Periods("UTC"), site, batch_lines=2000, source="mx3")

        with monkeypatch.context() as m:
            m.setattr(Agent, "_post_part", post_and_die)
            with pytest.raises(Killed):
                agent().ingest([str(log)])
        journal = json.loads(state.read_bytes())
        assert journal["batch"] is not None and journal["batch"]["events"]
        if posts:
            assert posts == [journal["batch"]["id"] + ".1"]
        again = agent()  # the journalled batch goes first, under its id
        assert json.loads(state.read_bytes())["batch"] is None
        again.ingest([str(log)])
    assert rows(shared) == reference(platform, "mx3", extra=False)


def test_an_address_gone_before_the_post_is_left_out_as_a_direct_ingest_would(
    platform: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, _extra = platform["logs"]["mx3"]
    text = log.read_text(errors="replace")
    truth = json.loads((platform["base"].parent / "logs" / "truth.json").read_text())
    victim = max(truth["users"], key=lambda u: text.count(f"<{u}>"))
    assert text.count(f"<{victim}>") > 3
    config = agent_config(platform, tmp_path)
    ref = store_with_operator(platform, sqlite_copy(platform, tmp_path / "ref.sqlite3"))
    with serving(ref, config) as (node,):
        assert call(node.url, "rename_user", user=victim, new_name="renamed." + victim)["success"]
    assert cli("ingest", "--quiet", "--db", ref, "--source", "mx3",
               str(log), config=platform["config"]).wait() == 0  # fmt: skip
    store = store_with_operator(platform, sqlite_copy(platform, tmp_path / "s.sqlite3"))
    site = Site(webmail_hosts=truth["webmail_hosts"], own_hosts=truth["own_hosts"])
    said: list[str] = []
    with serving(store, config) as (node,):
        api = ApiClient(node.url, "agentop", PASSWORD)
        agent = Agent(api, tmp_path / "a.json", Periods("UTC"), site, source="mx3", log=said.append)
        # renamed after the agent learnt the tree, and not learnt again before the post
        assert call(node.url, "rename_user", user=victim, new_name="renamed." + victim)["success"]
        monkeypatch.setattr(Agent, "_check_tree", lambda self: None)
        agent.ingest([str(log)])
    assert any("left out" in m for m in said), said
    assert rows(store) == rows(ref)


def test_the_agent_refuses_bad_credentials_clearly(
    platform: dict[str, Any], tmp_path: Path
) -> None:
    store = store_with_operator(platform, sqlite_copy(platform, tmp_path / "s.sqlite3"))
    config = agent_config(platform, tmp_path)
    config.write_text(config.read_text().replace(PASSWORD, "not-the-password"))
    with serving(store, config) as (node,):
        p = cli("ingest", "--quiet", "--source", "mx3", "--to", node.url,
                str(platform["logs"]["mx3"][0]), config=config)  # fmt: skip
        assert p.wait(timeout=60) != 0
        err = p.stderr.read().decode() if p.stderr else ""
    assert "Error:" in err and "agentop" in err and "Traceback" not in err


# -- all at once -------------------------------------------------------------------------


def positions(store: Store, source: str) -> int:
    with store.read() as q:
        return sum(int(r[6]) for r in q.ingest_files(source))


def agent_position(state: Path) -> int:
    try:
        data = json.loads(state.read_bytes())
    except (FileNotFoundError, ValueError):
        return 0
    return -1 if data["batch"] else sum(int(f[6]) for f in data["files"])


def test_two_ingesters_and_an_agent_at_once_with_kills_count_as_one_alone(
    platform: dict[str, Any], shared: str, tmp_path: Path
) -> None:
    config = agent_config(platform, tmp_path)
    live = {h: tmp_path / "live" / h / "mail.log" for h in HOSTS}
    for path in live.values():
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    chunks = {}
    for h in HOSTS:
        data = platform["logs"][h][0].read_bytes().splitlines(keepends=True)
        step = len(data) // 10 + 1
        chunks[h] = [b"".join(data[i : i + step]) for i in range(0, len(data), step)]
    state = tmp_path / "state" / "agent-mx3.json"

    def start(h: str) -> subprocess.Popen[bytes]:
        where = ["--to", a.url] if h == "mx3" else ["--db", shared]
        return cli("ingest", "--follow", "--batch-lines", "3000", "--source", h, *where,
                   str(live[h]), config=config)  # fmt: skip

    def read_to(h: str) -> int:
        return agent_position(state) if h == "mx3" else positions(store, h)

    def caught_up(written: dict[str, int]) -> None:
        for _ in range(600):
            if all(read_to(h) == written[h] for h in HOSTS):
                return
            for p in procs.values():
                assert p.poll() is None, p.stderr.read() if p.stderr else ""
            time.sleep(0.1)
        raise AssertionError({h: (read_to(h), written[h]) for h in HOSTS})

    written = dict.fromkeys(HOSTS, 0)
    # two API nodes: the agent posts to A; the API writes go to both, in turn
    with serving(shared, config, nodes=2) as (a, b), open_store(shared) as store:
        ok = call(a.url, "change_company", company="Extra")
        assert ok["success"], ok
        assert call(b.url, "change_domain", domain="extra.example", company="Extra")["success"]
        procs = {h: start(h) for h in HOSTS}
        posted = 0
        try:
            for i in range(max(len(c) for c in chunks.values())):
                for h in HOSTS:
                    if i < len(chunks[h]):
                        with live[h].open("ab") as f:
                            f.write(chunks[h][i])
                        written[h] += len(chunks[h][i])
                # API writes between: the tree changes (on one node, the user
                # known to the other), events are posted (the batch twice: once
                # to each node)
                user = f"u{i}@extra.example"
                one, other = (a, b) if i % 2 else (b, a)
                a.ready()  # (at once, unless restarted in the round before)
                answer = call(one.url, "change_user", user=user, attributes={})
                assert answer["success"], answer
                event = {"time": "2026-01-02T03:04:05Z", "kind": "login", "user": user,
                         "service": "imap4"}  # fmt: skip
                for node in (other, one):
                    answer = call(node.url, "ingest_events", batch_id=f"api-{i}", events=[event])
                    assert answer["success"], answer
                posted += 1
                if i in (3, 7):  # mid-run: kill -9 a direct ingester and the agent
                    time.sleep(0.2 + 0.1 * i)
                    for h in ("mx1", "mx3"):
                        procs[h].send_signal(signal.SIGKILL)
                        procs[h].wait()
                        procs[h] = start(h)
                if i == 4:  # and the agent's node, its posts in flight (retried meanwhile)
                    time.sleep(0.3)
                    a.kill()
                    time.sleep(0.3)
                    a.start()
                if i == 5:  # logrotate's create, once every line of the file was read
                    caught_up(written)
                    for h in ("mx1", "mx3"):
                        live[h].rename(live[h].with_name("mail.log.1"))
                        live[h].write_bytes(b"")
                time.sleep(0.3)
            # read to the end (rotated files count in the positions too)
            caught_up(written)
        finally:
            for p in procs.values():
                p.send_signal(signal.SIGTERM)
            for p in procs.values():
                p.wait(timeout=60)
        # then each server's other files (quota reports, Roundcube's log)
        for h in HOSTS:
            where = ["--to", b.url] if h == "mx3" else ["--db", shared]
            p = cli("ingest", "--quiet", "--source", h, *where,
                    *map(str, platform["logs"][h][1]), config=config)  # fmt: skip
            assert p.wait(timeout=120) == 0, p.stderr.read() if p.stderr else ""
        extra = call(a.url, "get_company", company="Extra")
        assert extra["success"]
        with store.read() as q:
            (extra_id,) = q._one("SELECT id FROM companies WHERE name = 'Extra'")
            (logins,) = q._one(
                "SELECT SUM(logins_imap4) FROM flows "
                "WHERE company_id = ? AND scope = 'c' AND kind = 0",
                extra_id,
            )
    assert logins == posted  # the API's own batches: each once
    assert rows(shared, skip_company=extra_id) == platform["ref"]
