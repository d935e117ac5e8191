"""A user's stats_summary is written as JSON text (summary.user_summary_text), not
encoded from structs: its bytes must be exactly what msgspec makes of the same
answer as :class:`UserSummaryAnswer` — member order, escaping, empty counts, a
version or quota report changing inside the window.  (The answers' content is
held to recorded bytes by test_migration and test_reference_examples.)"""

from __future__ import annotations

import msgspec
import pytest

from conftest import DAY, NOW, ok, rfc
from mailtally.api.stats import UserSummaryAnswer
from mailtally.events import Login, MessageIn, StorageReport
from mailtally.summary import user_summary
from test_windows import make_company

#: text JSON escapes (a quote, a backslash, a control character) and text it does not
WORKGROUP = 'ops "night" \\ ünï ✓'


def raw_summary(client, operator, **request) -> bytes:
    r = client.post("/api/stats_summary", json={"credentials": operator, **request})
    assert r.status_code == 200
    return r.content


@pytest.fixture
def account(call, record):
    make_company(call, NOW - 80 * DAY)
    ok(call("create_workgroup", domain="acme.com", workgroup=WORKGROUP))
    attributes = {"createtime": rfc(NOW - 60 * DAY), "workgroup": WORKGROUP}
    ok(call("change_user", user="bob@acme.com", attributes=attributes))
    record(
        MessageIn(NOW - 20 * DAY, "bob@acme.com", 1234),
        MessageIn(NOW - 20 * DAY + 5, "bob@acme.com", 99, spam=True),
        Login(NOW - 19 * DAY + 7, "bob@acme.com", "imap4"),
        Login(NOW - 3 * DAY, "bob@acme.com", "webmail", count=3),
        StorageReport(NOW - 10 * DAY, "bob@acme.com", 12, 345_678),
        MessageIn(NOW - 15 * DAY, "bob@acme.com", 5_000_000_000),  # past 32 bits
    )
    # a second version inside the window: forwarding to addresses, another type
    forward = {"delivery_forward": True, "forward_recipients": ["a@example.net", "B@example.org"]}
    ok(call("change_user", user="bob@acme.com", attributes=forward))
    return "bob@acme.com"


@pytest.mark.parametrize("by", ["day", "week", "month"])
def test_a_user_answer_is_what_msgspec_makes_of_its_periods(client, operator, account, by) -> None:
    body = raw_summary(client, operator, type="user", object=account, by=by)
    answer = msgspec.json.decode(body, type=UserSummaryAnswer)
    assert msgspec.json.encode(answer) == body
    periods = list(answer.summary.values())
    assert periods[-1].workgroup == WORKGROUP
    assert periods[-1].forward == "a@example.net,b@example.org"  # (domains lowercased)
    # counts are shown in their periods, and zero as ""
    shown = [p.messages.in_ham for p in periods]
    assert "" in shown and any(s.isdigit() and s != "0" for s in shown)
    assert any(p.logins.webmail == "3" for p in periods)
    assert periods[-1].storage.current_size == "345678"
    if by == "day":
        assert any(p.messages.in_size == "5000000000" for p in periods)


def test_the_structs_are_the_text_read_back(fresh_store, service, account) -> None:
    from mailtally.tree import find_target

    with fresh_store.read() as q:
        t = find_target(q, "user", account)
        assert t is not None
        periods = user_summary(q, service.periods, t, "day", NOW)
    assert len(periods) == 30
    assert list(periods) == sorted(periods)
    assert {p.workgroup for p in periods.values()} == {WORKGROUP}


@pytest.mark.parametrize("by", ["day", "week", "month"])
def test_each_last_login_is_the_latest_up_to_its_periods_end(
    client, operator, account, record, by
) -> None:
    """The last_* members are running maxima, each formatted when it moves: a
    period shows the latest login of each service up to its end (or now), also
    a period without counts after one that moved, and one moving while another
    stays (imap4 and webmail move on different days, twice each)."""
    from mailtally.periods import Periods, format_time

    logins = [
        Login(NOW - 19 * DAY + 7, "bob@acme.com", "imap4"),
        Login(NOW - 3 * DAY, "bob@acme.com", "webmail", count=3),
        Login(NOW - 12 * DAY + 1, "bob@acme.com", "imap4"),
        Login(NOW - 11 * DAY + 2, "bob@acme.com", "webmail"),
        Login(NOW - 40 * DAY, "bob@acme.com", "webmail"),  # before a day window
    ]
    record(*logins[2:])
    body = raw_summary(client, operator, type="user", object=account, by=by)
    answer = msgspec.json.decode(body, type=UserSummaryAnswer)
    periods = Periods("UTC").window(by, NOW)
    assert [p.key for p in periods][-len(answer.summary) :] == list(answer.summary)
    for p in periods[-len(answer.summary) :]:
        end = min(p.end - 1, NOW)
        shown = answer.summary[p.key].logins
        for service in ("imap4", "webmail"):
            times = [e.time for e in logins if e.service == service and e.time <= end]
            assert getattr(shown, f"last_{service}") == format_time(max(times, default=0))
        assert shown.last_pop3 == ""
