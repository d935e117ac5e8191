"""Addresses resolved in bulk, read whole, or one by one give the same owners.

The resolver (record.Resolver) learns the tree three ways — the whole address
table at once (``preload``), a batch's unknown addresses in one statement per
few hundred (``learn``), one address at a time (``user``) — and, unless it read
the whole tree, remembers at most ``limit`` addresses.  Every way must say what
``Queries.account_of`` says of each address: its own account, an alias's
account (in another domain of the company), a deleted account, a purged one,
an address of our domain that names no account, and one outside the tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailtally.events import Login, MessageDenied, MessageIn
from mailtally.ingest.files import Ingester
from mailtally.periods import Periods
from mailtally.record import Resolver, record_events
from mailtally.store import Store, open_store
from mailtally.store.base import KIND_CODES
from mailtally.tree import (
    Ctx,
    Principal,
    do_change_company,
    do_change_domain,
    do_change_user,
    do_delete_domain,
    do_delete_user,
)
from test_ingest_files import T0, inbound, write

UTC = Periods("UTC")
OP = Principal(name="test", operator=True)

ADDRESSES = [
    "bob@example.com",
    "BOB@Example.com",  # the same account, spelled otherwise
    "alice@example.com",
    "al@other.com",  # alice's alias, in another domain of the company
    "carol@example.com",  # deleted
    "dave@gone.com",  # purged with its domain
    "nobody@example.com",  # our domain, no account
    "x@elsewhere.org",  # outside the tree
    *(f"user{i}@other.com" for i in range(40)),
]


def build(store: Store) -> None:
    with store.write() as q:
        ctx = Ctx(q, UTC, T0 - 86400, OP)
        q.set_meta("timezone", "UTC")
        do_change_company(ctx, "Acme", {}, False)
        for d in ("example.com", "other.com", "gone.com"):
            do_change_domain(ctx, d, "Acme", {}, False)
        for u in ("bob@example.com", "carol@example.com", "dave@gone.com"):
            do_change_user(ctx, u, {}, False, None)
        do_change_user(ctx, "alice@example.com", {"aliases": ["al@other.com"]}, False, None)
        for i in range(40):
            do_change_user(ctx, f"user{i}@other.com", {}, False, None)
        do_delete_user(ctx, "carol@example.com")
        do_delete_user(ctx, "dave@gone.com")
        do_delete_domain(ctx, "gone.com")


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = open_store(f"sqlite:///{tmp_path / 'tree.sqlite3'}")
    build(s)
    yield s
    s.close()


def truth(store: Store) -> dict[str, Any]:
    """What account_of says of each address: (owner, account's own address) or None."""
    with store.read() as q:
        rows = {a: q.account_of(a.lower()) for a in ADDRESSES}
    return {a: None if r is None else ((r[0], r[1], r[2]), r[3]) for a, r in rows.items()}


def answers(r: Resolver) -> dict[str, Any]:
    out = {}
    for a in ADDRESSES:
        owner = r.user(a)
        out[a] = None if owner is None else (owner, r.canonical(a))
    return out


def test_every_way_of_resolving_gives_account_of_answers(store: Store) -> None:
    expected = truth(store)
    # (the tree as built: an alias reaches its account in its own domain, the
    # deleted account is still an account, the purged one's address names none)
    assert expected["al@other.com"][1] == "alice@example.com"
    assert expected["al@other.com"][0] == expected["alice@example.com"][0]
    assert expected["BOB@Example.com"] == expected["bob@example.com"] is not None
    assert expected["nobody@example.com"] is None and expected["x@elsewhere.org"] is None
    with store.read() as q:
        one_by_one = Resolver(q)
        assert answers(one_by_one) == expected
        bulk = Resolver(q)
        bulk.learn(ADDRESSES)
        statements = _count_statements(q)
        assert answers(bulk) == expected
        assert statements() == 0  # everything was learnt in bulk: nothing asked again
        whole = Resolver(q)
        whole.preload(q.accounts())
        assert whole.complete
        statements = _count_statements(q)
        assert answers(whole) == expected
        assert statements() == 0


def _count_statements(q: Any) -> Any:
    """A function saying how many statements ``q``'s connection ran since."""
    seen = [0]
    q.conn.set_trace_callback(lambda _sql: seen.__setitem__(0, seen[0] + 1))
    return lambda: seen[0]


def test_a_batch_is_asked_in_few_statements(store: Store) -> None:
    with store.read() as q:
        q.ACCOUNTS_OF_CHUNK = 16  # type: ignore[misc]
        r = Resolver(q)
        statements = _count_statements(q)
        r.learn(ADDRESSES * 3)
        assert statements() == 3  # 47 distinct addresses, 16 a statement
        r.learn(ADDRESSES)
        assert statements() == 3  # all known now


@pytest.mark.parametrize("limit", [4, 10, 30])
def test_a_bounded_resolver_stays_bounded_and_answers_right(store: Store, limit: int) -> None:
    expected = truth(store)
    distinct = len({a.lower() for a in ADDRESSES})
    with store.read() as q:
        one_by_one = Resolver(q, limit=limit)
        for _ in range(2):
            for a in ADDRESSES:
                one_by_one.user(a)
                assert len(one_by_one) <= limit
            assert answers(one_by_one) == expected
        bulk = Resolver(q, limit=limit)
        for _ in range(3):
            assert answers(bulk) == expected
            bulk.learn(ADDRESSES[::-1])
            # a batch is kept whole, even one larger than the limit, until the next
            assert len(bulk) <= max(limit, distinct)
            statements = _count_statements(q)
            assert answers(bulk) == expected
            assert statements() == 0
        assert len(bulk._canonical) <= len(bulk)


def counts(path: Path, limit: int) -> tuple[list[Any], list[Any]]:
    """Record the same batches twice over with a resolver of ``limit`` addresses."""
    with open_store(f"sqlite:///{path}") as store:
        build(store)
        result = []
        with store.write() as q:
            r = Resolver(q, limit=limit)
        for rnd in range(2):
            batch = [
                ev
                for i, a in enumerate(ADDRESSES)
                for ev in (
                    MessageIn(T0 + 60 * i + rnd, a, 100 + i),
                    Login(T0 + 60 * i + rnd, a, "imap4"),
                    MessageDenied(T0 + i, a),
                )
            ]
            with store.write() as q:
                r.q = q
                res = record_events(q, UTC, batch, r)
            result.append((res.counted, res.ignored, sorted(res.ignored_addresses.items())))
        with store.read() as q:
            rows = sorted(q.conn.execute("SELECT * FROM flows").fetchall())
    return result, rows


def test_record_counts_the_same_after_forgetting(tmp_path: Path) -> None:
    small = counts(tmp_path / "small.sqlite3", 4)
    big = counts(tmp_path / "big.sqlite3", 10_000)
    assert small == big
    counted, ignored, outside = small[0][0]
    assert ("x@elsewhere.org", 3) in outside  # denied, message, login
    assert ("nobody@example.com", 2) in outside  # denied counts for the domain
    assert counted == 3 * len(ADDRESSES) - ignored


@pytest.mark.parametrize("preload", [250_000, 0], ids=["tree-read-whole", "asked-per-address"])
def test_an_address_added_between_two_batches_counts_from_then(
    store: Store, tmp_path: Path, ingest_mode: str, preload: int, monkeypatch: Any
) -> None:
    monkeypatch.setattr("mailtally.ingest.files.PRELOAD_ADDRESSES", preload)

    def received(address: str) -> int:
        with store.read() as q:
            row = q.conn.execute(
                "SELECT COALESCE(SUM(f.messages_in_size), 0) FROM flows f JOIN users u "
                "ON f.scope = 'u' AND f.scope_id = u.id AND f.kind = ? WHERE u.address = ?",
                (KIND_CODES["day"], address),
            ).fetchone()
        return int(row[0])

    ingester = Ingester(store, UTC, batch_lines=6)
    write(tmp_path / "a.log", inbound("ABCDEF1A01", T0, "new@example.com", 10))
    ingester.ingest([str(tmp_path / "a.log")])
    assert (ingester.report.events, ingester.report.outside_tree) == (0, 1)
    assert received("new@example.com") == 0
    with store.write() as q:
        do_change_user(Ctx(q, UTC, T0, OP), "new@example.com", {}, False, None)
    write(tmp_path / "b.log", inbound("ABCDEF1B02", T0 + 60, "new@example.com", 20))
    ingester.ingest([str(tmp_path / "b.log")])
    assert (ingester.report.events, ingester.report.outside_tree) == (1, 1)
    assert received("new@example.com") == 20
