"""rename_user (SPEC §4): the account keeps its id and its whole history under
the new name, the old name is free at once, aliases and roles follow the
account, and what was cached under the old name stops working — in the
server and in a running log ingester.

The platform of conftest (Acme: acme.com, acme.net; Other: other.com); now is
Wed 2026-01-14 12:00 UTC.
"""

from __future__ import annotations

from pathlib import Path

from conftest import DAY, NOW, PW, as_user, failed, failed_alike, ok, summary, table_rows, ts
from mailtally.events import Login, MessageIn, StorageReport
from mailtally.ingest.files import Ingester
from mailtally.periods import Periods

ADMIN = as_user("admin@acme.com")
DADMIN = as_user("dadmin@acme.net")


def user_id(store, address: str) -> int | None:
    with store.read() as q:
        row = q.resolve_address(address)
    return None if row is None else int(row[0])


def test_history_follows_the_account_and_the_old_name_is_free(platform, call, record, fresh_store):
    record(
        Login(NOW - 10 * DAY, "carol@acme.net", "imap4"),
        MessageIn(NOW - 3 * DAY, "carol@acme.net", 1000),
        StorageReport(NOW - 2 * DAY, "carol@acme.net", 4, 400),
    )
    before = summary(call, object="carol@acme.net", by="month")  # (cached by the server)
    cid = user_id(fresh_store, "carol@acme.net")
    ok(call("rename_user", credentials=ADMIN, user="carol@acme.net", new_name="caroline@acme.net"))
    assert user_id(fresh_store, "caroline@acme.net") == cid
    assert summary(call, object="caroline@acme.net", by="month") == before
    assert before["2026-01"]["messages"]["in_ham"] == "1"
    assert before["2026-01"]["logins"]["imap4"] == "1"
    # the old name shows nothing, the cache notwithstanding
    failed(call("stats_summary", object="carol@acme.net"), 2)
    failed(call("get_user", user="carol@acme.net"), 2)
    # ... and is free at once for a new account, with no history
    ok(call("change_user", credentials=ADMIN, user="carol@acme.net", attributes={"password": PW}))
    assert user_id(fresh_store, "carol@acme.net") not in (None, cid)
    fresh = summary(call, object="carol@acme.net", by="month")
    assert fresh["2026-01"]["messages"]["in_ham"] == ""
    # the domain counts both accounts, and the history once
    dom = summary(call, object="acme.net", by="month")["2026-01"]
    assert dom["users"]["mailbox"] == 4
    assert dom["messages"]["in_ham"] == 1
    # the audit log names the account by its id
    with fresh_store.read() as q:
        row = q.conn.execute(
            "SELECT method, object, object_kind, object_id FROM audit_log "
            "WHERE method = 'rename_user'"
        ).fetchall()
    assert row == [("rename_user", "caroline@acme.net", "user", cid)]


def test_new_log_lines_count_for_the_account(platform, call, record):
    ok(call("rename_user", credentials=ADMIN, user="carol@acme.net", new_name="caroline@acme.net"))
    result = record(
        Login(NOW - 60, "caroline@acme.net", "imap4"), Login(NOW - 60, "carol@acme.net", "pop3")
    )
    assert result.counted == 1 and result.ignored == 1
    day = summary(call, object="caroline@acme.net")["20260114"]["logins"]
    assert (day["imap4"], day["pop3"]) == ("1", "")


def test_a_running_ingester_learns_the_rename(platform, call, service, fresh_store, tmp_path: Path):
    """The ingester keeps what it resolved while the tree's version holds; a
    rename is a tree change (an audit row), so the next batch resolves again."""
    log = tmp_path / "mail.log"

    def login(t: int, user: str) -> str:
        stamp = f"2026-01-14T{(t - ts('2026-01-14T00:00:00Z')) // 3600:02d}:00:00.000000+00:00"
        return (
            f"{stamp} mx1 dovecot: imap-login: Login: user=<{user}>, method=PLAIN, "
            f"rip=203.0.113.9, lip=10.0.0.1, mpid={t % 9973}, TLS, session=<s{t}>\n"
        )

    ingester = Ingester(fresh_store, Periods("UTC"))
    log.write_text(login(NOW - 5 * 3600, "carol@acme.net"))
    assert ingester.ingest([str(log)]).lines == 1
    ok(call("rename_user", credentials=ADMIN, user="carol@acme.net", new_name="caroline@acme.net"))
    with log.open("a") as f:
        f.write(login(NOW - 4 * 3600, "caroline@acme.net"))
        f.write(login(NOW - 3 * 3600, "carol@acme.net"))  # nobody's now
    ingester.ingest([str(log)])
    service.poll_store_generation()  # (as the server does twice a second)
    day = summary(call, object="caroline@acme.net")["20260114"]["logins"]
    assert day["imap4"] == "2"
    assert summary(call, object="acme.net")["20260114"]["logins"]["imap4"] == 2


def test_into_another_domain_moves_the_gauges_from_now_on(platform, call, clock):
    clock.value = ts("2026-01-13T10:00:00Z")
    ok(call("rename_user", credentials=ADMIN, user="bob@acme.com", new_name="bob@acme.net"))
    clock.value = NOW
    com = summary(call, object="acme.com")
    net = summary(call, object="acme.net")
    assert [com[d]["users"]["mailbox"] for d in ("20260112", "20260113", "20260114")] == [8, 7, 7]
    assert [net[d]["users"]["mailbox"] for d in ("20260112", "20260113", "20260114")] == [3, 4, 4]
    # the company counts it once throughout
    acme = summary(call, object="Acme")
    assert {acme[d]["users"]["mailbox"] for d in ("20260112", "20260113", "20260114")} == {11}


def test_aliases_and_roles_follow_the_account(platform, call, record):
    ok(call("rename_user", credentials=ADMIN, user="alice@acme.com", new_name="alicia@acme.com"))
    info = ok(call("get_user", user="al@acme.net"))
    assert info["metadata"]["address"] == "alicia@acme.com"
    record(Login(NOW - 60, "al@acme.net", "webmail"))
    assert summary(call, object="alicia@acme.com")["20260114"]["logins"]["webmail"] == "1"
    # a domain admin renamed keeps administering its domain, under its new name
    ok(call("authenticate", credentials=DADMIN))  # (its credentials now cached)
    ok(call("rename_user", credentials=ADMIN, user="dadmin@acme.net", new_name="boss@acme.net"))
    failed(call("authenticate", credentials=DADMIN), 1)
    ok(call("get_domain", credentials=as_user("boss@acme.net"), domain="acme.net"))
    assert ok(call("get_user", user="boss@acme.net"))["metadata"]["roles"] == [
        {"role": "domain", "object": "acme.net"}
    ]


def test_tokens_of_the_old_name_stop_working(platform, call):
    token = ok(call("authenticate", credentials=DADMIN, generate_session_token=True))
    creds = {"user": "dadmin@acme.net", "token": token["session_token"]}
    ok(call("get_domain", credentials=creds, domain="acme.net"))
    ok(call("rename_user", credentials=ADMIN, user="dadmin@acme.net", new_name="boss@acme.net"))
    failed(call("get_domain", credentials=creds, domain="acme.net"), 1)
    moved = {"user": "boss@acme.net", "token": token["session_token"]}
    failed(call("get_domain", credentials=moved, domain="acme.net"), 1)


def test_errors(platform, call, fresh_store):
    before = table_rows(fresh_store, "users", "addresses", "audit_log", "gauges")
    carol = "carol@acme.net"
    # the new name is taken (by an account, by an alias)
    failed(call("rename_user", credentials=ADMIN, user=carol, new_name="bob@acme.com"), 7)
    failed(call("rename_user", credentials=ADMIN, user=carol, new_name="al@acme.net"), 7)
    # not an address; an alias named as the account
    failed(call("rename_user", credentials=ADMIN, user=carol, new_name="nope"), 5)
    failed(call("rename_user", credentials=ADMIN, user="al@acme.net", new_name="x@acme.net"), 3)
    # another company's domain answers as a missing one (rule 3)
    a = call("rename_user", credentials=ADMIN, user=carol, new_name="c@other.com")
    b = call("rename_user", credentials=ADMIN, user=carol, new_name="c@nothere.com")
    failed_alike(a, b, "other.com", "nothere.com")
    # a domain admin: not into a domain of its company it does not manage, not
    # an account beyond its scope, not a role holder beyond its rights
    failed(call("rename_user", credentials=DADMIN, user=carol, new_name="c@acme.com"), 2)
    failed(call("rename_user", credentials=DADMIN, user="bob@acme.com", new_name="b@acme.net"), 2)
    failed(call("rename_user", credentials=DADMIN, user="zed@other.com", new_name="z@acme.net"), 2)
    failed(
        call("rename_user", credentials=as_user("ro@acme.com"), user=carol, new_name="c@acme.net"),
        4,
    )
    # a plain user may not rename itself
    failed(call("rename_user", credentials=as_user(carol), user=carol, new_name="c@acme.net"), 4)
    assert table_rows(fresh_store, "users", "addresses", "audit_log", "gauges") == before


def test_searches_see_the_new_name_in_its_new_domain(platform, call):
    """The search columns and the workgroup list follow a move between domains."""

    def users(domain: str) -> dict[str, str]:
        a = ok(call("search_users", criteria={"domain": domain}, fields=["workgroup"]))
        return {u["user"]: u["workgroup"] for u in a["users"]}

    def groups(domain: str) -> dict[str, int]:
        a = ok(call("search_workgroups", criteria={"domain": domain}))
        return {g["workgroup"]: g["users"] for g in a["workgroups"]}

    ok(call("change_user", credentials=ADMIN, user="carol@acme.net",
            attributes={"workgroup": "night shift"}))  # fmt: skip
    assert groups("acme.net")["night shift"] == 1
    assert "night shift" not in groups("acme.com")
    ok(call("rename_user", credentials=ADMIN, user="carol@acme.net", new_name="carol@acme.com"))
    assert users("acme.com")["carol@acme.com"] == "night shift"
    assert "carol@acme.net" not in users("acme.net")
    assert groups("acme.com")["night shift"] == 1
    assert groups("acme.net").get("night shift", 0) == 0
    found = ok(call("search_users", criteria={"match": "carol@*"}))
    assert [u["user"] for u in found["users"]] == ["carol@acme.com"]
