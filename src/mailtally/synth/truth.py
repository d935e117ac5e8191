"""The truth: the generator's own account of what happened, and ``truth.json``.

The scenarios (:mod:`.scenarios`) call :class:`Truth` as they decide what
happens — never by reading the lines back.  What counts where is SPEC §3, with
the choices a log leaves open written in the package docstring.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mailtally.ingest.parsers import NEVER_COUNTED

from .platform import DAY, Host, SDomain, SUser, own_hosts, rfc, webmail_hosts

#: The flow metrics of truth.json, in SPEC §3's names.
METRICS: tuple[str, ...] = (
    "in_ham",
    "in_size",
    "in_spam",
    "denied",
    "out_msg_count",
    "out_rcpt_count",
    "out_size",
    "forward_count",
    "autorespond_count",
    "imap4",
    "pop3",
    "webmail",
)
#: The ``logins.last_*`` times of truth.json.
LASTS: tuple[str, ...] = ("imap4", "pop3", "webmail", "smtpin", "smtprelay")

(
    IN_HAM,
    IN_SIZE,
    IN_SPAM,
    DENIED,
    OUT_MSG,
    OUT_RCPT,
    OUT_SIZE,
    FORWARD,
    AUTORESPOND,
    IMAP4,
    POP3,
    WEBMAIL,
) = range(len(METRICS))
L_IMAP4, L_POP3, L_WEBMAIL, L_SMTPIN, L_SMTPRELAY = range(len(LASTS))

#: The "program" of lines that have none (garbage) in ``unknown_lines``.
GARBAGE = "(no program)"


class Truth:
    """What happened, per user and day (on the users), per domain (unknown addresses)."""

    def __init__(self, domains: list[SDomain], start: int) -> None:
        self.start = start
        self.unknown: dict[str, int] = {}
        self.never: dict[str, int] = {}  # lines of programs that never count (NEVER_COUNTED)
        self.domain_denied: dict[str, dict[int, int]] = {d.name: {} for d in domains}
        #: denials that happened but that no log line credits to anyone, per user address
        #: (Exim's rejection after DATA names no recipient): kept apart, counted for nobody
        self.not_in_log: dict[str, int] = {}

    def flow(self, u: SUser, ts: int, metric: int, n: int = 1) -> None:
        d = (ts - self.start) // DAY
        row = u.flows.get(d)
        if row is None:
            row = u.flows[d] = [0] * len(METRICS)
        row[metric] += n

    def last(self, u: SUser, ts: int, k: int) -> None:
        d = (ts - self.start) // DAY
        row = u.lasts.get(d)
        if row is None:
            row = u.lasts[d] = [0] * len(LASTS)
        if ts > row[k]:
            row[k] = ts

    def receipt(self, u: SUser, ts: int, spam: bool, size: int) -> None:
        """A message received by ``u`` (its mailbox grows if it keeps mail)."""
        if spam:
            self.flow(u, ts, IN_SPAM)
        else:
            self.flow(u, ts, IN_HAM)
            self.flow(u, ts, IN_SIZE, size)
        self.last(u, ts, L_SMTPIN)
        if u.type == "mailbox" and u.delivery_local:
            u.items += 1
            u.nbytes += size

    def sent(self, u: SUser, ts: int, nrcpt: int, size: int) -> None:
        """A submission by ``u`` (SPEC §3: at its queueing, with its envelope recipients)."""
        self.flow(u, ts, OUT_MSG)
        self.flow(u, ts, OUT_RCPT, nrcpt)
        self.flow(u, ts, OUT_SIZE, size)
        self.last(u, ts, L_SMTPRELAY)

    def deny_unknown(self, domain: str, ts: int) -> None:
        """A permanent rejection of an unknown address of ``domain``."""
        row = self.domain_denied[domain]
        d = (ts - self.start) // DAY
        row[d] = row.get(d, 0) + 1

    def denied_unlogged(self, u: SUser) -> None:
        """A permanent rejection of a message to ``u`` whose log line names no recipient."""
        self.not_in_log[u.address] = self.not_in_log.get(u.address, 0) + 1

    def foreign(self, program: str) -> None:
        """A line of another program: understood and tallied apart if the program never
        counts (issue 8), else not understood."""
        table = self.never if program in NEVER_COUNTED else self.unknown
        table[program] = table.get(program, 0) + 1

    def garbage(self) -> None:
        self.unknown[GARBAGE] = self.unknown.get(GARBAGE, 0) + 1


def _day_key(start: int, d: int) -> str:
    return datetime.fromtimestamp(start + d * DAY, UTC).strftime("%Y%m%d")


def truth_json(
    truth: Truth,
    *,
    seed: int,
    start: int,
    end: int,
    companies: list[tuple[str, int]],
    domains: list[SDomain],
    users: list[SUser],
    files: list[str],
    lines: int,
    hosts: list[Host],
) -> dict[str, Any]:
    """``truth.json``: the true totals per user, domain and company and day.

    The ``hosts`` of a platform of several become ``own_hosts`` (names, FQDNs,
    addresses), and the first one's address is among the ``webmail_hosts``.
    """

    def flows_of(rows: dict[int, list[int]]) -> dict[str, dict[str, int]]:
        return {
            _day_key(start, d): {m: v for m, v in zip(METRICS, row, strict=True) if v}
            for d, row in sorted(rows.items())
            if any(row)
        }

    users_t: dict[str, Any] = {}
    dom_rows: dict[str, dict[int, list[int]]] = {d.name: {} for d in domains}
    co_rows: dict[str, dict[int, list[int]]] = {c: {} for c, _ in companies}

    def add_rows(target: dict[int, list[int]], rows: dict[int, list[int]]) -> None:
        for d, row in rows.items():
            acc_row = target.setdefault(d, [0] * len(METRICS))
            for i, v in enumerate(row):
                acc_row[i] += v

    for u in users:
        users_t[u.address] = {
            "domain": u.domain.name,
            "company": u.domain.company,
            "days": flows_of(u.flows),
            "last": {
                _day_key(start, d): {k: v for k, v in zip(LASTS, row, strict=True) if v}
                for d, row in sorted(u.lasts.items())
            },
            "storage": u.reports,
        }
        add_rows(dom_rows[u.domain.name], u.flows)
        add_rows(co_rows[u.domain.company], u.flows)
    for d in domains:
        extra = {
            k: [0, 0, 0, v] + [0] * (len(METRICS) - 4)
            for k, v in truth.domain_denied[d.name].items()
        }
        add_rows(dom_rows[d.name], extra)
        add_rows(co_rows[d.company], extra)
    out: dict[str, Any] = {
        "timezone": "UTC",
        "seed": seed,
        "start": rfc(start),
        "end": rfc(end),
        "start_ts": start,
        "end_ts": end,
        "metrics": list(METRICS),
        "lasts": list(LASTS),
        "webmail_hosts": webmail_hosts(hosts),
    }
    if len(hosts) > 1:
        out["own_hosts"] = own_hosts(hosts)
    out |= {
        "files": files,
        "lines": lines,
        "unknown_lines": dict(sorted(truth.unknown.items())),
        "never_counted_lines": dict(sorted(truth.never.items())),
        "users": users_t,
        "domains": {
            d.name: {"company": d.company, "days": flows_of(dom_rows[d.name])} for d in domains
        },
        "companies": {c: {"days": flows_of(co_rows[c])} for c, _ in companies},
    }
    if truth.not_in_log:
        out["denied_not_in_log"] = dict(sorted(truth.not_in_log.items()))
    return out
