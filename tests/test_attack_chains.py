"""An attacker's chains through the HTTP API (SPEC §1, §2 isolation rules 1–3).

Each test is one attacker holding ONE account of Acme (a role of SPEC §2, or
none) who chains calls to gain more than that account gives: another
account's password or tokens, a name that comes to mean another account,
another tenant's objects or statistics, stale credentials that outlive the
change that should end them.  The earlier isolation tests try each method
once per role (test_isolation_matrix) and the known two-step escalations
(test_isolation_escalation); these are the longer chains.

A passing test is a defence that holds; a chain that works (a real hole) is
marked ``xfail(strict=True)`` with the SPEC rule it breaks.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

import mailtally.api.service as service_module
from conftest import NOW, OPERATOR_CREDS, PW, as_user, cheap_config, failed, make_call, ok
from isolation import platform_file, snapshot  # noqa: F401
from mailtally.api import create_app
from mailtally.periods import FixedClock
from mailtally.store import open_store
from test_tokens import session, token_of

ADMIN = as_user("admin@acme.com")
DADMIN = as_user("dadmin@acme.net")  # domain admin of acme.net
BOB = as_user("bob@acme.com")
OADMIN = as_user("oadmin@other.com")


T = "2026-01-14T10:00:00Z"  # the day of NOW


def _login(user: str) -> dict[str, Any]:
    return {"time": T, "kind": "login", "user": user, "service": "imap4"}


def roles_of(call, user: str) -> list[Any]:
    return ok(call("get_user", user=user))["metadata"]["roles"]


# -- reading another domain's account through an alias ----------------------------------
def test_a_domain_admin_does_not_read_an_account_through_its_alias_in_its_domain(platform, call):
    """alice@acme.com has the alias al@acme.net: the admin of acme.net reaches
    addresses of acme.net, but the account is acme.com's (access.contains: by
    the account's own domain)."""
    for method, body in (
        ("get_user", {"user": "al@acme.net"}),
        ("get_user_changes", {"user": "al@acme.net"}),
        ("get_user_attribute_history", {"user": "al@acme.net", "attribute": "workgroup"}),
        ("stats_summary", {"type": "user", "object": "al@acme.net"}),
        ("delete_user", {"user": "al@acme.net"}),
        ("logout_user", {"user": "al@acme.net"}),
        ("generate_token", {"user": "al@acme.net", "reason": "x"}),
        ("set_role", {"user": "al@acme.net", "role": "mail", "object": "acme.net"}),
        ("rename_user", {"user": "al@acme.net", "new_name": "x@acme.net"}),
    ):
        answer = call(method, credentials=DADMIN, **body)
        assert answer["success"] is False and answer["error_number"] in (2, 4), (method, answer)
    # nor can the domain admin take the alias address away by giving it to one of its own
    failed(
        call(
            "change_user",
            credentials=DADMIN,
            user="carol@acme.net",
            attributes={"aliases": ["al@acme.net"]},
        ),
        6,
    )


# -- a name that comes to mean another account -------------------------------------------
def test_a_deleted_accounts_name_is_not_taken_over_by_rename(platform, call, fresh_store):
    """Delete carol, then try to give her (still held) name to one's own account:
    restoring carol afterwards would make two accounts of one name."""
    ok(call("delete_user", credentials=DADMIN, user="carol@acme.net"))
    ok(call("change_user", credentials=DADMIN, user="mine@acme.net", attributes={"password": PW}))
    before = snapshot(fresh_store)
    failed(
        call("rename_user", credentials=DADMIN, user="mine@acme.net", new_name="carol@acme.net"),
        7,
    )
    assert snapshot(fresh_store) == before
    # re-creating the name reaches the deleted account (no second account of the name)
    ok(
        call(
            "change_user",
            credentials=DADMIN,
            user="carol@acme.net",
            attributes={"password": "new-carol-pw"},
        )
    )
    ok(call("restore_user", credentials=DADMIN, user="carol@acme.net"))
    found = ok(
        call("search_users", credentials=DADMIN, criteria={"domain": "acme.net", "match": "carol*"})
    )
    assert [u["user"] for u in found["users"]] == ["carol@acme.net"]


def test_rename_away_then_create_the_old_name_does_not_inherit_anything(platform, call):
    """bob is renamed; a new account made under bob's old name gets none of
    bob's roles, tokens, cached credentials or history."""
    ok(call("set_role", user="bob@acme.com", role="mail", object="acme.net"))
    token = session(call, BOB)
    made = ok(call("generate_token", user="bob@acme.com", reason="support"))["token"]
    ok(call("get_user", credentials=BOB, user="bob@acme.com"))  # password now cached
    ok(call("rename_user", user="bob@acme.com", new_name="robert@acme.com"))
    ok(call("change_user", user="bob@acme.com", attributes={"password": "other-pw-123"}))
    # the old name's password, session token and admin-made token mean nothing now
    failed(call("get_user", credentials=BOB, user="bob@acme.com"), 1)
    failed(call("get_user", credentials=token, user="bob@acme.com"), 1)
    failed(call("get_user", credentials=token_of("bob@acme.com", made), user="bob@acme.com"), 1)
    assert roles_of(call, "bob@acme.com") == []
    assert roles_of(call, "robert@acme.com") != []
    assert ok(call("get_user_changes", user="bob@acme.com"))["total_count"] == 1  # its creation
    # and the renamed account's tokens did not follow it under its new name
    failed(
        call(
            "get_user",
            credentials=token_of("robert@acme.com", token["token"]),
            user="robert@acme.com",
        ),
        1,
    )


def test_restore_under_a_new_name_takes_no_role_holders_name(platform, call, fresh_store):
    ok(call("change_user", credentials=DADMIN, user="old@acme.net", attributes={"password": PW}))
    ok(call("delete_user", credentials=DADMIN, user="old@acme.net"))
    before = snapshot(fresh_store)
    for new_name, number in (
        ("twohats@acme.net", 7),  # a role holder's address of its own domain: taken
        ("dadmin@acme.net", 7),
        ("al@acme.net", 7),  # an alias of another domain's account
        ("admin@acme.com", 2),  # another domain of the company
        ("zed@other.com", 2),  # another tenant
    ):
        answer = call("restore_user", credentials=DADMIN, user="old@acme.net", new_name=new_name)
        failed(answer, number)
    assert snapshot(fresh_store) == before


# -- credentials that should have ended ---------------------------------------------------
def test_a_removed_role_ends_at_once_for_cached_passwords_and_tokens(platform, call):
    """The company admin takes dmail's ``mail`` role away: dmail's cached
    password and its session token must stop reading acme.net at once."""
    dmail = as_user("dmail@acme.net")
    token = session(call, dmail)
    ok(call("get_domain", credentials=dmail, domain="acme.net"))
    ok(call("get_domain", credentials=token, domain="acme.net"))
    ok(call("set_role", credentials=ADMIN, user="dmail@acme.net", role="", object=""))
    failed(call("get_domain", credentials=dmail, domain="acme.net"), 2)
    failed(call("get_domain", credentials=token, domain="acme.net"), 2)
    failed(call("stats_summary", credentials=token, type="domain", object="acme.net"), 2)


def test_a_deleted_admins_token_and_cached_password_end(platform, call):
    """A company admin is deleted by another: its session token and its cached
    password stop at once, and an admin-made token made before the deletion too."""
    ok(call("change_user", user="admin2@acme.com", attributes={"password": PW}))
    ok(call("set_role", user="admin2@acme.com", role="company", object="Acme"))
    admin2 = as_user("admin2@acme.com")
    token = session(call, admin2)
    made = ok(call("generate_token", credentials=ADMIN, user="admin2@acme.com", reason="x"))
    sso = ok(call("generate_token", user="admin2@acme.com", reason="x", type="sso", oma=True))[
        "token"
    ]
    ok(call("get_company", credentials=admin2))
    ok(call("delete_user", credentials=ADMIN, user="admin2@acme.com"))
    for creds_ in (
        admin2,
        token,
        token_of("admin2@acme.com", made["token"]),
        token_of("admin2@acme.com", sso),
    ):
        failed(call("get_company", credentials=creds_), 1)
    # restoring it does not bring the tokens back
    ok(call("restore_user", credentials=ADMIN, user="admin2@acme.com"))
    failed(call("get_company", credentials=token), 1)
    failed(call("get_company", credentials=token_of("admin2@acme.com", made["token"])), 1)
    ok(call("get_company", credentials=admin2))


def test_an_sso_token_does_not_outlive_its_one_call_through_authenticate(platform, call):
    """An sso token is good for one call; that call may ask for a session token
    (the SSO flow), and then the sso token itself is spent."""
    sso = ok(
        call(
            "generate_token",
            credentials=ADMIN,
            user="bob@acme.com",
            reason="x",
            type="sso",
            oma=True,
        )
    )["token"]
    once = token_of("bob@acme.com", sso)
    got = ok(call("authenticate", credentials=once, generate_session_token=True))
    failed(call("authenticate", credentials=once), 1)
    ok(
        call(
            "get_user",
            credentials=token_of("bob@acme.com", got["session_token"]),
            user="bob@acme.com",
        )
    )


def test_an_sso_token_made_over_a_live_session_token_is_good_for_one_call(platform, call):
    """An admin's generate_token with a chosen string that is already the user's
    live (and cached) session token makes it an sso token: good for one call
    from then on, here and in the store, not a session token any more."""
    chosen = "bob-chosen-session-token-0123456789"
    ok(call("authenticate", credentials=BOB, generate_session_token=True, token=chosen))
    bob = token_of("bob@acme.com", chosen)
    ok(call("get_user", credentials=bob, user="bob@acme.com"))  # (now cached)
    ok(
        call(
            "generate_token",
            credentials=ADMIN,
            user="bob@acme.com",
            reason="x",
            type="sso",
            oma=True,
            token=chosen,
        )
    )
    ok(call("get_user", credentials=bob, user="bob@acme.com"))
    failed(call("get_user", credentials=bob, user="bob@acme.com"), 1)


def test_a_users_chosen_session_token_is_not_anothers(platform, call):
    """A session token string chosen by one user works only for that user's
    name, never for another account that is handed the same string."""
    chosen = "attacker-chosen-token-0123456789"
    ok(call("authenticate", credentials=BOB, generate_session_token=True, token=chosen))
    for user in ("admin@acme.com", "alice@acme.com", "zed@other.com", "al@acme.net"):
        failed(call("authenticate", credentials=token_of(user, chosen)), 1)
    # nor may an admin mint the same string for an account it cannot make tokens for
    answer = call(
        "generate_token", credentials=DADMIN, user="admin@acme.com", reason="x", token=chosen
    )
    assert answer["success"] is False and answer["error_number"] in (2, 4)
    failed(call("authenticate", credentials=token_of("admin@acme.com", chosen)), 1)


# -- tokens and role holders --------------------------------------------------------------
@pytest.mark.parametrize("kind", ["oma", "session", "sso"])
@pytest.mark.parametrize(
    ("caller", "user"),
    [
        ("dadmin@acme.net", "twohats@acme.net"),  # holds domain over acme.com
        ("dadmin@acme.net", "admin@acme.com"),
        ("dadmin@acme.net", "al@acme.net"),  # an alias of acme.com's alice
        ("lead@acme.com", "alice@acme.com"),  # a workgroup admin reads, no more
        ("ro@acme.com", "bob@acme.com"),
        ("tokenonly@acme.com", "bob@acme.com"),
        ("mailer@acme.com", "bob@acme.com"),
        ("bob@acme.com", "bob@acme.com"),  # a plain user makes no token for itself
        ("admin@acme.com", "zed@other.com"),
        ("admin@acme.com", "boss@io.example"),
    ],
)
def test_no_token_for_an_account_beyond_the_caller(platform, call, fresh_store, kind, caller, user):
    before = snapshot(fresh_store)
    answer = call(
        "generate_token",
        credentials=as_user(caller),
        user=user,
        reason="x",
        type=kind,
        oma=True,
        token="planted-token-0123456789",
    )
    assert answer["success"] is False and answer["error_number"] in (2, 3, 4), answer
    assert snapshot(fresh_store) == before
    failed(call("authenticate", credentials=token_of(user, "planted-token-0123456789")), 1)


# -- tokens an admin made, after the admin lost the rights it made them with ------------------
def _made_for_carol(call, maker: dict[str, str]) -> dict[str, str]:
    """An oma token ``maker`` makes for carol@acme.net (a plain user of acme.net)."""
    made = call("generate_token", credentials=maker, user="carol@acme.net", reason="x", oma=True)
    return token_of("carol@acme.net", ok(made)["token"])


def _carol(call, creds: dict[str, str]) -> dict[str, Any]:
    return call("get_user", credentials=creds, user="carol@acme.net")


def test_tokens_an_admin_made_go_when_it_is_deleted_on_every_process(
    platform, call, fresh_store, monkeypatch
):
    """dadmin (domain admin of acme.net) makes a token for carol, then is deleted:
    that token stops working at once, here and on another process that had it
    cached (its poll held back); carol's own session token and the token the
    company admin made for her keep working (migration 0016: tokens name their
    maker).  Before, the deleted admin kept carol's power for up to 168 hours."""
    carol = as_user("carol@acme.net")
    ok(call("change_user", user="carol@acme.net", attributes={"password": PW}))
    by_dadmin, by_admin = _made_for_carol(call, DADMIN), _made_for_carol(call, ADMIN)
    own = session(call, carol)
    monkeypatch.setattr(service_module, "POLL_SECONDS", 3600.0)
    other_store = open_store(fresh_store.url)
    try:
        with TestClient(create_app(other_store, cheap_config(), FixedClock(NOW))) as other:
            call2 = make_call(other, OPERATOR_CREDS)
            for creds in (by_dadmin, by_admin, own):
                ok(_carol(call2, creds))  # (now cached there)
            ok(call("delete_user", credentials=ADMIN, user="dadmin@acme.net"))
            for c in (call, call2):
                failed(_carol(c, by_dadmin), 1)
                ok(_carol(c, by_admin))
                ok(_carol(c, own))
    finally:
        other_store.close()


def test_tokens_an_admin_made_go_when_its_roles_are_taken_away(platform, call):
    by_dadmin = _made_for_carol(call, DADMIN)
    ok(_carol(call, by_dadmin))
    ok(call("set_role", credentials=ADMIN, user="dadmin@acme.net", role="", object="acme.net"))
    failed(_carol(call, by_dadmin), 1)
    # granted again, the admin has its rights back, not the tokens it made before
    ok(
        call(
            "set_role", credentials=ADMIN, user="dadmin@acme.net", role="domain", object="acme.net"
        )
    )
    failed(_carol(call, by_dadmin), 1)


def test_tokens_an_admin_made_go_with_a_domain_it_held_a_role_on(platform, call):
    """A domain deleted takes its admins' roles there, and the tokens they made
    (all of them, on the safe side: dadmin's for carol of acme.net too)."""
    ok(
        call(
            "set_role", credentials=ADMIN, user="dadmin@acme.net", role="domain", object="spare.com"
        )
    )
    by_dadmin, by_admin = _made_for_carol(call, DADMIN), _made_for_carol(call, ADMIN)
    ok(call("delete_domain", credentials=ADMIN, domain="spare.com"))
    failed(_carol(call, by_dadmin), 1)
    ok(_carol(call, by_admin))
    ok(_carol(call, DADMIN))  # its role over acme.net stands


# -- domains deleted and restored ---------------------------------------------------------
def test_a_deleted_domain_comes_back_without_the_roles_held_on_it(platform, call, fresh_store):
    """A company admin grants carol ``domain`` over spare.com and ``workgroup``
    over spare.com/staff, deletes spare.com and restores it: the roles were
    dropped with it and stay dropped (SPEC §4 restore_domain)."""
    ok(
        call(
            "set_role", credentials=ADMIN, user="carol@acme.net", role="domain", object="spare.com"
        )
    )
    ok(
        call(
            "set_role",
            credentials=ADMIN,
            user="bob@acme.com",
            role="workgroup",
            object="spare.com/staff",
        )
    )
    ok(call("delete_domain", credentials=ADMIN, domain="spare.com"))
    assert roles_of(call, "carol@acme.net") == []
    assert roles_of(call, "bob@acme.com") == []
    ok(call("restore_domain", credentials=ADMIN, domain="spare.com"))
    assert roles_of(call, "carol@acme.net") == []
    assert roles_of(call, "bob@acme.com") == []
    failed(call("get_domain", credentials=as_user("carol@acme.net"), domain="spare.com"), 2)


def test_a_deleted_domains_name_taken_by_another_tenant(platform, call, fresh_store):
    """Acme deletes spare.com; Other's admin creates spare.com: Acme's restore
    finds the name held (error 2, as for any name it cannot see) and changes
    nothing of Other's; Other's new domain shows none of Acme's old history."""
    ok(call("delete_domain", credentials=ADMIN, domain="spare.com"))
    ok(call("change_domain", credentials=OADMIN, domain="spare.com"))
    before = snapshot(fresh_store)
    failed(call("restore_domain", credentials=ADMIN, domain="spare.com"), 2)
    failed(call("restore_domain", credentials=ADMIN, domain="spare.com", new_name="other.com"), 2)
    assert snapshot(fresh_store) == before
    changes = ok(call("get_domain_changes", credentials=OADMIN, domain="spare.com"))["changes"]
    assert [c["by"] for c in changes] == ["oadmin@other.com"]
    # and Acme's admin does not read Other's spare.com
    failed(call("get_domain", credentials=ADMIN, domain="spare.com"), 2)
    failed(call("get_domain_changes", credentials=ADMIN, domain="spare.com"), 2)
    failed(call("stats_summary", credentials=ADMIN, type="domain", object="spare.com"), 2)
    # Acme restores its old domain under a free name: nothing of Other's moves
    ok(call("restore_domain", credentials=ADMIN, domain="spare.com", new_name="spare2.com"))
    ok(call("get_domain", credentials=OADMIN, domain="spare.com"))
    failed(call("get_domain", credentials=OADMIN, domain="spare2.com"), 2)


# -- other tenants' events and statistics ------------------------------------------------
def test_ingest_events_for_another_tenant_is_refused_alike(platform, call, fresh_store):
    """A company admin sends events naming Other's accounts and domain: the
    batch is refused whole, in the words a missing address gets."""
    before = snapshot(fresh_store)
    answers = []
    for user, domain_addr in (
        ("zed@other.com", "nobody@other.com"),
        ("ghost@nowhere.example", "nobody@nowhere.example"),
    ):
        events = [
            _login(user),
            {"time": T, "kind": "message_denied", "recipient": domain_addr},
            {"time": T, "kind": "storage", "user": user, "items": 1, "bytes": 10**9},
        ]
        answers.append(
            failed(call("ingest_events", credentials=ADMIN, batch_id=f"b-{user}", events=events), 6)
        )
    assert answers[0]["hints"] == answers[1]["hints"]
    assert snapshot(fresh_store) == before
    # a domain admin (no INGEST) sends nothing at all, even for its own domain
    failed(
        call(
            "ingest_events",
            credentials=DADMIN,
            batch_id="d",
            events=[_login("carol@acme.net")],
        ),
        4,
    )


def test_a_batch_id_of_another_tenant_does_not_swallow_ones_batch(platform, call):
    """Batch ids are per company: Other cannot make Acme's next batch a
    'duplicate' by sending it first under the same id."""
    ok(
        call(
            "ingest_events",
            credentials=OADMIN,
            batch_id="nightly-1",
            events=[_login("zed@other.com")],
        )
    )
    got = ok(
        call(
            "ingest_events",
            credentials=ADMIN,
            batch_id="nightly-1",
            events=[_login("bob@acme.com")],
        )
    )
    assert got["duplicate"] is False and got["accepted"] == 1


# -- lockout ------------------------------------------------------------------------------
def test_a_lockout_by_a_stranger_leaves_the_victims_tokens_working(platform, call):
    """Anyone may lock a name's passwords out for 15 minutes (SPEC §1); the
    victim's session token keeps working, and the lockout of an alias or of
    another spelling is the same name's only."""
    token = session(call, ADMIN)
    for _ in range(10):
        failed(call("authenticate", credentials=as_user("ADMIN@Acme.com", "wrong")), 1)
    failed(call("authenticate", credentials=ADMIN), 1)  # locked
    ok(call("get_company", credentials=token))
    # a lockout of an alias name does not lock the account's own name
    for _ in range(12):
        failed(call("authenticate", credentials=as_user("al@acme.net", "wrong")), 1)
    ok(call("authenticate", credentials=as_user("alice@acme.com")))
    # nor do failed tokens lock the name
    for _ in range(12):
        failed(call("authenticate", credentials=token_of("bob@acme.com", "x" * 20)), 1)
    ok(call("authenticate", credentials=BOB))


# -- a name reused: statistics and history stay with the account they were about ---------
def _today(answer: dict[str, Any]) -> dict[str, Any]:
    return answer["summary"]["20260114"]


def test_stats_of_a_renamed_accounts_old_name_are_the_new_accounts(platform, call):
    """bob has a login today and his summary is read (cached); he is renamed
    and a new account takes his old name: the name's summary, history and
    changes are the new account's, the old ones follow bob."""
    ok(call("ingest_events", batch_id="a", events=[_login("bob@acme.com")]))
    before = _today(
        ok(call("stats_summary", credentials=ADMIN, type="user", object="bob@acme.com"))
    )
    assert before["logins"]["imap4"] == "1"
    ok(call("rename_user", credentials=ADMIN, user="bob@acme.com", new_name="robert@acme.com"))
    ok(call("change_user", credentials=DADMIN, user="bob@acme.net", attributes={"password": PW}))
    ok(
        call(
            "change_user",
            credentials=ADMIN,
            user="bob@acme.com",
            attributes={"password": PW, "quota": 5},
        )
    )
    new = _today(ok(call("stats_summary", credentials=ADMIN, type="user", object="bob@acme.com")))
    assert new["logins"]["imap4"] == ""
    moved = _today(
        ok(call("stats_summary", credentials=ADMIN, type="user", object="robert@acme.com"))
    )
    assert moved["logins"]["imap4"] == "1"
    # the new bob reads only its own history, never the old account's
    mine = as_user("bob@acme.com")
    assert _today(ok(call("stats_summary", credentials=mine)))["logins"]["imap4"] == ""
    history = ok(
        call("get_user_attribute_history", credentials=mine, user="bob@acme.com", attribute="quota")
    )["history"]
    assert [h["value"] for h in history] == [5]
    failed(call("get_user", credentials=mine, user="robert@acme.com"), 2)


def test_a_domain_name_reused_by_another_tenant_shows_none_of_the_old_tenants_data(platform, call):
    """Acme's spare.com has an account with mail; Acme deletes it all; Other
    takes the name: Other's admin reads nothing of Acme's spare.com, through
    any method, and Acme's admin reads nothing of Other's."""
    ok(call("change_user", credentials=ADMIN, user="x@spare.com", attributes={"password": PW}))
    ok(call("ingest_events", batch_id="a", events=[_login("x@spare.com")] * 3))
    acme = _today(ok(call("stats_summary", credentials=ADMIN, type="domain", object="spare.com")))
    assert acme["logins"]["imap4"] == 3
    ok(call("delete_user", credentials=ADMIN, user="x@spare.com"))
    ok(call("delete_domain", credentials=ADMIN, domain="spare.com"))
    ok(call("change_domain", credentials=OADMIN, domain="spare.com"))
    other = _today(ok(call("stats_summary", credentials=OADMIN, type="domain", object="spare.com")))
    assert other["logins"]["imap4"] == 0 and other["users"]["deleted"] == 0
    assert (
        ok(call("stats_summary", credentials=OADMIN, object="spare.com"))["summary"]
        == ok(call("stats_summary", credentials=OADMIN, type="domain", object="spare.com"))[
            "summary"
        ]
    )
    found = ok(
        call("search_users", credentials=OADMIN, criteria={"domain": "spare.com", "deleted": True})
    )
    assert found["total_count"] == 0
    # the old account's name is free, and Other's admin makes its own: it has no history
    ok(call("change_user", credentials=OADMIN, user="x@spare.com", attributes={"password": PW}))
    x = _today(ok(call("stats_summary", credentials=OADMIN, type="user", object="x@spare.com")))
    assert x["logins"]["imap4"] == ""
    changes = ok(call("get_user_changes", credentials=OADMIN, user="x@spare.com"))["changes"]
    assert [c["by"] for c in changes] == ["oadmin@other.com"]
    # Acme's old user by its id: not Other's to restore, nor Acme's to name
    failed(call("restore_user", credentials=OADMIN, user="x@spare.com", id=1), 2)
    failed(call("get_user", credentials=ADMIN, user="x@spare.com"), 2)


# -- a second API process on the same store ----------------------------------------------
def test_a_deleted_accounts_password_ends_at_once_on_another_process(
    platform, call, fresh_store, monkeypatch
):
    """The company admin deletes admin2 through one process; admin2, whose
    password and session token another process verified before, is refused
    there at its next request, before that process polls the tree (the poll is
    held back here).  The delete moves the name's credential version; the
    other process verifies the password again — it stands in the store, the
    account only soft-deleted — and used to act with the roles it had cached
    (found by this review, session 13: auth.Authenticator.fresh_principal)."""
    ok(call("change_user", user="admin2@acme.com", attributes={"password": PW}))
    ok(call("set_role", user="admin2@acme.com", role="company", object="Acme"))
    admin2 = as_user("admin2@acme.com")
    monkeypatch.setattr(service_module, "POLL_SECONDS", 3600.0)  # (no poll during the test)
    other_store = open_store(fresh_store.url)
    try:
        with TestClient(create_app(other_store, cheap_config(), FixedClock(NOW))) as other:
            call2 = make_call(other, OPERATOR_CREDS)
            by_token = session(call2, admin2)
            ok(call2("get_company", credentials=admin2))  # verified and cached there
            ok(call2("get_company", credentials=by_token))
            ok(call("delete_user", credentials=ADMIN, user="admin2@acme.com"))
            failed(call("get_company", credentials=admin2), 1)  # this process: at once
            # the other process: at its next request too, by password and by token
            failed(call2("get_company", credentials=admin2), 1)
            failed(call2("get_company", credentials=by_token), 1)
            failed(
                call2(
                    "change_user",
                    credentials=admin2,
                    user="bob@acme.com",
                    attributes={"password": "taken-over-1"},
                ),
                1,
            )
    finally:
        other_store.close()


def test_an_admin_whose_roles_are_taken_away_has_none_at_once_on_another_process(
    platform, call, fresh_store, monkeypatch
):
    """Taking a company admin's roles away (set_role with no role, the answer to
    an admin gone rogue) moves its credential version: another process that
    cached its password and its roles reads them again at its next request,
    not at its next poll of the tree (held back here)."""
    ok(call("change_user", user="admin2@acme.com", attributes={"password": PW}))
    ok(call("set_role", user="admin2@acme.com", role="company", object="Acme"))
    admin2 = as_user("admin2@acme.com")
    monkeypatch.setattr(service_module, "POLL_SECONDS", 3600.0)
    other_store = open_store(fresh_store.url)
    try:
        with TestClient(create_app(other_store, cheap_config(), FixedClock(NOW))) as other:
            call2 = make_call(other, OPERATOR_CREDS)
            by_token = session(call2, admin2)
            ok(call2("get_company", credentials=admin2))
            ok(call("set_role", credentials=ADMIN, user="admin2@acme.com", role="", object="Acme"))
            for creds in (admin2, by_token):
                failed(call2("get_company", credentials=creds), 2)
                failed(
                    call2(
                        "change_user",
                        credentials=creds,
                        user="bob@acme.com",
                        attributes={"password": "taken-over-1"},
                    ),
                    2,
                )
            # still an account of its own: it logs in, and reads itself
            ok(call2("get_user", credentials=admin2, user="admin2@acme.com"))
    finally:
        other_store.close()


def test_a_password_change_and_a_rename_end_at_once_on_another_process(
    platform, call, fresh_store, monkeypatch
):
    """What the credential version does hold without a poll: a changed
    password, a renamed account's old name and a logged-out token are refused
    by the other process at its next request."""
    bob, carol = BOB, as_user("carol@acme.net")
    monkeypatch.setattr(service_module, "POLL_SECONDS", 3600.0)
    other_store = open_store(fresh_store.url)
    try:
        with TestClient(create_app(other_store, cheap_config(), FixedClock(NOW))) as other:
            call2 = make_call(other, OPERATOR_CREDS)
            alice = session(call2, as_user("alice@acme.com"))
            for creds_ in (bob, carol, alice):
                ok(call2("authenticate", credentials=creds_))
            ok(call("change_user", user="bob@acme.com", attributes={"password": "new-bob-pw"}))
            ok(call("rename_user", user="carol@acme.net", new_name="carol2@acme.net"))
            ok(call("logout_user", user="alice@acme.com"))
            for creds_ in (bob, carol, alice):
                failed(call2("authenticate", credentials=creds_), 1)
    finally:
        other_store.close()
