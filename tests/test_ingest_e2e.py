"""End to end: ``mailtally synth`` → ingest → ``stats_summary`` equals the true totals.

The generator (:mod:`mailtally.synth`) keeps its own account of what happened
(truth.json, never derived from the lines it writes); the log goes through the
real ingester (and once through the real ``mailtally ingest`` command), and
every user, domain and company is read back through the real ASGI app, by day,
week and month: flows, the last login/receipt/submission times, storage from the
quota reports, and the account gauges.
"""

from __future__ import annotations

import gzip
import json
import re
import shlex
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from conftest import (
    INGEST_MODES,
    OPERATOR,
    OPERATOR_CREDS,
    OPERATOR_PASSWORD,
    add_operator,
    cheap_config,
    hasher_for,
    make_call,
    table_rows,
    use_ingest_mode,
)
from mailtally.api import create_app
from mailtally.cli import main
from mailtally.config import Site
from mailtally.ingest.files import Ingester
from mailtally.periods import KINDS, FixedClock, Periods, format_time
from mailtally.store import Store, open_store
from mailtally.synth import LASTS, METRICS, SynthError, synthesize

#: (seed, lines, days, first day, hosts): the second one crosses a new year (classic
#: stamps have no year: it is inferred from each file's mtime); the third is one log of
#: three hosts, interleaved, whose queue ids and Message-IDs repeat from host to host.
RUNS = [
    (7, 4000, 4, date(2026, 3, 2), 1),
    (23, 3000, 3, date(2025, 12, 30), 1),
    (11, 6000, 3, date(2026, 3, 2), 3),
]

#: where each truth metric is in a summary
PLACE = {m: ("logins" if m in ("imap4", "pop3", "webmail") else "messages", m) for m in METRICS}
STATE_TABLES = ("flows", "gauges", "storage_reports", "user_versions")


def synth_and_ingest(
    store: Store,
    out: Path,
    seed: int,
    lines: int,
    days: int,
    start: date,
    hosts: int = 1,
    mta: str = "postfix",
):
    result = synthesize(
        store, out, lines=lines, days=days, seed=seed, start=start, hosts=hosts, mta=mta
    )
    truth = json.loads(result.truth.read_text())
    platform = json.loads(result.platform.read_text())
    paths = [str(out / f) for f in truth["files"]]
    # small batches: messages in flight are saved and taken up again across many commits
    ingester = ingester_for(store, truth, batch_lines=613)
    return truth, platform, paths, ingester.ingest(paths)


def ingester_for(store: Store, truth: dict[str, Any], **kwargs: Any) -> Ingester:
    """An Ingester told the platform's webmail hosts and own hosts, as truth.json lists them."""
    site = Site(webmail_hosts=truth["webmail_hosts"], own_hosts=truth.get("own_hosts", []))
    return Ingester(store, Periods("UTC"), site, **kwargs)


@pytest.fixture(
    scope="module",
    params=[(r, mode) for r in RUNS for mode in INGEST_MODES],
    ids=lambda p: f"seed{p[0][0]}-{p[0][4]}host-{p[1]}",
)
def run(request, tmp_path_factory):
    """A synthesized platform and log, ingested once with the Ingester (compiled or Python)."""
    yield from synthesized_run(request.param, tmp_path_factory, "postfix")


def synthesized_run(param, tmp_path_factory, mta: str):
    """The body of a module's ``run`` fixture: ``param`` is ((seed, lines, days, start[,
    hosts]), ingest mode); yields (store, truth, platform, paths, report), then closes
    the store."""
    (seed, lines, days, start, *more), mode = param
    hosts = more[0] if more else 1
    base = tmp_path_factory.mktemp(f"e2e-{mta}{seed}")
    store = open_store(f"sqlite:///{base / 'store.sqlite3'}")
    add_operator(store, hasher_for(cheap_config()), OPERATOR, OPERATOR_PASSWORD)
    with pytest.MonkeyPatch.context() as mp:
        use_ingest_mode(mp, mode)
        truth, platform, paths, report = synth_and_ingest(
            store, base / "logs", seed, lines, days, start, hosts, mta
        )
    yield store, truth, platform, paths, report
    store.close()


# -- what the summaries must say ------------------------------------------------------------


def _add(acc: dict[str, int], metrics: dict[str, int]) -> None:
    for m, v in metrics.items():
        acc[m] = acc.get(m, 0) + v


def expected_flows(days: dict[str, dict[str, int]], periods: Periods, kind: str):
    """The truth's days summed into the periods of ``kind``."""
    out: dict[str, dict[str, int]] = {}
    for day, metrics in days.items():
        d = date(int(day[:4]), int(day[4:6]), int(day[6:]))
        _add(out.setdefault(periods.period_of(kind, d).key, {}), metrics)  # type: ignore[arg-type]
    return out


def storage_at(reports: list[list[int]], moment: int) -> tuple[int, int]:
    """Items and bytes of the latest report at or before ``moment``."""
    items = size = 0
    for t, i, b in reports:
        if t <= moment:
            items, size = i, b
    return items, size


def last_at(lasts: dict[str, dict[str, int]], end: int, key: str) -> int:
    best = 0
    for values in lasts.values():
        if values.get(key, 0) and values[key] < end:
            best = max(best, values[key])
    return best


def compare(call, truth, platform, now: int) -> list[str]:
    """Every difference between the summaries and the truth, as sentences."""
    periods = Periods("UTC")
    wrong: list[str] = []
    users = truth["users"]
    by_domain: dict[str, list[str]] = {}
    by_company: dict[str, list[str]] = {}
    for address, u in users.items():
        by_domain.setdefault(u["domain"], []).append(address)
        by_company.setdefault(u["company"], []).append(address)
    gauges: dict[tuple[str, str], dict[str, int]] = {}
    for u in platform["users"]:
        for scope, name in (("domain", u["domain"]), ("company", u["company"])):
            g = gauges.setdefault((scope, name), {"mailbox": 0, "forward": 0, "filter": 0})
            g[u["type"]] += 1
        for a in u["aliases"]:
            dom = a.rpartition("@")[2]
            for scope, name in (("domain", dom), ("company", u["company"])):
                g = gauges.setdefault((scope, name), {"mailbox": 0, "forward": 0, "filter": 0})
                g["alias"] = g.get("alias", 0) + 1
    objects: list[tuple[str, str, dict[str, Any], list[str]]] = [
        ("company", c, v, by_company.get(c, [])) for c, v in truth["companies"].items()
    ]
    objects += [("domain", d, v, by_domain.get(d, [])) for d, v in truth["domains"].items()]
    objects += [("user", a, v, [a]) for a, v in users.items()]
    for type_, name, t, members in objects:
        for kind in KINDS:
            answer = call("stats_summary", type=type_, object=name, by=kind)
            if not answer["success"]:
                wrong.append(f"{type_} {name} by {kind}: {answer}")
                continue
            summary = answer["summary"]
            window = {p.key: p for p in periods.window(kind, now)}  # type: ignore[arg-type]
            want = expected_flows(t["days"], periods, kind)
            missing = sorted(set(want) - set(summary))
            if missing:
                wrong.append(f"{type_} {name} by {kind}: periods {missing} missing")
            last_key = max(summary) if summary else None
            for key, body in summary.items():
                exp = want.get(key, {})
                for m in METRICS:
                    group, field = PLACE[m]
                    got = body[group][field]
                    n = exp.get(m, 0)
                    if type_ == "user":
                        n = str(n) if n else ""  # type: ignore[assignment]
                    if got != n:
                        wrong.append(f"{type_} {name} {key} {group}.{field}: {got!r}, truth {n!r}")
                moment = min(window[key].end - 1, now)
                items = size = 0
                for a in members:
                    i, b = storage_at(users[a]["storage"], moment)
                    items, size = items + i, size + b
                st = body["storage"]
                got_storage = (
                    (st["items_stored"], st["current_size"])
                    if type_ != "user"
                    else (int(st["items_stored"]), int(st["current_size"]))
                )
                if got_storage != (items, size):
                    wrong.append(
                        f"{type_} {name} {key} storage: {got_storage}, truth {items, size}"
                    )
                if type_ == "user":
                    for k in LASTS:
                        want_t = format_time(last_at(users[name]["last"], window[key].end, k))
                        if body["logins"][f"last_{k}"] != want_t:
                            wrong.append(
                                f"user {name} {key} last_{k}: {body['logins'][f'last_{k}']!r}, "
                                f"truth {want_t!r}"
                            )
                elif key == last_key:
                    g = gauges.get((type_, name), {})
                    for k in ("mailbox", "forward", "filter", "alias"):
                        if body["users"][k] != g.get(k, 0):
                            wrong.append(
                                f"{type_} {name} {key} users.{k}: {body['users'][k]}, "
                                f"truth {g.get(k, 0)}"
                            )
    return wrong


def check_against_truth(store: Store, truth, platform) -> None:
    now = truth["end_ts"] + 60  # just after the log ends
    config = cheap_config()
    with TestClient(create_app(store, config, FixedClock(now))) as client:
        wrong = compare(make_call(client, OPERATOR_CREDS), truth, platform, now)
    assert not wrong, f"{len(wrong)} differences:\n" + "\n".join(wrong[:40])


# -- the tests --------------------------------------------------------------------------------


def assert_worth_comparing(truth, platform, report, runs) -> None:
    """Every metric happens, every type of account is there, every line was read, and
    the log is about as long as asked (``runs``: the module's RUNS)."""
    totals: dict[str, int] = {}
    for c in truth["companies"].values():
        for metrics in c["days"].values():
            _add(totals, metrics)
    assert all(totals.get(m, 0) > 0 for m in METRICS), totals
    assert {u["type"] for u in platform["users"]} == {"mailbox", "forward", "filter"}
    assert report.lines == truth["lines"]
    asked = next(r[1] for r in runs if r[0] == truth["seed"])
    assert 0.8 * asked < truth["lines"] < 1.2 * asked


def test_the_truth_is_worth_comparing(run) -> None:
    """Every metric happens, for several users, and all kinds of lines are there."""
    _store, truth, platform, _paths, report = run
    assert_worth_comparing(truth, platform, report, RUNS)


def test_summaries_equal_the_truth(run) -> None:
    store, truth, platform, _paths, _report = run
    check_against_truth(store, truth, platform)


def test_only_the_noise_is_not_understood(run) -> None:
    _store, truth, _platform, _paths, report = run
    assert {p: c for p, (c, _sample) in report.unknown.items()} == truth["unknown_lines"]
    # programs that never count are tallied apart (postscreen's chatter too, not modelled)
    for program, count in truth["never_counted_lines"].items():
        assert report.ignored_programs[program] == count
    assert report.skipped_messages == 0
    assert report.events > 0


def test_ingesting_again_changes_nothing(run, request, monkeypatch) -> None:
    store, truth, platform, paths, _report = run
    use_ingest_mode(monkeypatch, request.node.callspec.params["run"][1])  # as the run was
    before = table_rows(store, *STATE_TABLES)
    report = ingester_for(store, truth).ingest(paths)
    assert report.events == 0 and report.lines == 0
    assert table_rows(store, *STATE_TABLES) == before
    check_against_truth(store, truth, platform)


_QUEUE_LINE = re.compile(r" (\S+) postfix/[a-z/]+\[\d+\]: ([0-9A-Za-z]{10,}): (.*)")


def queue_ids_by_host(paths: list[str]) -> tuple[dict[str, list[tuple[str, int, int]]], dict]:
    """The queue ids of a log: per id, (host, first line, last line); per Message-ID the
    (host, queue id) pairs that carry it."""
    spans: dict[tuple[str, str], list[int]] = {}
    msgids: dict[str, set[tuple[str, str]]] = {}
    n = 0
    for path in paths:
        if "mail.log" not in path:
            continue
        with (
            gzip.open(path, "rt", errors="replace")
            if path.endswith(".gz")
            else open(path, errors="replace") as f
        ):
            for line in f:
                n += 1
                m = _QUEUE_LINE.search(line)
                if m is None:
                    continue
                host, q, rest = m.groups()
                spans.setdefault((host, q), [n, n])[1] = n
                if rest.startswith("message-id=<"):
                    msgids.setdefault(rest[12:-1], set()).add((host, q))
    by_id: dict[str, list[tuple[str, int, int]]] = {}
    for (host, q), (first, last) in spans.items():
        by_id.setdefault(q, []).append((host, first, last))
    return by_id, msgids


def test_hosts_share_queue_ids_and_message_ids(run) -> None:
    """A log of several hosts has what makes it hard: the same queue id in flight on two
    hosts at once, and the same Message-ID on two hosts under different queue ids (a
    message from a user of one host to a user of another)."""
    _store, truth, platform, paths, _report = run
    if "own_hosts" not in truth:
        pytest.skip("a log of one host")
    hosts = {h["name"] for h in platform["hosts"]}
    assert len(hosts) == 3 and set(truth["own_hosts"]) >= hosts
    by_id, msgids = queue_ids_by_host(paths)
    assert {h for spans in by_id.values() for h, _f, _l in spans} == hosts
    at_once = [
        q
        for q, spans in by_id.items()
        if any(a[0] != b[0] and a[1] <= b[2] and b[1] <= a[2] for a in spans for b in spans)
    ]
    assert len(at_once) >= 2, at_once
    handed_over = [
        mid
        for mid, carriers in msgids.items()
        if len({h for h, _q in carriers}) > 1 and len({q for _h, q in carriers}) > 1
    ]
    assert len(handed_over) >= 5, handed_over


@pytest.fixture
def no_environment(monkeypatch):
    for var in ("MAILTALLY_CONFIG", "MAILTALLY_DB", "MAILTALLY_TIMEZONE"):
        monkeypatch.delenv(var, raising=False)


def synth_command(runner: CliRunner, out: Path, db: str, *args: str):
    """``mailtally synth --out OUT --db DB ARGS``: (its result, truth.json, platform.json)."""
    res = runner.invoke(main, ["synth", "--out", str(out), "--db", db, *args])
    assert res.exit_code == 0, res.output
    truth = json.loads((out / "truth.json").read_text())
    return res, truth, json.loads((out / "platform.json").read_text())


def check_url_against_truth(db: str, truth: dict[str, Any], platform: dict[str, Any]) -> None:
    """:func:`check_against_truth` of the store at ``db`` (an operator added to ask it)."""
    store = open_store(db)
    try:
        add_operator(store, hasher_for(cheap_config()), OPERATOR, OPERATOR_PASSWORD)
        check_against_truth(store, truth, platform)
    finally:
        store.close()


@pytest.mark.parametrize("mta", ["postfix", "exim"])
def test_through_the_commands(store_url: str, tmp_path, no_environment, mta) -> None:
    """The same through ``mailtally synth`` and ``mailtally ingest``, across a new year
    (on each platform synth writes), on each backend."""
    seed, lines, days, start, _hosts = RUNS[1]
    db = store_url
    out = tmp_path / "logs"
    runner = CliRunner()
    res, truth, platform = synth_command(
        runner, out, db, "--mta", mta, "--lines", str(lines), "--days", str(days),
        "--seed", str(seed), "--start", start.isoformat(),
    )  # fmt: skip
    assert "truth.json" in res.output
    files = [str(out / f) for f in truth["files"]]
    res = runner.invoke(main, ["ingest", "--db", db, "--quiet", *files])
    assert res.exit_code == 0, res.output
    assert f"{truth['lines']:,} lines read" in res.output
    check_url_against_truth(db, truth, platform)
    # a second synth into the same store refuses to touch the platform it made
    res = runner.invoke(main, ["synth", "--out", str(tmp_path / "again"), "--db", db])
    assert res.exit_code != 0 and "new --db" in res.output, res.output


def test_synth_of_several_hosts_says_how_to_read_it(store_url: str, tmp_path, no_environment):
    """``synth --hosts N`` prints what the reader must be told: its own hosts (for the
    configuration) and its webmail hosts, in the ``next:`` command it prints.  Read as
    printed, the counts are the truth (without the webmail hosts, the webmail's IMAP
    logins to the other hosts counted as the users' own)."""
    seed, _lines, _days, start, _hosts = RUNS[2]
    db = store_url
    runner = CliRunner()
    res, truth, platform = synth_command(
        runner, tmp_path / "logs", db, "--mta", "exim", "--hosts", "2", "--lines", "3000",
        "--days", "2", "--seed", str(seed), "--start", start.isoformat(),
    )  # fmt: skip
    said = dict(line.split(": ", 1) for line in res.output.splitlines() if ": " in line)
    own = said["own hosts (tell the reader, [site] own_hosts)"].split(", ")
    assert own == truth["own_hosts"]
    config = tmp_path / "mailtally.toml"
    config.write_text(f"[site]\nown_hosts = {json.dumps(own)}\n")
    command = shlex.split(said["next"])
    assert command[:2] == ["mailtally", "ingest"] and "--webmail-host" in command
    assert {command[i + 1] for i, a in enumerate(command) if a == "--webmail-host"} == set(
        truth["webmail_hosts"]
    )
    res = runner.invoke(main, ["--config", str(config), *command[1:], "--db", db, "--quiet"])
    assert res.exit_code == 0, res.output
    check_url_against_truth(db, truth, platform)


def test_synth_needs_a_utc_store(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'zone.sqlite3'}")
    try:
        with store.write() as q:
            q.set_meta("timezone", "Europe/Amsterdam")
        with pytest.raises(SynthError, match="UTC"):
            synthesize(store, tmp_path / "logs", lines=500, days=1)
    finally:
        store.close()
