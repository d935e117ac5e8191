"""The snapshot CSV (SPEC §6, issue 11): what a billing spreadsheet opens
without help — UTF-8 (with a BOM), RFC 4180 quoting and CRLF line ends, one
header row in the SPEC's metric names, integers written plainly — with a row
per account of the object, soft-deleted ones included."""

from __future__ import annotations

import re
import time

from click.testing import CliRunner

from conftest import DAY, NOW, as_user, ok, rfc
from mailtally.cli import main
from mailtally.events import Login, MessageIn, StorageReport
from mailtally.metrics import FLOWS, GAUGES
from mailtally.periods import Periods
from mailtally.snapshot import BOM, HEADER
from snapshots import download, link, rows

ADMIN = as_user("admin@acme.com")
ODD_WORKGROUP = 'Sales, "EU" — Zürich; ½'


def test_the_header_names_the_spec_metrics():
    who = {"address", "domain", "workgroup", "account_type", "createtime", "deletetime"}
    assert set(HEADER[:6]) == who and HEADER[0] == "address"
    assert set(HEADER[6:]) == {*FLOWS, *GAUGES, "storage.allowed_size"}
    assert len(HEADER) == len(set(HEADER)) == 6 + len(FLOWS) + len(GAUGES) + 1


def test_odd_names_are_quoted(platform, call, client):
    ok(call("change_user", user="carol@acme.net", attributes={"workgroup": ODD_WORKGROUP}))
    answer = call("change_user", user="zoë@acme.net", attributes={"password": "pw-zoe-1234"})
    raw = client.get(link(call, ADMIN, type="domain", object="acme.net", date="2026-01")).content
    assert raw.startswith(BOM.encode())
    text = raw.decode("utf-8")
    # RFC 4180: CRLF after every record, quotes doubled inside a quoted field
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert '"Sales, ""EU"" — Zürich; ½"' in text
    got = {r["address"]: r for r in rows(text[len(BOM) :])}
    assert got["carol@acme.net"]["workgroup"] == ODD_WORKGROUP
    if answer["success"]:  # (an address with a non-ASCII local part, where allowed)
        assert "zoë@acme.net" in got
    # every count is a plain integer: no sign but a minus, no exponent, no quotes
    numbers = HEADER[6:]
    for r in got.values():
        for c in numbers:
            if c == "storage.allowed_size" and r["account_type"] == "unattributed":
                continue  # (no account: no allowed size)
            assert re.fullmatch(r"-?\d+", r[c]), (c, r[c])
    for line in text.splitlines()[1:]:
        assert ',"' not in line or "Sales" in line  # only the odd name is quoted


def test_a_company_with_an_odd_name(call, client, operator):
    name = 'Société "Générale", Zürich'
    ok(call("change_company", company=name, attributes={"createtime": rfc(NOW - 40 * DAY)}))
    ok(call("change_domain", domain="sg.example", company=name))
    ok(call("change_user", user="boss@sg.example", attributes={"password": "pw-boss-1234"}))
    ok(call("set_role", user="boss@sg.example", role="company", object=name))
    boss = as_user("boss@sg.example", "pw-boss-1234")
    url = link(call, boss, type="company", object=name, date="2026-01")
    r = client.get(url)
    assert r.status_code == 200
    assert (
        "filename*=UTF-8''Soci%C3%A9t%C3%A9%20%22G%C3%A9n%C3%A9rale%22%2C%20Z%C3%BCrich"
        in (r.headers["content-disposition"])
    )
    assert [x["address"] for x in rows(download(client, url))] == ["boss@sg.example"]


def test_soft_deleted_accounts_are_rows(platform, call, client, record):
    t = NOW - 3 * DAY
    record(
        MessageIn(t, "carol@acme.net", 5000, count=4),
        Login(t, "carol@acme.net", "imap4", count=2),
        StorageReport(t, "carol@acme.net", 12, 34567),
    )
    ok(call("delete_user", user="carol@acme.net"))
    got = {r["address"]: r for r in rows(download(client, link(
        call, ADMIN, type="domain", object="acme.net", date="2026-01")))}  # fmt: skip
    carol = got["carol@acme.net"]
    assert carol["deletetime"] == rfc(NOW)
    assert carol["messages.in_ham"] == "4" and carol["messages.in_size"] == "5000"
    assert carol["logins.imap4"] == "2"
    assert (carol["users.deleted"], carol["users.mailbox"]) == ("1", "0")
    assert carol["deleted_users.storage_items_stored"] == "12"
    assert carol["deleted_users.storage_current_size"] == "34567"
    assert carol["storage.items_stored"] == carol["storage.current_size"] == "0"
    assert carol["services.imap4"] == "1"  # (SPEC §3: deleted accounts count in services)
    # the day before it was deleted it was a live mailbox
    before = {r["address"]: r for r in rows(download(client, link(
        call, ADMIN, type="domain", object="acme.net", date="20260113")))}  # fmt: skip
    carol = before["carol@acme.net"]
    assert (carol["users.deleted"], carol["users.mailbox"], carol["deletetime"]) == ("0", "1", "")
    assert carol["storage.items_stored"] == "12"


def test_the_command_line_writes_the_same_csv(platform, call, client, fresh_store, clock, tmp_path):
    """``mailtally snapshot`` writes the bytes the link gives (it reads with the
    real clock: the API's is set to it for this test)."""
    clock.value = int(time.time())
    month = Periods("UTC").key("month", clock.value)
    url = link(call, ADMIN, type="domain", object="acme.net", date=month)
    from_api = client.get(url).content
    out = tmp_path / "acme.csv"
    runner = CliRunner()
    args = ["snapshot", "--db", fresh_store.url, "--type", "domain", "--object", "acme.net"]
    result = runner.invoke(main, [*args, "--date", month, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == from_api
    assert len(rows(from_api.decode()[1:])) >= 3
    stdout = runner.invoke(main, [*args, "--date", month])
    assert stdout.exit_code == 0 and stdout.stdout_bytes == from_api
    bad = runner.invoke(main, [*args, "--date", "1999-01"])
    assert bad.exit_code != 0 and "date" in bad.output
    user = runner.invoke(main, [*args[:3], "--object", "carol@acme.net", "--date", month])
    assert user.exit_code != 0 and "company or a domain" in user.output
    # a folder that does not exist is said, not a traceback
    nowhere = runner.invoke(main, [*args, "--date", month, "-o", str(tmp_path / "no" / "x.csv")])
    assert nowhere.exit_code == 1 and isinstance(nowhere.exception, SystemExit), nowhere
    assert "--output: cannot write" in nowhere.output and "no" in nowhere.output
    assert not list(tmp_path.glob("*.part"))


def test_an_alias_counts_in_the_domain_it_is_in(platform, call, client):
    """alice@acme.com's alias al@acme.net counts in acme.net's users.alias
    (SPEC §2): in acme.com's CSV alice's row has none, acme.net's CSV holds it
    in its last, unattributed row (no account of acme.net holds it), and the
    company's CSV in alice's row."""

    def csv_of(type_: str, name: str) -> dict[str, dict[str, str]]:
        got = rows(download(client, link(call, ADMIN, type=type_, object=name, date="2026-01")))
        return {r["address"] or r["account_type"]: r for r in got}

    com, net, acme = (
        csv_of("domain", "acme.com"),
        csv_of("domain", "acme.net"),
        csv_of("company", "Acme"),
    )
    assert com["alice@acme.com"]["users.alias"] == "0"
    assert net["unattributed"]["users.alias"] == "1"
    assert acme["alice@acme.com"]["users.alias"] == "1"
    assert "unattributed" not in acme and "unattributed" not in com
    net_summary = ok(
        call("stats_summary", credentials=ADMIN, type="domain", object="acme.net", by="month")
    )
    assert net_summary["summary"]["2026-01"]["users"]["alias"] == 1
