"""Sum one OMA method's answers over the own ``/metrics`` ports of a
``mailtally serve --workers N --metrics-port P`` (bench/workers.sh).

    python bench/metrics_sum.py METHOD FIRST_PORT N   ->   "<ok> <not ok>"

Every worker answers on one of FIRST_PORT .. FIRST_PORT+N-1; a port where
nothing answers is an error (the sum would miss a worker's answers).
"""

from __future__ import annotations

import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def answers(method: str, port: int) -> tuple[float, float]:
    """(ok, not ok) answers of ``method`` in the registry served on ``port``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    ok = not_ok = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "mailtally_requests_total" and s.labels.get("method") == method:
                if s.labels.get("outcome") == "ok":
                    ok += s.value
                else:
                    not_ok += s.value
    return ok, not_ok


def main(argv: list[str]) -> None:
    method, first, n = argv[1], int(argv[2]), int(argv[3])
    ok = not_ok = 0.0
    for port in range(first, first + n):
        a, b = answers(method, port)
        ok, not_ok = ok + a, not_ok + b
    print(f"{ok:.0f} {not_ok:.0f}")


if __name__ == "__main__":
    main(sys.argv)
