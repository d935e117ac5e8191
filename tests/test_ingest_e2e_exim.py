"""End to end on the Exim platform: ``mailtally synth --mta exim`` → ingest → summaries.

The same truth test as tests/test_ingest_e2e.py (its helpers), on a log of Exim
(through syslog), SpamAssassin's spamd and Dovecot, in both ingest modes: every
user, domain and company, by day, week and month, equals the generator's truth.
"""

from __future__ import annotations

import gzip
import json
from datetime import date

import pytest
from click.testing import CliRunner

from conftest import (
    INGEST_MODES,
    OPERATOR,
    OPERATOR_PASSWORD,
    add_operator,
    cheap_config,
    hasher_for,
    table_rows,
    use_ingest_mode,
)
from mailtally.cli import main
from mailtally.ingest.files import Ingester
from mailtally.periods import Periods
from mailtally.store import open_store
from mailtally.synth.truth import METRICS
from test_ingest_e2e import STATE_TABLES, _add, check_against_truth, synth_and_ingest

#: (seed, lines, days, first day): the second crosses a new year, as in test_ingest_e2e
RUNS = [(11, 5000, 4, date(2026, 3, 2)), (29, 3000, 3, date(2025, 12, 30))]


@pytest.fixture(
    scope="module",
    params=[(r, mode) for r in RUNS for mode in INGEST_MODES],
    ids=lambda p: f"seed{p[0][0]}-{p[1]}",
)
def run(request, tmp_path_factory):
    """A synthesized Exim platform and log, ingested once (compiled or Python)."""
    (seed, lines, days, start), mode = request.param
    base = tmp_path_factory.mktemp(f"exim{seed}")
    store = open_store(f"sqlite:///{base / 'store.sqlite3'}")
    add_operator(store, hasher_for(cheap_config()), OPERATOR, OPERATOR_PASSWORD)
    with pytest.MonkeyPatch.context() as mp:
        use_ingest_mode(mp, mode)
        truth, platform, paths, report = synth_and_ingest(
            store, base / "logs", seed, lines, days, start, mta="exim"
        )
    yield store, truth, platform, paths, report
    store.close()


def test_the_exim_log_has_every_kind_of_line(run) -> None:
    """Every metric happens, and the lines are Exim's, spamd's and Dovecot's."""
    _store, truth, platform, paths, report = run
    totals: dict[str, int] = {}
    for c in truth["companies"].values():
        for metrics in c["days"].values():
            _add(totals, metrics)
    assert all(totals.get(m, 0) > 0 for m in METRICS), totals
    assert {u["type"] for u in platform["users"]} == {"mailbox", "forward", "filter"}
    assert report.lines == truth["lines"]
    assert truth["denied_not_in_log"]  # rejections after DATA happened, and count for nobody
    text = "".join(
        (gzip.open if p.endswith(".gz") else open)(p, "rt", errors="replace").read()
        for p in paths
        if "mail.log" in p
    )
    for marker in (" <= ", " => ", " -> ", " ** ", " == ", " Completed", "rejected RCPT",
                   "temporarily rejected RCPT", "rejected after DATA", "A=dovecot_plain:",
                   "A=dovecot_login:", "spamd: result: Y", "spamd: result: .",
                   "R=virtual_user_spam", " for ", "R=dovecot_user"):  # fmt: skip
        assert marker in text, marker


def test_summaries_equal_the_truth(run) -> None:
    store, truth, platform, _paths, _report = run
    check_against_truth(store, truth, platform)


def test_only_the_noise_is_not_understood(run) -> None:
    _store, truth, _platform, _paths, report = run
    assert {p: c for p, (c, _sample) in report.unknown.items()} == truth["unknown_lines"]
    assert report.skipped_messages == 0
    assert report.events > 0


def test_ingesting_again_changes_nothing(run) -> None:
    store, truth, platform, paths, _report = run
    before = table_rows(store, *STATE_TABLES)
    report = Ingester(store, Periods("UTC"), truth["webmail_hosts"]).ingest(paths)
    assert report.events == 0 and report.lines == 0
    assert table_rows(store, *STATE_TABLES) == before
    check_against_truth(store, truth, platform)


def test_through_the_commands(tmp_path, monkeypatch) -> None:
    """``mailtally synth --mta exim`` and ``mailtally ingest``, across a new year."""
    for var in ("MAILTALLY_CONFIG", "MAILTALLY_DB", "MAILTALLY_TIMEZONE"):
        monkeypatch.delenv(var, raising=False)
    seed, lines, days, start = RUNS[1]
    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    out = tmp_path / "logs"
    runner = CliRunner()
    res = runner.invoke(
        main,
        ["synth", "--mta", "exim", "--out", str(out), "--lines", str(lines), "--days",
         str(days), "--seed", str(seed), "--start", start.isoformat(), "--db", db],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    truth = json.loads((out / "truth.json").read_text())
    platform = json.loads((out / "platform.json").read_text())
    res = runner.invoke(
        main, ["ingest", "--db", db, "--quiet", *[str(out / f) for f in truth["files"]]]
    )
    assert res.exit_code == 0, res.output
    store = open_store(db)
    try:
        add_operator(store, hasher_for(cheap_config()), OPERATOR, OPERATOR_PASSWORD)
        check_against_truth(store, truth, platform)
    finally:
        store.close()
