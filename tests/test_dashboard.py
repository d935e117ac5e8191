"""The dashboard's server side (issue 12): the page, its files and headers, and
``stats_top`` (scopes, errors, ordering, ties) on both backends.  The page
itself is driven in a browser by tests/test_dashboard_browser.py."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from conftest import DAY, NOW, as_user, failed, ok
from mailtally.api.dashboard import CSP, assets
from mailtally.events import Login, MessageIn, MessageOut

HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def test_the_files_ship_inside_the_package() -> None:
    web = resources.files("mailtally.web")
    for name in ("index.html", "dashboard.js", "dashboard.css", "vendor/uPlot.iife.min.js",
                 "vendor/uPlot.min.css", "vendor/LICENSE"):  # fmt: skip
        assert web.joinpath(name).is_file(), name
    assert set(assets()) >= {"index.html", "dashboard.js", "vendor/uPlot.iife.min.js"}


def test_csp_is_strict() -> None:
    parts = dict(p.strip().split(" ", 1) for p in CSP.split(";"))
    assert parts["default-src"] == "'none'"
    assert parts["script-src"] == parts["style-src"] == parts["connect-src"] == "'self'"
    assert parts["frame-ancestors"] == parts["base-uri"] == parts["form-action"] == "'none'"
    assert "unsafe" not in CSP


@pytest.mark.sqlite_only
def test_page_and_files_carry_the_security_headers(client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for name, value in HEADERS.items():
        assert page.headers[name] == value
    html = page.text
    # no inline script or style: every <script> has a src, no style attribute/element
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert "<style" not in html and " style=" not in html and "on" + "click=" not in html
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        r = client.get(src)
        assert r.status_code == 200, src
        for name, value in HEADERS.items():
            assert r.headers[name] == value
    js = client.get("/static/dashboard.js")
    assert js.headers["content-type"].startswith("text/javascript")
    # the script writes data as text only
    assert "innerHTML" not in js.text and "localStorage" not in js.text
    assert "document.cookie" not in js.text


@pytest.mark.sqlite_only
def test_only_the_packaged_files_are_served(client) -> None:
    for path in ("/static/../api/app.py", "/static/%2e%2e/__init__.py", "/static/__init__.py",
                 "/static/nothing.js", "/static/vendor"):  # fmt: skip
        r = client.get(path)
        assert r.status_code == 404, path  # (a "..": the API's unknown path)
        assert "import" not in r.text
    # the API is unchanged beside it
    assert client.post("/api/stats_summary", json={}).status_code == 200
    assert client.post("/", json={}).status_code in (404, 405)


# -- stats_top ----------------------------------------------------------------------


@pytest.fixture
def busy(platform, call, record):
    """Traffic on the platform's day NOW: acme.com busier than acme.net; bob and
    alice tie on ham; other.com busiest of all (another tenant)."""
    t = NOW - 3600
    record(
        MessageIn(t, "bob@acme.com", 100, count=3),
        MessageIn(t, "alice@acme.com", 100, count=3),
        MessageIn(t, "lead@acme.com", 100, count=1),
        MessageIn(t, "carol@acme.net", 100, count=2),
        MessageIn(t, "zed@other.com", 100, count=50),
        MessageIn(t, "carol@acme.net", 10, spam=True, count=4),
        MessageOut(t, "carol@acme.net", 1, 10, count=2),
        Login(t, "bob@acme.com", "imap4", count=5),
        # yesterday: a different period
        MessageIn(t - DAY, "carol@acme.net", 100, count=9),
    )
    return platform


def top(call, creds=None, **request):
    kw = {} if creds is None else {"credentials": creds}
    return call("stats_top", **kw, **request)


def names_values(answer):
    return [(i["name"], i["value"]) for i in ok(answer)["top"]]


def test_stats_top_domains_of_a_company_highest_first(busy, call) -> None:
    a = top(call, type="company", object="Acme", of="domains", metric="messages.in_ham")
    assert names_values(a) == [("acme.com", 7), ("acme.net", 2)]
    assert a["period"] == "20260114" and a["metric"] == "messages.in_ham"
    spam = top(call, object="Acme", of="domains", metric="messages.in_spam")
    assert names_values(spam) == [("acme.net", 4)]  # 0s are not listed


def test_stats_top_users_ties_by_name_and_limit(busy, call) -> None:
    a = top(call, object="Acme", of="users", metric="messages.in_ham")
    assert names_values(a) == [
        ("alice@acme.com", 3), ("bob@acme.com", 3), ("carol@acme.net", 2), ("lead@acme.com", 1)
    ]  # fmt: skip
    two = top(call, object="Acme", of="users", metric="messages.in_ham", limit=2)
    assert names_values(two) == [("alice@acme.com", 3), ("bob@acme.com", 3)]
    dom = top(call, type="domain", object="acme.net", metric="messages.in_ham")
    assert names_values(dom) == [("carol@acme.net", 2)]
    logins = top(call, object="acme.com", metric="logins.imap4")
    assert names_values(logins) == [("bob@acme.com", 5)]


def test_stats_top_periods(busy, call) -> None:
    yesterday = top(call, object="acme.net", metric="messages.in_ham", period="20260113")
    assert names_values(yesterday) == [("carol@acme.net", 9)]
    week = top(call, object="acme.net", metric="messages.in_ham", by="week")
    assert week["period"] == "20260112-20260118"
    assert names_values(week) == [("carol@acme.net", 11)]
    month = top(call, object="Acme", of="domains", metric="messages.in_ham", by="month")
    assert month["period"] == "2026-01"
    assert names_values(month) == [("acme.net", 11), ("acme.com", 7)]
    failed(top(call, object="acme.net", period="2026-01"), 5)  # a month key for a day
    failed(top(call, object="acme.net", period="20240101"), 5)  # outside the window
    failed(top(call, object="acme.net", period="20260115"), 5)  # the future


def test_stats_top_scopes_and_errors(busy, call) -> None:
    company_admin = as_user("admin@acme.com")
    ok(top(call, company_admin, object="Acme", of="domains"))
    # the default object: the caller's company (company roles) or domain
    assert names_values(top(call, company_admin, of="domains")) == [
        ("acme.com", 7),
        ("acme.net", 2),
    ]
    dadmin = as_user("dadmin@acme.net")
    assert names_values(top(call, dadmin)) == [("carol@acme.net", 2)]
    # a domain admin: its domain, not the company nor another domain; each
    # refusal is stats_summary's for the same object
    for request, number in (
        ({"object": "acme.com"}, 2),
        ({"type": "company", "object": "Acme"}, 2),
        ({"object": "other.com"}, 2),
        ({"type": "domain", "object": "nothere.com"}, 2),
    ):
        refused = failed(top(call, dadmin, **request), number)
        assert refused == call("stats_summary", credentials=dadmin, **request)
    # another company's tenants: not found, alike for a name that does not exist
    a = top(call, company_admin, type="domain", object="other.com")
    b = top(call, company_admin, type="domain", object="nothere.com")
    failed(a, 2) and failed(b, 2)
    assert a["error"].replace("other.com", "N") == b["error"].replace("nothere.com", "N")
    failed(top(call, company_admin, type="company", object="Other", of="domains"), 2)
    # a plain user lists nothing: its own object is an account
    failed(top(call, as_user("bob@acme.com")), 5)
    failed(top(call, as_user("tokenonly@acme.com"), of="domains"), 4)
    # badly formed requests: error 5
    failed(top(call, object="acme.com", of="domains"), 5)
    failed(top(call, object="bob@acme.com"), 5)
    failed(top(call, type="user", object="bob@acme.com"), 5)
    failed(top(call, object="Acme", metric="users.mailbox"), 5)
    failed(top(call, object="Acme", limit=0), 5)
    failed(top(call, object="Acme", limit=1001), 5)
    failed(top(call, object="Acme", bye="week"), 5)
    failed(top(call, object="Acme", credentials={"user": "bob@acme.com", "password": "x"}), 1)


def test_stats_top_leaves_out_deleted_accounts(busy, call) -> None:
    ok(call("delete_user", user="alice@acme.com"))
    a = top(call, object="acme.com", metric="messages.in_ham")
    assert names_values(a) == [("bob@acme.com", 3), ("lead@acme.com", 1)]
    # of a company: the deleted account was among the two highest
    two = top(call, type="company", object="Acme", metric="messages.in_ham", limit=2)
    assert names_values(two) == [("bob@acme.com", 3), ("carol@acme.net", 2)]
