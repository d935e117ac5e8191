"""Every error number of SPEC §1, each produced by a real request."""

from __future__ import annotations

import pytest

from conftest import OPERATOR_CREDS, PW, as_user, creds, failed, ok

ADMIN = as_user("admin@acme.com")
RO = as_user("ro@acme.com")

# (number, credentials, method, request, a word the error sentence must contain)
ERRORS = [
    (1, creds("admin@acme.com", "wrong"), "stats_summary", {}, "credentials"),
    (1, creds("nobody@acme.com", PW), "stats_summary", {}, "credentials"),
    (1, creds("root", "wrong"), "stats_summary", {"object": "Acme"}, "credentials"),
    (1, creds("admin@acme.com", token="x" * 40), "stats_summary", {}, "credentials"),
    (2, ADMIN, "stats_summary", {"type": "domain", "object": "nonesuch.com"}, "nonesuch.com"),
    (2, ADMIN, "get_user", {"user": "nobody@acme.com"}, "nobody@acme.com"),
    (2, OPERATOR_CREDS, "change_domain", {"domain": "x.org", "company": "Nonesuch"}, "Nonesuch"),
    (3, ADMIN, "change_user", {"user": "al@acme.net", "attributes": {"name": "A"}}, "alias"),
    (3, ADMIN, "delete_user", {"user": "al@acme.net"}, "alias"),
    (3, ADMIN, "set_role", {"user": "al@acme.net", "role": "company", "object": "Acme"}, "alias"),
    (4, RO, "delete_user", {"user": "bob@acme.com"}, "bob@acme.com"),
    (4, ADMIN, "delete_domain", {"domain": "acme.net"}, "live users"),
    (4, as_user("tokenonly@acme.com"), "stats_summary", {"object": "Acme"}, "Acme"),
    (5, ADMIN, "stats_summary", {"bye": "week"}, "bye"),
    (5, ADMIN, "stats_summary", {"by": "year"}, "by"),
    (5, ADMIN, "change_user", {"user": "not-an-address", "attributes": {}}, "user"),
    (5, OPERATOR_CREDS, "stats_summary", {"type": "company"}, "object"),
    (6, ADMIN, "change_user", {"user": "bob@acme.com", "attributes": {"type": "x"}}, "type"),
    (6, ADMIN, "change_user", {"user": "bob@acme.com", "attributes": {"colour": 1}}, "colour"),
    (6, ADMIN, "change_domain", {"domain": "acme.com", "attributes": {"quota": -1}}, "quota"),
    (
        7,
        ADMIN,
        "change_user",
        {"user": "bob@acme.com", "attributes": {}, "create_only": True},
        "exists",
    ),
    (7, ADMIN, "change_domain", {"domain": "acme.net", "create_only": True}, "exists"),
    (7, OPERATOR_CREDS, "change_company", {"company": "Acme", "create_only": True}, "exists"),
]


@pytest.mark.parametrize(
    ("number", "credentials", "method", "request_", "word"),
    ERRORS,
    ids=[f"{e[0]}-{e[2]}-{i}" for i, e in enumerate(ERRORS)],
)
def test_error_number(platform, call, number, credentials, method, request_, word):
    answer = failed(call(method, credentials=credentials, **request_), number)
    assert word in answer["error"]
    assert set(answer) <= {"success", "error", "error_number", "hints"}


def test_hints_name_the_offending_field(platform, call):
    answer = failed(call("stats_summary", credentials=ADMIN, bye="week"), 5)
    assert answer["hints"] == {"bye": "is not a field of this method"}
    answer = failed(
        call(
            "change_user",
            credentials=ADMIN,
            user="bob@acme.com",
            attributes={"quota": "lots", "type": "x"},
        ),
        6,
    )
    assert set(answer["hints"]) == {"quota", "type"}


def test_error_0_is_a_server_fault_without_a_traceback(
    platform, call, client, fresh_store, service
):
    ok(call("stats_summary", credentials=ADMIN, object="Acme"))
    service.flush_auth_counts()
    fresh_store.close()  # the database goes away under the running server
    r = client.post(
        "/api/stats_summary",
        json={"credentials": ADMIN, "type": "domain", "object": "acme.com"},
    )
    service.auth_counter.drain()  # nothing can be written any more
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "success": False,
        "error": "server error; the fault was logged",
        "error_number": 0,
    }
    assert "Traceback" not in r.text and "sqlite" not in r.text.lower()
    # the server itself keeps answering what needs no database
    assert ok(call("echo", credentials=None, ping=1)) == {"success": True, "ping": 1}
