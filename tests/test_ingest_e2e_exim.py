"""End to end on the Exim platform: ``mailtally synth --mta exim`` → ingest → summaries.

The truth tests of tests/test_ingest_e2e.py (imported: they run here on this
module's ``run``), on a log of Exim (through syslog), SpamAssassin's spamd and
Dovecot, in both ingest modes: every user, domain and company, by day, week and
month, equals the generator's truth.  (``mailtally synth --mta exim`` through the
commands: test_ingest_e2e.py's test_through_the_commands.)
"""

from __future__ import annotations

import gzip
from datetime import date

import pytest

from conftest import INGEST_MODES
from test_ingest_e2e import (  # noqa: F401 - the tests run here too, on this module's run
    assert_worth_comparing,
    synthesized_run,
    test_ingesting_again_changes_nothing,
    test_only_the_noise_is_not_understood,
    test_summaries_equal_the_truth,
)

#: (seed, lines, days, first day, hosts): the second crosses a new year, the third is
#: one log of three Exim hosts, interleaved, as in test_ingest_e2e
RUNS = [
    (11, 5000, 4, date(2026, 3, 2), 1),
    (29, 3000, 3, date(2025, 12, 30), 1),
    (13, 6000, 3, date(2026, 3, 2), 3),
]


@pytest.fixture(
    scope="module",
    params=[(r, mode) for r in RUNS for mode in INGEST_MODES],
    ids=lambda p: f"seed{p[0][0]}-{p[1]}",
)
def run(request, tmp_path_factory):
    """A synthesized Exim platform and log, ingested once (compiled or Python)."""
    yield from synthesized_run(request.param, tmp_path_factory, "exim")


def test_the_exim_log_has_every_kind_of_line(run) -> None:
    """Every metric happens, and the log has each form of Exim's and spamd's lines."""
    _store, truth, platform, paths, report = run
    assert_worth_comparing(truth, platform, report, RUNS)
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
