"""``mailtally synth``: a generated platform, a realistic mixed mail log for it, and the truth.

:func:`synthesize` builds a platform (companies, domains, users of every type,
aliases, forwards, autoresponders, sieve redirects, webmail users) in a store
through the real tree actions, then plays a model of that platform's mail
traffic over ``days`` days and writes what the servers would have logged:

* ``mail.log.3.gz``, ``mail.log.2.gz``, ``mail.log.1``, ``mail.log`` — one
  syslog stream of Postfix, Dovecot (logins, LMTP/LDA, Pigeonhole sieve),
  rspamd and amavis lines (plus the usual noise of other programs and a few
  broken lines), rotated as logrotate does it: the oldest compressed, each
  file's mtime the time of its last line (so that the year of classic stamps
  can be inferred).  Classic ``Mmm dd hh:mm:ss`` stamps and RFC 3339 stamps
  alternate from file to file.
* ``roundcube/userlogins`` — Roundcube's own login log.
* ``quota/quota-YYYY-MM-DD.tsv`` — a daily ``doveadm -f tab quota get -A``
  report, its mtime the time of the report.
* ``platform.json`` — the platform as built.
* ``truth.json`` — the true totals, computed from the generator's own model
  of what happened (never by reading the lines back): per user and day (UTC),
  every flow metric of SPEC §3, the last login/receipt/submission times, and
  every storage report; per domain and company the same flows (which add the
  rejections of unknown addresses of the domain).  ``files`` lists the files
  in the order to ingest them; ``unknown_lines`` the lines, by program, that
  a reader is expected not to understand (other programs' noise, garbage);
  ``never_counted_lines`` those of programs that never count (opendkim …), which
  a reader understands and tallies apart.

The traffic covers inbound ham and spam (rspamd milter verdicts, amavis content
filtering with re-injection under a new queue id, sieve ``fileinto Junk``),
mail to aliases (``orig_to``) and to address extensions, authenticated and
webmail submissions with local and remote recipients, forwards (forward-only
users, mailboxes with forward recipients), sieve vacation responses and
redirects (the messages they send are not the user's), filter-only accounts
relayed to their own servers, rejections of every kind (``NOQUEUE: reject``,
``milter-reject``, amavis ``Blocked``, temporary ones that count nothing),
deferred and bounced deliveries, bounce notifications, IMAP/POP3 logins from
outside and from the webmail (not counted), Roundcube logins, failed logins.

What the model counts, per SPEC §3 (the choices a log leaves open):

* a receipt (``in_ham``/``in_size`` or ``in_spam``) per message and user, dated
  at the user's first successful delivery (local, forward or relay), sized as
  the sender sent it (before a content filter grew it);
* ``out_*`` at the submission's queueing (qmgr) line, with its envelope
  recipients — submissions are only addressed to users whose mail is not
  expanded into several recipients, so the count before and after Postfix's
  alias expansion is the same;
* a denial per recipient of a permanent rejection, or of a permanent local
  delivery failure (over quota); for an unknown address of a domain, the
  domain's and company's only;
* an amavis ``Blocked SPAM`` into quarantine is ``in_spam`` (SPEC: quarantined
  spam is received spam); other ``Blocked`` verdicts are denials.

Lines are streamed to the files through a small heap that orders the lines of
overlapping messages by time, so a million lines take seconds and little memory.

Several hosts (``hosts=N``, ``mailtally synth --hosts N``): N complete mail
servers ``mx1`` … ``mxN`` (``mxK.northwind.example``, 10.0.0.K), each the MX and
the mailbox server of a share of the domains (in turn; the first company gets
more domains when there are fewer than hosts), as a provider ships them into one
central syslog: the log files are as above, but each line's syslog host says
which server wrote it.  A scenario plays on the host of the user it concerns (a
reject session, postscreen and noise on a host drawn for them); a message from a
user of one host to a user of another (a submission, a vacation response) goes
by SMTP from the first to the second (Postfix's ``relay=mx2…:25``, Exim's ``=> …
H=mx2… [10.0.0.2]``), which queues it under a queue id of its own and delivers
it: the same Message-ID in flight on two hosts.  It counts as SPEC §3 says:
``out_*`` for the sender where it was submitted, a receipt for the recipient
where it is delivered; the hand-over between the hosts counts nothing.  Every
host draws its queue ids from the same sequence, so the same queue id is on
several hosts, and a ``twin`` scenario has two hosts queue a message each in the
same second under the same id (in flight on both at once, in every such log).
Session ids and Message-IDs are the platform's (unique).  What a real platform
writes besides: one webmail (Roundcube on ``mx1``, one ``roundcube/userlogins``;
its IMAP logins to another host come from mx1's address, which ``webmail_hosts``
lists; its submissions go to the user's own host, as with Roundcube's
``smtp_host = '%h'``; the sendmail pickup form only on mx1, Postfix's), and one
quota report per mailbox host (``quota/mxK/quota-YYYY-MM-DD.tsv``, all at the
same time of day).  ``truth.json`` and ``platform.json`` list the hosts' names,
FQDNs and addresses as ``own_hosts`` (platform.json also ``hosts`` and each
domain's host): a reader must be told them, so that a delivery from one own host
to another is a hand-over, not a receipt, relay or forward.  Either MTA
(``mta``) runs on several hosts: :class:`~.scenarios.Traffic` switches each
host's programs in (``on``), each MTA writes the lines of a hand-over
(``received_from``, ``handed_over_line``).  One host (the default) writes what
it always wrote, byte for byte.

Provider scale (issue 9; ``companies``, ``domains``, ``accounts_per_domain``,
``lines_per_account_day``, ``history_days``): a numbered platform of any size
(:func:`~.platform.build_scale_model`: ``Company N``, ``dN.example``,
``uK@dN.example``, types, features and aliases shared out as on the default
platform), created through the same tree actions as the default one
(``do_change_user``, what the API's ``change_user`` runs, in one write
transaction; synth gives no passwords, so no argon2 hash is made: about 0.5 ms per
account, under a minute for 100,000).  The log's length is accounts × days × the
rate.  History before the log is written as counts (:mod:`.history`): a year of
100,000 accounts is billions of lines, too many to write and read back, so each
account's days (picked from drawn week patterns) are written straight as the flow
rows ingesting their events would make — the account's, its domain's and its
company's, by day, week and month, in key order — and the same days go into the
truth (negative day indices), unless ``history_truth`` is off (a benchmark's year
would not fit in memory).  It draws from a random source of its own, and today's options take the
path they always took: their output is the same, byte for byte.

The package, one module per concern:

* :mod:`.platform` — the model (companies, domains, users, hosts, the world
  outside) and building it in the store; ``platform.json``.
* :mod:`.history` — days before the log, written straight as flow rows.
* :mod:`.truth` — the accounting of what happened (SPEC §3) and ``truth.json``.
* :mod:`.log` — the streamed, time-ordered, rotated output files and their
  syslog stamps.
* one module per program whose lines the log has, each a :class:`~.base.Program`
  whose methods write that program's lines and nothing else: :mod:`.postfix`,
  :mod:`.dovecot` (logins, LMTP/LDA, sieve), :mod:`.rspamd`, :mod:`.amavis`,
  :mod:`.roundcube`, :mod:`.quota` (the daily reports), :mod:`.noise` (other
  programs and garbage); :mod:`.base` is what they share (one host's process
  ids, id counter, random source).
* :mod:`.scenarios` — the traffic: what happens and what it counts.
  :class:`~.scenarios.Traffic` has what every platform shares (users, senders,
  logins, webmail, failed logins, the truth); :class:`~.scenarios.PostfixTraffic`
  the scenarios of a Postfix + rspamd + amavis platform (inbound, submission,
  rejections, deliveries with sieve, forwards, bounces).
* :mod:`.scenarios_exim` — :class:`~.scenarios_exim.EximTraffic`, the same
  traffic on an Exim + spamd platform (``mta="exim"``), written by :mod:`.exim`
  and :mod:`.spamd`; its docstring says what Exim's log changes in the truth
  (a rejection after DATA names no recipient: ``denied_not_in_log``).

To add a program: a new module with a :class:`~.base.Program` subclass whose
methods write its lines (drawing the random details a real line has), created
in the traffic's ``programs()`` and called from the scenarios that involve it;
the scenarios keep the accounting (:class:`~.truth.Truth`), the program module
never counts.  To add a platform (another MTA): modules for its programs (as
``exim.py``, ``spamd.py``) and a subclass of
:class:`~.scenarios.Traffic` in a module of its own that creates them in
``programs()`` and writes the MTA's scenarios (``inbound``, ``submission``,
``reject_session``, ``postscreen``, ``milter_reject``, ``blocked``,
``local_app``, ``noise``, ``smtp_auth_failed``; :class:`~.scenarios.PostfixTraffic`
and :class:`~.scenarios_exim.EximTraffic` the examples, their ``deliver`` shows
which truth each delivery counts), reusing Dovecot (and its ``sieve``), Roundcube,
the quota reports and the shared scenarios; then an entry in :data:`MTAS`.
Random draws are part of the output: a change that draws in another order
changes every later line (the package is checked byte for byte against its
former self, one seed at a time).
"""

from __future__ import annotations

import json
import random
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from mailtally.periods import Periods
from mailtally.store import Store

from .history import write_history
from .log import Log
from .platform import (
    DAY,
    MAIL_HOST,
    MAX_HOSTS,
    SynthError,
    build_model,
    build_scale_model,
    create_in_store,
    make_hosts,
    platform_json,
)
from .quota import QuotaReports
from .scenarios import (
    MEAN_PROFILE,
    MULTI_ONLY,
    MULTI_TOUR_ONLY,
    SCENARIOS,
    TOUR,
    PostfixTraffic,
    Traffic,
    profile,
)
from .scenarios_exim import SCENARIOS_EXIM, TOUR_EXIM, EximTraffic
from .truth import LASTS, METRICS, truth_json

__all__ = ["LASTS", "METRICS", "MTAS", "SynthError", "SynthResult", "check_options", "synthesize"]

#: The platforms synth writes: MTA name -> (traffic, scenario weights, tour).
MTAS: dict[str, tuple[type[Traffic], tuple[tuple[str, float], ...], tuple[str, ...]]] = {
    "postfix": (PostfixTraffic, SCENARIOS, TOUR),
    "exim": (EximTraffic, SCENARIOS_EXIM, TOUR_EXIM),
}


@dataclass(slots=True)
class SynthResult:
    """What :func:`synthesize` wrote."""

    out: Path
    files: list[Path]
    truth: Path
    platform: Path
    lines: int
    bytes: int
    #: summed events recorded as counts for the days before the log (``history_days``),
    #: and the flow rows they are
    history_events: int
    history_rows: int
    #: seconds spent creating the platform in the store, and recording the history
    create_seconds: float
    history_seconds: float
    users: int
    domains: int
    companies: int
    start: int
    end: int
    seconds: float


#: The longest log and history synth writes, in days.
MAX_DAYS = 1000
#: The largest numbered platform (``accounts_per_domain``), its accounts and domains.
MAX_ACCOUNTS = 1_000_000
MAX_SCALE_DOMAINS = 100_000


def _default_start(days: int) -> int:
    today = datetime.now(UTC).date()
    return int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp()) - days * DAY


def check_options(
    *,
    lines: int = 100_000,
    days: int = 7,
    users: int | None = None,
    hosts: int = 1,
    mta: str = "postfix",
    companies: int | None = None,
    domains: int | None = None,
    accounts_per_domain: int | None = None,
    lines_per_account_day: float | None = None,
    history_days: int = 0,
) -> tuple[int, int]:
    """Check :func:`synthesize`'s options (the same names) before any store is
    touched: :class:`SynthError` naming the first one refused, else (the log's
    lines, the accounts).  ``mailtally synth`` asks it before it opens the store,
    so that a refused run leaves no new store behind."""
    if mta not in MTAS:
        raise SynthError(f"mta: one of {', '.join(MTAS)}")
    scale = (companies, domains, accounts_per_domain)
    if any(x is not None for x in scale):
        if any(x is None for x in scale):
            raise SynthError("companies, domains and accounts_per_domain go together")
        assert companies is not None and domains is not None and accounts_per_domain is not None
        if users is not None:
            raise SynthError("users: not with companies, domains and accounts_per_domain")
        if companies < 1 or accounts_per_domain < 1:
            raise SynthError("companies and accounts_per_domain: at least 1")
        if not companies <= domains <= MAX_SCALE_DOMAINS:
            raise SynthError(f"domains: from companies to {MAX_SCALE_DOMAINS}")
        n_scale = domains * accounts_per_domain
        if not 8 <= n_scale <= MAX_ACCOUNTS:
            raise SynthError(f"domains × accounts_per_domain: 8 to {MAX_ACCOUNTS:,}")
    if not 1 <= days <= MAX_DAYS:
        raise SynthError(f"days: 1 to {MAX_DAYS}")
    if not 0 <= history_days <= MAX_DAYS:
        raise SynthError(f"history_days: 0 to {MAX_DAYS}")
    if lines_per_account_day is not None:
        if not 0 < lines_per_account_day <= 10_000:
            raise SynthError("lines_per_account_day: above 0, at most 10000")
        accounts = n_scale if companies is not None else users
        if accounts is None:
            raise SynthError("lines_per_account_day: with users or accounts_per_domain")
        lines = max(100, round(accounts * days * lines_per_account_day))
    if lines < 100:
        raise SynthError("lines: at least 100")
    n_users = (
        n_scale
        if companies is not None
        else users
        if users is not None
        else max(20, min(1500, lines // 600))
    )
    if n_users < 8:
        raise SynthError("users: at least 8")
    if not 1 <= hosts <= MAX_HOSTS:
        raise SynthError(f"hosts: 1 to {MAX_HOSTS}")
    if n_users < hosts:
        raise SynthError("users: at least one per host")
    return lines, n_users


def synthesize(
    store: Store,
    out: Path,
    *,
    lines: int = 100_000,
    days: int = 7,
    seed: int = 1,
    users: int | None = None,
    start: date | None = None,
    hosts: int = 1,
    progress: Callable[[int, int], None] | None = None,
    mta: str = "postfix",
    companies: int | None = None,
    domains: int | None = None,
    accounts_per_domain: int | None = None,
    lines_per_account_day: float | None = None,
    history_days: int = 0,
    history_truth: bool = True,
) -> SynthResult:
    """Create the platform in ``store`` and write the logs, platform.json and truth.json to ``out``.

    ``start`` is the first (UTC) day of the log (default: ``days`` days before
    today, so that the log ends at today's midnight).  The store must count in
    UTC, the zone of the truth's periods.  ``hosts``: how many mail servers
    share the platform's domains (one log of all of them when more than one).
    ``mta`` is the platform's MTA (:data:`MTAS`): Postfix with rspamd and amavis,
    or Exim with SpamAssassin's spamd.

    Provider scale: ``companies``, ``domains`` and ``accounts_per_domain`` (all
    three, instead of ``users``) build a numbered platform of that size
    (:func:`~.platform.build_scale_model`); ``lines_per_account_day`` sets the
    log's length to accounts × days × that rate instead of ``lines``;
    ``history_days`` records that many days before the log straight as counts
    (:mod:`.history`), in the store and (unless not ``history_truth``) in the truth.
    """
    began = _time.monotonic()
    lines, n_users = check_options(
        lines=lines,
        days=days,
        users=users,
        hosts=hosts,
        mta=mta,
        companies=companies,
        domains=domains,
        accounts_per_domain=accounts_per_domain,
        lines_per_account_day=lines_per_account_day,
        history_days=history_days,
    )
    traffic, scenarios_of, tour_of = MTAS[mta]
    with store.read() as q:
        zone = q.meta("timezone") or "UTC"
    if zone != "UTC":
        raise SynthError(f"synth writes UTC logs and truth; this store counts in {zone!r}")
    t0 = (
        _default_start(days)
        if start is None
        else int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
    )
    t_end = t0 + days * DAY
    servers = make_hosts(hosts)
    multi = hosts > 1
    rng = random.Random(seed)
    if companies is not None:
        assert domains is not None and accounts_per_domain is not None
        co, dom, model = build_scale_model(rng, companies, domains, accounts_per_domain, t0, hosts)
    else:
        co, dom, model = build_model(rng, n_users, t0, hosts)
    companies_, domains_ = co, dom
    out.mkdir(parents=True, exist_ok=True)
    created = _time.monotonic()
    create_in_store(store, Periods("UTC"), companies_, domains_, model, t0)

    log = Log(out, t0, t_end, None if multi else MAIL_HOST.name)
    g = traffic(rng, model, domains_, log, t0, t_end, servers)
    create_seconds = _time.monotonic() - created
    history_rows = [0]

    def rows_written(n: int) -> None:
        history_rows[0] = n

    history_events = 0
    if history_days:
        history_events = write_history(
            store, Periods("UTC"), g.truth, model, t0, history_days, seed,
            progress=rows_written, with_truth=history_truth,
        )  # fmt: skip
    history_seconds = _time.monotonic() - created - create_seconds
    reports: list[Path] = []
    quotas = [
        QuotaReports(
            rng,
            [u for u in model if u.domain.host == h],
            out / "quota" / server.name if multi else out / "quota",
            reports,
        )
        for h, server in enumerate(servers)
    ]

    def report(ts: int) -> None:
        for quota in quotas:  # every mailbox host's cron at the same time
            quota.report(ts)

    next_report = t0 + DAY - 15 * 60

    # the traffic: a Poisson stream whose rate follows the day, aimed at `lines` lines
    busy_end = t_end - 1800  # the last half hour: only logins, so every message completes
    t = float(t0 + 5)
    scenarios = 0
    if multi:  # and the scenarios only a platform of several hosts has
        scenarios_of = (*scenarios_of, *MULTI_ONLY)  # (Postfix: MULTI_SCENARIOS, MULTI_TOUR)
        tour_of = (*tour_of, *MULTI_TOUR_ONLY)
    weights_total = sum(w for _, w in scenarios_of)
    kinds = [k for k, _ in scenarios_of]
    cum = []
    acc = 0.0
    for _, w in scenarios_of:
        acc += w
        cum.append(acc / weights_total)
    tour = list(tour_of)
    tail_lines = 2 * 1800 // 60
    span = busy_end - t
    while True:
        # scenarios per second so that the whole log comes to about `lines` lines, with the
        # lines per scenario measured as we go
        avg = log.count / scenarios if scenarios >= 50 else 8.0
        rate = max(lines - tail_lines, 50) / avg / span
        t += rng.expovariate(rate * profile(int(t)) / MEAN_PROFILE)
        ti = int(t)
        if ti >= busy_end:
            break
        while ti >= next_report:
            log.flush_before(next_report)
            report(next_report)
            next_report += DAY
        log.flush_before(ti)
        if tour:
            kind = tour.pop(0)
        else:
            x = rng.random()
            kind = kinds[-1]
            for k, c in zip(kinds, cum, strict=True):
                if x < c:
                    kind = k
                    break
        g.play(kind, ti)
        scenarios += 1
        if progress is not None and scenarios % 5000 == 0:
            progress(log.count, int(t))
    # the quiet end: logins only, the last one just before the end
    t = float(busy_end)
    while t < t_end - 1:
        ti = int(t)
        while ti >= next_report:
            log.flush_before(next_report)
            report(next_report)
            next_report += DAY
        log.flush_before(ti)
        g.login(ti, rng.choice(g.mailboxes))
        t += rng.uniform(20, 100)
    log.flush_before(t_end - 1)
    g.login(t_end - 1, rng.choice(g.mailboxes))
    while next_report < t_end:
        report(next_report)
        next_report += DAY
    log_files = log.close()
    files = [*log_files, log.rc.path, *reports]

    total_lines = sum(f.lines for f in log.files) + log.rc.lines + sum(q.lines for q in quotas)
    truth = truth_json(
        g.truth,
        seed=seed,
        start=t0,
        end=t_end,
        companies=companies_,
        domains=domains_,
        users=model,
        files=[str(p.relative_to(out)) for p in files],
        lines=total_lines,
        hosts=servers,
    )
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=1) + "\n")
    platform_path = out / "platform.json"
    platform_path.write_text(
        json.dumps(platform_json(companies_, domains_, model, servers), indent=1) + "\n"
    )
    size = sum(p.stat().st_size for p in files)
    return SynthResult(
        out=out,
        files=files,
        truth=truth_path,
        platform=platform_path,
        lines=total_lines,
        bytes=size,
        history_events=history_events,
        history_rows=history_rows[0],
        create_seconds=create_seconds,
        history_seconds=history_seconds,
        users=len(model),
        domains=len(domains_),
        companies=len(companies_),
        start=t0,
        end=t_end,
        seconds=_time.monotonic() - began,
    )
