"""get_user_changes, get_domain_changes, get_company_changes and
get_user_attribute_history (SPEC §4): what the audit log and the account's
versions say, newest first (changes) or oldest first (history), in scope.

The platform of conftest (Acme: acme.com, acme.net; Other: other.com); now is
Wed 2026-01-14 12:00 UTC.
"""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from conftest import NOW, OPERATOR_CREDS, PW, as_user, creds, failed, failed_alike, ok, rfc

ADMIN = as_user("admin@acme.com")
TOOL = creds("admin@acme.com", PW, client="acme-tool/1.0")


def _history_of_carol(call, clock) -> None:
    """Six changes of carol@acme.net, a minute apart, ending in a rename."""
    steps = [
        ("change_user", {"attributes": {"quota": 1000, "password": "new-secret-1"}}),
        ("change_user", {"attributes": {"quota": 1000}}),  # (the same value again)
        ("set_role", {"role": "mail", "object": "acme.net"}),
        ("delete_user", {}),
        ("restore_user", {}),
        ("change_user", {"attributes": {"quota": 2000, "workgroup": "sales"}}),
        ("rename_user", {"new_name": "caroline@acme.net"}),
    ]
    for i, (method, body) in enumerate(steps):
        clock.value = NOW + 60 * (i + 1)
        ok(call(method, credentials=TOOL, user="carol@acme.net", **body))


def test_user_changes_newest_first_through_a_rename(platform, call, clock):
    _history_of_carol(call, clock)
    answer = ok(call("get_user_changes", user="caroline@acme.net"))
    assert answer["total_count"] == 8 and answer["count"] == 8  # and its creation
    changes = answer["changes"]
    assert [c["method"] for c in changes] == [
        "rename_user",
        "change_user",
        "restore_user",
        "delete_user",
        "set_role",
        "change_user",
        "change_user",
        "change_user",
    ]
    assert changes[0] == {
        "time": rfc(NOW + 420),
        "by": "admin@acme.com",
        "client": "acme-tool/1.0",
        "method": "rename_user",
        "changes": {"user": "caroline@acme.net"},
    }
    assert changes[1]["changes"] == {"quota": 2000, "workgroup": "sales"}
    assert changes[2]["changes"] == {"status": "active"}
    assert changes[3]["changes"] == {"status": "deleted"}
    assert changes[4]["changes"] == {"role": {"role": "mail", "object": "acme.net"}}
    assert changes[6]["changes"] == {"quota": 1000, "password": "(changed)"}
    # its creation, by the operator, with no client named
    assert changes[7]["by"] == "root" and changes[7]["client"] == ""
    assert changes[7]["changes"]["password"] == "(changed)"
    assert "new-secret-1" not in str(answer)
    # pages, in the store's order
    page = ok(call("get_user_changes", user="caroline@acme.net", range={"first": 2, "limit": 3}))
    assert page["count"] == 3 and page["total_count"] == 8
    assert page["changes"] == changes[2:5]
    beyond = ok(call("get_user_changes", user="caroline@acme.net", range={"first": 50}))
    assert beyond["count"] == 0 and beyond["changes"] == []
    # the old name is a free name now: nothing to read
    failed(call("get_user_changes", user="carol@acme.net"), 2)


def test_an_operators_name_is_told_to_operators_only(platform, call):
    """An operator's change shows its name to operators; to a tenant's admin as
    "(operator)": the login of one of the platform's most powerful accounts is
    nothing a tenant needs (session 15's attack round)."""
    ok(call("change_user", user="bob@acme.com", attributes={"quota": 5}))  # (as root)
    ok(call("change_user", credentials=ADMIN, user="bob@acme.com", attributes={"quota": 6}))
    for reader, root in ((OPERATOR_CREDS, "root"), (ADMIN, "(operator)")):
        changes = ok(call("get_user_changes", credentials=reader, user="bob@acme.com"))["changes"]
        assert [c["by"] for c in changes[:2]] == ["admin@acme.com", root], changes
        assert all(c["by"] in ("admin@acme.com", root) for c in changes), changes
        assert "root" not in str(changes) or reader is OPERATOR_CREDS


@pytest.mark.parametrize("bad", [{"limit": 0}, {"limit": 1001}, {"first": -1}, {"size": 3}])
def test_a_bad_range(platform, call, bad):
    failed(call("get_user_changes", user="bob@acme.com", range=bad), 5)


def test_domain_and_company_changes(platform, call):
    ok(call("change_domain", credentials=TOOL, domain="acme.net", attributes={"quota": 77}))
    ok(call("change_domain", credentials=ADMIN, domain="spare.com"))
    ok(call("delete_domain", credentials=ADMIN, domain="spare.com"))
    ok(call("restore_domain", credentials=ADMIN, domain="spare.com", new_name="spare.net"))
    net = ok(call("get_domain_changes", credentials=ADMIN, domain="acme.net"))["changes"]
    assert [c["method"] for c in net] == ["change_domain", "change_domain"]
    assert net[0]["changes"] == {"quota": 77} and net[0]["client"] == "acme-tool/1.0"
    spare = ok(call("get_domain_changes", credentials=ADMIN, domain="spare.net"))
    assert [(c["method"], c["changes"]) for c in spare["changes"]] == [
        ("restore_domain", {"status": "active", "domain": "spare.net"}),
        ("delete_domain", {"status": "deleted"}),
        ("change_domain", {}),
    ]
    own = ok(call("get_company_changes", credentials=ADMIN))  # (the caller's company)
    named = ok(call("get_company_changes", company="Acme"))
    # the same entry, but for the operator's name, which the tenant is not told
    assert own["changes"][0].pop("by") == "(operator)"
    assert named["changes"][0].pop("by") == "root"
    assert own == named and own["total_count"] == 1
    assert own["changes"][0]["changes"] == {"createtime": rfc(NOW - 400 * 86400)}


#: (caller, method, request, the answer: 0 success, else the error number)
SCOPES = [
    ("bob@acme.com", "get_user_changes", {"user": "bob@acme.com"}, 0),  # its own
    ("ro@acme.com", "get_user_changes", {"user": "bob@acme.com"}, 0),
    ("bob@acme.com", "get_user_changes", {"user": "alice@acme.com"}, 2),
    ("tokenonly@acme.com", "get_user_changes", {"user": "bob@acme.com"}, 4),
    ("dadmin@acme.net", "get_domain_changes", {"domain": "acme.com"}, 2),
    ("dadmin@acme.net", "get_domain_changes", {"domain": "acme.net"}, 0),
    ("dadmin@acme.net", "get_company_changes", {"company": "Acme"}, 2),
    ("oadmin@other.com", "get_company_changes", {"company": "Acme"}, 2),
    ("tokenonly@acme.com", "get_company_changes", {}, 4),
    (
        "bob@acme.com",
        "get_user_attribute_history",
        {"user": "alice@acme.com", "attribute": "quota"},
        2,
    ),
]


@pytest.mark.parametrize(("caller", "method", "request_", "number"), SCOPES)
def test_scopes(platform, call, caller, method, request_, number):
    answer = call(method, credentials=as_user(caller), **request_)
    if number:
        failed(answer, number)
    else:
        ok(answer)


def test_foreign_and_missing_alike(platform, call):
    oadmin = as_user("oadmin@other.com")
    a = call("get_user_changes", credentials=oadmin, user="bob@acme.com")
    b = call("get_user_changes", credentials=oadmin, user="nobody@acme.com")
    failed_alike(a, b, "bob", "nobody")
    failed(call("get_company_changes", credentials=OPERATOR_CREDS), 2)  # (no company of its own)


def test_attribute_history_oldest_first(platform, call, clock):
    _history_of_carol(call, clock)
    history = ok(call("get_user_attribute_history", user="caroline@acme.net", attribute="quota"))
    assert history["history"] == [
        {"time": rfc(NOW - 400 * 86400), "value": 0},  # its import, 400 days back
        {"time": rfc(NOW + 60), "value": 1000},
        {"time": rfc(NOW + 360), "value": 2000},
    ]
    deleted = ok(
        call("get_user_attribute_history", user="caroline@acme.net", attribute="deletetime")
    )["history"]
    assert [h["value"] for h in deleted] == ["", rfc(NOW + 240), ""]
    services = ok(call("get_user_attribute_history", user="bob@acme.com", attribute="service_pop3"))
    assert services["history"] == [{"time": rfc(NOW - 400 * 86400), "value": "enabled"}]
    for attribute in ("password", "colour", "createtime"):
        failed(call("get_user_attribute_history", user="bob@acme.com", attribute=attribute), 6)


@pytest.mark.sqlite_only  # (SQLite's migration 0006; PostgreSQL's schema starts at 0010)
def test_migration_fills_old_rows_as_the_code_writes_them(platform, call, fresh_store, clock):
    """Migration 0006 names the object of every older audit row by kind and id,
    and gives every older version its domain: run its statements again over
    rows the code wrote (with those columns emptied), and they come out the
    same — an account purged with its domain and a new one of the same name
    included."""
    ok(call("change_domain", domain="x.example", company="Acme"))
    ok(call("change_user", user="u@x.example", attributes={}))
    ok(call("delete_user", user="u@x.example"))
    ok(call("delete_domain", domain="x.example"))
    clock.value = NOW + 1
    ok(call("change_domain", domain="x.example", company="Acme"))
    ok(call("change_user", user="u@x.example", attributes={"quota": 5}))
    token = ok(call("authenticate", credentials=as_user("bob@acme.com"),
                    generate_session_token=True))["session_token"]  # fmt: skip
    assert token
    sql = files("mailtally.store.migrations").joinpath("0006_changes.sql").read_text()
    sql = re.sub(r"--[^\n]*", "", sql)
    fills = [s.strip() for s in sql.split(";") if s.strip().startswith("UPDATE")]
    with fresh_store.write() as q:
        c = q.conn
        want = {
            t: c.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()
            for t in ("audit_log", "user_versions", "tokens")
        }
        assert {r[-1] for r in want["audit_log"]} != {None}
        c.execute("UPDATE audit_log SET object_kind = NULL, object_id = NULL")
        c.execute("UPDATE user_versions SET domain_id = NULL")
        c.execute("UPDATE tokens SET user_id = NULL")
        for statement in fills:
            c.execute(statement)
        got = {t: c.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in want}
        assert len(got["audit_log"]) > 20
        # the purged account's versions name the first x.example's id, as written
        # (the migration gives each version its account's domain: the same
        # until accounts could be renamed)
        assert got == want
