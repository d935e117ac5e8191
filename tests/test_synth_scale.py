"""``mailtally synth`` at provider scale (issue 9): the numbered platform, the log's
length per account-day, and history written straight as counts."""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner

from conftest import OPERATOR, OPERATOR_PASSWORD, add_operator, cheap_config, hasher_for, table_rows
from mailtally.cli import main
from mailtally.store import Store, open_store
from mailtally.synth import SynthError, synthesize
from test_ingest_e2e import check_against_truth, ingester_for

START = date(2026, 3, 2)


@pytest.fixture
def store(tmp_path) -> Store:
    s = open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    yield s
    s.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"companies": 2, "domains": 4}, "go together"),
        ({"companies": 3, "domains": 2, "accounts_per_domain": 5}, "domains: from companies"),
        ({"companies": 1, "domains": 2, "accounts_per_domain": 5, "users": 20}, "users: not with"),
        ({"companies": 1, "domains": 1, "accounts_per_domain": 7}, "8 to"),
        ({"companies": 1, "domains": 2, "accounts_per_domain": 0}, "at least 1"),
        ({"days": 1001}, "days: 1 to 1000"),
        ({"history_days": -1}, "history_days: 0 to 1000"),
        ({"users": 20, "lines_per_account_day": 0}, "lines_per_account_day: above 0"),
        ({"lines_per_account_day": 3.0}, "with users or accounts_per_domain"),
    ],
)
def test_bad_scale_options_are_refused(store, tmp_path, kwargs, message) -> None:
    with pytest.raises(SynthError, match=message):
        synthesize(store, tmp_path / "out", start=START, **kwargs)
    # refused before anything was created
    assert table_rows(store, "users", "domains", "companies") == {
        "users": [],
        "domains": [],
        "companies": [],
    }


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--days", "1001"], 2, "1<=x<=1000"),
        (["--lines-per-account-day", "0"], 2, "x>0"),
        (["--history-days", "1001"], 2, "0<=x<=1000"),
        (["--companies", "2"], 1, "go together"),
    ],
)
def test_cli_refuses_bad_scale_options(tmp_path, args, code, message) -> None:
    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    result = CliRunner().invoke(main, ["synth", "--db", db, "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == code, result.output
    assert message in result.output


def test_scale_platform_has_exactly_the_counts_asked(store, tmp_path) -> None:
    result = synthesize(
        store,
        tmp_path / "out",
        companies=3,
        domains=5,
        accounts_per_domain=4,
        days=2,
        lines_per_account_day=50,
        start=START,
    )
    platform = json.loads(result.platform.read_text())
    assert (result.companies, result.domains, result.users) == (3, 5, 20)
    assert len(platform["companies"]) == 3
    assert len(platform["domains"]) == 5
    assert len(platform["users"]) == 20
    per_domain: dict[str, int] = {}
    for u in platform["users"]:
        per_domain[u["domain"]] = per_domain.get(u["domain"], 0) + 1
    assert per_domain == {f"d{i}.example": 4 for i in range(1, 6)}
    # domains in turn among the companies: 2, 2, 1
    by_company: dict[str, int] = {}
    for d in platform["domains"]:
        by_company[d["company"]] = by_company.get(d["company"], 0) + 1
    assert sorted(by_company.values()) == [1, 2, 2]
    rows = table_rows(store, "companies", "domains", "users")
    assert (len(rows["companies"]), len(rows["domains"]), len(rows["users"])) == (3, 5, 20)
    # the log's length follows accounts x days x rate (within the generator's aim)
    truth = json.loads(result.truth.read_text())
    assert 0.7 * 20 * 2 * 50 < truth["lines"] < 1.5 * 20 * 2 * 50


def test_history_as_counts_equals_its_truth(store, tmp_path) -> None:
    """Ten days recorded as counts, then a day of log ingested: every summary equals the
    truth, history days included."""
    add_operator(store, hasher_for(cheap_config()), OPERATOR, OPERATOR_PASSWORD)
    result = synthesize(
        store,
        tmp_path / "out",
        companies=2,
        domains=3,
        accounts_per_domain=5,
        days=1,
        lines_per_account_day=150,
        history_days=10,
        start=START,
        seed=5,
    )
    assert result.history_events > 0
    truth = json.loads(result.truth.read_text())
    platform = json.loads(result.platform.read_text())
    history = [d for u in truth["users"].values() for d in u["days"] if d < "20260302"]
    assert len(set(history)) == 10  # every history day is in the truth
    paths = [str(tmp_path / "out" / f) for f in truth["files"]]
    ingester_for(store, truth).ingest(paths)
    check_against_truth(store, truth, platform)


def test_history_without_truth_records_the_same_counts(tmp_path) -> None:
    """``history_truth=False`` leaves the history out of truth.json, not out of the store."""
    stores = []
    for name, with_truth in (("a", True), ("b", False)):
        s = open_store(f"sqlite:///{tmp_path / name}.sqlite3")
        synthesize(
            s,
            tmp_path / name,
            companies=1,
            domains=2,
            accounts_per_domain=4,
            days=1,
            lines_per_account_day=20,
            history_days=3,
            history_truth=with_truth,
            start=START,
        )
        stores.append(table_rows(s, "flows")["flows"])
        s.close()
    assert stores[0] == stores[1] and stores[0]
    a, b = (json.loads((tmp_path / n / "truth.json").read_text()) for n in "ab")
    assert any(d < "20260302" for u in a["users"].values() for d in u["days"])
    assert not any(d < "20260302" for u in b["users"].values() for d in u["days"])
