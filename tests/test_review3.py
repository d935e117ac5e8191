"""Session 15's review (`h-review3`): holes found in that session's fixes."""

from __future__ import annotations

import pytest

from conftest import as_user, failed, ok
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
