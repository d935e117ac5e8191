"""Check a downloaded snapshot CSV against stats_summary (bench/snapshot.sh):
``python bench/snapshot_check.py DB COMPANY PERIOD FILE``.  Reads the file a
row at a time and prints whether every column adds up to the company's
summary for the period (the tests check this on the demo platform; this checks
it at 100,000 accounts)."""

from __future__ import annotations

import csv
import sys

from mailtally.metrics import COMPANY_FLOWS, GAUGES
from mailtally.periods import Clock, Periods
from mailtally.snapshot import BOM, parse_date
from mailtally.store import open_store
from mailtally.summary import company_summary
from mailtally.tree import find_target


def main() -> int:
    db, company, date, path = sys.argv[1:5]
    store = open_store(db)
    periods = Periods("UTC")
    period = parse_date(periods, date)
    with store.read() as q:
        t = find_target(q, "company", company)
        assert t is not None, company
        want = company_summary(q, periods, "c", t.id, t.createtime, period.kind, Clock().now())
    store.close()
    metrics = (*COMPANY_FLOWS, *GAUGES)
    sums = dict.fromkeys(metrics, 0)
    n = 0
    with open(path, encoding="utf-8", newline="") as f:
        first = f.read(1)
        assert first == BOM, "no BOM"
        reader = csv.DictReader(f)
        for row in reader:
            n += 1
            for m in metrics:
                sums[m] += int(row[m])
    expected = want[period.key]
    bad = [
        (m, sums[m], expected[m.partition(".")[0]][m.partition(".")[2]])
        for m in metrics
        if sums[m] != expected[m.partition(".")[0]][m.partition(".")[2]]
    ]
    verdict = bad if bad else "all equal stats_summary"
    print(f"sums check: {n} rows, {len(metrics)} columns, {verdict}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
