"""Bad input for every field of every method (SPEC §1, §8): the SPEC's error,
never a 500, and nothing changed."""

from __future__ import annotations

import json

import pytest

from conftest import OPERATOR_CREDS, as_user, failed, ok, table_rows
from mailtally.api.common import MIB

ADMIN = as_user("admin@acme.com")

#: every table a change could touch (flows: the API's own auth counts may land
#: there in the background; meta: its generation counter)
TABLES = (
    "operators",
    "companies",
    "domains",
    "users",
    "addresses",
    "user_versions",
    "storage_reports",
    "roles",
    "tokens",
    "audit_log",
    "gauges",
)

#: a valid request of each method; the cases below spoil one field at a time
VALID = {
    "authenticate": {"generate_session_token": True, "session_token_duration": 60},
    "change_company": {"company": "Newco"},
    "get_company": {"company": "Acme"},
    "change_domain": {"domain": "new.org", "company": "Acme"},
    "get_domain": {"domain": "acme.com"},
    "delete_domain": {"domain": "empty.org"},
    "change_user": {"user": "new@acme.com", "attributes": {}},
    "get_user": {"user": "bob@acme.com"},
    "delete_user": {"user": "bob@acme.com"},
    "restore_user": {"user": "bob@acme.com"},
    "set_role": {"user": "bob@acme.com", "role": "company_ro", "object": "Acme"},
    "stats_summary": {"type": "company", "object": "Acme", "by": "day"},
}
MISSING = object()

LONG = "x" * 400
NOT_STRINGS = [5, 1.5, True, [], {}, None]


def name_cases(method, field, limit=320, required=True):
    """A name field: wrong JSON types, empty, overlong (error 5)."""
    values = [*NOT_STRINGS, "", "y" * (limit + 1)]
    if required:
        values.append(MISSING)
    return [(method, field, v, 5) for v in values]


def flag_cases(method, field):
    return [(method, field, v, 5) for v in ("yes", 1, 0, [], {}, "true")]


def attr_cases(method, name, values, base=None):
    """An attribute given a bad value: error 6 naming the attribute."""
    return [(method, "attributes", {name: v} | (base or {}), 6, name) for v in values]


CASES = [
    # authenticate
    *flag_cases("authenticate", "generate_session_token"),
    *[
        ("authenticate", "session_token_duration", v, 5)
        for v in ("60", 1.5, True, 0, -1, 86401, [])
    ],
    *[("authenticate", "token", v, 5) for v in (5, "", "short", "t" * 15, "t" * 129, [])],
    *flag_cases("authenticate", "fetch_extra_info"),
    # change_company
    *name_cases("change_company", "company"),
    *[("change_company", "company", v, 5) for v in (" ", "   ", "c" * 129)],
    *[("change_company", "attributes", v, 5) for v in ([], "x", 1, None, True)],
    *attr_cases("change_company", "colour", ["red"]),
    *attr_cases(
        "change_company",
        "createtime",
        [
            "yesterday",
            5,
            None,
            "2011-07-21",
            "2011-07-21T17:46:22",  # no offset
            "2011-02-30T00:00:00Z",
            "2999-01-01T00:00:00Z",  # the future
            "1969-12-31T23:59:59Z",
            "99999-01-01T00:00:00Z",
        ],
    ),
    *flag_cases("change_company", "create_only"),
    # get_company
    *name_cases("get_company", "company", required=False),
    # change_domain
    *name_cases("change_domain", "domain"),
    *[
        ("change_domain", "domain", v, 5)
        for v in (
            "not a domain",
            "com",
            "-bad.com",
            "a..b.com",
            "1.2.3.4",
            "l" * 64 + ".com",
            "a@b.com",
        )
    ],
    *name_cases("change_domain", "company", required=False),
    *[("change_domain", "attributes", v, 5) for v in ([], "x", 1, None)],
    *attr_cases("change_domain", "quota", [-1, "1GB", 1.5, True, 2**62, None]),
    *attr_cases("change_domain", "service_imap4", ["on", True, "", None, "Enabled"]),
    *attr_cases("change_domain", "colour", ["red"]),
    *attr_cases("change_domain", "createtime", ["yesterday", "2999-01-01T00:00:00Z"]),
    *flag_cases("change_domain", "create_only"),
    # get_domain, delete_domain
    *name_cases("get_domain", "domain"),
    *name_cases("delete_domain", "domain"),
    # change_user
    *name_cases("change_user", "user"),
    *[
        ("change_user", "user", v, 5)
        for v in ("no-at-sign", "@acme.com", "joe@", "a b@acme.com", "a@b@acme.com", "joe@acme")
    ],
    *[("change_user", "attributes", v, 5) for v in ([], "x", 1, None, MISSING)],
    *attr_cases("change_user", "colour", ["red"]),
    *attr_cases("change_user", "type", ["admin", "alias", 1, None, ["mailbox"]]),
    *attr_cases(
        "change_user",
        "aliases",
        [
            "al2@acme.com",
            ["not an address"],
            [5],
            ["x@other.com"],  # another company's domain
            ["x@nowhere.example"],
            ["bob@acme.com"],  # an account's own address
            ["new@acme.com"],  # the address of the account being created
            ["NEW@acme.com", "n2@acme.com"],
            ["al@acme.net"],  # alice's alias
            [f"a{i}@acme.com" for i in range(1001)],
        ],
    ),
    *attr_cases("change_user", "service_imap4", ["on", True, None]),
    *attr_cases("change_user", "service_webmail", ["off"]),
    *attr_cases("change_user", "delivery_local", ["yes", 1, None]),
    *attr_cases("change_user", "delivery_autorespond", ["no"]),
    *attr_cases(
        "change_user",
        "forward_recipients",
        ["a@example.net", ["nope"], [1], [f"f{i}@example.net" for i in range(101)], None],
    ),
    *attr_cases("change_user", "quota", [-1, "1", 1.5, True, 2**62]),
    *attr_cases("change_user", "workgroup", ["", "a/b", "w" * 65, 5, "tab\there", None]),
    *attr_cases("change_user", "name", [5, "n" * 129, None]),
    *attr_cases("change_user", "password", ["", 5, "p" * 1025, None]),
    *attr_cases("change_user", "createtime", ["yesterday", "2999-01-01T00:00:00Z"]),
    *flag_cases("change_user", "create_only"),
    # get_user, delete_user, restore_user
    *name_cases("get_user", "user"),
    *name_cases("delete_user", "user"),
    *name_cases("restore_user", "user"),
    # set_role
    *name_cases("set_role", "user"),
    *[("set_role", "role", v, 5) for v in ("king", "COMPANY", 5, None, "r" * 65, MISSING)],
    *[("set_role", "object", v, 5) for v in (5, None, "o" * 401, "Other", "acme.com", "")],
    ("set_role", "role", "domain", 5, "object"),  # object "Acme" is not a domain
    ("set_role", "role", "workgroup", 5, "object"),  # nor domain/workgroup
    # stats_summary
    *[("stats_summary", "type", v, 5) for v in ("group", "", "Company", 5, [])],
    *[("stats_summary", "object", v, 5) for v in (5, "", LONG, [], {})],
    *[("stats_summary", "by", v, 5) for v in ("year", "", "DAY", "days", 5, [])],
    # unknown top-level fields, in every method (echo alone takes anything)
    *[(m, "bye", "week", 5) for m in VALID],
    *[(m, "Credentials", {}, 5) for m in VALID],
    # credentials, in every method
    *[(m, "credentials", v, 5) for m in VALID for v in ("root", [], None, 5, MISSING)],
]


def _id(case):
    method, field, value = case[:3]
    text = "MISSING" if value is MISSING else json.dumps(value)
    return f"{method}.{field}={text[:24]}"


def request_for(method, field, value):
    body = {"credentials": OPERATOR_CREDS, **VALID[method]}
    if value is MISSING:
        body.pop(field)
    else:
        body[field] = value
    return body


@pytest.mark.parametrize("case", CASES, ids=map(_id, CASES))
def test_bad_field(platform, client, fresh_store, case):
    method, field, value, number = case[:4]
    named = case[4] if len(case) > 4 else field
    before = table_rows(fresh_store, *TABLES)
    r = client.post(f"/api/{method}", json=request_for(method, field, value))
    assert r.status_code == 200, r.text
    answer = failed(r.json(), number)
    # the answer names the offending field (or attribute)
    assert named.lower() in (answer["error"] + json.dumps(answer.get("hints", {}))).lower()
    assert table_rows(fresh_store, *TABLES) == before


@pytest.mark.parametrize("method", list(VALID))
def test_the_valid_requests_are_valid(platform, call, method):
    """The baseline of the table above: each VALID request succeeds as is."""
    ok(call("change_domain", domain="empty.org", company="Acme"))
    ok(call(method, **VALID[method]))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user", 5),
        ("user", ""),
        ("user", "u" * 321),
        ("password", 5),
        ("password", ""),
        ("password", "p" * 1025),
        ("token", 5),
        ("token", ""),
        ("token", "t" * 129),
        ("client", 5),
        ("client", "c" * 129),
        ("extra", "x"),
        ("password", MISSING),  # neither password nor token
        ("user", MISSING),
    ],
)
@pytest.mark.parametrize("method", list(VALID))
def test_bad_credentials_field(platform, client, fresh_store, method, field, value):
    credentials = dict(ADMIN)
    if value is MISSING:
        credentials.pop(field)
    else:
        credentials[field] = value
    body = {**VALID[method], "credentials": credentials}
    before = table_rows(fresh_store, *TABLES)
    r = client.post(f"/api/{method}", json=body)
    assert r.status_code == 200
    answer = failed(r.json(), 5)
    assert "credentials" in answer["error"]
    assert table_rows(fresh_store, *TABLES) == before


def test_client_of_128_characters_is_recorded(platform, call, fresh_store):
    client_name = "c" * 128
    creds = {**OPERATOR_CREDS, "client": client_name}
    ok(call("change_company", credentials=creds, company="Newco"))
    last = table_rows(fresh_store, "audit_log")["audit_log"][-1]
    assert (last[3], last[4], last[5]) == ("root", client_name, "change_company")


# -- bodies that are not a JSON object -------------------------------------------------

NOT_OBJECTS = [
    b"",
    b"{",
    b"not json",
    b"null",
    b"[]",
    b'[{"credentials": {}}]',
    b"1",
    b'"stats_summary"',
    b"true",
    b'{"by": "day"} trailing',
    b"\xff\xfe{}",
    b'{"credentials": {"user": "root", "password": "\xff"}}',  # not UTF-8
    b'{"object": "\xc3"}',
    b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # deeper than any decoder goes
    b'{"user": "bob@acme.com", "attributes": {"name": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
]


@pytest.mark.parametrize("body", NOT_OBJECTS)
@pytest.mark.parametrize("method", ["echo", "stats_summary", "change_user", "authenticate"])
def test_body_not_a_json_object_is_400(platform, client, fresh_store, method, body):
    before = table_rows(fresh_store, *TABLES)
    r = client.post(f"/api/{method}", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json"
    failed(r.json(), 5)
    assert table_rows(fresh_store, *TABLES) == before


def test_nesting_within_reason_is_read(client):
    body = {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{"b": 1}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
    r = client.post("/api/echo", json=body)
    assert r.status_code == 200
    assert r.json() == {"success": True, **body}


def test_echo_takes_anything_in_an_object(client):
    body = {"credentials": "not checked", "success": "dropped", "a": [1, {"b": None}], "ü": "✓"}
    r = client.post("/api/echo", json=body)
    assert r.status_code == 200
    assert r.json() == {"success": True, "a": [1, {"b": None}], "ü": "✓"}


@pytest.mark.parametrize("method", ["echo", "stats_summary", "change_user"])
@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_body_is_413(platform, client, fresh_store, method, chunked):
    body = json.dumps({"credentials": OPERATOR_CREDS, "object": "x" * MIB}).encode()
    assert len(body) > MIB
    before = table_rows(fresh_store, *TABLES)
    if chunked:  # no Content-Length: the limit holds while reading
        r = client.post(f"/api/{method}", content=iter([body[:1000], body[1000:]]))
    else:
        r = client.post(f"/api/{method}", content=body)
    assert r.status_code == 413
    answer = failed(r.json(), 5)
    assert "limit" in answer["error"]
    assert table_rows(fresh_store, *TABLES) == before


def test_body_of_exactly_the_limit_is_read(client):
    body = b'{"pad": "' + b"x" * (MIB - 11) + b'"}'
    assert len(body) == MIB
    r = client.post("/api/echo", content=body)
    assert r.status_code == 200 and r.json()["success"] is True
    r = client.post("/api/echo", content=body[:-1] + b" }")
    assert r.status_code == 413


@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("method", ["echo", "stats_summary", "change_company"])
def test_other_http_methods_are_405(client, verb, method):
    r = client.request(verb, f"/api/{method}")
    assert r.status_code == 405
    failed(r.json(), 5)


@pytest.mark.parametrize(
    "path", ["/api/nope", "/api/ECHO", "/api/stats-summary", "/", "/api", "/api/echo/x"]
)
@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_unknown_method_or_path_is_404(client, path, verb):
    r = client.request(verb, path, json={"credentials": OPERATOR_CREDS})
    if (verb, path) == ("GET", "/"):  # the dashboard's page (tests/test_dashboard.py)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        return
    assert r.status_code == 404
    failed(r.json(), 5)


def test_the_server_keeps_serving_after_bad_input(platform, call, client):
    before = ok(call("stats_summary", credentials=ADMIN, object="Acme"))
    for body in NOT_OBJECTS:
        client.post("/api/stats_summary", content=body)
    client.post("/api/stats_summary", content=b"{" * (MIB + 1))
    for method, field, value, *_ in CASES[::7]:
        client.post(f"/api/{method}", json=request_for(method, field, value))
    assert ok(call("stats_summary", credentials=ADMIN, object="Acme")) == before


@pytest.mark.parametrize("field", ["user", "password", "token"])
@pytest.mark.parametrize("method", ["authenticate", "stats_summary", "search_users"])
def test_a_nul_in_the_credentials_is_a_refusal_not_a_fault(
    platform, client, fresh_store, method, field
):
    # PostgreSQL's text cannot hold U+0000: a NUL must never reach a query as a
    # name (it would be a server error there, and "unknown" on SQLite)
    credentials = {**ADMIN, field: "admin\x00@acme.com"}
    if field == "token":
        credentials.pop("password")
    body = {**VALID.get(method, {}), "credentials": credentials}
    before = table_rows(fresh_store, *TABLES)
    r = client.post(f"/api/{method}", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is False
    assert r.json()["error_number"] in (1, 5), r.json()
    assert table_rows(fresh_store, *TABLES) == before


def test_a_nul_in_a_batch_id_is_refused(platform, call, fresh_store):
    before = table_rows(fresh_store, *TABLES)
    answer = failed(call("ingest_events", batch_id="b\x00", events=[]), 5)
    assert "batch_id" in answer["error"]
    assert table_rows(fresh_store, *TABLES) == before
