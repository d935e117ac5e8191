"""The compiled joiner (``_fastlog.Joiner``) against the reference (``join.Joiner``).

The Python joiner is the reference: on the same input, both must give the same
events, counters and state (``state()`` equal, and the same JSON).  Here:

* every test of ``test_join.py`` and ``test_join_exim.py``, re-run with the compiled
  class (imported below, with an autouse fixture that swaps their ``Joiner``);
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
import test_join_exim as _tje
from mailtally.ingest import LineParser, ParseResult
from mailtally.ingest.join import Joiner as PyJoiner

_fastlog = pytest.importorskip("mailtally.ingest._fastlog")
CJoiner = _fastlog.Joiner

# The tests of test_join.py, test_join_hosts.py (which builds its joiners through
# test_join) and test_join_exim.py, collected again here, run with CJoiner (fixture below).
import test_join_hosts as _tjh  # noqa: E402
from test_join import *  # noqa: E402,F403
from test_join_exim import *  # noqa: E402,F403
from test_join_hosts import *  # noqa: E402,F403

TJ_TESTS = {n for m in (_tj, _tjh) for n in dir(m) if n.startswith("test_")}
TJE_TESTS = {n for n in dir(_tje) if n.startswith("test_")}
assert not TJ_TESTS & TJE_TESTS  # (a name in both would run one of them only)


@pytest.fixture(autouse=True)
def _compiled_joiner_in_test_join(request, monkeypatch):
    for mod, names in ((_tj, TJ_TESTS), (_tje, TJE_TESTS)):
        if request.node.originalname in names:
            monkeypatch.setattr(mod, "Joiner", CJoiner)
            # a guard that the swap works: the reference is not the one tested here
            assert mod.Joiner is CJoiner


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
    try:
        assert msgspec.json.encode(sc) == msgspec.json.encode(sp)
    except UnicodeEncodeError:  # lone surrogates: msgspec refuses them (both)
        assert json.dumps(sc) == json.dumps(sp)
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


def parse_synth(tmp_path_factory, hosts: int = 1) -> tuple[list[ParseResult], dict[str, Any]]:
    """~20k lines of ``mailtally synth`` (all its files, oldest first), parsed; its truth."""
    from mailtally.store import open_store
    from mailtally.synth import synthesize

    base = tmp_path_factory.mktemp("fastjoin")
    store = open_store(f"sqlite:///{base / 'store.sqlite3'}")
    try:
        result = synthesize(
            store,
            base / "logs",
            lines=SYNTH_LINES,
            days=3,
            seed=11,
            start=date(2026, 3, 2),
            hosts=hosts,
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
    return out, truth


@pytest.fixture(scope="module")
def synth_results(tmp_path_factory) -> list[ParseResult]:
    """~20k lines of ``mailtally synth``, parsed once."""
    return parse_synth(tmp_path_factory)[0]


@pytest.fixture(scope="module")
def synth_hosts(tmp_path_factory) -> tuple[list[ParseResult], dict[str, Any]]:
    """~20k lines of ``mailtally synth --hosts 3`` (queue ids repeat across hosts), parsed."""
    return parse_synth(tmp_path_factory, hosts=3)


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
    {
        "max_age": 5,
        "reinject_grace": 3,
        "recipient_delimiter": "-",
        "webmail_uids": (33, 1000),
        "webmail_users": ("apache", "www-data"),
    },
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


@pytest.mark.parametrize(
    "config", [{}, {"max_entries": 40, "max_age": 30}], ids=["default", "small"]
)
def test_a_log_of_three_hosts_gives_the_same_events_and_state(synth_hosts, config) -> None:
    results, truth = synth_hosts
    assert {r.host for r in results} >= {"mx1", "mx2", "mx3"}
    cfg = {**config, "own_hosts": truth["own_hosts"], "webmail_hosts": truth["webmail_hosts"]}
    c, p = CJoiner(**cfg), PyJoiner(**cfg)
    ec, ep = feed_both(results, c, p)
    assert ec and ec == ep
    assert c.flush() == p.flush()
    same_state(c, p)


@pytest.mark.parametrize("cut", [2500, 12345])
def test_a_log_of_three_hosts_hands_over_between_implementations(synth_hosts, cut) -> None:
    results, truth = synth_hosts
    cfg = {"own_hosts": truth["own_hosts"], "resolve": resolver()}
    whole = CJoiner(**cfg)
    expected = whole.process(results) + whole.flush()
    a = PyJoiner(**cfg)
    got = a.process(results[:cut])
    b = CJoiner.from_state(msgspec.json.decode(msgspec.json.encode(a.state())), **cfg)
    got += b.process(results[cut:]) + b.flush()
    assert got == expected
    assert b.state() == whole.state()


# -- edge cases -----------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mailtally.ingest.parsers import (  # noqa: E402
    CleanupMessageId,
    Delivery,
    Discard,
    EximArrival,
    EximCompleted,
    EximDelivery,
    FilterBlocked,
    MailLogin,
    Pickup,
    QmgrFrom,
    QmgrRemoved,
    QuotaHeader,
    QuotaRow,
    Reinjected,
    Reject,
    SieveAction,
    SmtpdClient,
    SpamdResult,
    SpamVerdict,
    WebmailLogin,
)


def both(results: list[ParseResult], **cfg: Any) -> tuple[Any, Any]:
    c, p = CJoiner(**cfg), PyJoiner(**cfg)
    feed_both(results, c, p, check_every=1)
    assert c.flush() == p.flush()
    same_state(c, p)
    return c, p


def ok(t: int | None, *records: Any) -> ParseResult:
    return ParseResult("ok", "test", t, tuple(records))


def test_big_ints_surrogates_and_long_lists() -> None:
    big = 2**70
    rs = [
        ok(10, SmtpdClient("Q1", "203.0.113.1", 25, "al\udcffice@x.org"), Pickup("Q1", big, "x")),
        ok(11, QmgrFrom("Q1", "s", big, -(2**65))),
        ok(
            12,
            Delivery(
                "Q1", "b\udc80b@Éxample.com", "İnfo+x@EXAMPLE.com", "h[1.2.3.4]:25", "sent", "lmtp"
            ),
        ),
        ok(13, QmgrRemoved("Q1")),
        ok(14, QuotaRow("ÅSA@x", "User quota", "STORAGE", 10**20)),
        ok(14, QuotaRow("åsa@x", "User quota", "MESSAGE", -5)),
        ok(
            15,
            FilterBlocked(
                "Q2", tuple(f"r{i}+t@x" for i in range(40)), "SPAM-X", tuple(["Quarantined"] * 35)
            ),
        ),
        ok(16, FilterBlocked(None, ("a@x",), "CLEAN", tuple(f"f{i}" for i in range(50)))),
        ok(17, MailLogin("u\ud800@x", "::ffff:10.0.0.1", "imap4")),
        ok(None, WebmailLogin("\udcff", "1.2.3.4")),
        ok(18, Pickup("Q3", 33, "web@x"), QmgrFrom("Q3", "web@x", 10, 2**64)),
        # Exim's sendmail called by a (configured) user whose name is no UTF-8
        ok(
            19,
            EximArrival(
                "1tFZ7e-00000000Ijk-2BKh", "w\udcff@x", None, None, 5, "", ("a@x",), "w\udcff"
            ),
        ),
        ok(19, EximArrival("1abcDE-0001Ab-C2", "n@x", None, None, 5, "", ("a@x",), "www-data")),
    ]
    c, p = both(rs, resolve=resolver(), webmail_uids=(33, big), webmail_users=("w\udcff",))
    assert c.events == p.events > 10


def test_resolve_returning_odd_values() -> None:
    answers = {"a@x": 0, "b@x": [], "c@x": "C@X", "d@x": 5}
    rs = [
        ok(
            1,
            SmtpdClient(q, "203.0.113.1"),
            QmgrFrom(q, "s", 1, 1),
            Delivery(q, a, None, "h[1.2.3.4]:25", "sent", "smtp"),
            QmgrRemoved(q),
        )
        for q, a in zip("QRST", answers, strict=True)
    ]
    c, p = both(rs, resolve=answers.get)
    assert c.errors == p.errors == 1  # 5.lower()


def test_a_resolve_that_reenters_is_refused_and_counted() -> None:
    holder: list[Any] = []

    def resolve(a: str) -> str | None:
        holder[0].feed(ok(1, QmgrRemoved("X")))  # the C joiner refuses: RuntimeError
        return None

    c = CJoiner(resolve=resolve)
    holder.append(c)
    c.feed(ok(1, SmtpdClient("Q", "203.0.113.1"), QmgrFrom("Q", "s", 1, 1)))
    c.feed(ok(2, Delivery("Q", "a@x", None, "l[private/lmtp]", "sent", "lmtp"), QmgrRemoved("Q")))
    assert c.errors == 1


def test_clear_resolve_cache_asks_again() -> None:
    calls: list[str] = []

    def resolve(a: str) -> str | None:
        calls.append(a)
        return a

    c = CJoiner(resolve=resolve)
    for q in ("Q1", "Q2"):
        c.feed(
            ok(
                1,
                QmgrFrom(q, "s", 1, 1),
                Delivery(q, "a@x", None, "l[private/lmtp]", "sent", "lmtp"),
                QmgrRemoved(q),
            )
        )
    assert calls == ["a@x"]
    c.clear_resolve_cache()
    c.feed(
        ok(
            1,
            QmgrFrom("Q3", "s", 1, 1),
            Delivery("Q3", "a@x", None, "l[private/lmtp]", "sent", "lmtp"),
            QmgrRemoved("Q3"),
        )
    )
    assert calls == ["a@x", "a@x"]


def test_bad_input_does_not_crash() -> None:
    c, p = CJoiner(), PyJoiner()
    for j in (c, p):
        assert j.add(QmgrFrom("Q", "s", 1, 1), "x") == ()
        assert j.add(QmgrFrom("Q", "s", 1, 1), None) == ()
        j.add(object(), 5)
        j.feed(ParseResult("weird", "x"))
        j.feed(ParseResult("ignored", "x"))
        j.feed(ParseResult("unknown", "x"))
        j.feed(ok(6, object(), QuotaHeader()))
    same_state(c, p)
    with pytest.raises(ValueError):
        CJoiner.from_state({"version": 3})
    assert CJoiner.from_state({}).state() == PyJoiner().state()
    assert CJoiner.from_state(None).state() == PyJoiner().state()
    with pytest.raises(TypeError):
        CJoiner(5)
    # a record with a field of the wrong type: an error, counted, never a crash
    before = c.errors
    c.feed(ok(7, QmgrFrom(None, "s", "big", 1), Delivery(1, 2, 3, 4, 5, 6)))  # type: ignore[arg-type]
    assert c.errors == before + 2


# -- random records ----------------------------------------------------------------------------

QIDS = ["A1", "B2", "C3", "D4", "E5"]
ADDRS = ["bob@x.org", "Bob+tag@X.org", "alice@x.org", "info@x.org", "zoë@x.org", "carol@y.com"]
RELAYS = [
    "mx[203.0.113.5]:25",
    "lo[127.0.0.1]:10024",
    "lo[127.0.0.1]:10025",
    "l[private/dovecot-lmtp]",
    "none",
    "h[::1]:0010026",
    "filter[10.0.0.9]:25",
    # the platform's own hosts (own_hosts below), by name, short name, address
    "IMAP1.example.com[10.0.0.5]:24",
    "mx2[10.0.0.2]:25",
    "mail.example.com[::ffff:10.0.0.7]:25",
    # hostile (issue 7): ports of more digits than MAX_DIGITS, or than int() takes
    "lo[127.0.0.1]:" + "0" * 700 + "10024",
    "lo[127.0.0.1]:" + "0" * 600 + "10024",
    "x[203.0.113.5]:" + "9" * 5000,
]
RESPONSES = [
    "250 ok",
    "250 2.0.0 Ok: queued as B2",
    "250 2.0.0 Ok: queued as C3",
    "250 <x> ABCD Saved",
    "250 <x> s2 Saved",
    "delivered via dovecot",
    "250 from MTA(smtp:[127.0.0.1]:10025)",
    "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as B2",
    "<" * 300 + "> ABCD Saved",
    "<x> " + "<> <" * 100,
]

q = st.sampled_from(QIDS)
addr = st.sampled_from(ADDRS)
opt_addr = st.none() | addr
small = st.integers(-3, 5000) | st.sampled_from([2**63, -(2**64)])

records = st.one_of(
    st.builds(
        SmtpdClient,
        q,
        st.sampled_from(["203.0.113.9", "127.0.0.1", "::ffff:127.0.0.2", "10.0.0.2"]),
        st.none(),
        st.none() | addr,
        st.none() | q,
    ),
    st.builds(Pickup, q, st.sampled_from([33, 0, 1000]), addr),
    st.builds(
        CleanupMessageId,
        q,
        # (alike but for a counter: what a flood of crafted Message-IDs looks like)
        st.sampled_from(["m1@x", "m2@x", ""]) | st.integers(0, 3).map("<{:016x}@a>".format),
    ),
    st.builds(QmgrFrom, q, addr, small, small),
    st.builds(QmgrRemoved, q),
    st.builds(
        Delivery,
        q,
        addr,
        opt_addr,
        st.sampled_from(RELAYS),
        st.sampled_from(["sent", "bounced", "deferred"]),
        st.sampled_from(["lmtp", "smtp", "local", "virtual", "error"]),
        st.sampled_from(RESPONSES),
        st.none() | q,
        st.none() | q,
    ),
    st.builds(
        Reject,
        st.none() | q,
        st.sampled_from(["RCPT", "DATA", "END-OF-MESSAGE"]),
        opt_addr,
        st.booleans(),
        st.booleans(),
    ),
    st.builds(Discard, q),
    st.builds(
        MailLogin,
        addr,
        st.sampled_from(["127.0.0.1", "::ffff:127.0.0.1", "1.2.3.4"]),
        st.sampled_from(["imap4", "pop3"]),
    ),
    st.builds(
        SieveAction,
        addr,
        st.sampled_from(["vacation", "redirect", "fileinto", "reject"]),
        st.sampled_from(["Junk", "INBOX.spam", "INBOX", "a/Junk E-mail"]),
        st.sampled_from(["", "unspecified", "m1@x", "m2@x"]),
        st.sampled_from(["", "ABCD", "s2"]),
    ),
    st.builds(WebmailLogin, addr, st.just("1.2.3.4")),
    st.builds(SpamVerdict, q, st.sampled_from(["spam", "ham", "reject", "tempfail"])),
    st.builds(Reinjected, q, q),
    st.builds(
        FilterBlocked,
        st.none() | q,
        st.lists(addr, max_size=3).map(tuple),
        st.sampled_from(["SPAM", "SPAMMY-X", "CLEAN", "INFECTED"]),
        st.lists(st.sampled_from(["Quarantined", "BouncedInbound", "Discarded"]), max_size=3).map(
            tuple
        ),
    ),
    st.builds(QuotaHeader),
    st.builds(
        QuotaRow,
        addr,
        st.sampled_from(["User quota", "Other"]),
        st.sampled_from(["STORAGE", "MESSAGE"]),
        small,
    ),
    # Exim and spamd (queue ids and Message-IDs shared with the Postfix records above)
    st.builds(
        EximArrival,
        q,
        addr,
        st.none() | st.sampled_from(["203.0.113.9", "127.0.0.1"]),
        st.none() | st.just("") | addr,
        small,
        st.sampled_from(["m1@x", "m2@x", ""]),
        st.none() | st.lists(addr, max_size=40).map(tuple),
    ),
    st.builds(
        EximDelivery,
        q,
        st.sampled_from(["=>", "->", "*>", ">>", "**"]),
        # (">…": an autoreply's address, "=> >to <top>")
        addr | st.sampled_from(["|/bin/x", "/home/a/mbox", "save x", "alice", "", ">a@x.org", ">"]),
        opt_addr,
        st.sampled_from(["virtual_user", "virtual_user_spam", "dnslookup", ""]),
        st.sampled_from(
            ["dovecot_virtual_delivery", "virtual_sa_userdelivery", "remote_smtp", "LMTP_x", ""]
        ),
        st.sampled_from(["", "192.0.2.20", "127.0.0.1"]),
    ),
    st.builds(EximCompleted, q),
    st.builds(
        SpamdResult, st.sampled_from(["m1@x", "m2@x", "m3@x"]), st.sampled_from(["spam", "ham"])
    ),
)
#: hosts of a central syslog (and none: a line of Dovecot's own file)
SYSLOG_HOSTS = ["", "mx1", "mx2", "imap1", "10.0.0.5", "mail.example.com"]
result = st.builds(
    lambda t, rs, h: ParseResult("ok", "test", t, tuple(rs), h),
    st.none() | st.integers(0, 400),
    st.lists(records, min_size=1, max_size=3),
    st.sampled_from(SYSLOG_HOSTS),
) | st.sampled_from([ParseResult("ignored", "x"), ParseResult("unknown", "y")])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(result, min_size=3, max_size=60),
    st.sampled_from(
        [
            {},
            {"max_entries": 2, "max_age": 20},
            {"reinject_grace": 0},
            {"resolve": "r", "max_entries": 3},
            {"filter_relays": ["filter", "10.0.0.9"]},
            {"resolve": "raise", "recipient_delimiter": ""},
            {"own_hosts": ["mx1", "IMAP1", "10.0.0.2", "::ffff:10.0.0.7"], "max_entries": 4},
        ]
    ),
)
def test_random_records(results: list[ParseResult], config: dict[str, Any]) -> None:
    cfg = dict(config)
    if cfg.get("resolve") == "merge":  # every address of a domain is one user
        cfg["resolve"] = lambda a: None if a.startswith("z") else "U@" + a.split("@")[-1].upper()
    elif "resolve" in cfg:
        cfg["resolve"] = resolver(raising=cfg["resolve"] == "raise")
    c, p = both(results, **cfg)
    assert c.expire_all() == p.expire_all()
    same_state(c, p)
    # and a state written by one goes on in the other
    saved = json.loads(json.dumps(p.state()))
    assert CJoiner.from_state(saved, **cfg).state() == p.state()


@pytest.mark.parametrize("config", [{}, {"max_entries": 40, "max_age": 30, "resolve": "r"}])
def test_the_c_struct_path_gives_the_same(synth_results, config) -> None:
    """fl_join_feed (the path of the C parser) gives what feed() gives."""
    cfg = dict(config)
    if "resolve" in cfg:
        cfg["resolve"] = resolver(raising=True)
    c, p = CJoiner(**cfg), PyJoiner(**cfg)
    extra = [ok(5, QmgrFrom("Q", "s", 2**70, 1)), ok(6, WebmailLogin("\udcff", ""))]
    half = len(synth_results) // 2
    for part in (synth_results[:half], extra, synth_results[half:]):
        assert c._feed_via_c(part) >= 0
        assert c.take() == p.process(part)
        same_state(c, p)


def test_the_bytes_of_hosts_count_in_the_table_budgets_alike() -> None:
    """A table's byte budget (MAX_TABLE_BYTES) counts each key's host: verdicts waiting
    for queue ids of a host of 253 characters fill it 27 times sooner, in both joiners."""
    from mailtally.ingest.join import MAX_TABLE_BYTES

    host = "h" * 253
    c, p = CJoiner(), PyJoiner()
    for j in (c, p):
        j.add(SpamVerdict("F0000001", "spam"), 100, "first")  # the first host keys bare
        for i in range(20_000):
            j.add(SpamVerdict(f"{i:08X}", "spam"), 100, host)
    same_state(c, p)
    waiting = p.state()["pending_verdicts"]
    assert waiting[-1][0] == host + "\n" + f"{19_999:08X}"
    assert len(waiting) == MAX_TABLE_BYTES // (len(host) + 1 + 8)


def test_resolve_tables_answer_as_the_resolver_does(synth_results) -> None:
    """``resolve_tables`` (a whole tree's Resolver.tables(), set by the ingester) give
    the events and state that calling ``resolve=resolver.canonical`` gives, without
    calling it: own addresses, aliases, other cases, non-ASCII, outside the tree."""
    from mailtally.record import Resolver

    first = PyJoiner()
    events = first.process(synth_results)
    seen = sorted({getattr(e, "user", None) or getattr(e, "recipient", "") for e in events})
    assert len(seen) > 20
    rows = []
    for i, a in enumerate(seen):
        own = a.lower()
        if i % 3 == 0:
            continue  # outside the tree
        if i % 3 == 1:
            rows.append((own, i, 1, 1, own))
        else:  # an alias of the address before it
            rows.append((own, i - 1, 1, 1, seen[i - 1].lower()))
    rows.append(("éva@example.com", 9999, 1, 1, "éva@example.com"))
    tree = Resolver(None)  # type: ignore[arg-type]
    tree.preload(rows)
    calls: list[str] = []

    def canonical(a: str) -> str | None:
        calls.append(a)
        return tree.canonical(a)

    c = CJoiner(resolve=canonical)
    c.resolve_tables = tree.tables()
    assert c.resolve_tables == tree.tables()
    p = PyJoiner(resolve=tree.canonical)
    ec, ep = feed_both(synth_results, c, p)
    assert ec == ep
    same_state(c, p)
    assert c.flush() == p.flush()
    assert calls == []  # answered from the tables
    c.resolve_tables = None
    assert c.resolve_tables is None
    with pytest.raises(TypeError):
        c.resolve_tables = ({}, [])


@pytest.mark.parametrize(
    "pair",
    [
        ("ÉVA@example.com", "éva@example.com"),  # non-ASCII: str.lower()
        ("Bob@Example.COM", "bob@example.com"),  # ASCII upper case
        ("Al@example.com", "bob@example.com"),  # an alias and its account
        ("x\udcff@y", "X\udcff@Y"),  # outside the tree, not UTF-8
        ("İnfo@x", "i̇nfo@x"),  # lower() makes it longer
    ],
)
def test_resolve_tables_group_a_message_as_the_resolver_does(pair) -> None:
    """Two deliveries of one message count once when both reach one account: the
    tables must lower-case and follow aliases exactly as Resolver.canonical."""
    from mailtally.record import Resolver

    tree = Resolver(None)  # type: ignore[arg-type]
    tree.preload(
        [
            ("éva@example.com", 1, 1, 1, "éva@example.com"),
            ("bob@example.com", 2, 1, 1, "bob@example.com"),
            ("al@example.com", 2, 1, 1, "bob@example.com"),
            ("i̇nfo@x", 3, 1, 1, "i̇nfo@x"),
        ]
    )
    rs = [
        ok(
            1,
            SmtpdClient("Q1", "203.0.113.1"),
            QmgrFrom("Q1", "s@o.org", 1, 1),
            Delivery("Q1", pair[0], None, "l[private/lmtp]", "sent", "lmtp"),
            Delivery("Q1", pair[1], None, "l[private/lmtp]", "sent", "lmtp"),
            # relayed out: a receipt only of an address in the tree
            Delivery("Q1", pair[0].upper(), None, "h[1.2.3.4]:25", "sent", "smtp"),
            QmgrRemoved("Q1"),
        )
    ]
    calls: list[str] = []
    c = CJoiner(resolve=lambda a: calls.append(a))
    c.resolve_tables = tree.tables()
    p = PyJoiner(resolve=tree.canonical)
    ec, ep = feed_both(rs, c, p, check_every=1)
    assert ec == ep
    assert c.flush() == p.flush()
    same_state(c, p)
    assert calls == []
