"""Credentials (SPEC §1): passwords and their cache, tokens, lockout, auth counts."""

from __future__ import annotations

import threading
import time

import pytest
from starlette.testclient import TestClient

import mailtally.auth
from conftest import (
    NOW,
    OPERATOR_CREDS,
    PW,
    add_operator,
    as_user,
    creds,
    failed,
    make_call,
    ok,
    run_sql,
    summary,
)
from mailtally.api import create_app
from mailtally.store import Queries, open_store

ALICE = as_user("alice@acme.com")
ADMIN = as_user("admin@acme.com")


def works(call, credentials) -> bool:
    answer = call("stats_summary", credentials=credentials, type="user")
    if answer["success"]:
        return True
    failed(answer, 1)
    return False


def issue_token(call, credentials=ALICE, **options) -> dict:
    """Token credentials for ``credentials``' user (``authenticate``)."""
    answer = ok(
        call("authenticate", credentials=credentials, generate_session_token=True, **options)
    )
    return {"user": credentials["user"], "token": answer["session_token"]}


def today(call, address: str) -> dict:
    return summary(call, type="user", object=address)["20260114"]["logins"]


# -- passwords and the verified-credential cache ---------------------------------------


@pytest.mark.parametrize("changed_by", ["admin@acme.com", "alice@acme.com", "root"])
@pytest.mark.parametrize("spelling", ["alice@acme.com", "Alice@ACME.com"])
def test_changed_password_stops_working_at_once(platform, call, changed_by, spelling):
    assert works(call, ALICE)  # verified once: now in the cache
    assert works(call, ALICE)
    author = OPERATOR_CREDS if changed_by == "root" else as_user(changed_by)
    ok(call("change_user", credentials=author, user=spelling, attributes={"password": "n3w-pw"}))
    assert not works(call, ALICE)
    assert not works(call, creds("ALICE@acme.com", PW))
    assert works(call, as_user("alice@acme.com", "n3w-pw"))
    assert works(call, as_user("ALICE@acme.com", "n3w-pw"))
    assert not works(call, ALICE)


@pytest.mark.sqlite_only
def test_a_name_is_read_again_after_a_commit_anywhere_not_at_every_request(
    platform, call, fresh_store, config, clock, operator, monkeypatch
):
    """SQLite: a name's credential version and lockout are read again when the
    store's change mark (its WAL index, which every process's commits rewrite)
    moved, not at every request; a password changed through another store on
    the file, as another process would, is still refused at the very next request."""
    reads: list[str] = []
    read = Queries.auth_state
    monkeypatch.setattr(
        Queries, "auth_state", lambda q, name, *a: reads.append(name) or read(q, name, *a)
    )
    assert works(call, ALICE)
    first = reads.count("alice@acme.com")
    for _ in range(5):
        assert works(call, ALICE)
    # nothing committed but, perhaps, one background flush of the auth counts
    # (every second): the state read before serves the others
    assert reads.count("alice@acme.com") - first <= 1
    first = reads.count("alice@acme.com")
    with open_store(fresh_store.url) as other, TestClient(create_app(other, config, clock)) as c:
        change = make_call(c, operator)
        ok(change("change_user", user="alice@acme.com", attributes={"password": "n3w-pw"}))
    assert not works(call, ALICE)
    assert reads.count("alice@acme.com") > first
    assert works(call, as_user("alice@acme.com", "n3w-pw"))


def test_refused_password_change_keeps_the_old_password(platform, call):
    assert works(call, ALICE)
    # a read-only admin may not change it: the old one stays, the new one never works
    failed(
        call(
            "change_user",
            credentials=as_user("ro@acme.com"),
            user="alice@acme.com",
            attributes={"password": "n3w-pw"},
        ),
        4,
    )
    failed(
        call(
            "change_user",
            credentials=ADMIN,
            user="alice@acme.com",
            attributes={"password": "n3w-pw", "type": "bogus"},
        ),
        6,
    )
    assert works(call, ALICE)
    assert not works(call, as_user("alice@acme.com", "n3w-pw"))


def test_operator_password(platform, call, fresh_store, hasher):
    ok(call("stats_summary", credentials=OPERATOR_CREDS, object="Acme"))
    failed(call("stats_summary", credentials=creds("root", "wrong"), object="Acme"), 1)
    add_operator(fresh_store, hasher, "root2", "op2-pw")
    ok(call("stats_summary", credentials=creds("root2", "op2-pw"), object="Acme"))


class _ChangedDuringCheck:
    """A hasher whose first ``verify`` lets ``change`` run before it returns: a
    concurrent request committed its change (and dropped the caches) while this
    check was between reading the stored hash and caching its result."""

    def __init__(self, real, change):
        self.real, self.change, self.fired = real, change, False

    def verify(self, stored, password):
        result = self.real.verify(stored, password)
        if not self.fired:
            self.fired = True
            self.change()
        return result

    def __getattr__(self, name):
        return getattr(self.real, name)


def _user_id(store, address):
    with store.read() as q:
        return q.resolve_address(address)[0]


def test_password_changed_during_a_check_of_the_old_one(platform, call, service, monkeypatch):
    auth = service.auth
    uid = _user_id(service.store, "alice@acme.com")

    def change():  # what change_user does: commit, then forget the name's credentials
        with service.store.write() as q:
            q.set_password_hash(uid, auth.hasher.real.hash("n3w-pw"))
        auth.forget("alice@acme.com")
        service.changed(tree=True)

    monkeypatch.setattr(auth, "hasher", _ChangedDuringCheck(auth.hasher, change))
    works(call, ALICE)  # checked against the hash it read: either answer is fair
    assert not works(call, ALICE)  # but the old password is not remembered
    assert works(call, as_user("alice@acme.com", "n3w-pw"))


def test_role_removed_during_a_check_does_not_linger(platform, call, service, monkeypatch):
    view = as_user("view@acme.com")
    uid = _user_id(service.store, "view@acme.com")

    def change():  # what set_role "" does: commit, then drop the loaded principals
        with service.store.write() as q:
            q.clear_roles(uid)
        service.changed(tree=True)

    real_load = mailtally.auth.load_principal
    fired = []

    def load_principal(q, name):  # the roles are read, then the change commits
        p = real_load(q, name)
        if not fired:
            fired.append(name)
            change()
        return p

    monkeypatch.setattr(mailtally.auth, "load_principal", load_principal)
    call("stats_summary", credentials=view, type="company", object="Acme")
    assert fired
    failed(call("stats_summary", credentials=view, type="company", object="Acme"), 2)


def test_deleted_user_is_refused_at_once_and_restored_one_returns(platform, call):
    assert works(call, ALICE)
    ok(call("delete_user", credentials=ADMIN, user="alice@acme.com"))
    assert not works(call, ALICE)
    ok(call("restore_user", credentials=ADMIN, user="alice@acme.com"))
    assert works(call, ALICE)


def test_an_alias_does_not_log_in(platform, call):
    failed(call("stats_summary", credentials=as_user("al@acme.net"), type="user"), 1)


@pytest.mark.parametrize(
    ("unknown", "wrong"),
    [
        (creds("nobody@acme.com", PW), creds("alice@acme.com", "wrong")),
        (creds("nobody@nowhere.example", "x"), creds("alice@acme.com", "x")),
        (creds("al@acme.net", PW), creds("alice@acme.com", "wrong")),  # an alias
        (creds("nobody", "x"), creds("root", "x")),  # operators
        (creds("nobody@acme.com", token="t" * 40), creds("alice@acme.com", token="t" * 40)),
    ],
)
@pytest.mark.parametrize("method", ["stats_summary", "authenticate", "get_user"])
def test_unknown_user_and_wrong_password_answer_alike(platform, client, unknown, wrong, method):
    body = {"user": "bob@acme.com"} if method == "get_user" else {}
    a = client.post(f"/api/{method}", json={"credentials": unknown, **body})
    b = client.post(f"/api/{method}", json={"credentials": wrong, **body})
    assert a.status_code == b.status_code == 200
    assert a.content == b.content
    assert {k: v for k, v in a.headers.items() if k != "date"} == {
        k: v for k, v in b.headers.items() if k != "date"
    }
    failed(a.json(), 1)


def test_unknown_user_and_wrong_password_do_the_same_work(platform, call, service, monkeypatch):
    """Both run one argon2 verification (the unknown name against a dummy hash)."""
    calls = []
    real = service.auth.hasher

    class Counting:
        def verify(self, stored, password):
            calls.append(stored)
            return real.verify(stored, password)

    monkeypatch.setattr(service.auth, "hasher", Counting())
    failed(call("stats_summary", credentials=creds("nobody@acme.com", "x"), type="user"), 1)
    failed(call("stats_summary", credentials=creds("alice@acme.com", "x"), type="user"), 1)
    assert len(calls) == 2
    assert calls[0].split("$")[:4] == calls[1].split("$")[:4]  # same algorithm and cost


# -- lockout -------------------------------------------------------------------------


def fail_times(call, name: str, n: int) -> None:
    for _ in range(n):
        failed(call("stats_summary", credentials=creds(name, "wrong"), type="user"), 1)


def test_lockout_after_10_failures_lifted_after_15_minutes(platform, call, clock):
    assert works(call, ALICE)  # cached before the attack: the lockout still holds
    fail_times(call, "alice@acme.com", 10)
    answer = failed(call("stats_summary", credentials=ALICE, type="user"), 1)
    assert "credentials" in answer["error"]
    failed(call("authenticate", credentials=ALICE, generate_session_token=True), 1)
    clock.value += 899
    assert not works(call, ALICE)
    clock.value += 1
    assert works(call, ALICE)
    # the count starts afresh
    fail_times(call, "alice@acme.com", 9)
    assert works(call, ALICE)


def test_nine_failures_do_not_lock(platform, call):
    fail_times(call, "alice@acme.com", 9)
    assert works(call, ALICE)


def test_failures_older_than_15_minutes_do_not_count(platform, call, clock):
    fail_times(call, "alice@acme.com", 9)
    clock.value += 901
    fail_times(call, "alice@acme.com", 9)
    assert works(call, ALICE)
    fail_times(call, "alice@acme.com", 1)  # 10 within 15 minutes
    assert not works(call, ALICE)


def test_lockout_is_per_name(platform, call):
    fail_times(call, "alice@acme.com", 10)
    assert not works(call, ALICE)
    assert works(call, as_user("bob@acme.com"))
    assert ok(call("stats_summary", object="Acme"))  # the operator too


def test_lockout_of_a_spelling_locks_the_account(platform, call):
    fail_times(call, "ALICE@acme.com", 10)
    assert not works(call, ALICE)


def test_lockout_of_unknown_and_known_names_look_alike(platform, client):
    for name in ("alice@acme.com", "nobody@acme.com"):
        for _ in range(10):
            client.post("/api/authenticate", json={"credentials": creds(name, "wrong")})
    a = client.post("/api/authenticate", json={"credentials": creds("alice@acme.com", PW)})
    b = client.post("/api/authenticate", json={"credentials": creds("nobody@acme.com", PW)})
    assert a.content == b.content
    failed(a.json(), 1)


def test_a_lockout_leaves_valid_tokens_working(platform, call, service):
    """Ten wrong passwords, which anyone may send, lock the name's passwords but
    must not log out the dashboards that hold a token (rule 4) — whether the
    token is in memory or only in the store."""
    token = issue_token(call)
    fail_times(call, "alice@acme.com", 10)
    assert not works(call, ALICE)
    assert works(call, token)
    service.auth.forget("alice@acme.com")  # the token only in the store now
    fail_times(call, "alice@acme.com", 1)
    assert works(call, token)
    assert not works(call, {"user": "alice@acme.com", "token": "x" * 32})
    assert not works(call, ALICE)


# -- tokens --------------------------------------------------------------------------


def test_token_works_and_expires(platform, call, clock):
    answer = ok(
        call(
            "authenticate",
            credentials=ALICE,
            generate_session_token=True,
            session_token_duration=60,
        )
    )
    assert answer["session_token_duration"] == 60
    token = {"user": "alice@acme.com", "token": answer["session_token"]}
    assert works(call, token)
    clock.value += 60
    assert works(call, token)
    clock.value += 1
    assert not works(call, token)
    assert works(call, ALICE)  # the password still works


def test_default_token_duration_and_chosen_token(platform, call, clock):
    answer = ok(
        call(
            "authenticate",
            credentials=ALICE,
            generate_session_token=True,
            token="my-own-token-string",
        )
    )
    assert answer == {
        "success": True,
        "session_token": "my-own-token-string",
        "session_token_duration": 10800,
    }
    token = {"user": "alice@acme.com", "token": "my-own-token-string"}
    clock.value += 10800
    assert works(call, token)
    clock.value += 1
    assert not works(call, token)


def test_a_token_is_for_its_user_only(platform, call):
    token = issue_token(call)
    t = token["token"]
    assert not works(call, {"user": "bob@acme.com", "token": t})
    assert works(call, token)
    # another user choosing the same string gets a token of its own: it takes
    # nothing over, and is not told that the string is someone else's
    ok(
        call(
            "authenticate",
            credentials=as_user("bob@acme.com"),
            generate_session_token=True,
            token=t,
        )
    )
    assert works(call, token)
    assert works(call, {"user": "bob@acme.com", "token": t})
    ok(call("change_user", user="bob@acme.com", attributes={"password": "n3w"}))
    assert not works(call, {"user": "bob@acme.com", "token": t})
    assert works(call, token)


def test_password_change_and_deletion_drop_tokens(platform, call):
    token = issue_token(call)
    assert works(call, token)
    ok(
        call(
            "change_user", credentials=ADMIN, user="alice@acme.com", attributes={"password": "n3w"}
        )
    )
    assert not works(call, token)
    alice = as_user("alice@acme.com", "n3w")
    token = issue_token(call, alice)
    assert works(call, token)
    ok(call("delete_user", credentials=ADMIN, user="alice@acme.com"))
    assert not works(call, token)


def test_token_duration_limits(platform, call):
    ok(
        call(
            "authenticate",
            credentials=ALICE,
            generate_session_token=True,
            session_token_duration=86400,
        )
    )
    failed(
        call(
            "authenticate",
            credentials=ALICE,
            generate_session_token=True,
            session_token_duration=86401,
        ),
        5,
    )


def test_extra_info(platform, call):
    answer = ok(call("authenticate", credentials=as_user("dadmin@acme.net"), fetch_extra_info=True))
    assert answer["extra_info"] == {
        "roles": [{"role": "domain", "object": "acme.net"}],
        "type": "mailbox",
        "company": "Acme",
        "domain": "acme.net",
    }
    assert "session_token" not in answer


# -- auth counts ---------------------------------------------------------------------


def test_auth_counts_in_the_users_summary(platform, call, service):
    token = issue_token(call)
    for _ in range(3):
        assert works(call, token)
    for _ in range(2):
        assert works(call, ALICE)
    failed(call("stats_summary", credentials=creds("alice@acme.com", "wrong")), 1)
    for _ in range(4):
        ok(call("stats_summary", object="Acme"))  # the operator is not a user: not counted
    service.flush_auth_counts()
    logins = today(call, "alice@acme.com")
    # the authenticate request and the two password polls; the three token polls
    assert (logins["auth_password"], logins["auth_token"]) == ("3", "3")
    # the company and domain shapes have no auth counts
    assert set(summary(call, object="Acme")["20260114"]["logins"]) == {"imap4", "pop3", "webmail"}
    # a later flush adds to the same day
    assert works(call, ALICE)
    service.flush_auth_counts()
    assert today(call, "alice@acme.com")["auth_password"] == "4"
    assert today(call, "bob@acme.com")["auth_password"] == ""


def test_auth_counts_are_flushed_in_the_background(platform, call):
    assert works(call, as_user("bob@acme.com"))
    deadline = time.monotonic() + 5
    while today(call, "bob@acme.com")["auth_password"] == "":
        assert time.monotonic() < deadline, "auth counts not flushed within 5 s"
        time.sleep(0.1)
    assert today(call, "bob@acme.com")["auth_password"] == "1"


def test_stopping_waits_for_a_background_flush_in_flight(platform, app, service, fresh_store):
    """SIGTERM while the background flush is writing: the flush has drained the
    counts, so stopping must wait for it (cancelled, the process could end before
    its thread wrote them, and the flush on the way out found nothing left)."""
    service.auth_flush_seconds = 0.05
    service.auth_counter.add("bob@acme.com", "password", NOW)
    writing = threading.Event()
    write = fresh_store.write

    def slow_write():  # (the flush's: nothing else writes meanwhile)
        writing.set()
        time.sleep(0.5)
        return write()

    fresh_store.write = slow_write  # type: ignore[method-assign]
    with TestClient(app):  # (its exit stops the app, as SIGTERM does)
        assert writing.wait(10)
    fresh_store.write = write  # type: ignore[method-assign]
    with fresh_store.read() as q:
        (n,) = run_sql(
            q,
            "SELECT COALESCE(SUM(logins_auth_password), 0) FROM flows f JOIN users u "
            "ON f.scope = 'u' AND f.scope_id = u.id WHERE u.address = ? AND f.kind = 0",
            ("bob@acme.com",),
        ).fetchone()
    assert n == 1


def test_auth_counts_land_in_the_period_of_the_request(platform, call, service, clock):
    clock.value = NOW - 86400  # yesterday
    assert works(call, ALICE)
    clock.value = NOW
    assert works(call, ALICE)
    service.flush_auth_counts()
    s = summary(call, type="user", object="alice@acme.com")
    assert s["20260113"]["logins"]["auth_password"] == "1"
    assert s["20260114"]["logins"]["auth_password"] == "1"


def test_a_tree_change_does_not_cost_every_caller_another_argon2_check(platform, call, service):
    """Roles changed somewhere: callers' principals are reloaded from the store,
    but a password that verified stays verified (argon2 is not run again)."""
    bob = as_user("bob@acme.com")
    ok(call("get_user", credentials=bob, user="bob@acme.com"))
    ok(call("get_company", company="Acme"))  # the operator's password, verified once
    checks = []
    real = service.auth.hasher

    class CountingHasher:
        def verify(self, *args):
            checks.append(args)
            return real.verify(*args)

        def hash(self, *args):
            return real.hash(*args)

    service.auth.hasher = CountingHasher()
    ok(call("change_user", user="someone@acme.com", attributes={}))  # a tree change
    ok(call("get_user", credentials=bob, user="bob@acme.com"))
    assert checks == []
    # and a removed role still takes effect at once
    ok(call("set_role", user="view@acme.com", role=""))
    failed(call("get_company", credentials=as_user("view@acme.com"), company="Acme"), 2)
