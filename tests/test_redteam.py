"""Red-team findings (issue 7's review): each test is an attack that worked
against the merged isolation work, kept so that it never works again."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

import msgspec

from conftest import as_user, creds, failed, ok
from mailtally.api.app import _light
from mailtally.api.common import Name, Request
from test_floods import answer, config, post  # noqa: F401

# -- rule 4: a body's JSON must not be built into objects before its credentials are checked


def _peak_while(app, method: str, body: dict, pad_field: tuple[str, ...], items: int) -> int:
    """Peak bytes traced while ``app`` answers ``body`` with ``items`` empty JSON
    arrays put at ``pad_field`` (3 bytes of JSON, ~64 bytes each once decoded)."""
    import json

    marker = "__PAD__"
    node = body
    for key in pad_field[:-1]:
        node = node[key]
    node[pad_field[-1]] = marker
    data = json.dumps(body).replace(f'"{marker}"', "[" + ",".join(["[]"] * items) + "]")
    result, peak = _traced_post(app, method, json.loads(data))
    failed(answer(result), 1)
    return peak


def _traced_post(app, method: str, raw: dict) -> tuple[tuple[int, bytes], int]:
    """``app``'s answer to ``raw``, and the peak bytes traced while it answered."""

    async def run() -> tuple[int, bytes]:
        return await post(app, method, raw)

    gc.collect()
    tracemalloc.start()
    try:
        result = asyncio.run(run())
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_body_is_not_decoded_into_objects_before_its_credentials_hold(platform, app, service):
    """An unauthenticated 1 MiB change_user (or a 4 MiB ingest_events) of empty
    arrays decoded to ~22 (~90) MiB of Python objects before the password was
    checked: a 32 MiB batch took the server up by 740 MiB with no credentials
    at all (rule 4)."""
    try:
        bad = creds("alice@acme.com", "wrong-password")
        n = 1024 * 1024 // 4 - 100  # ("[], " as json.dumps spaces them)
        body = {"credentials": bad, "user": "bob@acme.com", "attributes": {"x": None}}
        peak = _peak_while(app, "change_user", body, ("attributes", "x"), n)
        assert peak < 8 * 1024 * 1024, peak  # the body itself (2 MiB in the test's hands)
        body = {"credentials": creds("alice@acme.com", token="x" * 20), "batch_id": "b"}
        peak = _peak_while(app, "ingest_events", body, ("events",), 4 * n)
        assert peak < 24 * 1024 * 1024, peak
    finally:
        service.auth.checks.close()


def test_free_form_fields_are_still_checked_once_the_caller_is_known(platform, call):
    admin = as_user("admin@acme.com")
    bad = failed(call("change_user", credentials=admin, user="bob@acme.com", attributes=[]), 5)
    assert "attributes" in bad["hints"]
    failed(call("ingest_events", credentials=admin, batch_id="b", events={}), 5)
    failed(call("change_user", credentials=admin, user="bob@acme.com", attributes={}, bye=1), 5)
    # unknown fields are still error 5 before the credentials are checked
    wrong = as_user("admin@acme.com", "wrong")
    failed(call("change_user", credentials=wrong, user="bob@acme.com", attributes={}, bye=1), 5)
    ok(call("change_user", credentials=admin, user="bob@acme.com", attributes={"name": "Bob"}))


# -- a password reset by another process (mailtally operator add) ---------------------


def test_an_operator_password_reset_from_the_command_line_ends_the_old_one(
    platform, call, service, fresh_store, hasher
):
    """`mailtally operator add root` resets root's password in the store; the
    running server kept the old (name, password) and token verified in memory,
    so the old password (a leaked one, the reason for the reset) went on
    working until a restart."""
    from conftest import NOW, OPERATOR_CREDS

    token = ok(call("authenticate", generate_session_token=True))["session_token"]
    ok(call("get_company", company="Acme"))
    ok(call("get_company", credentials=creds("root", token=token), company="Acme"))
    with fresh_store.write() as q:  # what the command does
        q.add_operator("root", hasher.hash("new-secret"), NOW)
        q.drop_tokens_of("root")
    service.poll_store_generation()  # (twice a second in a running server)
    failed(call("get_company", credentials=OPERATOR_CREDS, company="Acme"), 1)
    failed(call("get_company", credentials=creds("root", token=token), company="Acme"), 1)
    ok(call("get_company", credentials=creds("root", "new-secret"), company="Acme"))


# -- rule 3: a caller-chosen token told whether anyone held that token ----------------


def test_a_chosen_token_tells_nothing_of_other_accounts_tokens(platform, call):
    """authenticate with ``token`` answered "that token is already in use" when
    any account (any tenant's) held it, and issued it otherwise: an oracle,
    free and unlimited (no failed token is counted), for the tokens clients
    choose themselves.  Tokens are now the owner's: another account choosing
    the same string gets its own token, which names only itself."""
    chosen = "alice-chose-this-weak-token"
    alice, zed = as_user("alice@acme.com"), as_user("zed@other.com")
    ok(call("authenticate", credentials=alice, generate_session_token=True, token=chosen))
    taken = call("authenticate", credentials=zed, generate_session_token=True, token=chosen)
    free = call(
        "authenticate", credentials=zed, generate_session_token=True, token="x" * len(chosen)
    )
    assert taken == {**free, "session_token": chosen}
    # each token stands for its own account only
    alice_token = creds("alice@acme.com", token=chosen)
    zed_token = creds("zed@other.com", token=chosen)
    me = ok(call("authenticate", credentials=alice_token, fetch_extra_info=True))
    assert me["extra_info"]["company"] == "Acme"
    me = ok(call("authenticate", credentials=zed_token, fetch_extra_info=True))
    assert me["extra_info"]["company"] == "Other"
    # and one account's password change ends its own token, not the other's
    ok(call("change_user", user="zed@other.com", attributes={"password": "changed-pw"}))
    failed(call("authenticate", credentials=zed_token), 1)
    ok(call("authenticate", credentials=alice_token))


def test_a_caller_that_may_not_ingest_does_not_get_a_batch_decoded(platform, app, service):
    """Any authenticated user (a plain webmail user of any tenant) could send a
    32 MiB ingest_events batch of empty arrays: decoded whole (740 MiB) before
    the method said that only operators and company admins ingest."""
    try:
        body = {"credentials": as_user("bob@acme.com"), "batch_id": "b"}
        import json

        data = json.dumps(body)[:-1] + ', "events": [' + ",".join(["[]"] * 1_000_000) + "]}"

        raw = json.loads(data)
        _traced_post(app, "ingest_events", raw)  # (the credential is checked and cached once)
        result, peak = _traced_post(app, "ingest_events", raw)
        failed(answer(result), 4)
        assert peak < 24 * 1024 * 1024, peak
    finally:
        service.auth.checks.close()


# -- rule 5: what is written to the audit log is text -------------------------------


def test_the_client_string_recorded_in_the_audit_log_holds_no_control_characters(
    platform, call, fresh_store
):
    """``credentials.client`` (any caller's choice, up to 128 characters) was
    written to the audit log as sent: newlines and terminal escapes forged
    lines of the log, or coloured an operator's terminal when it was read."""
    from conftest import OPERATOR_CREDS, table_rows

    before = table_rows(fresh_store, "audit_log")
    for forged in ("ok\n2026-01-14 root change_company Acme", "\x1b[2J\x1b[31mroot", "a\x00b"):
        creds_ = {**OPERATOR_CREDS, "client": forged}
        bad = failed(call("change_company", credentials=creds_, company="Acme"), 5)
        assert "credentials.client" in bad["hints"]
    assert table_rows(fresh_store, "audit_log") == before
    fine = {**OPERATOR_CREDS, "client": "php ocolin/OpenSrsMail 1.2"}
    ok(call("change_company", credentials=fine, company="Acme"))


class _Criteria(msgspec.Struct, kw_only=True):
    domain: Name | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class _Future(Request, kw_only=True):
    """A method added later (issue 10's searches look like it)."""

    user: Name
    objects: list[Name] = msgspec.field(default_factory=list)
    criteria: _Criteria | None = None
    first: int = 0


def test_every_field_that_may_decode_large_is_read_unread_first():
    """The rule holds for methods added later: a list of names, a struct of
    criteria with a free-form part, are views until the caller is known."""
    light = _light(_Future)
    assert light is not None
    kinds = {f.name: f.type for f in msgspec.structs.fields(light)}
    assert kinds["objects"] is msgspec.Raw and kinds["criteria"] is msgspec.Raw
    assert kinds["user"] is not msgspec.Raw and kinds["first"] is int


def test_a_refused_body_is_not_decoded_whole_to_word_its_answer(platform, app, service):
    """A body the method's schema refuses was decoded again, whole, into Python
    objects, only to tell a JSON object from anything else: a 32 MiB batch of
    empty arrays with one wrong field after it took 740 MiB, without
    credentials."""
    import json

    try:
        items = ",".join(["[]"] * 1_000_000)
        for tail in ('"credentials": 5', '"credentials": {"user": "a@b.cd"}, "bye": 1'):
            data = '{"batch_id": "b", "events": [' + items + "], " + tail + "}"
            result, peak = _traced_post(app, "ingest_events", json.loads(data))
            failed(answer(result), 5)
            assert peak < 24 * 1024 * 1024, (tail, peak)
    finally:
        service.auth.checks.close()
