"""Session 15's review (`h-review3`): holes found in that session's fixes."""

from __future__ import annotations

import pytest

from conftest import OPERATOR_CREDS, as_user, failed, ok
from test_attack_chains2 import ADMIN, DADMIN, _carol, _made
from test_tokens import token_of


@pytest.mark.parametrize("kind", ["oma", "sso", "session", "session from oma"])
def test_a_password_set_through_a_token_an_admin_made_is_that_admins(platform, call, kind):
    """dadmin makes a token for carol and, as carol, sets her password (a
    change of one's own password is allowed).  The password is dadmin's
    choice as much as one it set directly: when the company admin later
    makes carol a company admin, it must end, or dadmin logs in as one.
    Found in the review: recorded as carol's own (no setter), it stayed."""
    if kind == "session from oma":
        made = _made(call, DADMIN, "carol@acme.net", "oma")
        answer = call(
            "authenticate",
            credentials=token_of("carol@acme.net", made),
            generate_session_token=True,
        )
        creds = token_of("carol@acme.net", ok(answer)["session_token"])
    else:
        creds = token_of("carol@acme.net", _made(call, DADMIN, "carol@acme.net", kind))
    ok(call("change_user", credentials=creds, user="carol@acme.net",
            attributes={"password": "dadmin-through-a-token-1"}))  # fmt: skip
    known = as_user("carol@acme.net", "dadmin-through-a-token-1")
    ok(_carol(call, known))
    ok(call("set_role", credentials=ADMIN, user="carol@acme.net", role="company", object="Acme"))
    failed(call("get_user", credentials=known, user="bob@acme.com"), 1)


def test_a_cached_token_of_an_admin_still_names_its_maker(platform, call):
    """The same with dadmin's ``oma`` token used once before (now in the
    API's token cache): the setter is known on a cache hit too."""
    creds = token_of("carol@acme.net", _made(call, DADMIN, "carol@acme.net", "oma"))
    ok(_carol(call, creds))
    ok(_carol(call, creds))
    ok(call("change_user", credentials=creds, user="carol@acme.net",
            attributes={"password": "dadmin-through-a-token-2"}))  # fmt: skip
    known = as_user("carol@acme.net", "dadmin-through-a-token-2")
    ok(call("set_role", credentials=ADMIN, user="carol@acme.net", role="company", object="Acme"))
    failed(call("get_user", credentials=known, user="bob@acme.com"), 1)


def test_a_password_a_domain_admin_set_ends_when_the_account_is_renamed_beyond_it(platform, call):
    """dadmin set carol's password; the company admin renames carol into
    acme.com, a domain dadmin does not manage (it may no longer change her:
    rule 1).  The password dadmin chose must end with the move, as with an
    alias or a grant beyond it, or dadmin logs in as carol@acme.com and sets
    her forwarding.  Found in the review: it stayed."""
    ok(call("change_user", credentials=DADMIN, user="carol@acme.net",
            attributes={"password": "dadmin-knows-this-1"}))  # fmt: skip
    ok(call("rename_user", credentials=ADMIN, user="carol@acme.net", new_name="carol@acme.com"))
    forward = {"forward_recipients": ["d@evil.example"], "delivery_forward": True}
    failed(call("change_user", credentials=DADMIN, user="carol@acme.com", attributes=forward), 2)
    known = as_user("carol@acme.com", "dadmin-knows-this-1")
    failed(call("change_user", credentials=known, user="carol@acme.com", attributes=forward), 1)
    change = ok(call("get_user_changes", credentials=ADMIN, user="carol@acme.com"))["changes"][0]
    assert change["method"] == "rename_user" and change["changes"]["password"] == "(ended)", change
    # a rename inside the setter's rights leaves it
    ok(call("change_user", credentials=DADMIN, user="dave@acme.net", create_only=True,
            attributes={"password": "dadmin-made-dave-1"}))  # fmt: skip
    ok(call("rename_user", credentials=ADMIN, user="dave@acme.net", new_name="dave2@acme.net"))
    ok(call("get_user", credentials=as_user("dave2@acme.net", "dadmin-made-dave-1"),
            user="dave2@acme.net"))  # fmt: skip


def test_a_password_a_domain_admin_set_ends_when_the_account_is_restored_beyond_it(platform, call):
    """The same through restore_user with a new name in acme.com."""
    ok(call("change_user", credentials=DADMIN, user="carol@acme.net",
            attributes={"password": "dadmin-knows-this-1"}))  # fmt: skip
    ok(call("delete_user", credentials=ADMIN, user="carol@acme.net"))
    ok(call("restore_user", credentials=ADMIN, user="carol@acme.net", new_name="carol@acme.com"))
    known = as_user("carol@acme.com", "dadmin-knows-this-1")
    failed(call("get_user", credentials=known, user="carol@acme.com"), 1)
    change = ok(call("get_user_changes", credentials=ADMIN, user="carol@acme.com"))["changes"][0]
    assert change["method"] == "restore_user" and change["changes"]["password"] == "(ended)"


@pytest.mark.parametrize("target", ["carol@acme.net", "dadmin@acme.net"])
def test_a_token_made_through_a_token_an_admin_made_names_that_admin(
    platform, call, operator, target
):
    """The company admin makes a token for dadmin (a domain admin) and, through
    it, has dadmin make a token for carol, or for dadmin itself.  The company
    admin is then demoted: every token it made goes (session 13), and so must
    those made through them, which it holds as well.  Found in the review: they
    named dadmin as their maker and stayed."""
    via = token_of("dadmin@acme.net", _made(call, ADMIN, "dadmin@acme.net"))
    made = token_of(target, _made(call, via, target))
    ok(call("get_user", credentials=made, user=target))
    ok(call("set_role", credentials=OPERATOR_CREDS, user="admin@acme.com", role="", object=""))
    failed(call("get_user", credentials=via, user="dadmin@acme.net"), 1)
    failed(call("get_user", credentials=made, user=target), 1)
