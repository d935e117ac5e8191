"""The ``mailtally`` command (SPEC §8), run with click's CliRunner on real files.

The commands use the real clock, so the platforms here are built relative to
the real "now" (the FixedClock is set to it, and moved back to make past changes).
"""

from __future__ import annotations

import csv
import io
import json
import re
import time

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from conftest import DAY, OPERATOR_CREDS, cheap_config, creds, failed, make_call, ok, summary
from mailtally.api import create_app
from mailtally.cli import main
from mailtally.events import Login, MessageIn, MessageOut, StorageReport
from mailtally.periods import Clock, FixedClock
from mailtally.store import open_store
from mailtally.store.base import KIND_CODES
from mailtally.tree import ROLES

CHEAP_TOML = """
[auth]
argon2_time_cost = 1
argon2_memory_kib = 64
argon2_parallelism = 1
"""


@pytest.fixture(autouse=True)
def no_environment(monkeypatch):
    for var in (
        "MAILTALLY_CONFIG",
        "MAILTALLY_DB",
        "MAILTALLY_HOST",
        "MAILTALLY_PORT",
        "MAILTALLY_TIMEZONE",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "mailtally.toml"
    path.write_text(CHEAP_TOML)
    return path


@pytest.fixture
def run(config_file):
    """``run(*args, input=None)``: the CLI's result (exit code and output)."""

    def invoke(*args: str, input: str | None = None, config=config_file):
        return CliRunner().invoke(main, ["--config", str(config), *args], input=input)

    return invoke


@pytest.fixture
def no_server(monkeypatch):
    """uvicorn.run replaced: a test of `serve` must never start a server."""
    started = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: started.append(kw))
    return started


def db_url(store) -> str:
    return store.url


# -- operator add ----------------------------------------------------------------------


def test_operator_add_then_authenticate(run, tmp_path, config_file):
    url = f"sqlite:///{tmp_path}/ops.sqlite3"
    result = run("operator", "add", "ops", "--db", url, input="s3cret-pw\n")
    assert result.exit_code == 0, result.output
    assert "ops" in result.output
    assert "s3cret" not in result.output
    store = open_store(url)
    config = cheap_config(db=url)
    try:
        with TestClient(create_app(store, config)) as client:

            def auth(password):
                body = {"credentials": creds("ops", password), "fetch_extra_info": True}
                return client.post("/api/authenticate", json=body).json()

            assert ok(auth("s3cret-pw"))["extra_info"]["type"] == "operator"
            failed(auth("wrong"), 1)
    finally:
        store.close()
    # a second `operator add` resets the password: the old one stops working
    assert run("operator", "add", "ops", "--db", url, input="other-pw\n").exit_code == 0
    store = open_store(url)
    try:
        with TestClient(create_app(store, cheap_config(db=url))) as client:
            body = {"credentials": creds("ops", "s3cret-pw")}
            failed(client.post("/api/authenticate", json=body).json(), 1)
            body = {"credentials": creds("ops", "other-pw")}
            ok(client.post("/api/authenticate", json=body).json())
    finally:
        store.close()


@pytest.mark.parametrize(
    ("name", "stdin", "message"),
    [
        ("ops", "", "no password"),
        ("ops", "\n", "no password"),
        ("ops@example.com", "pw\n", "not an address"),
        (" ", "pw\n", "operator name"),
        ("o" * 129, "pw\n", "operator name"),
    ],
)
def test_operator_add_refuses(run, tmp_path, name, stdin, message):
    url = f"sqlite:///{tmp_path}/ops.sqlite3"
    result = run("operator", "add", name, "--db", url, input=stdin)
    assert result.exit_code != 0
    assert message in result.output


# -- summary -------------------------------------------------------------------------


@pytest.fixture
def live(call, record, clock):
    """A small platform relative to the real now."""
    now = Clock().now()
    clock.value = now - 60 * DAY
    ok(call("change_company", company="Acme"))
    ok(call("change_domain", domain="acme.com", company="Acme"))
    for name in ("joe", "ann"):
        ok(call("change_user", user=f"{name}@acme.com", attributes={}))
    record(
        MessageIn(now - 3 * DAY, "joe@acme.com", 1234),
        MessageOut(now - 2 * DAY, "ann@acme.com", recipients=3, size=500),
        Login(now - DAY, "joe@acme.com", "imap4"),
        StorageReport(now - DAY, "joe@acme.com", 4, 4000),
    )
    clock.value = now - 10 * DAY
    ok(call("delete_user", user="ann@acme.com"))
    clock.value = now
    return now


@pytest.mark.parametrize(
    ("type_", "object_", "by"),
    [
        ("company", "Acme", "day"),
        ("domain", "acme.com", "week"),
        (None, "acme.com", "month"),
        ("user", "joe@acme.com", "day"),
        (None, "ann@acme.com", "week"),
    ],
)
def test_summary_json_is_the_api_answer(live, call, run, fresh_store, type_, object_, by):
    args = ["summary", "--db", db_url(fresh_store), "--object", object_, "--by", by, "--json"]
    if type_:
        args += ["--type", type_]
    result = run(*args)
    assert result.exit_code == 0, result.output
    request = {"object": object_, "by": by} | ({"type": type_} if type_ else {})
    assert json.loads(result.output) == ok(call("stats_summary", **request))


def test_summary_csv(live, call, run, fresh_store):
    result = run("summary", "--db", db_url(fresh_store), "--object", "Acme", "--csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    api = summary(call, object="Acme")
    assert [r["period"] for r in rows] == list(api)
    for row in rows:
        period = api[row["period"]]
        for group in ("messages", "users", "services", "storage", "deleted_users", "logins"):
            for key, value in period[group].items():
                assert row[f"{group}.{key}"] == str(value)
    assert sum(int(r["messages.in_ham"]) for r in rows) == 1
    assert rows[-1]["users.deleted"] == "1"


def test_summary_csv_of_a_user(live, call, run, fresh_store):
    result = run("summary", "--db", db_url(fresh_store), "--object", "joe@acme.com", "--csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    api = summary(call, object="joe@acme.com")
    assert len(rows) == len(api) == 30
    last = rows[-1]
    assert last["account_type"] == "mailbox"
    assert last["storage.items_stored"] == "4"
    assert last["logins.last_imap4"] == api[last["period"]]["logins"]["last_imap4"] != ""


def test_summary_table_and_errors(live, run, fresh_store):
    result = run("summary", "--db", db_url(fresh_store), "--object", "acme.com", "--by", "month")
    assert result.exit_code == 0, result.output
    assert time.strftime("%Y-%m") in result.output
    result = run("summary", "--db", db_url(fresh_store), "--object", "nonesuch.example")
    assert result.exit_code != 0
    assert "does not exist" in result.output
    result = run("summary", "--db", db_url(fresh_store), "--object", "Acme", "--by", "year")
    assert result.exit_code != 0


# -- serve refuses bad settings ---------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "args", "message"),
    [
        ("", ["--timezone", "Mars/Olympus"], "Mars/Olympus"),
        ('timezone = "Not/AZone"\n', [], "timezone"),
        ("port = 70000\n", [], "port"),
        ("port = 0\n", [], "port"),
        ('port = "http"\n', [], "port"),
        ("", ["--port", "99999"], "port"),
        ("colour = 1\n", [], "colour"),
        ("port = [\n", [], "TOML"),
        ('webmail_hosts = ["webmail.example"]\n', [], "webmail_hosts"),
        ("[retention]\ndays = 30\n", [], "retention.days"),
        ("[auth]\nargon2_time_cost = 0\n", [], "argon2"),
        ('host = ""\n', [], "host"),
        ("", ["--db", "mysql://x"], "db"),
        ("", ["--db", "postgresql://localhost/x"], "db"),
    ],
)
def test_serve_refuses_a_bad_setting(run, tmp_path, no_server, toml, args, message):
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    if "--db" not in args:
        args = ["--db", f"sqlite:///{tmp_path}/s.sqlite3", *args]
    result = run("serve", *args, config=config)
    assert result.exit_code != 0
    assert result.output.startswith("Error: "), result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert no_server == []


def test_serve_refuses_a_missing_config_file(tmp_path, no_server):
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "nope.toml"), "serve"])
    assert result.exit_code != 0
    assert "cannot read configuration file" in result.output
    assert no_server == []


def test_serve_refuses_a_bad_environment_setting(run, tmp_path, no_server, monkeypatch):
    monkeypatch.setenv("MAILTALLY_PORT", "eighty")
    result = run("serve", "--db", f"sqlite:///{tmp_path}/s.sqlite3")
    assert result.exit_code != 0
    assert "MAILTALLY_PORT" in result.output
    assert no_server == []


def new_store(tmp_path) -> str:
    """A new, empty store's URL (serve refuses a URL where no store exists)."""
    url = f"sqlite:///{tmp_path}/s.sqlite3"
    open_store(url).close()
    return url


def test_serve_refuses_another_zone_than_the_stores(run, tmp_path, no_server):
    url = new_store(tmp_path)
    assert run("serve", "--db", url).exit_code == 0  # the store is now a UTC store
    assert len(no_server) == 1
    result = run("serve", "--db", url, "--timezone", "Europe/Amsterdam")
    assert result.exit_code != 0
    assert "UTC" in result.output and "Europe/Amsterdam" in result.output
    assert len(no_server) == 1


def test_serve_with_good_settings_reaches_the_server(run, tmp_path, no_server, config_file):
    config_file.write_text('port = 8099\nhost = "127.0.0.2"\n' + CHEAP_TOML)
    result = run("serve", "--db", new_store(tmp_path), "--port", "8098")
    assert result.exit_code == 0, result.output
    assert no_server[0]["host"] == "127.0.0.2"
    assert no_server[0]["port"] == 8098  # the flag beats the file


# -- which commands may make a store --------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["serve"],
        ["summary", "--object", "Acme"],
        ["snapshot", "--object", "Acme", "--date", "2026-11"],
        ["prune"],
        ["ingest", "LOG"],
    ],
)
def test_a_command_that_needs_a_store_refuses_a_url_where_none_exists(
    run, tmp_path, no_server, args
):
    """A mistyped --db made a new, empty store that answered "company does not
    exist": now the commands that need a store name the URL and make nothing."""
    missing = tmp_path / "typo.sqlite3"
    log = tmp_path / "mail.log"
    log.write_text("")
    args = [str(log) if a == "LOG" else a for a in args]
    result = run(*args[:1], "--db", f"sqlite:///{missing}", *args[1:])
    assert result.exit_code != 0
    assert result.output.startswith("Error: db: no store at"), result.output
    assert str(missing) in result.output
    assert not missing.exists()  # nothing was created
    assert no_server == []
    # an empty file (what SQLite leaves when it opens a new path) is no store either
    missing.touch()
    assert run(*args[:1], "--db", f"sqlite:///{missing}", *args[1:]).exit_code != 0


def test_the_commands_that_make_a_store_still_do(run, tmp_path):
    url = f"sqlite:///{tmp_path}/new.sqlite3"
    result = run("operator", "add", "root", "--db", url, input="pw-1234567\n")
    assert result.exit_code == 0, result.output
    with open_store(url, create=False) as store:  # (exists now)
        assert store.schema_version() > 0


def test_version(run):
    from mailtally import __version__

    result = run("--version")
    assert result.exit_code == 0
    assert result.output == f"mailtally {__version__}\n"


# -- prune ---------------------------------------------------------------------------


def test_prune_folds_gauges_and_drops_old_flows(call, record, clock, fresh_store, run, config):
    now = Clock().now()
    year = 365 * DAY

    def at(t):
        clock.value = t

    at(now - 5 * year)
    ok(call("change_company", company="Acme"))
    ok(call("change_domain", domain="acme.com", company="Acme"))
    for name in ("joe", "ann", "max", "kim"):
        ok(call("change_user", user=f"{name}@acme.com", attributes={}))
    record(
        MessageIn(now - 5 * year + 60, "joe@acme.com", 100),
        StorageReport(now - 5 * year + 60, "ann@acme.com", 3, 300),
        Login(now - 5 * year + 60, "ann@acme.com", "webmail"),
    )
    at(now - 4 * year)
    ok(call("delete_user", user="ann@acme.com"))
    ok(call("change_user", user="joe@acme.com", attributes={"aliases": ["j@acme.com"]}))
    at(now - 2 * year)
    ok(call("change_user", user="kim@acme.com", attributes={"service_pop3": "suspended"}))
    ok(call("change_user", user="new@acme.com", attributes={}))
    record(
        MessageIn(now - 2 * year, "max@acme.com", 10),
        StorageReport(now - 2 * year, "max@acme.com", 7, 70),
    )
    at(now - 500 * DAY)
    record(
        Login(now - 500 * DAY, "joe@acme.com", "pop3"),
        MessageOut(now - 500 * DAY, "joe@acme.com", 1, 5),
    )
    ok(call("change_user", user="max@acme.com", attributes={"type": "forward"}))
    at(now - 100 * DAY)
    record(MessageIn(now - 100 * DAY, "kim@acme.com", 1))
    at(now)

    objects = [("company", "Acme"), ("domain", "acme.com")] + [
        ("user", f"{n}@acme.com") for n in ("joe", "ann", "max", "kim", "new")
    ]

    def answers(call):
        return {
            (t, o, by): summary(call, type=t, object=o, by=by)
            for t, o in objects
            for by in ("day", "week", "month")
        }

    def count(sql):
        with fresh_store.read() as q:
            return q.conn.execute(sql).fetchone()[0]

    before = answers(call)
    day, month_kind = KIND_CODES["day"], KIND_CODES["month"]
    old_days = f"SELECT COUNT(*) FROM flows WHERE kind = {day} AND period <> '' AND period < '{{}}'"
    cutoff = time.strftime("%Y%m%d", time.gmtime(now - 401 * DAY))
    assert count(old_days.format(cutoff)) > 0
    today = time.gmtime(now)
    month = today.tm_year * 12 + today.tm_mon - 1 - 49  # retention.months
    old_months = (
        f"SELECT COUNT(*) FROM gauges WHERE kind = {month_kind} AND period <> '' "
        f"AND period < '{month // 12:04d}-{month % 12 + 1:02d}'"
    )
    assert count(old_months) > 0

    result = run("prune", "--db", db_url(fresh_store))
    assert result.exit_code == 0, result.output
    assert "flow rows removed" in result.output

    assert count(old_days.format(cutoff)) == 0
    recent = time.strftime("%Y%m%d", time.gmtime(now - 101 * DAY))
    assert count(f"SELECT COUNT(*) FROM flows WHERE kind = {day} AND period >= '{recent}'") > 0
    assert count(old_months) == 0
    assert count("SELECT COUNT(*) FROM gauges WHERE period = ''") > 0

    # a server started afresh on the pruned store gives the same answers
    store = open_store(fresh_store.url)
    try:
        with TestClient(create_app(store, config, FixedClock(now))) as client:
            after = answers(make_call(client, OPERATOR_CREDS))
    finally:
        store.close()
    assert after.keys() == before.keys()
    for k in before:
        assert after[k] == before[k], k
    # the user's last pop3 login, 500 days ago, survived in the fold
    joe_days = after[("user", "joe@acme.com", "day")]
    assert joe_days[max(joe_days)]["logins"]["last_pop3"] != ""
    # a second run has nothing left to remove
    again = run("prune", "--db", db_url(fresh_store))
    assert again.exit_code == 0
    assert "day: 0 flow rows removed, 0 gauge rows folded" in again.output


# -- demo ----------------------------------------------------------------------------


def test_demo_platform_is_consistent(run, tmp_path):
    url = f"sqlite:///{tmp_path}/demo.sqlite3"
    result = run("demo", "--db", url)
    assert result.exit_code == 0, result.output
    assert "admin@example.com" in result.output and "curl" in result.output
    # refuses to overwrite without --force
    again = run("demo", "--db", url)
    assert again.exit_code != 0 and "--force" in again.output

    store = open_store(url)
    try:
        with store.read() as q:  # an admin for every role of SPEC §2
            held = {r for (r,) in q.conn.execute("SELECT DISTINCT role FROM roles")}
        assert held == set(ROLES)
        with TestClient(create_app(store, cheap_config(db=url))) as client:
            call = make_call(client, creds("admin@example.com", "demo-password"))
            company = summary(call, by="month")
            assert 13 <= len(company) <= 16
            for key, period in company.items():
                users = period["users"]
                accounts = users["mailbox"] + users["forward"] + users["filter"]
                for service, n in period["services"].items():
                    # every demo account keeps every service enabled
                    assert n == accounts + users["deleted"], (key, service)
            last = company[max(company)]
            assert last["users"]["alias"] > 0
            assert last["users"]["deleted"] == 12
            assert last["users"]["forward"] > 0 and last["users"]["filter"] > 0
            assert 300 <= accounts + last["users"]["deleted"] <= 320
            assert last["storage"]["items_stored"] > 0
            assert last["deleted_users"]["storage_items_stored"] > 0
            # growth: the first month has fewer accounts than the last
            first = company[min(company)]["users"]
            assert first["mailbox"] < last["users"]["mailbox"]
            # activity with a weekly rhythm, and the domains add up to the company
            days = summary(call, by="day")
            assert all(p["messages"]["in_ham"] > 0 for p in list(days.values())[:-1])
            domains = [
                summary(call, type="domain", object=d, by="month")
                for d in ("example.com", "example.net", "example.org")
            ]
            for key, period in company.items():
                for group in ("users", "services", "messages", "storage"):
                    for k, v in period[group].items():
                        assert v == sum(d[key][group][k] for d in domains if key in d), (key, k)
            # each admin role answers within its scope
            for user, expected in (
                ("readonly@example.com", True),
                ("postmaster@example.net", True),
                ("tokens@example.com", False),
            ):
                answer = client.post(
                    "/api/stats_summary",
                    json={"credentials": creds(user, "demo-password")},
                ).json()
                assert answer["success"] is expected, (user, answer)
    finally:
        store.close()


def test_demo_into_a_store_that_holds_it_says_so(run, store_url):
    """A second ``demo`` into the same store is refused with a sentence: on SQLite
    (without --force) before it opens the file; on PostgreSQL, which --force does
    not empty, by the demo company's create_only (it was a traceback)."""
    first = run("demo", "--db", store_url)
    assert first.exit_code == 0, first.output
    again = run("demo", "--db", store_url, "--force")
    if store_url.startswith("sqlite"):  # --force replaced the file: a new demo
        assert again.exit_code == 0, again.output
        again = run("demo", "--db", store_url)
        assert again.exit_code == 1 and "--force" in again.output
    else:
        assert again.exit_code == 1 and isinstance(again.exception, SystemExit), again
        assert "company 'Example Hosting' already exists" in again.output
        assert "a new --db" in again.output


# -- migrate -------------------------------------------------------------------------


def test_migrate_into_a_schema_that_does_not_exist_says_so(run, store_url):
    """PostgreSQL: a URL whose search_path names no schema is a line naming the
    store, not a traceback (InvalidSchemaName from the first migration)."""
    if store_url.startswith("sqlite"):
        pytest.skip("a PostgreSQL URL's search_path")
    url = re.sub(r"search_path%3D\w+", "search_path%3Dmailtally_no_such_schema", store_url)
    assert url != store_url
    result = run("migrate", "--db", url)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result
    assert "db: cannot open the PostgreSQL store" in result.output
    assert "no schema has been selected" in result.output


def test_migrate_brings_a_new_store_to_the_latest_schema_once(run, store_url):
    from mailtally.store import open_store

    first = run("migrate", "--db", store_url)
    assert first.exit_code == 0, first.output
    with open_store(store_url) as store:
        latest = store.latest_migration
        assert store.schema_version() == latest and store.migrations_current()
        assert store.applied_migrations == ()  # (the command applied them)
    assert first.output.strip().endswith(f"schema version {latest:04d}")
    again = run("migrate", "--db", store_url)
    assert again.exit_code == 0 and again.output.strip() == f"schema version {latest:04d}"
