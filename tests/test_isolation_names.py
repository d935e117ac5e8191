"""Names are text (SPEC §2, isolation rule 5), tried with Hypothesis: arbitrary
unicode, control characters and lengths in every name field of every method.
Never a 5xx, and never an effect outside the caller's scope: every row of the
other tenants is as it was."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import as_user, rfc, row_order
from isolation import fill, platform_file  # noqa: F401
from mailtally.api.app import METHODS
from mailtally.names import has_bad_characters

#: (method, request with "{}" where a generated name goes)
FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("change_company", {"company": "{}"}),
    ("get_company", {"company": "{}"}),
    ("change_domain", {"domain": "{}"}),
    ("change_domain", {"domain": "fresh.example", "company": "{}"}),
    ("get_domain", {"domain": "{}"}),
    ("delete_domain", {"domain": "{}"}),
    ("change_user", {"user": "{}", "attributes": {"name": "x"}}),
    ("change_user", {"user": "{}@acme.com", "attributes": {}}),
    ("change_user", {"user": "carol@acme.net", "attributes": {"aliases": ["{}"]}}),
    ("change_user", {"user": "carol@acme.net", "attributes": {"forward_recipients": ["{}"]}}),
    ("change_user", {"user": "carol@acme.net", "attributes": {"workgroup": "{}"}}),
    ("change_user", {"user": "carol@acme.net", "attributes": {"name": "{}"}}),
    ("get_user", {"user": "{}"}),
    ("delete_user", {"user": "{}"}),
    ("restore_user", {"user": "{}"}),
    ("set_role", {"user": "{}", "role": "mail", "object": "acme.net"}),
    ("set_role", {"user": "bob@acme.com", "role": "{}", "object": "acme.net"}),
    ("set_role", {"user": "bob@acme.com", "role": "company", "object": "{}"}),
    ("set_role", {"user": "bob@acme.com", "role": "domain", "object": "{}"}),
    ("set_role", {"user": "bob@acme.com", "role": "workgroup", "object": "acme.com/{}"}),
    ("stats_summary", {"object": "{}"}),
    ("stats_summary", {"type": "company", "object": "{}"}),
    ("stats_summary", {"type": "domain", "object": "{}"}),
    ("stats_summary", {"type": "user", "object": "{}"}),
    ("stats_top", {"object": "{}"}),
    ("stats_top", {"type": "company", "object": "{}", "of": "domains"}),
    ("stats_top", {"type": "domain", "object": "{}"}),
    ("stats_snapshot", {"type": "company", "object": "{}", "date": "2026-01"}),
    ("stats_snapshot", {"type": "domain", "object": "{}", "date": "2026-01"}),
    ("stats_snapshot", {"type": "domain", "object": "acme.net", "date": "{}"}),
    (
        "ingest_events",
        {
            "batch_id": "{}",
            "events": [
                {"kind": "login", "time": rfc(1768392000), "user": "{}", "service": "imap4"}
            ],
        },
    ),
    ("authenticate", {"generate_session_token": True, "token": "{}"}),
    ("search_users", {"criteria": {"domain": "{}"}}),
    ("search_users", {"criteria": {"match": "{}"}}),
    ("search_users", {"criteria": {"domain": "acme.net", "workgroup": "{}"}}),
    ("search_domains", {"criteria": {"company": "{}"}}),
    ("search_domains", {"criteria": {"match": "{}"}}),
    ("search_workgroups", {"criteria": {"domain": "{}", "match": "{}"}}),
    ("search_companies", {"criteria": {"match": "{}"}}),
    ("create_workgroup", {"domain": "{}", "workgroup": "{}"}),
    ("create_workgroup", {"domain": "acme.net", "workgroup": "{}"}),
    ("delete_workgroup", {"domain": "acme.net", "workgroup": "{}"}),
    ("set_role", {"user": "bob@acme.com", "role": "mail", "objects": ["acme.net", "{}"]}),
    ("rename_user", {"user": "{}", "new_name": "fresh@acme.net"}),
    ("rename_user", {"user": "carol@acme.net", "new_name": "{}"}),
    ("restore_user", {"user": "carol@acme.net", "new_name": "{}"}),
    ("restore_domain", {"domain": "{}"}),
    ("restore_domain", {"domain": "spare.com", "new_name": "{}"}),
    ("get_user_changes", {"user": "{}"}),
    ("get_domain_changes", {"domain": "{}"}),
    ("get_company_changes", {"company": "{}"}),
    ("get_user_attribute_history", {"user": "{}", "attribute": "quota"}),
    ("get_user_attribute_history", {"user": "carol@acme.net", "attribute": "{}"}),
    ("logout_user", {"user": "{}"}),
    ("generate_token", {"user": "{}", "reason": "test"}),
    ("generate_token", {"user": "carol@acme.net", "reason": "{}"}),
    ("generate_token", {"user": "carol@acme.net", "reason": "r", "token": "{}"}),
]
NAMES_NOTHING = {"echo", "stats_list", "ingest_tree"}

#: names that look like the other tenants' own, with hostile additions
OTHERS = ["Other", "other.com", "zed@other.com", "acme.io", "io.example", "boss@io.example"]
names = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=400),
    st.builds(
        lambda base, junk, where: base[:where] + junk + base[where:],
        st.sampled_from(OTHERS),
        st.text(
            alphabet=st.sampled_from("\x00\x1f\x7f\x85\u200b\u202e\ufeff.@/ %_*AZ"),
            min_size=1,
            max_size=3,
        ),
        st.integers(0, 20),
    ),
    st.sampled_from([n.upper() for n in OTHERS] + [n + "." for n in OTHERS]),
)

#: every table that holds a tenant's rows, by the column naming the company
TENANT_TABLES = {
    "companies": "id",
    "domains": "company_id",
    "users": "company_id",
    "user_versions": "company_id",
    "addresses": "company_id",
    "roles": "company_id",
    "tokens": "company_id",
    "audit_log": "company_id",
    "flows": "company_id",
    "gauges": "company_id",
    "storage_reports": "company_id",
    "event_batches": "company_id",
    "workgroups": "company_id",
}


#: Acme's rows outside acme.net, by table: what acme.net's admin may not touch
OUTSIDE_ACME_NET = {
    "domains": "id <> {d}",
    "users": "domain_id <> {d}",
    "addresses": "domain_id <> {d} AND user_id NOT IN (SELECT id FROM users WHERE domain_id = {d})",
    "user_versions": "user_id NOT IN (SELECT id FROM users WHERE domain_id = {d})",
    "roles": "user_id NOT IN (SELECT id FROM users WHERE domain_id = {d})",
    "workgroups": "domain_id <> {d}",
}


def outside_rows(store, caller: str) -> dict[str, list[Any]]:
    """Every row outside the caller's scope: of the companies other than Acme,
    and for acme.net's admin, Acme's rows outside acme.net too."""
    out = {}
    with store.read() as q:
        acme = q.company_by_name("Acme")[0]
        for table, column in TENANT_TABLES.items():
            out[table] = q.conn.execute(
                f"SELECT * FROM {table} WHERE {column} IS DISTINCT FROM {acme} "
                f"ORDER BY {row_order(q, table)}"
            ).fetchall()
        if caller == "dadmin@acme.net":
            d = q.domain_by_name("acme.net")[0]
            for table, where in OUTSIDE_ACME_NET.items():
                out[f"acme:{table}"] = q.conn.execute(
                    f"SELECT * FROM {table} WHERE company_id = {acme} AND "
                    f"{where.format(d=d)} ORDER BY {row_order(q, table)}"
                    if table != "domains"
                    else f"SELECT * FROM domains WHERE company_id = {acme} AND id <> {d}"
                ).fetchall()
    return out


def test_every_method_that_names_something_is_tried():
    assert set(METHODS) - NAMES_NOTHING <= {m for m, _ in FIELDS}


@pytest.mark.parametrize("caller", ["admin@acme.com", "dadmin@acme.net"])
@pytest.mark.parametrize(("method", "template"), FIELDS, ids=lambda v: str(v)[:40])
def test_any_name_in_any_field(platform, client, fresh_store, caller, method, template):
    creds = as_user(caller)

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(name=names)
    def run(name: str) -> None:
        before = outside_rows(fresh_store, caller)
        r = client.post(f"/api/{method}", json={"credentials": creds, **fill(template, name)})
        assert r.status_code == 200, (name, r.text)
        answer = r.json()
        assert isinstance(answer["success"], bool)
        if not answer["success"]:
            assert answer["error_number"] in (1, 2, 3, 4, 5, 6, 7), answer
        assert outside_rows(fresh_store, caller) == before, name
        # a name with a control character is refused, in every field (a token
        # is a secret, not a name)
        if answer["success"] and has_bad_characters(name):
            assert "token" in template, (method, name, answer)

    run()


@pytest.mark.parametrize(
    ("method", "body", "number"),
    [
        ("change_user", {"user": "carol@acme.net", "attributes": {"workgroup": "staff\n"}}, 6),
        ("change_user", {"user": "carol@acme.net", "attributes": {"name": "Carol\n"}}, 6),
        ("change_user", {"user": "new\n@acme.net", "attributes": {}}, 5),
        ("change_domain", {"domain": "a\n.acme.net"}, 5),
        ("get_user", {"user": "carol@acme.net\n"}, 5),
        ("set_role", {"user": "carol@acme.net", "role": "workgroup", "object": "acme.net/x\n"}, 5),
    ],
)
def test_a_final_newline_is_a_control_character(platform, call, method, body, number):
    """``$`` in a regex also matches before a final newline: every name check
    must refuse ``"staff\\n"`` as it refuses ``"st\\naff"``."""
    answer = call(method, credentials=as_user("admin@acme.com"), **body)
    assert answer["success"] is False, answer
    assert answer["error_number"] == number, answer
