"""ingest_events (SPEC §7): whole-batch validation, idempotent batch ids, scope."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import NOW, PW, as_user, failed, ok, rfc, summary, table_rows

TODAY = "20260114"
AT = rfc(NOW - 3600)
STATS_TABLES = ("flows", "gauges", "storage_reports", "event_batches")


def ev(kind: str, **fields: Any) -> dict[str, Any]:
    return {"time": AT, "kind": kind, **fields}


#: one event of every kind, with what it adds to bob's day
EVERY_KIND: list[tuple[dict[str, Any], dict[str, str]]] = [
    (ev("message_in", user="bob@acme.com", size=1200), {"in_ham": "1", "in_size": "1200"}),
    (ev("message_in", user="bob@acme.com", size=900, spam=True), {"in_spam": "1"}),
    (ev("message_denied", recipient="bob@acme.com"), {"denied": "1"}),
    (
        ev("message_out", user="bob@acme.com", recipients=3, size=5000),
        {"out_msg_count": "1", "out_rcpt_count": "3", "out_size": "5000"},
    ),
    (ev("forward", user="bob@acme.com"), {"forward_count": "1"}),
    (ev("autoresponse", user="bob@acme.com"), {"autorespond_count": "1"}),
]


@pytest.mark.parametrize(("event", "adds"), EVERY_KIND)
def test_each_kind_counts_for_the_user(platform, call, event, adds) -> None:
    answer = ok(call("ingest_events", batch_id="b1", events=[event]))
    assert answer["accepted"] == 1 and answer["duplicate"] is False
    messages = summary(call, object="bob@acme.com")[TODAY]["messages"]
    assert {k: v for k, v in messages.items() if v} == adds


@pytest.mark.parametrize("service", ["imap4", "pop3", "webmail"])
def test_logins_count_by_service(platform, call, service) -> None:
    ok(
        call(
            "ingest_events",
            batch_id="l",
            events=[ev("login", user="bob@acme.com", service=service)],
        )
    )
    logins = summary(call, object="bob@acme.com")[TODAY]["logins"]
    assert logins[service] == "1"
    assert logins[f"last_{service}"] == "Wed Jan 14 11:00:00 2026 UTC"


def test_storage_sets_the_gauges(platform, call) -> None:
    event = ev("storage", user="bob@acme.com", items=12, bytes=34567)
    ok(call("ingest_events", batch_id="s", events=[event]))
    assert summary(call, object="bob@acme.com")[TODAY]["storage"]["current_size"] == "34567"
    assert summary(call, object="acme.com")[TODAY]["storage"]["items_stored"] == 12


def test_flows_roll_up_to_domain_and_company(platform, call) -> None:
    events = [ev("message_in", user="bob@acme.com", size=10)] * 3
    ok(call("ingest_events", batch_id="r", events=events))
    assert summary(call, object="acme.com")[TODAY]["messages"]["in_ham"] == 3
    assert summary(call, type="company", object="Acme")[TODAY]["messages"]["in_ham"] == 3
    assert summary(call, object="acme.net")[TODAY]["messages"]["in_ham"] == 0


def test_an_alias_counts_for_its_real_user(platform, call) -> None:
    ok(call("ingest_events", batch_id="a", events=[ev("message_in", user="al@acme.net", size=5)]))
    assert summary(call, object="alice@acme.com")[TODAY]["messages"]["in_ham"] == "1"
    # alice lives in acme.com: the alias's domain does not get her mail
    assert summary(call, object="acme.net")[TODAY]["messages"]["in_ham"] == 0


def test_denied_for_an_unknown_address_counts_for_domain_and_company(platform, call) -> None:
    event = ev("message_denied", recipient="nobody@acme.net")
    ok(call("ingest_events", batch_id="d", events=[event]))
    assert summary(call, object="acme.net")[TODAY]["messages"]["denied"] == 1
    assert summary(call, type="company", object="Acme")[TODAY]["messages"]["denied"] == 1


def test_an_event_counts_in_the_period_of_its_own_time(platform, call) -> None:
    event = {"time": rfc(NOW - 5 * 86400), "kind": "forward", "user": "bob@acme.com"}
    ok(call("ingest_events", batch_id="t", events=[event]))
    days = summary(call, object="bob@acme.com")
    assert days["20260109"]["messages"]["forward_count"] == "1"
    assert days[TODAY]["messages"]["forward_count"] == ""


def test_a_batch_id_seen_before_is_acknowledged_and_not_counted_again(platform, call) -> None:
    events = [ev("message_in", user="bob@acme.com", size=10)]
    first = ok(call("ingest_events", batch_id="same", events=events))
    again = ok(call("ingest_events", batch_id="same", events=events))
    assert (first["accepted"], first["duplicate"]) == (1, False)
    assert (again["accepted"], again["duplicate"]) == (0, True)
    assert summary(call, object="bob@acme.com")[TODAY]["messages"]["in_ham"] == "1"


def test_batch_ids_of_two_companies_do_not_collide(platform, call) -> None:
    acme = as_user("admin@acme.com")
    other = as_user("oadmin@other.com")
    e1 = [ev("message_in", user="bob@acme.com", size=1)]
    e2 = [ev("message_in", user="zed@other.com", size=1)]
    assert ok(call("ingest_events", credentials=acme, batch_id="x", events=e1))["accepted"] == 1
    assert ok(call("ingest_events", credentials=other, batch_id="x", events=e2))["accepted"] == 1


BAD_EVENTS: list[tuple[Any, str]] = [
    ({"time": AT, "kind": "teleport", "user": "bob@acme.com"}, "events[1].kind"),
    ({"kind": "forward", "user": "bob@acme.com"}, "events[1].time"),
    (ev("forward", user="bob@acme.com") | {"time": "yesterday"}, "events[1].time"),
    (ev("forward", user="bob@acme.com") | {"time": "2026-01-14T10:00:00"}, "events[1].time"),
    (ev("forward", user="bob@acme.com") | {"time": rfc(NOW + 86400)}, "events[1].time"),
    (ev("message_in", user="bob@acme.com"), "events[1].size"),
    (ev("message_in", user="bob@acme.com", size=-1), "events[1].size"),
    (ev("message_in", user="bob@acme.com", size="12"), "events[1].size"),
    (ev("message_in", user="bob@acme.com", size=True), "events[1].size"),
    (ev("message_in", user="bob@acme.com", size=1, spam="yes"), "events[1].spam"),
    (ev("message_in", user="bob@acme.com", size=1, sizee=2), "events[1].sizee"),
    (ev("message_out", user="bob@acme.com", recipients=0, size=1), "events[1].recipients"),
    (ev("login", user="bob@acme.com", service="smtp"), "events[1].service"),
    (ev("storage", user="bob@acme.com", items=1), "events[1].bytes"),
    (ev("forward", user="nobody@acme.com"), "events[1].user"),
    (ev("forward", user="not an address"), "events[1].user"),
    (ev("forward", user="zed@other.com"), "events[1].user"),
    (ev("message_denied", recipient="x@unknown-domain.org"), "events[1].recipient"),
    (ev("message_denied", user="bob@acme.com"), "events[1].user"),
    ("a string", "events[1]"),
    (None, "events[1]"),
]


@pytest.mark.parametrize(("bad", "field"), BAD_EVENTS)
def test_one_bad_event_refuses_the_whole_batch(platform, call, fresh_store, bad, field) -> None:
    admin = as_user("admin@acme.com")
    before = table_rows(fresh_store, *STATS_TABLES)
    good = ev("message_in", user="bob@acme.com", size=10)
    answer = failed(call("ingest_events", credentials=admin, batch_id="bad", events=[good, bad]), 6)
    assert field in answer["hints"], answer
    assert "events[0]" not in " ".join(answer["hints"])
    assert table_rows(fresh_store, *STATS_TABLES) == before
    # and the refused batch id stays free for the corrected batch
    assert ok(call("ingest_events", credentials=admin, batch_id="bad", events=[good]))["accepted"]


def test_numbers_that_would_overflow_the_counts_are_refused(platform, call, fresh_store) -> None:
    """Sums of a period stay 64-bit integers: never a fault, never a float."""
    before = table_rows(fresh_store, *STATS_TABLES)
    huge = ev("message_in", user="bob@acme.com", size=2**53 - 1)
    answer = failed(call("ingest_events", batch_id="huge", events=[huge] * 1100), 6)
    assert "events[0].size" in answer["hints"]
    assert table_rows(fresh_store, *STATS_TABLES) == before
    for bad in (
        ev("message_out", user="bob@acme.com", recipients=2**53 - 1, size=1),
        ev("storage", user="bob@acme.com", items=1, bytes=2**53 - 1),
    ):
        failed(call("ingest_events", batch_id="huge", events=[bad]), 6)
    largest = ev("message_in", user="bob@acme.com", size=2**40)
    for i in range(3):
        assert ok(call("ingest_events", batch_id=f"l{i}", events=[largest] * 1100))["accepted"]
    in_size = summary(call, object="bob@acme.com")[TODAY]["messages"]["in_size"]
    assert in_size == str(3 * 1100 * 2**40)


def test_hints_name_every_bad_event(platform, call) -> None:
    events = [ev("forward", user="nobody@acme.com"), ev("forward", user="bob@acme.com"), {}]
    answer = failed(call("ingest_events", batch_id="h", events=events), 6)
    assert set(answer["hints"]) == {"events[0].user", "events[2].kind"}


@pytest.mark.parametrize(
    ("who", "number"),
    [("ro@acme.com", 4), ("dadmin@acme.net", 4), ("bob@acme.com", 4), ("tokenonly@acme.com", 4)],
)
def test_only_company_admins_and_operators_may_ingest(platform, call, who, number) -> None:
    events = [ev("forward", user="bob@acme.com")]
    failed(call("ingest_events", credentials=as_user(who), batch_id="p", events=events), number)


def test_an_operator_may_ingest_for_any_company(platform, call) -> None:
    events = [ev("forward", user="bob@acme.com"), ev("forward", user="zed@other.com")]
    assert ok(call("ingest_events", batch_id="op", events=events))["accepted"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"events": []},
        {"batch_id": "x"},
        {"batch_id": "", "events": []},
        {"batch_id": 7, "events": []},
        {"batch_id": "x", "events": {}},
        {"batch_id": "x" * 129, "events": []},
        {"batch_id": "x", "events": [], "extra": 1},
    ],
)
def test_a_badly_formed_request_is_error_5(platform, call, body) -> None:
    failed(call("ingest_events", **body), 5)


def test_the_body_limit_is_32_mib(platform, client, call) -> None:
    event = ev("message_in", user="bob@acme.com", size=1)
    creds = {"user": "root", "password": "operator-secret"}
    big = {"credentials": creds, "batch_id": "big", "events": [event] * 30_000}
    r = client.post("/api/ingest_events", json=big)  # ~2.5 MiB: over 1 MiB, under 32
    assert r.status_code == 200 and r.json()["accepted"] == 30_000
    huge = b'{"batch_id": "huge", "events": [' + b" " * (33 * 1024 * 1024) + b"]}"
    r = client.post("/api/ingest_events", content=huge)
    assert r.status_code == 413 and r.json()["success"] is False


def test_ingest_tree_shows_only_the_callers_companies(platform, call) -> None:
    """An agent's tree (ingest_tree) is its own companies' domains and addresses,
    and its version does not move when another company's tree changes: a
    company admin must not learn when another tenant changed (SPEC §2)."""
    acme = as_user("admin@acme.com")
    first = ok(call("ingest_tree", credentials=acme))
    assert first["changed"] is True
    assert sorted(first["domains"]) == ["acme.com", "acme.net"]
    addresses = {a for a, _own in first["addresses"]}
    assert "bob@acme.com" in addresses and ["al@acme.net", "alice@acme.com"] in first["addresses"]
    assert not any(a.endswith("@other.com") for a in addresses)
    ok(call("change_user", user="new@other.com", attributes={"password": PW}))
    again = ok(call("ingest_tree", credentials=acme, version=first["version"]))
    assert again == {
        "success": True,
        "version": first["version"],
        "changed": False,
        "domains": [],
        "addresses": [],
    }
    ok(call("change_user", user="new@acme.com", attributes={"password": PW}))
    moved = ok(call("ingest_tree", credentials=acme, version=first["version"]))
    assert moved["changed"] is True and moved["version"] != first["version"]
    assert ["new@acme.com", "new@acme.com"] in moved["addresses"]
    failed(call("ingest_tree", credentials=as_user("bob@acme.com")), 4)
