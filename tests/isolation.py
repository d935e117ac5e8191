"""What the tenant-isolation tests share (SPEC §2, isolation rules 1–5).

The platform of ``conftest`` (Acme: acme.com, acme.net; Other: other.com; a
user for every role) with a few more objects that the isolation rules need:

* ``spare.com`` — an empty domain of Acme (one that may be deleted);
* ``twohats@acme.net`` — a user of acme.net who holds ``domain`` over
  acme.com: an account that holds a role acme.net's own admins lack;
* ``acme.io`` — a *company* spelled like a domain, with its admin
  ``boss@io.example`` (domain ``io.example``), for collisions between kinds.

A test module uses it by importing :func:`platform_file` (which replaces
conftest's for that module) and asking for the ``platform`` fixture as usual.

The *oracle* here — who is who, and what the permission table says each may
do — is built from these lists and the store's ids, not from
:func:`mailtally.tree.load_principal`, so that it checks the code that
resolves roles rather than repeating it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from conftest import (
    NOW,
    OPERATOR,
    OPERATOR_CREDS,
    OPERATOR_PASSWORD,
    PEOPLE,
    PW,
    add_operator,
    as_user,
    build_platform,
    cheap_config,
    hasher_for,
    make_call,
    ok,
    table_rows,
)
from mailtally.access import ROLE_KIND, Grant, Obj
from mailtally.api import create_app
from mailtally.history import decode_state
from mailtally.periods import FixedClock
from mailtally.store import Store, open_store

#: (address, role, object) added to conftest's PEOPLE
EXTRA_PEOPLE: tuple[tuple[str, str, str], ...] = (
    ("twohats@acme.net", "domain", "acme.com"),
    ("boss@io.example", "company", "acme.io"),
    ("worker@io.example", "", ""),
)
ALL_PEOPLE = PEOPLE + EXTRA_PEOPLE

#: the callers of the matrix: every role of SPEC §2, the operator, a plain user
CALLERS: dict[str, str] = {
    "operator": OPERATOR,
    "company": "admin@acme.com",
    "company_ro": "ro@acme.com",
    "company_view": "view@acme.com",
    "company_mail": "mailer@acme.com",
    "company_token_only": "tokenonly@acme.com",
    "domain": "dadmin@acme.net",
    "mail": "dmail@acme.net",
    "workgroup": "lead@acme.com",
    "none": "bob@acme.com",
}

#: every table the tree, the counts and the credentials live in: a refusal
#: leaves every one of them as it was
TABLES = (
    "companies",
    "domains",
    "users",
    "user_versions",
    "addresses",
    "roles",
    "tokens",
    "audit_log",
    "event_batches",
    "flows",
    "gauges",
    "storage_reports",
    "workgroups",
)


def build_extras(call: Callable[..., dict[str, Any]]) -> None:
    ok(call("change_domain", domain="spare.com", company="Acme"))
    ok(call("change_company", company="acme.io"))
    ok(call("change_domain", domain="io.example", company="acme.io"))
    for address, role, obj in EXTRA_PEOPLE:
        ok(call("change_user", user=address, attributes={"password": PW}))
        if role:
            ok(call("set_role", user=address, role=role, object=obj))


@pytest.fixture(scope="session")
def platform_file(tmp_path_factory) -> Path:
    """conftest's platform and the extras above, built once through the API."""
    path = tmp_path_factory.mktemp("isolation") / "platform.sqlite3"
    store = open_store(f"sqlite:///{path}")
    config = cheap_config()
    add_operator(store, hasher_for(config), OPERATOR, OPERATOR_PASSWORD)
    with TestClient(create_app(store, config, FixedClock(NOW))) as client:
        call = make_call(client, OPERATOR_CREDS)
        build_platform(call, NOW)
        build_extras(call)
    store.close()
    return path


def creds_of(role: str) -> dict[str, str]:
    return dict(OPERATOR_CREDS) if role == "operator" else as_user(CALLERS[role])


# -- the oracle -----------------------------------------------------------------------
class Subject:
    """A caller as the permission table sees it, built from the lists above."""

    def __init__(
        self,
        operator: bool,
        user_id: int | None,
        domain_id: int | None,
        grants: tuple[Grant, ...],
    ) -> None:
        self.operator = operator
        self.user_id = user_id
        self.domain_id = domain_id
        self.grants = grants


def obj_of(store: Store, kind: str, name: str) -> Obj | None:
    """The object ``name`` names, from the store's rows (None: missing)."""
    with store.read() as q:
        if kind == "company":
            c = q.company_by_name(name)
            return None if c is None else Obj("company", c[0])
        if kind == "domain":
            d = q.domain_by_name(name)
            return None if d is None else Obj("domain", d[1], domain_id=d[0])
        row = q.user_by_address(name)
        if row is None or row[7] is None:
            return None
        state = decode_state(row[6])
        return Obj("user", row[1], domain_id=row[2], workgroup=state.workgroup, user_id=row[0])


def grant(store: Store, role: str, obj: str) -> Grant:
    kind = ROLE_KIND[role]
    if kind == "workgroup":
        dname, _, wg = obj.partition("/")
        d = obj_of(store, "domain", dname)
        assert d is not None
        return Grant(role, Obj("workgroup", d.company_id, domain_id=d.domain_id, workgroup=wg))
    o = obj_of(store, kind, obj)
    assert o is not None, obj
    return Grant(role, o)


def held(store: Store, address: str) -> tuple[Grant, ...]:
    """The roles ``address`` holds, per the lists above."""
    return tuple(grant(store, r, o) for a, r, o in ALL_PEOPLE if a == address and r)


def subject(store: Store, role: str) -> Subject:
    if role == "operator":
        return Subject(True, None, None, ())
    address = CALLERS[role]
    me = obj_of(store, "user", address)
    assert me is not None
    return Subject(False, me.user_id, me.domain_id, held(store, address))


def snapshot(store: Store) -> dict[str, list[Any]]:
    return table_rows(store, *TABLES)


def fill(value: Any, name: str) -> Any:
    """A request template with every ``{}`` in its strings replaced by ``name``."""
    if isinstance(value, str):
        return value.replace("{}", name)
    if isinstance(value, list):
        return [fill(v, name) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, name) for k, v in value.items()}
    return value
