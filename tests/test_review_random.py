"""Review probes: test_fastlog_join's random differential test with sieve rejects,
Exim autoreply addresses (">x") and a second LMTP session; kind ">>" left out
(test_review_findings.py). Run with max_examples=30000 in review: 0 differences."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtally.ingest import ParseResult
from mailtally.ingest.join import Joiner as PyJoiner
from mailtally.ingest.parsers import (
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
from test_fastlog_join import CJoiner, both, resolver, same_state

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
        st.sampled_from(["reject", "fileinto", "reject"]),
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
        st.sampled_from(["=>", "->", "*>", "**"]),
        addr | st.sampled_from([">bob@x.org", ">alice", "|/bin/x", ">", ""]),
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


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(result, min_size=3, max_size=60))
def test_review_derived_counters_stay_equal(results: list[ParseResult]) -> None:
    """(review) _bytes == sum of measure(), _rcpts == sum of held(), after each line."""
    p = PyJoiner()
    for r in results:
        p.feed(r)
        assert p._bytes == sum(m.measure() for m in p._msgs.values())
        assert p._rcpts == sum(m.held() for m in p._msgs.values())
