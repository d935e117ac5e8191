"""Shared fixtures: a real SQLite file, the real ASGI app, a fixed clock.

Everything a test does goes through what a deployment runs: the tree is built
with API requests, activity is recorded with :func:`mailtally.record_events`
(the one recording path), and answers are read back from the API.

* ``fresh_store`` — an empty store: a file under ``tmp_path``, then a PostgreSQL
  schema (every test that uses it runs on both backends, see ``backend``)
* ``backend`` / ``store_url`` — the backend of the test (``sqlite``, ``postgresql``)
  and the URL of an empty store on it, for tests that open stores themselves;
  ``@pytest.mark.sqlite_only`` keeps a test off PostgreSQL.  PostgreSQL cases
  need :data:`PG_VARIABLE` (else they are skipped, with one line saying so)
* ``clock`` — a :class:`~mailtally.periods.FixedClock` at :data:`NOW`; set
  ``clock.value`` to move time
* ``config`` — a cheap argon2 profile; parametrize it indirectly for other
  settings (a time zone, ...)
* ``operator`` — an operator ``root`` (password :data:`OPERATOR_PASSWORD`)
* ``app`` / ``service`` / ``client`` — the ASGI app, its service, a started ``TestClient``
* ``call(method, credentials=..., **body)`` — POST, assert HTTP 200, return the JSON
  (operator credentials unless others are given; ``credentials=None`` sends none)
* ``record(*events)`` — count events in one write transaction
* ``platform`` — two companies with a user for every role (see the fixture)

and plain helpers: ``ok``/``failed`` (assert an answer), ``summary``,
``table_rows`` (to prove that nothing changed), ``ts``/``rfc`` (times).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from mailtally.api import create_app
from mailtally.auth import make_hasher
from mailtally.config import AuthSettings, Config
from mailtally.events import Event
from mailtally.periods import FixedClock
from mailtally.record import RecordResult, record_events
from mailtally.store import Store, open_store

# Property tests run beside three other pytest processes (xdist) on two cores: an
# example is not late because the machine is busy (hypothesis's default 200 ms
# deadline failed a parser property under load, not a wrong answer).
settings.register_profile("mailtally", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mailtally")

#: Wed 2026-01-14 12:00:00 UTC — "now" unless a test moves the clock.
NOW = 1768392000
DAY = 86400

OPERATOR = "root"
OPERATOR_PASSWORD = "operator-secret"
CHEAP_AUTH = AuthSettings(argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1)

_KEEP = object()


#: The two implementations of ingestion's hot loop (mailtally.ingest.files): the
#: compiled parser and joiner, and the pure-Python reference.  Ingestion tests
#: run on both (the ``ingest_mode`` fixture).
INGEST_MODES = ("compiled", "python")


def use_ingest_mode(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("MAILTALLY_PURE_PYTHON", "1" if mode == "python" else "0")


@pytest.fixture(params=INGEST_MODES)
def ingest_mode(request, monkeypatch) -> str:
    """The test runs with the compiled parser and joiner, then with the Python ones."""
    use_ingest_mode(monkeypatch, request.param)
    return str(request.param)


def ts(text: str) -> int:
    """Epoch seconds of an RFC 3339 time (``2026-01-14T12:00:00Z``)."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def rfc(seconds: int) -> str:
    """The RFC 3339 form of epoch seconds, as the API takes times."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def consecutive_free_ports(n: int) -> int:
    """The first of ``n`` consecutive loopback TCP ports free right now."""
    import socket

    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = int(s.getsockname()[1])
        held: list[socket.socket] = []
        try:
            for port in range(first, first + n):
                probe = socket.socket()
                held.append(probe)
                probe.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for probe in held:
                probe.close()
    raise AssertionError(f"no {n} consecutive free ports")


def scrape_metrics(
    port: int, missing_ok: bool = False
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``GET http://127.0.0.1:PORT/metrics`` as {(sample, sorted labels): value};
    ``missing_ok``: {} when nothing answers there."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        if missing_ok:
            return {}
        raise
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def creds(user: str, password: str | None = None, **extra: str) -> dict[str, str]:
    out = {"user": user, **extra}
    if password is not None:
        out["password"] = password
    return out


OPERATOR_CREDS = creds(OPERATOR, OPERATOR_PASSWORD)


def cheap_config(**settings: Any) -> Config:
    return Config(auth=CHEAP_AUTH, **settings)


@pytest.fixture
def config(request) -> Config:
    """The cheap profile; parametrize indirectly with settings to change it::

    @pytest.mark.parametrize("config", [{"timezone": "Europe/Amsterdam"}], indirect=True)
    """
    return cheap_config(**getattr(request, "param", {}))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


#: The backends of every test that asks for a store (``fresh_store``, ``store_url``).
BACKENDS = ("sqlite", "postgresql")
#: A PostgreSQL database the tests may fill (each session works in a schema of its
#: own and drops it): ``postgresql://USER:PASSWORD@HOST/DATABASE``.  Unset: the
#: PostgreSQL cases are skipped.  .ci/run sets it.
PG_VARIABLE = "MAILTALLY_TEST_PG"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: the test checks SQLite itself")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without :data:`PG_VARIABLE`, the PostgreSQL cases are left out (and one
    line of the summary says so), not reported skipped one by one."""
    if os.environ.get(PG_VARIABLE):
        return
    pg = [i for i in items if getattr(i, "callspec", None) and _on_pg(i)]
    if pg:
        items[:] = [i for i in items if not (getattr(i, "callspec", None) and _on_pg(i))]
        config.hook.pytest_deselected(items=pg)
        config.stash[_PG_LEFT_OUT] = len(pg)


def _on_pg(item: pytest.Item) -> bool:
    return item.callspec.params.get("backend") == "postgresql"  # type: ignore[attr-defined]


_PG_LEFT_OUT = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if n := config.stash.get(_PG_LEFT_OUT, 0):
        terminalreporter.write_line(
            f"{n} PostgreSQL cases not run: set {PG_VARIABLE}=postgresql://USER:PASSWORD@HOST/"
            "DATABASE (a database the tests may fill) to run them"
        )


class PGSchemas:
    """One schema per test session on the database of :data:`PG_VARIABLE`, emptied
    (not recreated) for each test: a TRUNCATE, not a CREATE DATABASE."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        import psycopg

        self.schema = schema or f"mailtally_test_{os.getpid()}"
        self.admin = psycopg.connect(url, autocommit=True)
        self.admin.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        self.admin.execute(f"CREATE SCHEMA {self.schema}")
        sep = "&" if "?" in url else "?"
        #: the URL of the schema (libpq's options: its search_path)
        self.url = f"{url}{sep}options=-csearch_path%3D{self.schema}"
        open_store(self.url).close()  # migrated once per session
        parents = ("companies", "domains")  # (what foreign keys point at: filled first)
        self.tables = sorted(
            (
                r[0]
                # (tables, not their partitions: flows' by kind, migration 14,
                # are filled and emptied through it)
                for r in self.admin.execute(
                    "SELECT c.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                    "AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
                    (self.schema,),
                )
            ),
            key=lambda t: (t not in parents, parents.index(t) if t in parents else 0, t),
        )
        #: (table, column) of every identity column, to move on past copied ids
        self.identities = self.admin.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND is_identity = 'YES'",
            (self.schema,),
        ).fetchall()
        #: sqlite file -> the SQL that copies its rows in (:meth:`load`)
        self._copies: dict[Path, str] = {}

    def empty(self) -> str:
        """Empty every table (but the schema version), restart the ids, and
        return the URL.  (DELETE: a test leaves a few rows, and TRUNCATE's new
        files for every table and index cost ~0.8 s a test.)"""
        sql = [f"DELETE FROM {self.schema}.meta WHERE key <> 'schema_version'"]
        sql += [f"DELETE FROM {self.schema}.{t}" for t in reversed(self.tables) if t != "meta"]
        sql += [
            f"SELECT setval(pg_get_serial_sequence('{self.schema}.{t}', '{c}'), 1, false)"
            for t, c in self.identities
        ]
        self.admin.execute("; ".join(sql))
        return self.url

    def load(self, sqlite_file: Path) -> str:
        """Empty the schema and copy a SQLite store's rows into it (the platform
        is built once, on SQLite, through the API): the same ids, the same rows.

        The copy is made SQL once per file (its rows as literals), then sent as
        one statement a test: one round trip, where a table at a time cost ~27
        ms of each PostgreSQL test's setup."""
        script = self._copies.get(sqlite_file)
        if script is None:
            script = self._copies[sqlite_file] = self._copy_script(sqlite_file)
        self.empty()
        self.admin.execute(script)  # (autocommit: the statements are one transaction)
        return self.url

    def _copy_script(self, sqlite_file: Path) -> str:
        from psycopg import sql

        def values(rows: list[Any]) -> str:
            return ", ".join(
                "(" + ", ".join(sql.Literal(v).as_string(self.admin) for v in r) + ")" for r in rows
            )

        out: list[str] = []
        src = sqlite3.connect(sqlite_file)
        try:
            for table in self.tables:
                if table == "user_logins":
                    continue  # (PostgreSQL's own, migration 13: filled from users)
                # the columns both have (a schema patched to an older migration
                # lacks the newer ones the platform file has)
                theirs = {
                    r[0]
                    for r in self.admin.execute(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = %s AND table_name = %s",
                        (self.schema, table),
                    )
                }
                cur = src.execute(f"SELECT * FROM {table} LIMIT 0")
                cols = [d[0] for d in cur.description if d[0] in theirs]
                cur = src.execute(f"SELECT {', '.join(cols)} FROM {table}")
                rows = cur.fetchall()
                if table == "meta":
                    rows = [r for r in rows if r[cols.index("key")] != "schema_version"]
                if rows:
                    out.append(
                        f"INSERT INTO {self.schema}.{table} ({', '.join(cols)}) "
                        f"VALUES {values(rows)}"
                    )
                if table == "users" and rows:
                    # lastlogin is user_logins' on both backends (PostgreSQL's
                    # triggers make each account's row): raised after the copy
                    logins = src.execute("SELECT lastlogin, id FROM user_logins").fetchall()
                    if logins:
                        out.append(
                            f"UPDATE {self.schema}.user_logins AS l SET lastlogin = v.lastlogin "
                            f"FROM (VALUES {values(logins)}) AS v (lastlogin, id) WHERE l.id = v.id"
                        )
        finally:
            src.close()
        for table, column in self.identities:
            t = f"{self.schema}.{table}"
            out.append(
                f"SELECT setval(pg_get_serial_sequence('{t}', '{column}'), "
                f"COALESCE(MAX({column}), 0) + 1, false) FROM {t}"
            )
        return "; ".join(out)

    def close(self) -> None:
        self.admin.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        self.admin.close()


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[PGSchemas]:
    url = os.environ.get(PG_VARIABLE)
    if not url:
        pytest.skip(f"PostgreSQL cases: set {PG_VARIABLE}=postgresql://USER:PASSWORD@HOST/DATABASE")
    schemas = PGSchemas(url)
    yield schemas
    schemas.close()


@pytest.fixture(params=BACKENDS, ids=("sqlite", "pg"))
def backend(request) -> str:
    """The store backend of the test: every test asking for a store runs on both."""
    if request.param == "postgresql" and request.node.get_closest_marker("sqlite_only"):
        pytest.skip("checks SQLite itself")
    return str(request.param)


@pytest.fixture
def store_url(request, backend: str, tmp_path) -> str:
    """The URL of an empty store on the test's backend (a file under ``tmp_path``;
    the session's PostgreSQL schema, emptied)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 't.sqlite3'}"
    return request.getfixturevalue("pg_schemas").empty()


@pytest.fixture
def fresh_store(request, backend: str, tmp_path) -> Iterator[Store]:
    """An empty store on the test's backend, or a copy of the :func:`platform`
    when the test asks for that fixture (the platform is built once per session)."""
    if "platform" in request.fixturenames:
        platform = request.getfixturevalue("platform_file")
        if backend == "sqlite":
            path = tmp_path / "t.sqlite3"
            shutil.copyfile(platform, path)
            url = f"sqlite:///{path}"
        else:
            url = request.getfixturevalue("pg_schemas").load(platform)
    else:
        url = request.getfixturevalue("store_url")
    store = open_store(url)
    yield store
    store.close()


def hasher_for(config: Config):
    a = config.auth
    return make_hasher(a.argon2_time_cost, a.argon2_memory_kib, a.argon2_parallelism)


@pytest.fixture
def hasher(config: Config):
    return hasher_for(config)


def add_operator(store: Store, hasher, name: str, password: str, now: int = NOW) -> None:
    with store.write() as q:
        q.add_operator(name, hasher.hash(password), now)


@pytest.fixture
def operator(fresh_store: Store, hasher) -> dict[str, str]:
    """Operator credentials (the operator exists in ``fresh_store``)."""
    add_operator(fresh_store, hasher, OPERATOR, OPERATOR_PASSWORD)
    return dict(OPERATOR_CREDS)


@pytest.fixture
def app(fresh_store: Store, config: Config, clock: FixedClock, operator):
    return create_app(fresh_store, config, clock)


@pytest.fixture
def service(app):
    return app.state.service


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def make_call(client: TestClient, default_creds: dict[str, str]) -> Callable[..., dict[str, Any]]:
    def call(method: str, credentials: Any = _KEEP, **body: Any) -> dict[str, Any]:
        if credentials is _KEEP:
            credentials = default_creds
        if credentials is not None:
            body["credentials"] = credentials
        r = client.post(f"/api/{method}", json=body)
        assert r.status_code == 200, (r.status_code, r.text)
        answer = r.json()
        assert isinstance(answer, dict) and isinstance(answer.get("success"), bool), answer
        return answer

    return call


@pytest.fixture
def call(client: TestClient, operator) -> Callable[..., dict[str, Any]]:
    """``call(method, credentials=..., **body)``: POST, assert HTTP 200, return the JSON."""
    return make_call(client, operator)


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` after asserting it succeeded."""
    assert answer["success"] is True, answer
    return answer


def failed(answer: dict[str, Any], number: int) -> dict[str, Any]:
    """``answer`` after asserting it failed with error ``number`` and a sentence."""
    assert answer["success"] is False, answer
    assert answer["error_number"] == number, answer
    assert isinstance(answer["error"], str) and answer["error"], answer
    return answer


def failed_alike(
    a: dict[str, Any], b: dict[str, Any], name_a: str, name_b: str, number: int = 2
) -> None:
    """Two refusals that must not tell their names apart (isolation rule 3):
    the same error, and the same sentence but for the name."""
    failed(a, number)
    failed(b, number)
    assert a["error"].replace(name_a, "NAME") == b["error"].replace(name_b, "NAME"), (a, b)


@pytest.fixture
def record(fresh_store: Store, service) -> Callable[..., RecordResult]:
    """``record(*events)``: count events as ingestion does, in one transaction.

    The app notices writes of other processes by polling the store's generation
    (twice a second); the helper polls at once so that tests need not sleep.
    """

    def run(*events: Event) -> RecordResult:
        with fresh_store.write() as q:
            result = record_events(q, service.periods, list(events))
        service.poll_store_generation()
        return result

    return run


def summary(call, credentials: Any = _KEEP, **request: Any) -> dict[str, Any]:
    """The ``summary`` of a successful stats_summary."""
    return ok(call("stats_summary", credentials=credentials, **request))["summary"]


def run_sql(q: Any, sql: str, params: Any = ()) -> Any:
    """``sql`` (written with ``?``, as Queries' statements) on the session's
    connection, whatever the backend: its cursor."""
    return q.conn.execute(q.dialect.sql(sql), params)


def table_rows(store: Store, *tables: str) -> dict[str, list[Any]]:
    """Every row of ``tables``, to prove that a refused request changed nothing.

    In :func:`row_order`'s order; on PostgreSQL sorted here by every column, NULLs
    last, texts by code point (its ORDER BY in the C collation; the schema holds
    integers and texts only): one query a table instead of two (the isolation
    suites take thousands of these)."""
    out: dict[str, list[Any]] = {}
    with store.read() as q:
        for t in tables:
            if q.dialect.name == "sqlite":
                out[t] = q.conn.execute(f"SELECT * FROM {t} ORDER BY {row_order(q, t)}").fetchall()
            else:
                out[t] = sorted(q.conn.execute(f"SELECT * FROM {t}").fetchall(), key=_nulls_last)
    return out


def _nulls_last(row: Any) -> tuple[tuple[bool, Any], ...]:
    return tuple((v is None, v) for v in row)


def row_order(q: Any, table: str) -> str:
    """An ORDER BY that lists ``table``'s rows in a stable order: by rowid, or by
    the primary key of a WITHOUT ROWID table (the counter tables, migration 0004);
    on PostgreSQL by every column."""
    conn = q.conn
    if q.dialect.name != "sqlite":
        n = len(conn.execute(f"SELECT * FROM {table} LIMIT 0").description)
        return ", ".join(str(i) for i in range(1, n + 1))
    try:
        conn.execute(f"SELECT rowid FROM {table} LIMIT 0")
        return "rowid"
    except sqlite3.OperationalError:
        key = sorted((r[5], r[1]) for r in conn.execute(f"PRAGMA table_info({table})") if r[5])
        return ", ".join(name for _, name in key)


# -- a two-company platform, with a user for every role ------------------------------

PW = "user-password"

#: (address, role, role object) — every role of SPEC §2, and users without one
PEOPLE: tuple[tuple[str, str, str], ...] = (
    ("admin@acme.com", "company", "Acme"),
    ("ro@acme.com", "company_ro", "Acme"),
    ("view@acme.com", "company_view", "Acme"),
    ("mailer@acme.com", "company_mail", "Acme"),
    ("tokenonly@acme.com", "company_token_only", "Acme"),
    ("dadmin@acme.net", "domain", "acme.net"),
    ("dmail@acme.net", "mail", "acme.net"),
    ("lead@acme.com", "workgroup", "acme.com/sales"),
    ("alice@acme.com", "", ""),  # workgroup sales, alias al@acme.net
    ("bob@acme.com", "", ""),
    ("carol@acme.net", "", ""),
    ("oadmin@other.com", "company", "Other"),
    ("zed@other.com", "", ""),
)

#: who holds each role in Acme ("none": a user without one)
HOLDER = {
    "company": "admin@acme.com",
    "company_ro": "ro@acme.com",
    "company_view": "view@acme.com",
    "company_mail": "mailer@acme.com",
    "company_token_only": "tokenonly@acme.com",
    "domain": "dadmin@acme.net",
    "mail": "dmail@acme.net",
    "workgroup": "lead@acme.com",
    "none": "bob@acme.com",
}


def as_user(address: str, password: str = PW) -> dict[str, str]:
    return creds(address, password)


def build_platform(call: Callable[..., dict[str, Any]], now: int) -> None:
    past = rfc(now - 400 * DAY)
    for company, domains in (("Acme", ("acme.com", "acme.net")), ("Other", ("other.com",))):
        ok(call("change_company", company=company, attributes={"createtime": past}))
        for d in domains:
            ok(call("change_domain", domain=d, company=company, attributes={"createtime": past}))
    for address, role, obj in PEOPLE:
        attrs: dict[str, Any] = {"password": PW, "createtime": past}
        if address == "alice@acme.com":
            attrs |= {"workgroup": "sales", "aliases": ["al@acme.net"]}
        ok(call("change_user", user=address, attributes=attrs))
        if role:
            ok(call("set_role", user=address, role=role, object=obj))


@pytest.fixture(scope="session")
def platform_file(tmp_path_factory) -> Path:
    """The platform, built once through the API (UTC, clock at :data:`NOW`)."""
    path = tmp_path_factory.mktemp("platform") / "platform.sqlite3"
    store = open_store(f"sqlite:///{path}")
    config = cheap_config()
    add_operator(store, hasher_for(config), OPERATOR, OPERATOR_PASSWORD)
    with TestClient(create_app(store, config, FixedClock(NOW))) as client:
        build_platform(make_call(client, OPERATOR_CREDS), NOW)
    store.close()
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture
def platform(fresh_store: Store) -> dict[str, str]:
    """Two companies with a user for every role, built through the API with
    createtime 400 days before :data:`NOW` (UTC):

    * Acme — acme.com (8 mailboxes: the company admins, lead, alice, bob) and
      acme.net (3 mailboxes and alice's alias al@acme.net)
    * Other — other.com (2 mailboxes)

    Every user's password is :data:`PW`; returns :data:`HOLDER`.
    """
    return HOLDER
