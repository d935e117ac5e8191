"""Existence probing (SPEC §2, isolation rule 3): for every method and every field
that names an object, another tenant's existing name and a name that exists
nowhere give byte-identical answers (but for the name itself), and take the
same time.

Not here, on purpose: ``forward_recipients`` (any address may be forwarded to,
so nothing is checked against the tree), and creating a domain as a caller
allowed to create domains (domain names are public in DNS; README).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import statistics
import sys
import time
from typing import Any

import pytest

from conftest import OPERATOR_CREDS, as_user, rfc
from isolation import CALLERS as ISOLATION_CALLERS
from isolation import fill, platform_file  # noqa: F401
from mailtally import auth as auth_module
from mailtally.api import service as service_module
from mailtally.api.app import METHODS

#: (method, request with "{}" where the name goes, another tenant's name, a missing one)
PROBES: list[tuple[str, dict[str, Any], str, str]] = [
    ("change_company", {"company": "{}"}, "Other", "Nonesuch"),
    ("get_company", {"company": "{}"}, "Other", "Nonesuch"),
    ("change_domain", {"domain": "new.example", "company": "{}"}, "Other", "Nonesuch"),
    ("get_domain", {"domain": "{}"}, "other.com", "nothere.com"),
    ("delete_domain", {"domain": "{}"}, "other.com", "nothere.com"),
    ("change_user", {"user": "{}", "attributes": {"name": "x"}}, "zed@other.com", "no@other.com"),
    ("change_user", {"user": "{}", "attributes": {"name": "x"}}, "zed@other.com", "zed@no.com"),
    ("change_user", {"user": "{}", "attributes": {"password": "pw"}}, "zed@other.com", "q@no.com"),
    (
        "change_user",
        {"user": "carol@acme.net", "attributes": {"aliases": ["{}"]}},
        "zed@other.com",
        "ghost@other.com",
    ),
    (
        "change_user",
        {"user": "carol@acme.net", "attributes": {"aliases": ["{}"]}},
        "oadmin@other.com",
        "ghost@nothere.com",
    ),
    ("get_user", {"user": "{}"}, "zed@other.com", "ghost@other.com"),
    ("delete_user", {"user": "{}"}, "zed@other.com", "ghost@other.com"),
    ("restore_user", {"user": "{}"}, "zed@other.com", "ghost@nothere.com"),
    ("restore_user", {"user": "{}", "id": 3}, "zed@other.com", "ghost@nothere.com"),
    ("restore_user", {"user": "carol@acme.net", "new_name": "{}"}, "zed@other.com", "g@no.com"),
    ("rename_user", {"user": "{}", "new_name": "x@acme.net"}, "zed@other.com", "ghost@other.com"),
    ("rename_user", {"user": "carol@acme.net", "new_name": "{}"}, "zed@other.com", "g@no.com"),
    ("rename_user", {"user": "carol@acme.net", "new_name": "{}"}, "new@other.com", "g@no.com"),
    ("restore_domain", {"domain": "{}"}, "other.com", "nothere.com"),
    ("get_user_changes", {"user": "{}"}, "zed@other.com", "ghost@other.com"),
    ("get_domain_changes", {"domain": "{}"}, "other.com", "nothere.com"),
    ("get_company_changes", {"company": "{}"}, "Other", "Nonesuch"),
    (
        "get_user_attribute_history",
        {"user": "{}", "attribute": "quota"},
        "zed@other.com",
        "ghost@other.com",
    ),
    ("logout_user", {"user": "{}"}, "zed@other.com", "ghost@other.com"),
    ("generate_token", {"user": "{}", "reason": "r"}, "zed@other.com", "ghost@other.com"),
    ("set_role", {"user": "{}", "role": "mail", "object": "acme.net"}, "zed@other.com", "g@o.com"),
    ("set_role", {"user": "bob@acme.com", "role": "company", "object": "{}"}, "Other", "Nonesuch"),
    ("set_role", {"user": "bob@acme.com", "role": "domain", "object": "{}"}, "other.com", "no.com"),
    (
        "set_role",
        {"user": "bob@acme.com", "role": "workgroup", "object": "{}/staff"},
        "other.com",
        "no.com",
    ),
    ("stats_summary", {"type": "company", "object": "{}"}, "Other", "Nonesuch"),
    ("stats_summary", {"type": "domain", "object": "{}"}, "other.com", "nothere.com"),
    ("stats_summary", {"type": "user", "object": "{}"}, "zed@other.com", "ghost@other.com"),
    ("stats_summary", {"object": "{}"}, "other.com", "nothere.com"),
    ("stats_summary", {"object": "{}"}, "Other", "nothere.com"),
    ("stats_summary", {"object": "{}"}, "Other", "Nonesuch"),
    ("stats_summary", {"object": "{}"}, "zed@other.com", "ghost@other.com"),
    ("stats_top", {"type": "company", "object": "{}", "of": "domains"}, "Other", "Nonesuch"),
    ("stats_top", {"type": "domain", "object": "{}"}, "other.com", "nothere.com"),
    ("stats_top", {"object": "{}"}, "other.com", "nothere.com"),
    # the period is looked at after the scope
    ("stats_top", {"object": "{}", "period": "2020-01"}, "other.com", "nothere.com"),
    ("stats_snapshot", {"type": "company", "object": "{}", "date": "2026-01"}, "Other", "Nope"),
    (
        "stats_snapshot",
        {"type": "domain", "object": "{}", "date": "2026-01"},
        "other.com",
        "no.com",
    ),
    # the period is looked at after the scope: a foreign domain's creation time
    # must not show through a period outside its list
    (
        "stats_snapshot",
        {"type": "domain", "object": "{}", "date": "2020-01"},
        "other.com",
        "no.com",
    ),
    (
        "ingest_events",
        {
            "batch_id": "probe",
            "events": [{"kind": "login", "time": rfc(1768392000), "user": "{}", "service": "pop3"}],
        },
        "zed@other.com",
        "ghost@other.com",
    ),
    (
        "ingest_events",
        {
            "batch_id": "probe",
            "events": [{"kind": "message_denied", "time": rfc(1768392000), "recipient": "{}"}],
        },
        "ghost@other.com",
        "ghost@nothere.com",
    ),
    ("search_users", {"criteria": {"domain": "{}"}}, "other.com", "nothere.com"),
    ("search_users", {"criteria": {"domain": "{}", "workgroup": "staff"}}, "other.com", "no.com"),
    ("search_domains", {"criteria": {"company": "{}"}}, "Other", "Nonesuch"),
    ("search_workgroups", {"criteria": {"domain": "{}"}}, "other.com", "nothere.com"),
    ("search_companies", {"criteria": {"match": "{}"}}, "Other", "Nonesuch"),
    ("create_workgroup", {"domain": "{}", "workgroup": "probe"}, "other.com", "nothere.com"),
    ("delete_workgroup", {"domain": "{}", "workgroup": "staff"}, "other.com", "nothere.com"),
    (
        "set_role",
        {"user": "bob@acme.com", "role": "domain", "objects": ["acme.net", "{}"]},
        "other.com",
        "no.com",
    ),
]

#: methods that name nothing but the caller
NAMES_NOTHING = {"echo", "authenticate", "stats_list", "ingest_tree"}

#: every caller but the operator (who sees everything: nothing is foreign to it)
CALLERS = tuple(name for role, name in ISOLATION_CALLERS.items() if role != "operator")

#: made by the operator before the probes below: another tenant's deleted domain
#: and deleted account (soft-deleted rows are read by restore_*, so a foreign one
#: must cost what a name that was never used costs)
DELETED_ELSEWHERE = [
    ("change_domain", {"domain": "gone.com", "company": "Other"}),
    ("delete_domain", {"domain": "gone.com"}),
    ("change_user", {"user": "old@other.com", "attributes": {"password": "pw-old-1"}}),
    ("delete_user", {"user": "old@other.com"}),
]
DELETED_PROBES = [
    ("restore_domain", {"domain": "{}"}, "gone.com", "nothere.com"),
    ("restore_domain", {"domain": "{}", "id": 99}, "gone.com", "nothere.com"),
    ("restore_user", {"user": "{}"}, "old@other.com", "ghost@other.com"),
    ("restore_user", {"user": "{}", "id": 99}, "old@other.com", "ghost@other.com"),
]


def _masked(text: str, name: str) -> str:
    """``text`` with the name (and, for an address, its domain) masked."""
    text = text.replace(name, "NAME")
    return text.replace(name.rpartition("@")[2], "DOMAIN") if "@" in name else text


def test_every_method_that_names_an_object_is_probed():
    assert set(METHODS) - NAMES_NOTHING <= {m for m, *_ in PROBES}


#: probes for callers that may not create domains (a caller that may, creates
#: a free name and is told another tenant holds a taken one: DNS is public)
NON_CREATOR_PROBES = [
    ("change_domain", {"domain": "{}", "attributes": {"quota": 1}}, "other.com", "nothere.com"),
    ("change_domain", {"domain": "{}"}, "io.example", "nothere.example"),
]


@pytest.mark.parametrize("caller", CALLERS)
def test_foreign_and_missing_names_answer_alike(platform, client, caller):
    for method, body in DELETED_ELSEWHERE:
        r = client.post(f"/api/{method}", json={"credentials": OPERATOR_CREDS, **body})
        assert r.json()["success"] is True, r.text
    creds = as_user(caller)
    probes = PROBES + DELETED_PROBES
    probes += NON_CREATOR_PROBES if caller != "admin@acme.com" else []
    for method, body, foreign, missing in probes:
        a = client.post(f"/api/{method}", json={"credentials": creds, **fill(body, foreign)})
        b = client.post(f"/api/{method}", json={"credentials": creds, **fill(body, missing)})
        assert a.status_code == b.status_code == 200
        assert a.headers["content-type"] == b.headers["content-type"]
        assert a.json()["success"] is False, (caller, method, body, a.text)
        assert _masked(a.text, foreign) == _masked(b.text, missing), (
            caller,
            method,
            a.text,
            b.text,
        )


#: the probes timed: one per kind of lookup
TIMED = [
    ("get_user", {"user": "{}"}, "zed@other.com", "ghost@other.com"),
    ("change_user", {"user": "{}", "attributes": {"name": "x"}}, "zed@other.com", "no@other.com"),
    ("get_domain", {"domain": "{}"}, "other.com", "nothere.com"),
    ("stats_summary", {"type": "company", "object": "{}"}, "Other", "Nonesuch"),
    (
        "change_user",
        {"user": "carol@acme.net", "attributes": {"aliases": ["{}"]}},
        "zed@other.com",
        "ghost@other.com",
    ),
]
SAMPLES = 200


async def _post(app, path: str, body: bytes) -> bytes:
    """One request straight into the ASGI app: no client, no thread between
    the timer and the app (what is timed is the app's own work)."""
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    out: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            out.append(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    return b"".join(out)


async def _medians(app, method: str, bodies: tuple[bytes, bytes]) -> list[float]:
    times: tuple[list[int], list[int]] = ([], [])
    path = f"/api/{method}"
    answers = [await _post(app, path, body) for body in bodies]
    assert all(b'"success":false' in a for a in answers), answers
    for _ in range(30):  # warm up: caches, the credential check, the code paths
        for body in bodies:
            await _post(app, path, body)
    for i in range(SAMPLES):
        # interleaved, and in alternating order, so that drift hits both alike
        for k in (0, 1) if i % 2 == 0 else (1, 0):
            start = time.perf_counter_ns()
            await _post(app, path, bodies[k])
            times[k].append(time.perf_counter_ns() - start)
    return [statistics.median(t) for t in times]


@pytest.mark.parametrize(("method", "body", "foreign", "missing"), TIMED)
def test_foreign_and_missing_names_take_the_same_time(
    platform, app, method, body, foreign, missing
):
    """Median of 200 samples each within 5%, measured in-process through the
    ASGI app with a cheap argon2 profile and a cached credential.  On a busy
    machine a round may be disturbed; it is measured again (at most five
    rounds), the bound stays."""
    creds = as_user("admin@acme.com")
    bodies = (
        json.dumps({"credentials": creds, **fill(body, foreign)}).encode(),
        json.dumps({"credentials": creds, **fill(body, missing)}).encode(),
    )
    rounds = []
    for _ in range(5):
        a, b = asyncio.run(_medians(app, method, bodies))
        rounds.append((a, b))
        if abs(a - b) / min(a, b) < 0.05:
            return
    pytest.fail(f"{method}: medians (foreign, missing) in ns per round: {rounds}")


@pytest.mark.parametrize("caller", ["bob@acme.com", "lead@acme.com", "dadmin@acme.net",
                                    "tokenonly@acme.com"])  # fmt: skip
@pytest.mark.parametrize(
    ("method", "body"),
    [("get_company", {}), ("stats_summary", {"type": "company"})],
)
def test_own_company_unnamed_is_not_named_to_who_may_not_read_it(
    platform, call, caller, method, body
):
    """A request that does not name the company must not tell the caller its name."""
    answer = call(method, credentials=as_user(caller), **body)
    assert answer["success"] is False
    assert answer["error_number"] in (2, 4)
    assert "Acme" not in str(answer) and "acme" not in str(answer).replace(caller, "")


async def _inline(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def _calls(app, method: str, body: bytes) -> collections.Counter[str]:
    """Every Python and C function called while the app answers ``body``,
    counted (the seventh answer)."""
    counted: collections.Counter[str] = collections.Counter()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            counted[f"{code.co_filename}:{code.co_firstlineno}:{code.co_name}"] += 1
        elif event == "c_call":
            counted[f"C {getattr(arg, '__qualname__', repr(arg))}"] += 1

    async def answer(count: bool) -> bytes:
        if not count:
            return await _post(app, f"/api/{method}", body)
        sys.setprofile(profile)
        try:
            return await _post(app, f"/api/{method}", body)
        finally:
            sys.setprofile(None)

    async def run() -> None:
        for _ in range(6):  # caches warm
            await answer(False)
        gc.disable()
        try:
            assert b'"success":false' in await answer(True)
        finally:
            gc.enable()

    asyncio.run(run())
    return counted


#: the operator's credentials, as a request's body gives them
OPERATOR = {"credentials": OPERATOR_CREDS}


def _never_prepare(monkeypatch) -> None:
    """psycopg prepares a statement after its fifth run and forgets the least
    used of a hundred: when it does depends on what its connection ran before
    (the rest of the suite).  The store's connections open now prepare nothing."""
    try:
        import psycopg
    except ImportError:
        return
    for obj in gc.get_objects():
        if isinstance(obj, psycopg.Connection):
            monkeypatch.setattr(obj, "prepare_threshold", None)


#: probes whose two names differ in shape (a company's name against a domain's):
#: the caller chose the shape, so the work may differ with it
SHAPES_DIFFER = {("stats_summary", "Other", "nothere.com")}


@pytest.mark.parametrize("caller", CALLERS)
def test_foreign_and_missing_names_do_the_same_work(platform, app, monkeypatch, caller):
    """The timing rule held without a clock: answering another tenant's name
    and a name that exists nowhere calls the same functions the same number of
    times (every store read and write run on this thread, so that one profiler
    sees all of it).  A difference here is a difference of work the timing
    test above can only see on a quiet machine."""
    store = app.state.service.store

    async def reading(fn: Any) -> Any:
        return store.read_now(fn)

    monkeypatch.setattr(store, "reading", reading)
    monkeypatch.setattr(service_module, "run_in_threadpool", _inline)
    monkeypatch.setattr(auth_module, "run_in_threadpool", _inline)

    async def setup() -> None:
        for method, body in DELETED_ELSEWHERE:
            answer = await _post(app, f"/api/{method}", json.dumps(body | OPERATOR).encode())
            assert b'"success":true' in answer, answer

    asyncio.run(setup())  # (the store's connections are open after it)
    _never_prepare(monkeypatch)
    creds = as_user(caller)
    probes = PROBES + DELETED_PROBES
    probes += NON_CREATOR_PROBES if caller != "admin@acme.com" else []
    differ = []
    for method, body, foreign, missing in probes:
        if (method, foreign, missing) in SHAPES_DIFFER:
            continue
        a = _calls(app, method, json.dumps({"credentials": creds, **fill(body, foreign)}).encode())
        b = _calls(app, method, json.dumps({"credentials": creds, **fill(body, missing)}).encode())
        if a != b:
            differ.append((method, body, foreign, missing, dict(a - b), dict(b - a)))
    assert not differ, "\n".join(map(str, differ))
