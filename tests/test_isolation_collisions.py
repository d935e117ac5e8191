"""Names of different kinds never meet (SPEC §2, isolation rules 2 and 5).

A company and another tenant's domain spelled alike, one local part in two
tenants, case and trailing-dot spellings: no action of one tenant changes any
answer the other gets.  And a store made before roles carried their kind is
migrated without losing or mixing anything.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import PW, as_user, failed, ok, row_order
from isolation import platform_file, snapshot  # noqa: F401
from mailtally.store import open_store
from mailtally.store.base import migrations

ADMIN = as_user("admin@acme.com")  # Acme's admin


def answers_of(call, user: str, objects: dict[str, str]) -> list[Any]:
    """Everything ``user`` (of the other tenant) is answered about its own world."""
    me = as_user(user)
    out = [call("authenticate", credentials=me, fetch_extra_info=True)]
    for type_, name in objects.items():
        out.append(call("stats_summary", credentials=me, type=type_, object=name, by="month"))
        method = {"company": "get_company", "domain": "get_domain", "user": "get_user"}[type_]
        out.append(call(method, credentials=me, **{type_: name}))
    return out


IO = ("boss@io.example", {"company": "acme.io", "domain": "io.example", "user": "boss@io.example"})
OTHER = ("oadmin@other.com", {"company": "Other", "domain": "other.com", "user": "zed@other.com"})


def test_a_domain_spelled_like_another_tenants_company(platform, call, fresh_store):
    """Acme makes, uses and deletes a domain named like the company acme.io:
    acme.io's admin keeps its roles and every answer."""
    before = answers_of(call, *IO)
    other_roles = _roles_of_company(fresh_store, "acme.io")
    ok(call("change_domain", credentials=ADMIN, domain="acme.io"))
    ok(call("change_user", credentials=ADMIN, user="x@acme.io", attributes={"password": PW}))
    ok(call("set_role", credentials=ADMIN, user="x@acme.io", role="domain", object="acme.io"))
    ok(call("set_role", credentials=ADMIN, user="carol@acme.net", role="mail", object="acme.io"))
    ok(call("set_role", credentials=ADMIN, user="bob@acme.com", role="workgroup",
            object="acme.io/staff"))  # fmt: skip
    # a company role on "acme.io" names Acme's user's company only: refused
    failed(call("set_role", credentials=ADMIN, user="x@acme.io", role="company",
                object="acme.io"), 5)  # fmt: skip
    ok(call("delete_user", credentials=ADMIN, user="x@acme.io"))
    ok(call("delete_domain", credentials=ADMIN, domain="acme.io"))
    assert answers_of(call, *IO) == before
    assert _roles_of_company(fresh_store, "acme.io") == other_roles != []
    # the roles on Acme's domain went with it, and only those
    assert ok(call("get_user", user="carol@acme.net"))["metadata"]["roles"] == []
    assert ok(call("get_user", user="bob@acme.com"))["metadata"]["roles"] == []


def _roles_of_company(store, name: str) -> list[Any]:
    with store.read() as q:
        c = q.company_by_name(name)
        assert c is not None
        return q._all(
            f"SELECT * FROM roles WHERE company_id = ? ORDER BY {row_order(q, 'roles')}", c[0]
        )


def test_the_same_local_part_in_two_tenants(platform, call, fresh_store):
    ok(call("change_user", user="sam@acme.com", attributes={"password": PW}))
    ok(call("change_user", user="sam@other.com", attributes={"password": PW}))
    ok(call("set_role", user="sam@other.com", role="domain", object="other.com"))
    before = answers_of(call, *OTHER) + answers_of(call, "sam@other.com", {"user": "sam@other.com"})
    for attributes in ({"password": "changed-1"}, {"aliases": ["samuel@acme.com"]}):
        ok(call("change_user", credentials=ADMIN, user="sam@acme.com", attributes=attributes))
    ok(call("set_role", credentials=ADMIN, user="sam@acme.com", role="domain", object="acme.com"))
    ok(call("set_role", credentials=ADMIN, user="sam@acme.com", role=""))
    ok(call("delete_user", credentials=ADMIN, user="sam@acme.com"))
    ok(call("restore_user", credentials=ADMIN, user="sam@acme.com"))
    after = answers_of(call, *OTHER) + answers_of(call, "sam@other.com", {"user": "sam@other.com"})
    assert after == before


@pytest.mark.parametrize(
    "spelling", ["other.com.", "OTHER.COM", " other.com", "Other.Com.", "xn--other.com"]
)
def test_case_and_trailing_dot_spellings_of_a_foreign_domain(platform, call, fresh_store, spelling):
    """Another tenant's domain, however spelled, is as missing as a free name."""
    before = answers_of(call, *OTHER)
    tables = snapshot(fresh_store)
    missing = spelling.lower().replace("other", "nothere")
    for method, body in (
        ("get_domain", {"domain": "{}"}),
        ("delete_domain", {"domain": "{}"}),
        ("stats_summary", {"type": "domain", "object": "{}"}),
        ("change_user", {"user": "zed@{}", "attributes": {"name": "x"}}),
        ("get_user", {"user": "zed@{}"}),
        ("delete_user", {"user": "zed@{}"}),
        ("set_role", {"user": "bob@acme.com", "role": "domain", "object": "{}"}),
        ("change_user", {"user": "carol@acme.net", "attributes": {"aliases": ["c@{}"]}}),
    ):
        a, b = (
            call(method, credentials=ADMIN, **_fill(body, name)) for name in (spelling, missing)
        )
        assert a["success"] is False, (method, a)
        assert _text(a, spelling) == _text(b, missing), method
    assert snapshot(fresh_store) == tables
    assert answers_of(call, *OTHER) == before


def _fill(body: dict[str, Any], name: str) -> dict[str, Any]:
    def sub(v: Any) -> Any:
        if isinstance(v, str):
            return v.replace("{}", name)
        if isinstance(v, list):
            return [sub(x) for x in v]
        if isinstance(v, dict):
            return {k: sub(x) for k, x in v.items()}
        return v

    return sub(body)


def _text(answer: dict[str, Any], name: str) -> str:
    import json

    norm = name.strip(" ").rstrip(".").lower()
    return json.dumps(answer, ensure_ascii=False).replace(name, "NAME").replace(norm, "NAME")


@pytest.mark.parametrize("spelling", ["OTHER", "other", " Other ", "ＯＴＨＥＲ", "oThEr"])
def test_company_names_are_one_regardless_of_case(platform, call, fresh_store, spelling):
    # the operator reaches the same company, never a second one
    failed(call("change_company", company=spelling, create_only=True), 7)
    ok(call("change_company", company=spelling))
    with fresh_store.read() as q:
        assert q.conn.execute("SELECT COUNT(*) FROM companies").fetchone()[0] == 3
    # its admin finds it by any spelling; Acme's admin by none
    got = ok(call("get_company", credentials=as_user("oadmin@other.com"), company=spelling))
    assert got["metadata"]["name"] == "Other"
    a = call("get_company", credentials=ADMIN, company=spelling)
    b = call("get_company", credentials=ADMIN, company="Nonesuch")
    assert _text(a, spelling) == _text(b, "Nonesuch")


@pytest.mark.parametrize(
    "name",
    ["Bad\x00Name", "Tab\tCo", "Line\nCo", "Del\x7fCo", "C1\x85Co", "Bidi\u202eoC", "Z\u200bW"],
)
def test_control_characters_are_refused_in_company_names(platform, call, fresh_store, name):
    before = snapshot(fresh_store)
    answer = failed(call("change_company", company=name), 5)
    assert "control characters" in answer["error"]
    assert snapshot(fresh_store) == before


# -- a store from before migration 3 ------------------------------------------------
def _old_store(path: Path) -> None:
    """A store at schema 2, with roles named by spelling and two companies that
    differ only in case (possible then)."""
    conn = sqlite3.connect(path)
    for number, script in migrations():
        if number <= 2:
            conn.executescript(script)
    conn.executescript(
        """
        INSERT INTO meta VALUES ('schema_version', '2');
        INSERT INTO companies VALUES (1, 'Acme', 0), (2, 'ACME', 0), (3, 'acme.org', 0);
        INSERT INTO domains VALUES (1, 1, 'acme.org', 0, NULL, '{}'),
                                   (2, 2, 'b.example', 0, NULL, '{}'),
                                   (3, 1, 'gone.example', 0, 5, '{}');
        INSERT INTO users VALUES (1, 1, 1, 'a@acme.org', NULL, 0, NULL, '{}'),
                                 (2, 2, 2, 'b@b.example', NULL, 0, NULL, '{}'),
                                 (3, 3, 2, 'c@b.example', NULL, 0, NULL, '{}');
        INSERT INTO roles VALUES (1, 1, 'company', 'Acme'),
                                 (1, 1, 'domain', 'acme.org'),
                                 (1, 1, 'workgroup', 'acme.org/sales'),
                                 (1, 1, 'mail', 'gone.example'),
                                 (2, 2, 'company', 'ACME'),
                                 (2, 2, 'domain', 'acme.org'),
                                 (3, 3, 'company_ro', 'acme.org');
        """
    )
    conn.commit()
    conn.close()


def test_migration_gives_roles_their_kind_and_company(tmp_path):
    path = tmp_path / "old.sqlite3"
    _old_store(path)
    store = open_store(f"sqlite:///{path}")
    try:
        with store.read() as q:
            rows = q.conn.execute(
                "SELECT company_id, user_id, role, kind, object_id, workgroup FROM roles "
                "ORDER BY user_id, role"
            ).fetchall()
            assert rows == [
                (1, 1, "company", "company", 1, ""),
                (1, 1, "domain", "domain", 1, ""),
                (1, 1, "workgroup", "workgroup", 1, "sales"),
                # a role on a domain of another company, or a deleted one, meant nothing
                (2, 2, "company", "company", 2, ""),
                (3, 3, "company_ro", "company", 3, ""),
            ]
            assert q.roles_of(1) == [
                ("company", "Acme"),
                ("domain", "acme.org"),
                ("workgroup", "acme.org/sales"),
            ]
            # both old spellings keep working, each by its own spelling
            assert q.company_by_name("Acme")[0] == 1
            assert q.company_by_name("ACME")[0] == 2
            assert q.company_by_name("acme")[0] == 1
            assert q.legacy_company_names() == frozenset({"ACME"})
        # a new company that differs only in case is one of them
        with pytest.raises(sqlite3.IntegrityError), store.write() as q:
            q.insert_company("aCmE.ORG", 0)
    finally:
        store.close()


def test_the_summary_cache_keys_names_canonically(platform, call, service):
    """Many spellings of one name are one cached answer (rule 4), and each
    spelling gets the same bytes."""
    service.summary_cache.clear()
    spellings = {
        ("company", "Acme"): ["Acme", "ACME", "acme", " aCmE ", "ＡＣＭＥ"],
        ("domain", "acme.net"): ["acme.net", "ACME.NET", "acme.net.", " Acme.Net"],
        ("user", "carol@acme.net"): ["carol@acme.net", "CAROL@ACME.NET", "Carol@acme.net."],
    }
    for (type_, _), names in spellings.items():
        bodies = {
            str(ok(call("stats_summary", credentials=ADMIN, type=type_, object=n, by="month")))
            for n in names
        }
        assert len(bodies) == 1
    assert len(service.summary_cache) == len(spellings)
