"""Replays, against the real ASGI app, the calls an OMA client makes, in the
order a client makes them, and asserts each answer (issue 10).

The client is modelled on the PHP library ocolin/OpenSrsMail (its ``HTTP`` and
``Traits/*`` classes): every call is ``POST <base><method>`` with a JSON body;
in token mode the first call authenticates once (``generate_session_token``,
``session_token_duration``), the token is cached and sent as
``{"user", "token", "client"}`` with every later call, and a password is never
sent again.  The base URL may lack its trailing slash, in which case the
client posts to ``/<method>`` (SPEC §1).  ``restore_user`` always carries
``id`` and ``new_name``; ``range`` is ``{"first", "limit"}``.

Run it on its own (``.venv/bin/python tests/clients/oma_client_flow.py``): it
builds a fresh store in a temporary folder, provisions a small tree through the
API as an operator, counts some mail, and plays the client as a company admin.
The suite runs the same :func:`main` (tests/test_oma_client_flow.py).
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from mailtally.api import create_app
from mailtally.auth import make_hasher
from mailtally.config import AuthSettings, Config
from mailtally.events import Login, MessageIn
from mailtally.periods import FixedClock
from mailtally.record import record_events
from mailtally.store import open_store

#: Wed 2026-01-14 12:00:00 UTC; the tree exists from 2025-10-01
NOW = 1768392000
DAY = 86400
CREATED = "2025-10-01T00:00:00Z"
OPERATOR, OPERATOR_PASSWORD = "root", "operator-secret"
ADMIN, ADMIN_PASSWORD = "boss@shop.example", "boss-password"
#: mailboxes of shop.example besides the admin (sales: the first three)
STAFF = ("ann", "ben", "cat", "dan", "eve", "fay", "gus")
CLIENT_NAME = "ocolin/opensrs-mail"


class ClientError(AssertionError):
    """An answer that is not ``success: true`` where the flow needs one."""


@dataclass
class OmaClient:
    """The calls of an OMA client, in its shapes (credentials, base URL, token cache)."""

    http: TestClient
    base: str
    user: str
    password: str
    token_mode: bool = True
    token_duration: int = 3600
    #: the cached session token (the PHP client keeps it in a file, per user)
    token: str | None = None
    #: every (path, body) posted, to check what went over the wire
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _post(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        path = self.base + method
        self.sent.append((path, body))
        r = self.http.post(path, json=body)
        assert r.status_code == 200, (path, r.status_code, r.text)
        answer = r.json()
        assert isinstance(answer, dict) and isinstance(answer.get("success"), bool), answer
        if not answer["success"]:
            assert isinstance(answer.get("error"), str) and answer["error"], answer
            assert isinstance(answer.get("error_number"), int), answer
        return answer

    def credentials(self) -> dict[str, str]:
        if not self.token_mode:
            return {"user": self.user, "password": self.password, "client": CLIENT_NAME}
        if self.token is None:
            auth = self._post(
                "authenticate",
                {
                    "credentials": {"user": self.user, "password": self.password},
                    "generate_session_token": True,
                    "session_token_duration": self.token_duration,
                },
            )
            if not auth["success"] or not auth.get("session_token"):
                raise ClientError(auth)
            assert auth["session_token_duration"] == self.token_duration, auth
            self.token = str(auth["session_token"])
        return {"user": self.user, "token": self.token, "client": CLIENT_NAME}

    def request(self, method: str, **params: Any) -> dict[str, Any]:
        return self._post(method, {**params, "credentials": self.credentials()})

    def must(self, method: str, **params: Any) -> dict[str, Any]:
        answer = self.request(method, **params)
        if answer["success"] is not True:
            raise ClientError((method, params, answer))
        return answer

    # -- the library's methods, with its field names --------------------------------
    @staticmethod
    def _range(first: int | None, limit: int | None) -> dict[str, Any]:
        r = {k: v for k, v in (("first", first), ("limit", limit)) if v is not None}
        return {"range": r} if r else {}

    def search_users(self, criteria, fields=None, first=None, limit=None, sort=None):
        params: dict[str, Any] = {"criteria": criteria, **self._range(first, limit)}
        if fields is not None:
            params["fields"] = fields
        if sort is not None:
            params["sort"] = sort
        return self.must("search_users", **params)

    def _search(self, method: str, criteria, sort, first, limit) -> dict[str, Any]:
        params: dict[str, Any] = self._range(first, limit)
        if criteria is not None:
            params["criteria"] = criteria
        if sort is not None:
            params["sort"] = sort
        return self.must(method, **params)

    def search_domains(self, criteria=None, sort=None, first=None, limit=None):
        return self._search("search_domains", criteria, sort, first, limit)

    def search_workgroups(self, criteria=None, sort=None, first=None, limit=None):
        return self._search("search_workgroups", criteria, sort, first, limit)

    def restore_user(self, user: str, new_name: str, id: int | str) -> dict[str, Any]:
        return self.request("restore_user", user=user, new_name=new_name, id=id)

    def stats_summary(self, by=None, type=None, object=None) -> dict[str, Any]:
        params = {k: v for k, v in (("by", by), ("type", type), ("object", object)) if v}
        return self.must("stats_summary", **params)["summary"]


# -- the platform the client works on -------------------------------------------------
def provision(http: TestClient, clock: FixedClock, store, periods) -> None:
    """Company Shop with shop.example (the admin and :data:`STAFF`) and
    shop.net (empty), made by the operator; mail counted before now."""
    root = OmaClient(http, "/api/", OPERATOR, OPERATOR_PASSWORD, token_mode=False)
    root.must("change_company", company="Shop", attributes={"createtime": CREATED})
    for d in ("shop.example", "shop.net"):
        root.must("change_domain", domain=d, company="Shop", attributes={"createtime": CREATED})
    root.must(
        "change_user",
        user=ADMIN,
        attributes={"password": ADMIN_PASSWORD, "createtime": CREATED},
    )
    root.must("set_role", user=ADMIN, role="company", object="Shop")
    for i, name in enumerate(STAFF):
        attrs: dict[str, Any] = {"password": "pw-" + name, "createtime": CREATED}
        if i < 3:
            attrs["workgroup"] = "sales"
        root.must("change_user", user=f"{name}@shop.example", attributes=attrs)
    # ann: 2 messages in December, 3 on the 12th (a Monday), a login on the 13th
    dec, jan12 = 1766059200, NOW - 2 * DAY  # 2025-12-18 12:00, 2026-01-12 12:00
    events = [MessageIn(dec, "ann@shop.example", 100) for _ in range(2)]
    events += [MessageIn(jan12, "ann@shop.example", 100) for _ in range(3)]
    events.append(Login(NOW - DAY, "ann@shop.example", "imap4"))
    with store.write() as q:
        result = record_events(q, periods, events)
    assert result.counted == len(events), result


# -- the flow -------------------------------------------------------------------------
def replay(http: TestClient, clock: FixedClock) -> OmaClient:
    """The company admin's session, call by call; returns the client (with
    what it sent)."""
    c = OmaClient(http, "/api/", ADMIN, ADMIN_PASSWORD)

    # 1. the first call authenticates, once; the token is reused from then on
    me = c.must("authenticate", fetch_extra_info=True)
    assert c.sent[0][0] == "/api/authenticate" and "password" in c.sent[0][1]["credentials"]
    assert me["extra_info"]["company"] == "Shop", me

    # 2. searches: the domains of its company, their users, the workgroups
    domains = c.search_domains()
    assert (domains["count"], domains["total_count"]) == (2, 2), domains
    counts = {d["domain"]: d["counts"]["mailbox"] for d in domains["domains"]}
    assert counts == {"shop.example": 1 + len(STAFF), "shop.net": 0}, domains
    groups = c.search_workgroups(criteria={"domain": "shop.example"})
    assert {g["workgroup"]: g["users"] for g in groups["workgroups"]} == {
        "sales": 3,
        "staff": 1 + len(STAFF) - 3,
    }, groups

    # 3. page through the domain's users, three at a time, as a list view does
    everyone = sorted([ADMIN] + [f"{n}@shop.example" for n in STAFF])
    seen: list[str] = []
    first = 0
    while True:
        page = c.search_users(
            {"domain": "shop.example"}, fields=["workgroup", "type"], first=first, limit=3
        )
        assert page["total_count"] == len(everyone), page
        assert page["count"] == len(page["users"]) <= 3, page
        seen += [u["user"] for u in page["users"]]
        for u in page["users"]:
            assert set(u) == {"user", "workgroup", "type"}, u
        first += 3
        if first >= page["total_count"]:
            break
    assert seen == everyone  # sorted by user, no gaps, no repeats
    sales = c.search_users({"domain": "shop.example", "workgroup": "sales"})
    assert [u["user"] for u in sales["users"]] == [f"{n}@shop.example" for n in STAFF[:3]]
    # a pattern over the address, newest letters first
    desc = c.search_users(
        {"domain": "shop.example", "match": "*a*@shop.example"},
        sort={"by": "user", "direction": "descending"},
    )
    named_a = [a for a in everyone if "a" in a.split("@")[0]]
    assert [u["user"] for u in desc["users"]] == sorted(named_a, reverse=True), desc

    # 4. change a user, and read it back
    c.must("change_user", user="dan@shop.example", attributes={"workgroup": "sales"})
    dan = c.must("get_user", user="dan@shop.example")
    assert dan["attributes"]["workgroup"] == "sales", dan
    changes = c.must("get_user_changes", user="dan@shop.example", range={"first": 0, "limit": 1})
    assert changes["count"] == 1 and changes["total_count"] >= 2, changes
    latest = changes["changes"][0]
    assert (latest["by"], latest["client"], latest["method"]) == (
        ADMIN,
        CLIENT_NAME,
        "change_user",
    ), latest
    assert latest["changes"] == {"workgroup": "sales"}, latest

    # 5. delete ann, find her among the deleted, restore her as the client does
    before = c.stats_summary(by="month", type="user", object="ann@shop.example")
    assert before["2025-12"]["messages"]["in_ham"] == "2", before
    clock.value += 60
    c.must("delete_user", user="ann@shop.example")
    gone = c.search_users({"domain": "shop.example", "deleted": True})
    assert [u["user"] for u in gone["users"]] == ["ann@shop.example"], gone
    ann_id = gone["users"][0]["id"]
    assert gone["users"][0]["delete_time"], gone
    live = c.search_users({"domain": "shop.example"})
    assert live["total_count"] == len(everyone) - 1, live
    clock.value += 60
    wrong = c.restore_user("ann@shop.example", "ann@shop.example", ann_id + 1000)
    assert (wrong["success"], wrong["error_number"]) == (False, 2), wrong
    c.must("restore_user", user="ann@shop.example", new_name="ann@shop.example", id=ann_id)
    assert c.search_users({"domain": "shop.example", "deleted": True})["total_count"] == 0

    # 6. rename her into the other domain of the company: her history follows
    clock.value += 60
    c.must("rename_user", user="ann@shop.example", new_name="anna@shop.net")
    after = c.stats_summary(by="month", type="user", object="anna@shop.net")
    assert after == {**after, "2025-12": before["2025-12"]}, after
    assert after["2026-01"]["messages"]["in_ham"] == "3", after
    old = c.request("stats_summary", object="ann@shop.example")
    assert (old["success"], old["error_number"]) == (False, 2), old
    net = c.search_users({"domain": "shop.net"}, fields=["workgroup"])
    # her workgroup follows her (a workgroup comes into being when a user names it)
    assert net["users"] == [{"user": "anna@shop.net", "workgroup": "sales"}], net
    groups = c.search_workgroups(criteria={"domain": "shop.net"})["workgroups"]
    assert {g["workgroup"]: g["users"] for g in groups}.get("sales") == 1, groups

    # 7. stats: the company counts what its domains count, every month
    company = c.stats_summary(by="month")  # a company admin's default: its company
    dom = {d: c.stats_summary(by="month", object=d) for d in ("shop.example", "shop.net")}
    for month in ("2025-12", "2026-01"):
        ham = sum(dom[d][month]["messages"]["in_ham"] for d in dom)
        assert company[month]["messages"]["in_ham"] == ham, (month, company[month])
    assert company["2025-12"]["messages"]["in_ham"] == 2
    assert company["2026-01"]["messages"]["in_ham"] == 3
    assert company["2026-01"]["users"]["mailbox"] == 1 + len(STAFF)
    assert dom["shop.net"]["2026-01"]["users"]["mailbox"] == 1

    # 7b. billing: stats_list, then stats_snapshot by month (YYYY-MM, as the
    # client documents it) and by today's date (Y-m-d, as its tests send it);
    # the link is fetched as it is, without credentials
    snaps = c.must("stats_list")["snapshots"]
    assert snaps["month"][:2] == ["2026-01", "2025-12"] and snaps["day"][0] == "20260114"
    for date in ("2026-01", "2026-01-14"):
        url = c.must("stats_snapshot", type="company", object="Shop", date=date)["snapshot"]
        got = c.http.get(url)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        lines = got.content.decode("utf-8-sig").splitlines()
        header = lines[0].split(",")
        ham = sum(int(line.split(",")[header.index("messages.in_ham")]) for line in lines[1:])
        want = company["2026-01"]["messages"]["in_ham"] if date == "2026-01" else None
        assert want is None or ham == want, (date, ham, want)

    # one authentication for the whole session; no password after it
    assert sum("password" in b["credentials"] for _, b in c.sent) == 1
    assert all(b["credentials"].get("token") == c.token for _, b in c.sent[1:])
    assert all("password" not in b["credentials"] for _, b in c.sent[1:])

    # 8. a second client on a base URL without the trailing slash, reusing the
    # cached token (posts to /<method>), then logging the admin out
    bare = OmaClient(http, "", ADMIN, ADMIN_PASSWORD, token=c.token)
    assert bare.search_domains(limit=1)["count"] == 1
    assert bare.sent[0][0] == "search_domains"
    bare.must("logout_user", user=ADMIN)
    stale = c.request("search_domains")
    assert (stale["success"], stale["error_number"]) == (False, 1), stale
    return c


def run(folder: Path) -> OmaClient:
    """A fresh store in ``folder``, provisioned; the flow replayed on it."""
    store = open_store(f"sqlite:///{folder / 'flow.sqlite3'}")
    try:
        config = Config(
            auth=AuthSettings(argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1)
        )
        hasher = make_hasher(1, 64, 1)
        with store.write() as q:
            q.add_operator(OPERATOR, hasher.hash(OPERATOR_PASSWORD), NOW)
        clock = FixedClock(NOW)
        app = create_app(store, config, clock)
        with TestClient(app, base_url="http://testserver") as http:
            svc = app.state.service
            provision(http, clock, store, svc.periods)
            svc.poll_store_generation()
            return replay(http, clock)
    finally:
        store.close()


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        client = run(Path(d))
    print(f"oma client flow: {len(client.sent)} calls, all answered as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
