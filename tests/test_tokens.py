"""generate_token and logout_user (SPEC §1, §4): tokens an admin makes for an
account, single-use ``sso`` tokens decided in the store, and logging out —
in this server's caches and in another server's on the same store.

The platform of conftest (Acme: acme.com, acme.net; Other: other.com); now is
Wed 2026-01-14 12:00 UTC.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.testclient import TestClient

from conftest import NOW, PW, as_user, cheap_config, failed, make_call, ok, table_rows
from mailtally.api import create_app
from mailtally.periods import FixedClock
from mailtally.store import open_store
from test_floods import answer, post

ADMIN = as_user("admin@acme.com")
DADMIN = as_user("dadmin@acme.net")
BOB = as_user("bob@acme.com")


def token_of(user: str, token: str) -> dict[str, str]:
    return {"user": user, "token": token}


def session(call, credentials: dict[str, str]) -> dict[str, str]:
    t = ok(call("authenticate", credentials=credentials, generate_session_token=True))
    return token_of(credentials["user"], t["session_token"])


# -- logout_user -----------------------------------------------------------------------
def test_logout_ends_every_session_at_once(platform, call):
    used, unused = session(call, BOB), session(call, BOB)
    ok(call("get_user", credentials=used, user="bob@acme.com"))  # (now cached)
    ok(call("logout_user", credentials=ADMIN, user="bob@acme.com"))
    failed(call("get_user", credentials=used, user="bob@acme.com"), 1)  # the cached one
    failed(call("get_user", credentials=unused, user="bob@acme.com"), 1)  # the stored one
    ok(call("get_user", credentials=BOB, user="bob@acme.com"))  # a password still works
    # a user logs itself out with the token it holds
    mine = session(call, BOB)
    ok(call("logout_user", credentials=mine, user="bob@acme.com"))
    failed(call("get_user", credentials=mine, user="bob@acme.com"), 1)
    changes = ok(call("get_user_changes", credentials=ADMIN, user="bob@acme.com"))["changes"]
    assert [c["method"] for c in changes[:2]] == ["logout_user", "logout_user"]


def test_logout_reaches_another_server_on_the_store(platform, call, fresh_store, service):
    """A second server (another process in production) holds the token in its
    cache; it learns of the logout from the store when it polls."""
    token = session(call, BOB)
    other_store = open_store(fresh_store.url)
    try:
        with TestClient(create_app(other_store, cheap_config(), FixedClock(NOW))) as other:
            call2 = make_call(other, ADMIN)
            ok(call2("get_user", credentials=token, user="bob@acme.com"))  # cached there
            ok(call("logout_user", credentials=ADMIN, user="bob@acme.com"))
            other.app.state.service.poll_store_generation()  # (twice a second)
            failed(call2("get_user", credentials=token, user="bob@acme.com"), 1)
    finally:
        other_store.close()


def test_a_password_change_ends_the_tokens(platform, call):
    token = session(call, BOB)
    made = ok(call("generate_token", credentials=ADMIN, user="bob@acme.com", reason="support"))
    generated = token_of("bob@acme.com", made["token"])
    ok(call("get_user", credentials=token, user="bob@acme.com"))
    ok(call("change_user", credentials=BOB, user="bob@acme.com",
            attributes={"password": "another-pw"}))  # fmt: skip
    failed(call("get_user", credentials=token, user="bob@acme.com"), 1)
    failed(call("get_user", credentials=generated, user="bob@acme.com"), 1)


def test_who_may_log_out_whom(platform, call, fresh_store):
    before = table_rows(fresh_store, "tokens", "audit_log")
    failed(call("logout_user", credentials=BOB, user="alice@acme.com"), 2)
    failed(call("logout_user", credentials=as_user("ro@acme.com"), user="bob@acme.com"), 4)
    failed(call("logout_user", credentials=DADMIN, user="admin@acme.com"), 2)
    failed(call("logout_user", credentials=as_user("oadmin@other.com"), user="bob@acme.com"), 2)
    failed(call("logout_user", credentials=ADMIN, user="al@acme.net"), 3)
    assert table_rows(fresh_store, "tokens", "audit_log") == before


# -- generate_token --------------------------------------------------------------------
def test_an_admin_makes_a_token_for_an_account(platform, call, fresh_store, clock):
    made = ok(call("generate_token", credentials=DADMIN, user="carol@acme.net", reason="ticket 42"))
    assert made["duration"] == 24 and len(made["token"]) >= 32
    carol = token_of("carol@acme.net", made["token"])
    info = ok(call("get_user", credentials=carol, user="carol@acme.net"))
    assert info["metadata"]["address"] == "carol@acme.net"
    ok(call("get_user", credentials=carol, user="carol@acme.net"))  # not single-use
    clock.value = NOW + 24 * 3600 + 1
    failed(call("get_user", credentials=carol, user="carol@acme.net"), 1)
    clock.value = NOW
    # a chosen token, a week long; the reason is in the audit log
    chosen = "chosen-token-0123456789"
    made = ok(call("generate_token", credentials=ADMIN, user="bob@acme.com", reason="migration",
                   duration=168, token=chosen, type="session", oma=True))  # fmt: skip
    assert made == {"success": True, "token": chosen, "duration": 168}
    ok(call("get_user", credentials=token_of("bob@acme.com", chosen), user="bob@acme.com"))
    last = ok(call("get_user_changes", credentials=ADMIN, user="bob@acme.com"))["changes"][0]
    assert last["changes"] == {"token": {"type": "session", "reason": "migration", "duration": 168}}
    with fresh_store.read() as q:
        kinds = q.conn.execute("SELECT kind FROM tokens ORDER BY kind").fetchall()
    assert kinds == [("oma",), ("session",)]  # (by kind: PostgreSQL has no rowid)


@pytest.mark.parametrize(
    ("body", "number"),
    [
        ({"duration": 169}, 5),
        ({"duration": 0}, 5),
        ({"type": "session"}, 5),  # a webmail token (oma false): not ours
        ({"type": "magic", "oma": True}, 5),
        ({"token": "short"}, 5),
        ({"reason": ""}, 5),
        ({"user": "al@acme.net"}, 3),
        ({"user": "ghost@acme.net"}, 2),
    ],
)
def test_generate_token_errors(platform, call, body, number):
    request = {"user": "carol@acme.net", "reason": "r"} | body
    failed(call("generate_token", credentials=ADMIN, **request), number)


def test_no_escalation_through_a_token(platform, call, fresh_store):
    """A token acts as its account: making one is an account action (isolation
    rule 1).  A domain admin cannot make one for an account that holds more
    than it does, nor for anyone outside its domain, and a plain user not even
    for itself; then the step that would have used it fails too."""
    ok(call("change_user", user="twohats@acme.net", attributes={"password": PW}))
    ok(call("set_role", user="twohats@acme.net", role="domain", object="acme.com"))
    ok(call("delete_user", credentials=ADMIN, user="bob@acme.com"))
    before = table_rows(fresh_store, "tokens", "audit_log")
    chosen = "escalation-token-0123456789"
    for caller, user, number in (
        (DADMIN, "twohats@acme.net", 4),  # holds a role over another domain
        (DADMIN, "admin@acme.com", 2),  # outside its domain (a company admin)
        (as_user("lead@acme.com"), "alice@acme.com", 4),  # a workgroup admin reads only
        (as_user("carol@acme.net"), "carol@acme.net", 4),  # not even for itself
        (as_user("oadmin@other.com"), "carol@acme.net", 2),  # another tenant's
        (ADMIN, "bob@acme.com", 4),  # a deleted account logs in with nothing
    ):
        answer_ = call("generate_token", credentials=caller, user=user, reason="x", token=chosen)
        failed(answer_, number)
        failed(call("get_domain", credentials=token_of(user, chosen), domain="acme.com"), 1)
    assert table_rows(fresh_store, "tokens", "audit_log") == before
    # the admin of the domain makes one for an account its own role covers
    ok(call("generate_token", credentials=DADMIN, user="dmail@acme.net", reason="ok"))


def test_an_sso_token_works_once(platform, call):
    made = ok(call("generate_token", credentials=ADMIN, user="bob@acme.com", reason="sso",
                   type="sso", oma=True))  # fmt: skip
    sso = token_of("bob@acme.com", made["token"])
    ok(call("get_user", credentials=sso, user="bob@acme.com"))
    failed(call("get_user", credentials=sso, user="bob@acme.com"), 1)  # replayed
    failed(call("authenticate", credentials=sso), 1)


def test_an_sso_token_raced_for_works_once(platform, call, app, fresh_store):
    """Many calls at once, on two servers sharing the store (each with its own
    connections and write lock): exactly one gets in.  The DELETE that takes
    the token decides, in the store."""
    made = ok(call("generate_token", credentials=ADMIN, user="bob@acme.com", reason="race",
                   type="sso", oma=True))  # fmt: skip
    body = {"credentials": token_of("bob@acme.com", made["token"]), "user": "bob@acme.com"}
    other_store = open_store(fresh_store.url)
    other = create_app(other_store, cheap_config(), FixedClock(NOW))

    async def race(n: int = 16) -> list[dict[str, Any]]:
        calls = [post(app if i % 2 else other, "get_user", body) for i in range(n)]
        return [answer(r) for r in await asyncio.gather(*calls)]

    try:
        results = asyncio.run(race())
    finally:
        other_store.close()
    assert sum(r["success"] for r in results) == 1
    assert {r.get("error_number") for r in results if not r["success"]} == {1}
    with fresh_store.read() as q:
        assert q.conn.execute("SELECT COUNT(*) FROM tokens WHERE kind = 'sso'").fetchone() == (0,)


def test_token_methods_leave_the_tree_as_it_was(platform, call, fresh_store):
    """Tokens are audited but change no account: a running ingester keeps what
    it resolved (the tree's version stays) until the tree really changes."""

    def version() -> int:
        with fresh_store.read() as q:
            return q.tree_version()

    before = version()
    ok(call("generate_token", credentials=ADMIN, user="bob@acme.com", reason="r"))
    ok(call("logout_user", credentials=ADMIN, user="bob@acme.com"))
    assert version() == before
    ok(call("rename_user", credentials=ADMIN, user="bob@acme.com", new_name="rob@acme.com"))
    assert version() > before
