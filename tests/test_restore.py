"""restore_user with ``id`` and ``new_name``, and delete_domain/restore_domain
(SPEC §4): a deleted account or domain comes back with its history.

The platform of conftest (Acme: acme.com, acme.net; Other: other.com); now is
Wed 2026-01-14 12:00 UTC.
"""

from __future__ import annotations

from conftest import (
    DAY,
    NOW,
    PW,
    as_user,
    failed,
    failed_alike,
    ok,
    rfc,
    run_sql,
    summary,
    table_rows,
    ts,
)
from mailtally.events import Login, MessageDenied, MessageIn

ADMIN = as_user("admin@acme.com")
DADMIN = as_user("dadmin@acme.net")
TREE = ("domains", "users", "addresses", "roles", "audit_log", "gauges", "user_versions")


def account_id(store, address: str) -> int:
    with store.read() as q:
        row = run_sql(
            q, "SELECT id FROM users WHERE address = ? ORDER BY id DESC", (address,)
        ).fetchone()
    return int(row[0])


def domain_ids(store, name: str) -> list[int]:
    with store.read() as q:
        rows = run_sql(q, "SELECT id FROM domains WHERE name = ? ORDER BY id", (name,))
        return [int(r[0]) for r in rows.fetchall()]


# -- restore_user --------------------------------------------------------------------
def test_restore_as_an_oma_client_sends_it(platform, call, fresh_store, clock):
    """The PHP client always sends ``id`` and ``new_name`` (the account's own
    name when it is not renamed)."""
    clock.value = ts("2026-01-13T09:00:00Z")
    ok(call("delete_user", credentials=ADMIN, user="carol@acme.net"))
    clock.value = NOW
    cid = account_id(fresh_store, "carol@acme.net")
    before = table_rows(fresh_store, *TREE)
    failed(call("restore_user", user="carol@acme.net", id=cid + 1000, new_name=""), 2)
    assert table_rows(fresh_store, *TREE) == before
    ok(
        call(
            "restore_user",
            credentials=ADMIN,
            user="carol@acme.net",
            id=cid,
            new_name="carol@acme.net",
        )
    )
    s = summary(call, object="acme.net")
    assert [s[d]["users"]["deleted"] for d in ("20260112", "20260113", "20260114")] == [0, 1, 0]
    assert [s[d]["users"]["mailbox"] for d in ("20260112", "20260113", "20260114")] == [3, 2, 3]
    assert ok(call("get_user", user="carol@acme.net"))["metadata"]["status"] == "active"


def test_restore_under_a_new_name(platform, call, record, fresh_store):
    record(MessageIn(NOW - 5 * DAY, "bob@acme.com", 700))
    ok(call("delete_user", credentials=ADMIN, user="bob@acme.com"))
    bid = account_id(fresh_store, "bob@acme.com")
    ok(call("restore_user", credentials=ADMIN, user="bob@acme.com", new_name="robert@acme.net"))
    assert account_id(fresh_store, "robert@acme.net") == bid
    info = ok(call("get_user", user="robert@acme.net"))
    assert info["metadata"]["status"] == "active"
    robert = summary(call, object="robert@acme.net", by="month")["2026-01"]
    assert robert["messages"]["in_ham"] == "1"
    # the old name is free again, and the restored account counts in its new domain
    failed(call("get_user", user="bob@acme.com"), 2)
    ok(call("change_user", credentials=ADMIN, user="bob@acme.com", attributes={"password": PW}))
    assert account_id(fresh_store, "bob@acme.com") != bid
    today = "20260114"
    assert summary(call, object="acme.net")[today]["users"]["mailbox"] == 4
    assert summary(call, object="acme.com")[today]["users"] == {
        "filter": 0,
        "forward": 0,
        "deleted": 0,
        "mailbox": 8,
        "alias": 0,
    }
    with fresh_store.read() as q:
        last = run_sql(
            q, "SELECT method, object, object_id FROM audit_log ORDER BY id DESC LIMIT 2"
        ).fetchall()
    assert last[1] == ("restore_user", "robert@acme.net", bid)


def test_restore_user_errors(platform, call, fresh_store):
    ok(call("delete_user", credentials=ADMIN, user="bob@acme.com"))
    bid = account_id(fresh_store, "bob@acme.com")
    before = table_rows(fresh_store, *TREE)
    bob = "bob@acme.com"
    # the new name is taken; is in another company's domain (as a missing one)
    failed(call("restore_user", credentials=ADMIN, user=bob, new_name="alice@acme.com"), 7)
    a = call("restore_user", credentials=ADMIN, user=bob, new_name="b@other.com")
    b = call("restore_user", credentials=ADMIN, user=bob, new_name="b@nothere.com")
    failed_alike(a, b, "other.com", "nothere.com")
    # a live account has nothing to restore under another name
    failed(call("restore_user", credentials=ADMIN, user="carol@acme.net", new_name="c@acme.net"), 5)
    # a domain admin restoring another domain's deleted account, by its id, or
    # by naming an account of its own domain with that id
    failed(call("restore_user", credentials=DADMIN, user=bob, id=bid), 2)
    failed(call("restore_user", credentials=DADMIN, user="carol@acme.net", id=bid), 2)
    # ... or restoring it into its own domain
    failed(call("restore_user", credentials=DADMIN, user=bob, new_name="bob@acme.net"), 2)
    # another company's admin; a read-only admin of the company
    failed(call("restore_user", credentials=as_user("oadmin@other.com"), user=bob, id=bid), 2)
    failed(call("restore_user", credentials=as_user("ro@acme.com"), user=bob, id=bid), 4)
    assert table_rows(fresh_store, *TREE) == before


# -- delete_domain and restore_domain ------------------------------------------------
def _spare(call) -> None:
    """spare.com: an empty domain of Acme's, 10 days old."""
    ok(call("change_domain", domain="spare.com", company="Acme",
            attributes={"createtime": rfc(NOW - 10 * DAY)}))  # fmt: skip


def test_a_deleted_domain_comes_back_with_its_history(platform, call, record, fresh_store, clock):
    """spare.com: a user (deleted two hours ago) and history of its own; the
    domain is deleted an hour ago and restored now."""
    _spare(call)
    ok(call("change_user", credentials=ADMIN, user="gone@spare.com",
            attributes={"createtime": rfc(NOW - 10 * DAY)}))  # fmt: skip
    record(
        MessageDenied(NOW - 3 * DAY, "nobody@spare.com"),
        Login(NOW - 2 * DAY, "gone@spare.com", "imap4"),
    )
    clock.value = NOW - 7200
    ok(call("delete_user", credentials=ADMIN, user="gone@spare.com"))
    did = domain_ids(fresh_store, "spare.com")
    history = summary(call, object="spare.com", by="month")["2026-01"]
    clock.value = NOW - 3600
    ok(call("delete_domain", credentials=ADMIN, domain="spare.com"))
    clock.value = NOW
    failed(call("get_domain", credentials=ADMIN, domain="spare.com"), 2)
    with fresh_store.read() as q:  # the row stays, deleted
        row = run_sql(q, "SELECT deletetime FROM domains WHERE id = ?", did).fetchone()
    assert row == (NOW - 3600,)
    ok(call("restore_domain", credentials=ADMIN, domain="spare.com"))
    assert domain_ids(fresh_store, "spare.com") == did
    back = summary(call, object="spare.com", by="month")["2026-01"]
    assert back["messages"]["denied"] == history["messages"]["denied"] == 1
    assert back["logins"]["imap4"] == 1
    # the account purged with it stays purged; the past is what it was
    failed(call("get_user", credentials=ADMIN, user="gone@spare.com"), 2)
    days = summary(call, object="spare.com")
    assert days["20260113"]["users"]["mailbox"] == 1
    assert days["20260114"]["users"] == dict.fromkeys(
        ("filter", "forward", "deleted", "mailbox", "alias"), 0
    )
    with fresh_store.read() as q:
        methods = run_sql(
            q, "SELECT method, object_kind, object_id FROM audit_log ORDER BY id DESC LIMIT 2"
        ).fetchall()
    assert methods == [("restore_domain", "domain", did[0]), ("delete_domain", "domain", did[0])]


def test_several_deleted_domains_of_one_name(platform, call, fresh_store):
    _spare(call)
    ok(call("delete_domain", credentials=ADMIN, domain="spare.com"))
    ok(call("change_domain", credentials=ADMIN, domain="spare.com", attributes={"quota": 5}))
    ok(call("delete_domain", credentials=ADMIN, domain="spare.com"))
    first, second = domain_ids(fresh_store, "spare.com")
    answer = failed(call("restore_domain", credentials=ADMIN, domain="spare.com"), 5)
    assert answer["hints"] == {"id": "required"}
    ok(call("restore_domain", credentials=ADMIN, domain="spare.com", id=first))
    # the name is live again: the other comes back only under another name
    failed(call("restore_domain", credentials=ADMIN, domain="spare.com", id=second), 7)
    ok(
        call(
            "restore_domain",
            credentials=ADMIN,
            domain="spare.com",
            id=second,
            new_name="spare2.com",
        )
    )
    assert ok(call("get_domain", domain="spare2.com"))["attributes"]["quota"] == 5
    assert ok(call("get_domain", domain="spare.com"))["attributes"]["quota"] == 0


def test_restore_domain_scopes(platform, call, fresh_store):
    _spare(call)
    ok(call("delete_domain", credentials=ADMIN, domain="spare.com"))
    ok(call("change_domain", domain="gone.example", company="Other"))
    ok(call("delete_domain", domain="gone.example"))
    (other,) = domain_ids(fresh_store, "gone.example")
    before = table_rows(fresh_store, *TREE)
    ro, oadmin = as_user("ro@acme.com"), as_user("oadmin@other.com")
    failed(call("restore_domain", credentials=ro, domain="spare.com"), 4)
    failed(call("restore_domain", credentials=DADMIN, domain="spare.com"), 2)
    a = call("restore_domain", credentials=oadmin, domain="spare.com")
    b = call("restore_domain", credentials=oadmin, domain="never.example")
    failed_alike(a, b, "spare.com", "never.example")
    # another tenant's deleted domain, by name or by its id
    failed(call("restore_domain", credentials=ADMIN, domain="gone.example"), 2)
    failed(call("restore_domain", credentials=ADMIN, domain="gone.example", id=other), 2)
    # a live domain: nothing to restore
    failed(call("restore_domain", credentials=ADMIN, domain="acme.net"), 7)
    failed(call("restore_domain", credentials=ro, domain="acme.net"), 4)
    # a new name held by another tenant answers as a missing domain would
    failed(call("restore_domain", credentials=ADMIN, domain="spare.com", new_name="other.com"), 2)
    assert table_rows(fresh_store, *TREE) == before


# -- the history adds up through rename, delete and restore ---------------------------
def test_counts_add_up_before_and_after(platform, call, record, clock):
    """carol: mail on the 10th in acme.net, renamed into acme.com on the 11th,
    mail on the 12th, deleted on the 12th, restored under a third name on the
    13th, mail on the 14th.  Every day, the company counts what its domains
    count, and the account's own days what it did."""
    carol = "carol@acme.net"
    days = {"20260110": 1, "20260112": 2, "20260114": 4}

    def mail(day: str, user: str, n: int) -> None:
        t = ts(f"{day[:4]}-{day[4:6]}-{day[6:]}T10:00:00Z")
        record(*(MessageIn(t, user, 100) for _ in range(n)))

    mail("20260110", carol, 1)
    clock.value = ts("2026-01-11T09:00:00Z")
    ok(call("rename_user", credentials=ADMIN, user=carol, new_name="carol@acme.com"))
    clock.value = ts("2026-01-12T11:00:00Z")
    mail("20260112", "carol@acme.com", 2)
    ok(call("delete_user", credentials=ADMIN, user="carol@acme.com"))
    clock.value = ts("2026-01-13T09:00:00Z")
    ok(call("restore_user", credentials=ADMIN, user="carol@acme.com", new_name="kc@acme.com"))
    clock.value = NOW
    mail("20260114", "kc@acme.com", 4)
    me = summary(call, object="kc@acme.com")
    com, net, acme = (summary(call, object=o) for o in ("acme.com", "acme.net", "Acme"))
    for day in ("20260110", "20260111", "20260112", "20260113", "20260114"):
        assert me[day]["messages"]["in_ham"] == str(days.get(day, "")), day
        ham = com[day]["messages"]["in_ham"] + net[day]["messages"]["in_ham"]
        assert acme[day]["messages"]["in_ham"] == ham == days.get(day, 0), day
        for kind in ("mailbox", "deleted"):
            both = com[day]["users"][kind] + net[day]["users"][kind]
            assert acme[day]["users"][kind] == both, (day, kind)
    # 11 mailboxes throughout but on the day it was deleted (and the account
    # counted in acme.net until the 11th, in acme.com after)
    assert [acme[d]["users"]["mailbox"] for d in sorted(me)[-5:]] == [11, 11, 10, 11, 11]
    assert [net[d]["users"]["mailbox"] for d in sorted(me)[-5:]] == [3, 2, 2, 2, 2]


def test_rename_delete_restore_then_search_by_day_week_and_month(platform, call, record, clock):
    """carol: mail in December in acme.net, renamed into acme.com on Mon 5
    January, mail on the 7th, deleted on the 8th, found by search_users and
    restored on the 9th as an OMA client does it (``id`` and ``new_name``:
    kc@acme.com), mail on the 13th.  By day, week and month: the account's
    periods hold what it did under each name, and in every period the company
    counts what its two domains count, the account included once."""
    mail = {"2025-12-10": 1, "2025-12-29": 2, "2026-01-07": 4, "2026-01-13": 8}

    def send(day: str, user: str) -> None:
        record(*(MessageIn(ts(f"{day}T10:00:00Z"), user, 100) for _ in range(mail[day])))

    send("2025-12-10", "carol@acme.net")
    send("2025-12-29", "carol@acme.net")
    clock.value = ts("2026-01-05T09:00:00Z")
    ok(call("rename_user", credentials=ADMIN, user="carol@acme.net", new_name="carol@acme.com"))
    send("2026-01-07", "carol@acme.com")
    clock.value = ts("2026-01-08T11:00:00Z")
    ok(call("delete_user", credentials=ADMIN, user="carol@acme.com"))
    clock.value = ts("2026-01-09T09:00:00Z")
    gone = ok(call("search_users", criteria={"domain": "acme.com", "deleted": True}))["users"]
    assert [u["user"] for u in gone] == ["carol@acme.com"]
    ok(
        call(
            "restore_user",
            credentials=ADMIN,
            user="carol@acme.com",
            id=gone[0]["id"],
            new_name="kc@acme.com",
        )
    )
    clock.value = NOW
    send("2026-01-13", "kc@acme.com")
    # search: one live account, under its last name, none deleted
    found = ok(call("search_users", criteria={"match": "*c*"}))["users"]
    names = [u["user"] for u in found]
    assert "kc@acme.com" in names and not [n for n in names if n.startswith("carol@")], names
    assert ok(call("search_users", criteria={"deleted": True}))["total_count"] == 0
    for old in ("carol@acme.net", "carol@acme.com"):
        failed(call("stats_summary", object=old), 2)

    expected = {
        "day": {"20251229": 2, "20260107": 4, "20260113": 8},  # (30 days: from 16 Dec)
        "week": {"20251208-20251214": 1, "20251229-20260104": 2, "20260105-20260111": 4}
        | {"20260112-20260118": 8},
        "month": {"2025-12": 3, "2026-01": 12},
    }
    for by, counts in expected.items():
        me = summary(call, object="kc@acme.com", by=by)
        com, net, acme = (summary(call, object=o, by=by) for o in ("acme.com", "acme.net", "Acme"))
        assert sorted(me) == sorted(acme), by  # every period, before and after the rename
        for period in acme:
            n = counts.get(period, 0)
            assert me[period]["messages"]["in_ham"] == (str(n) if n else ""), (by, period)
            ham = com[period]["messages"]["in_ham"] + net[period]["messages"]["in_ham"]
            assert acme[period]["messages"]["in_ham"] == ham == n, (by, period)
            for kind in ("mailbox", "deleted"):
                both = com[period]["users"][kind] + net[period]["users"][kind]
                assert acme[period]["users"][kind] == both, (by, period, kind)
            # counted in acme.net until the rename, in acme.com after; out of
            # the mailboxes only at the end of the day it was deleted
            deleted = by == "day" and period == "20260108"
            renamed = min(
                p for p in acme if p >= {"day": "20260105", "week": "20260105"}.get(by, "2026-01")
            )
            assert net[period]["users"]["mailbox"] == (3 if period < renamed else 2), (by, period)
            assert acme[period]["users"]["mailbox"] == (10 if deleted else 11), (by, period)
            assert acme[period]["users"]["deleted"] == int(deleted), (by, period)
