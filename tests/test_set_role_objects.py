"""set_role with ``objects`` (SPEC §4): the role over each object, all or none,
with the scope and error numbers of ``object``."""

from __future__ import annotations

import json

from conftest import as_user, failed, ok, table_rows


def roles_of(call, user: str) -> list[dict[str, str]]:
    return ok(call("get_user", user=user))["metadata"]["roles"]


def test_the_role_over_each_object(platform, call, fresh_store):
    ok(call("set_role", user="bob@acme.com", role="mail", objects=["acme.com", "acme.net"]))
    assert sorted(r["object"] for r in roles_of(call, "bob@acme.com")) == ["acme.com", "acme.net"]
    audit = table_rows(fresh_store, "audit_log")["audit_log"][-1]
    assert audit[5:7] == ("set_role", "bob@acme.com")
    assert json.loads(audit[7]) == {"role": "mail", "objects": ["acme.com", "acme.net"]}
    # a list of one is the same as object
    ok(call("set_role", user="carol@acme.net", role="workgroup", objects=["acme.net/ops"]))
    assert roles_of(call, "carol@acme.net") == [{"role": "workgroup", "object": "acme.net/ops"}]


def test_all_or_none(platform, call, fresh_store):
    before = table_rows(fresh_store, "roles", "audit_log")
    # the second object is another tenant's domain: error 5, and the first is not granted
    failed(call("set_role", user="bob@acme.com", role="mail", objects=["acme.com", "other.com"]), 5)
    # a company admin: the last object is no domain of the company
    admin = as_user("admin@acme.com")
    failed(
        call(
            "set_role",
            credentials=admin,
            user="carol@acme.net",
            role="mail",
            objects=["acme.net", "acme.com", "ghost.example"],
        ),
        5,
    )
    # a domain admin may not set roles at all (error 4, before any object)
    failed(
        call(
            "set_role",
            credentials=as_user("dadmin@acme.net"),
            user="carol@acme.net",
            role="mail",
            objects=["acme.net"],
        ),
        4,
    )
    assert table_rows(fresh_store, "roles", "audit_log") == before
    ok(
        call(
            "set_role", credentials=admin, user="carol@acme.net", role="mail", objects=["acme.net"]
        )
    )


def test_scope_and_format(platform, call, fresh_store):
    before = table_rows(fresh_store, "roles", "audit_log")
    failed(
        call("set_role", user="bob@acme.com", role="mail", object="acme.com", objects=["acme.com"]),
        5,
    )
    failed(call("set_role", user="bob@acme.com", role="mail", objects=[]), 5)
    failed(call("set_role", user="bob@acme.com", role="mail", objects="acme.com"), 5)
    oadmin = as_user("oadmin@other.com")
    failed(
        call(
            "set_role", credentials=oadmin, user="bob@acme.com", role="mail", objects=["acme.com"]
        ),
        2,
    )
    assert table_rows(fresh_store, "roles", "audit_log") == before
