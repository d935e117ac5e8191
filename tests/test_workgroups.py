"""create_workgroup and delete_workgroup (SPEC §4): who may, what they refuse,
the audit log, and the roles a deleted workgroup takes with it."""

from __future__ import annotations

import json

from conftest import as_user, failed, ok, table_rows


def workgroups(store, domain_id: int) -> list[str]:
    return sorted(r[2] for r in table_rows(store, "workgroups")["workgroups"] if r[1] == domain_id)


def domain_id(store, name: str) -> int:
    return next(r[0] for r in table_rows(store, "domains")["domains"] if r[2] == name)


def test_create_and_delete(platform, call, fresh_store):
    acme_net = domain_id(fresh_store, "acme.net")
    assert workgroups(fresh_store, acme_net) == ["staff"]
    dadmin = as_user("dadmin@acme.net")
    ok(call("create_workgroup", credentials=dadmin, domain="acme.net", workgroup="Support"))
    assert workgroups(fresh_store, acme_net) == ["Support", "staff"]
    failed(call("create_workgroup", credentials=dadmin, domain="acme.net", workgroup="Support"), 7)
    audit = table_rows(fresh_store, "audit_log")["audit_log"][-1]
    assert audit[3:7] == ("dadmin@acme.net", None, "create_workgroup", "acme.net/Support")
    ok(call("delete_workgroup", credentials=dadmin, domain="acme.net", workgroup="Support"))
    assert workgroups(fresh_store, acme_net) == ["staff"]
    assert table_rows(fresh_store, "audit_log")["audit_log"][-1][5] == "delete_workgroup"
    failed(call("delete_workgroup", domain="acme.net", workgroup="Support"), 2)


def test_a_workgroup_named_by_a_user_exists(platform, call, fresh_store):
    assert workgroups(fresh_store, domain_id(fresh_store, "acme.com")) == ["sales", "staff"]
    ok(call("change_user", user="bob@acme.com", attributes={"workgroup": "ops"}))
    assert "ops" in workgroups(fresh_store, domain_id(fresh_store, "acme.com"))


def test_delete_refuses_staff_and_live_users(platform, call, fresh_store, clock):
    failed(call("delete_workgroup", domain="acme.com", workgroup="staff"), 4)
    answer = failed(call("delete_workgroup", domain="acme.com", workgroup="sales"), 4)
    assert "1 live users" in answer["error"]
    # a soft-deleted member does not hold it
    ok(call("delete_user", user="alice@acme.com"))
    ok(call("delete_workgroup", domain="acme.com", workgroup="sales"))


def test_roles_on_a_deleted_workgroup_go_with_it(platform, call, fresh_store):
    ok(call("change_user", user="bob@acme.com", attributes={"workgroup": "staff"}))
    ok(call("create_workgroup", domain="acme.com", workgroup="empty"))
    ok(call("set_role", user="bob@acme.com", role="workgroup", object="acme.com/empty"))
    before = table_rows(fresh_store, "roles")["roles"]
    (held,) = [r for r in before if r[5] == "empty"]  # (company, user, role, kind, id, wg)
    assert held[2:4] == ("workgroup", "workgroup")
    ok(
        call(
            "delete_workgroup",
            credentials=as_user("admin@acme.com"),
            domain="acme.com",
            workgroup="empty",
        )
    )
    after = table_rows(fresh_store, "roles")["roles"]
    assert not [r for r in after if r[5] == "empty"]
    assert len(after) == len(before) - 1
    detail = json.loads(table_rows(fresh_store, "audit_log")["audit_log"][-1][7])
    assert detail == {}


def test_who_may(platform, call, fresh_store):
    before = table_rows(fresh_store, "workgroups", "audit_log")
    for who, domain, number in (
        ("dadmin@acme.net", "acme.com", 2),  # another domain of its company
        ("dadmin@acme.net", "other.com", 2),  # another tenant's
        ("dmail@acme.net", "acme.net", 4),  # reads its domain, manages nothing
        ("ro@acme.com", "acme.net", 4),
        ("lead@acme.com", "acme.com", 2),
        ("bob@acme.com", "acme.com", 2),
        ("oadmin@other.com", "acme.com", 2),
    ):
        for method in ("create_workgroup", "delete_workgroup"):
            failed(call(method, credentials=as_user(who), domain=domain, workgroup="sales"), number)
    failed(call("create_workgroup", domain="acme.com", workgroup="a/b"), 5)
    failed(call("create_workgroup", domain="acme.com", workgroup="a\x00b"), 5)
    assert table_rows(fresh_store, "workgroups", "audit_log") == before
    ok(
        call(
            "create_workgroup",
            credentials=as_user("admin@acme.com"),
            domain="acme.net",
            workgroup="x",
        )
    )
