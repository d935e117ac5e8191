"""The compiled joiner (``_fastlog.Joiner``) against the reference (``join.Joiner``).

The Python joiner is the reference: on the same input, both must give the same
events, counters and state (``state()`` equal, and the same JSON).  Here:

* every test of ``test_join.py``, re-run with the compiled class (imported below,
  with an autouse fixture that swaps ``test_join.Joiner``);
* a ``mailtally synth`` log fed to both, compared line by line, with state
  checks every 1000 lines, state hand-overs between the two implementations,
  small tables (eviction, expiry), and a ``resolve`` callback that answers,
  declines, or raises;
* random records (Hypothesis), times out of order, few queue ids and addresses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import msgspec
import pytest

import test_join as _tj
from mailtally.ingest import LineParser, ParseResult
from mailtally.ingest.join import Joiner as PyJoiner

_fastlog = pytest.importorskip("mailtally.ingest._fastlog")
CJoiner = _fastlog.Joiner

# The tests of test_join.py, collected again here, run with CJoiner (fixture below).
from test_join import *  # noqa: E402,F403

TJ_TESTS = {n for n in dir(_tj) if n.startswith("test_")}


@pytest.fixture(autouse=True)
def _compiled_joiner_in_test_join(request, monkeypatch):
    if request.node.originalname in TJ_TESTS:
        monkeypatch.setattr(_tj, "Joiner", CJoiner)
        # a guard that the swap works: the reference is not the one tested here
        assert _tj.Joiner is CJoiner


def test_the_swap_is_effective() -> None:
    assert _tj.Joiner is PyJoiner  # this test is not one of test_join's
    assert CJoiner is not PyJoiner


# -- helpers ------------------------------------------------------------------------------


def same_state(c: Any, p: Any) -> None:
    sc, sp = c.state(), p.state()
    if sc != sp:
        for k in sp:
            assert sc.get(k) == sp[k], k
    assert sc == sp
    assert msgspec.json.encode(sc) == msgspec.json.encode(sp)
    assert c.counters() == p.counters()
    for k in ("now", "skipped", *PyJoiner._COUNTERS):
        assert getattr(c, k) == getattr(p, k), k


def resolver(raising: bool = False) -> Callable[[str], str | None]:
    """Some addresses resolve (to another case, or to another address), some do not;
    with ``raising``, some raise."""

    def resolve(addr: str) -> str | None:
        h = sum(addr.encode("utf-8", "surrogatepass")) % 7
        if raising and h == 6:
            raise LookupError(addr)
        if h in (0, 1):
            return None
        if h == 2:
            return ""
        if h == 3:
            return "Canon-" + addr.split("@")[-1].upper()
        return addr.upper()

    return resolve


# -- a synthesized log ------------------------------------------------------------------------

SYNTH_LINES = 20_000


@pytest.fixture(scope="module")
def synth_results(tmp_path_factory) -> list[ParseResult]:
    """~20k lines of ``mailtally synth`` (all its files, oldest first), parsed once."""
    from mailtally.store import open_store
    from mailtally.synth import synthesize

    base = tmp_path_factory.mktemp("fastjoin")
    store = open_store(f"sqlite:///{base / 'store.sqlite3'}")
    try:
        result = synthesize(
            store, base / "logs", lines=SYNTH_LINES, days=3, seed=11, start=date(2026, 3, 2)
        )
    finally:
        store.close()
    truth = json.loads(result.truth.read_text())
    out: list[ParseResult] = []
    for name in truth["files"]:
        path = base / "logs" / name
        parser = LineParser(reference=os.stat(path).st_mtime)
        opener: Any = open
        if str(path).endswith(".gz"):
            import gzip

            opener = gzip.open
        with opener(path, "rt", encoding="utf-8", errors="surrogateescape") as f:
            out.extend(parser.parse(line) for line in f)
    assert len(out) > SYNTH_LINES // 2
    return out


def feed_both(
    results: Iterable[ParseResult],
    c: Any,
    p: Any,
    check_every: int = 1000,
) -> tuple[list[Any], list[Any]]:
    ec: list[Any] = []
    ep: list[Any] = []
    for i, r in enumerate(results):
        a, b = c.feed(r), p.feed(r)
        assert list(a) == list(b), i
        ec.extend(a)
        ep.extend(b)
        if check_every and i % check_every == 0:
            same_state(c, p)
    return ec, ep


CONFIGS: list[dict[str, Any]] = [
    {},
    {"max_entries": 40, "max_age": 30},
    {"max_entries": 7, "reinject_grace": 0, "recipient_delimiter": ""},
    {"max_age": 5, "reinject_grace": 3, "recipient_delimiter": "-", "webmail_uids": (33, 1000)},
]


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default"
)
@pytest.mark.parametrize("resolve", [None, "answers", "raises"])
def test_synth_log_gives_the_same_events_and_state(synth_results, config, resolve) -> None:
    cfg = dict(config)
    if resolve is not None:
        cfg["resolve"] = resolver(raising=resolve == "raises")
    c, p = CJoiner(**cfg), PyJoiner(**cfg)
    ec, ep = feed_both(synth_results, c, p)
    assert ec == ep
    same_state(c, p)
    assert c.flush() == p.flush()
    same_state(c, p)
    assert c.expire_all() == p.expire_all()
    same_state(c, p)
    assert ec  # the log made events
    if resolve == "raises":
        assert c.errors == p.errors > 0
    else:
        assert c.errors == p.errors == 0


@pytest.mark.parametrize("cut", [1, 4321, 9999, 15000])
@pytest.mark.parametrize("first", ["c", "py"])
def test_state_hand_over_between_implementations(synth_results, cut, first) -> None:
    cfg = {"max_entries": 500, "resolve": resolver()}
    whole = PyJoiner(**cfg)
    expected = whole.process(synth_results) + whole.flush()
    a = (CJoiner if first == "c" else PyJoiner)(**cfg)
    got = a.process(synth_results[:cut])
    saved = msgspec.json.decode(msgspec.json.encode(a.state()))
    b = (PyJoiner if first == "c" else CJoiner).from_state(saved, **cfg)
    assert b.state() == saved
    got += b.process(synth_results[cut:]) + b.flush()
    assert got == expected
    assert b.state() == whole.state()


def test_process_and_take(synth_results) -> None:
    c, p = CJoiner(), PyJoiner()
    assert c.process(synth_results[:3000]) == p.process(synth_results[:3000])
    assert c.take() == p.take() == []
    same_state(c, p)
