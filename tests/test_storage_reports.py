"""Quota reports in a batch give the gauges that one-by-one history changes give.

``history.add_storage_reports`` appends a report newer than everything in its
account's history without evaluating that history again; any other report
goes through ``UserChange``.  Each scenario is played twice, into two stores
built alike: once through ``add_storage_reports``, once report by report
through ``UserChange`` (the general path), and every gauge row must agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import DAY, table_rows
from mailtally.history import UserChange, add_storage_reports
from mailtally.periods import Periods
from mailtally.store import Store, open_store
from mailtally.tree import Ctx, Principal, do_change_user, do_delete_user
from test_ingest_files import T0, build_tree

UTC = Periods("UTC")
BOB, ALICE, CAROL = "bob@example.com", "alice@example.com", "carol@example.com"

# Steps: ("report", days after T0, user, items, KiB) or ("delete" / "quota", days, user).
SCENARIOS: dict[str, list[tuple[Any, ...]]] = {
    "in order": [("report", 1, BOB, 5, 50), ("report", 2, BOB, 7, 90)],
    "several accounts in one batch": [
        ("report", 1, BOB, 5, 50),
        ("report", 1, ALICE, 3, 10),
        ("report", 2, CAROL, 9, 99),
        ("report", 3, ALICE, 1, 5),
    ],
    "the same moment twice": [("report", 1, BOB, 5, 50), ("report", 1, BOB, 8, 80)],
    "unchanged": [("report", 1, BOB, 5, 50), ("report", 2, BOB, 5, 50)],
    "before a later report": [("report", 3, BOB, 5, 50), ("report", 2, BOB, 9, 90)],
    "before the account existed": [("report", -60, BOB, 4, 40), ("report", 1, BOB, 5, 50)],
    "of a deleted account": [
        ("report", 1, BOB, 5, 50),
        ("delete", 2, BOB),
        ("report", 3, BOB, 6, 60),
    ],
    "before a later version": [
        ("report", 1, CAROL, 5, 50),
        ("quota", 4, CAROL),
        ("report", 2, CAROL, 6, 60),
        ("report", 5, CAROL, 7, 70),
    ],
}


def build(path: Path) -> Store:
    store = open_store(f"sqlite:///{path}")
    build_tree(store)
    return store


def user_id(store: Store, address: str) -> tuple[int, int]:
    with store.read() as q:
        row = q.resolve_address(address)
    assert row is not None
    return int(row[0]), int(row[2])


def play(store: Store, steps: list[tuple[Any, ...]], batched: bool) -> None:
    op = Principal(name="test", operator=True)
    batch: list[tuple[int, int, int, int, int]] = []

    def flush() -> None:
        with store.write() as q:
            if batched:
                add_storage_reports(q, UTC, batch)
            else:
                for company_id, uid, t, items, nbytes in batch:
                    with UserChange(q, UTC, uid, since=t):
                        q.put_storage_report(company_id, uid, t, items, nbytes)
        batch.clear()

    for step in steps:
        t = T0 + step[1] * DAY
        if step[0] == "report":
            uid, company_id = user_id(store, step[2])
            batch.append((company_id, uid, t, step[3], step[4] * 1024))
            continue
        flush()
        with store.write() as q:
            ctx = Ctx(q, UTC, t, op)
            if step[0] == "delete":
                do_delete_user(ctx, step[2])
            else:
                do_change_user(ctx, step[2], {"quota": 12345}, False, None)
    flush()


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_batch_of_reports_gives_the_gauges_of_one_by_one_changes(tmp_path, name) -> None:
    with build(tmp_path / "batched.sqlite3") as batched, build(tmp_path / "one.sqlite3") as one:
        play(batched, SCENARIOS[name], batched=True)
        play(one, SCENARIOS[name], batched=False)
        rows = sorted_rows(batched)
        assert rows["storage_reports"], "no report was stored"
        assert rows == sorted_rows(one)


def sorted_rows(store: Store) -> dict[str, list[Any]]:
    # the same sums, written in another order: rows are compared as sets
    return {k: sorted(v) for k, v in table_rows(store, "gauges", "storage_reports").items()}
