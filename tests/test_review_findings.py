"""Review of session 13's changes (76f3959..88a5f9f): each finding as a test that
failed on 88a5f9f and passes since its fix (the same session)."""

from __future__ import annotations

import pytest

import test_join as tj
from conftest import failed, ok
from isolation import platform_file, snapshot  # noqa: F401
from mailtally.events import MessageDenied
from mailtally.ingest import LineParser, ParseResult
from mailtally.ingest.join import Joiner as PyJoiner
from mailtally.ingest.parsers import EximDelivery
from test_attack_chains import ADMIN, DADMIN, _carol, _made_for_carol

_fastlog = pytest.importorskip("mailtally.ingest._fastlog")


# -- the compiled joiner against the reference --------------------------------------------
@pytest.mark.parametrize("kind", [">>"])
def test_an_exim_autoreply_of_any_kind_is_judged_alike(kind: str) -> None:
    r = ParseResult(
        "ok",
        "test",
        0,
        (
            EximDelivery(
                "A1", kind, ">sender@x.org", "bob@x.org", "userforward", "address_reply", ""
            ),
        ),
    )
    c, p = _fastlog.Joiner(), PyJoiner()
    assert list(c.feed(r)) + list(c.flush()) == list(p.feed(r)) + list(p.flush())


# -- the recipients a message holds, after a sieve reject ----------------------------------
def _reject(msgid: str, user: str = "bob@example.com") -> str:
    return tj.dc(
        1,
        f"lmtp({user})<4242><Yn2LBZPxGFgFBgAA3AX0Sg>: sieve: msgid=<{msgid}>: "
        "rejected message from <sender@example.org> (reject)",
    )


def test_a_reject_of_a_delivery_bounced_already_keeps_the_recipient_count() -> None:
    q = "4F2A1B2C6A"
    lines = [
        *tj.inbound(q, msgid="r9@example.org", nrcpt=2),
        tj.lmtp(1, q, "bob@example.com", status="bounced"),
        tj.lmtp(1, q, "bob@example.com", orig="alias@example.com"),
        _reject("r9@example.org"),
        tj.removed(2, q),
    ]
    parser, j = LineParser(reference=tj.REF), PyJoiner()
    events = []
    for line in lines:
        events += j.feed(parser.parse(line))
        assert j._rcpts == sum(m.held() for m in j._msgs.values())
    assert events == [MessageDenied(tj.T0 + 1, "bob@example.com")]


# -- a token made for an account that is given more rights afterwards --------------------------
def test_a_token_made_for_a_user_does_not_grow_with_the_users_roles(platform, call):
    by_dadmin = _made_for_carol(call, DADMIN)
    failed(call("get_user", credentials=DADMIN, user="bob@acme.com"), 2)  # beyond dadmin
    by_admin = _made_for_carol(call, ADMIN)
    ok(call("set_role", credentials=ADMIN, user="carol@acme.net", role="company", object="Acme"))
    # a role granted drops the tokens admins made for the account (its makers' rights
    # covered it as it was): dadmin reads nothing more through it, nor carol
    answer = call("get_user", credentials=by_dadmin, user="bob@acme.com")
    assert answer["success"] is False, "dadmin reads acme.com through the token it made"
    failed(_carol(call, by_dadmin), 1)
    failed(_carol(call, by_admin), 1)  # (the company admin's too: on the safe side)


def test_a_read_only_role_on_a_deleted_domain_leaves_a_company_admins_tokens(platform, call):
    ok(call("set_role", user="admin@acme.com", role="mail", object="spare.com"))
    by_admin = _made_for_carol(call, ADMIN)
    ok(call("delete_domain", credentials=ADMIN, domain="spare.com"))
    ok(_carol(call, by_admin))
