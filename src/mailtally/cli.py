"""The ``mailtally`` command: click commands and nothing else."""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import msgspec

from mailtally import __version__
from mailtally.config import Config, ConfigError, load_config
from mailtally.periods import Clock, Periods
from mailtally.store import (
    Store,
    StoreURLError,
    StoreZoneError,
    open_store,
    open_store_in_zone,
    without_password,
)

__all__ = ["main"]


def _config(ctx: click.Context, **overrides: Any) -> Config:
    try:
        return load_config(ctx.obj.get("config"), **overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def open_configured(config: Config, create: bool = False) -> Store:
    """Open the store, refusing a time zone other than the one it counts in
    (:func:`mailtally.store.open_store_in_zone`).

    ``create``: the command may make a new store (demo, synth, operator add); the
    others refuse a URL where none exists, naming it (README "Decisions": a mistyped
    ``--db`` made a new, empty store that answered "company does not exist").
    """
    try:
        return open_store_in_zone(config.db, config.timezone, create=create)
    except StoreURLError as exc:
        raise click.ClickException(f"db: {exc}") from None
    except StoreZoneError as exc:
        raise click.ClickException(str(exc)) from None


def _hasher(config: Config) -> Any:
    from mailtally.auth import make_hasher

    a = config.auth
    return make_hasher(a.argon2_time_cost, a.argon2_memory_kib, a.argon2_parallelism)


@click.group()
@click.version_option(__version__, prog_name="mailtally", message="%(prog)s %(version)s")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="TOML configuration file (default: $MAILTALLY_CONFIG, "
                   "/etc/mailtally/mailtally.toml).")  # fmt: skip
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """mailtally: exact usage statistics for mail platforms, over the OMA API."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path


#: how long ``serve`` answers the requests in flight after SIGTERM (the systemd
#: unit's TimeoutStopSec is twice this)
GRACEFUL_SECONDS = 30

db_option = click.option(
    "--db",
    default=None,
    help="Store URL: sqlite:///PATH or postgresql://HOST/DATABASE (or MAILTALLY_DB).",
)
tz_option = click.option("--timezone", default=None, help="IANA zone for period boundaries.")


@main.command()
@db_option
@tz_option
@click.option("--host", default=None, help="Listen address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Listen port (default 8080).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    envvar="MAILTALLY_WORKERS",
    show_default=True,
    help="Server processes sharing the listening socket (or MAILTALLY_WORKERS).",
)
@click.option("--access-log/--no-access-log", default=None,
              help="One JSON line per request on standard error (config access_log).")  # fmt: skip
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Each process also serves /metrics on its own port: the first free "
                   "of PORT..PORT+WORKERS-1 (config metrics_port).")  # fmt: skip
@click.option("--metrics-host", default=None,
              help="The address --metrics-port listens on (default 127.0.0.1).")  # fmt: skip
@click.pass_context
def serve(
    ctx: click.Context,
    db: str | None,
    timezone: str | None,
    host: str | None,
    port: int | None,
    workers: int,
    access_log: bool | None,
    metrics_port: int | None,
    metrics_host: str | None,
) -> None:
    """Serve the OMA API (WORKERS processes, each with its own caches and store
    connections; what they must agree on is in the store).

    Also GET /healthz, /readyz and /metrics (README "Deployment").  SIGTERM
    stops it gracefully: requests in flight are answered, the buffered auth
    counts written."""
    import uvicorn

    from mailtally.api import create_app

    config = _config(
        ctx, db=db, timezone=timezone, host=host, port=port, access_log=access_log,
        metrics_port=metrics_port, metrics_host=metrics_host,
    )  # fmt: skip
    store = open_configured(config)  # (migrated, and its zone checked, once, here)
    if workers > 1:
        store.close()
        # each worker (a new interpreter: uvicorn spawns them) opens its own store
        os.environ[_WORKER_CONFIG] = msgspec.json.encode(config).decode()
        os.environ[_WORKER_COUNT] = str(workers)
        app: Any = f"{__name__}:worker_app"
    else:
        app = create_app(store, config)
    click.echo(
        # (never the database's password: this line goes to the service's log)
        f"mailtally serving {without_password(config.db)} on "
        f"http://{config.host}:{config.port}/api/"
        + (f" ({workers} workers)" if workers > 1 else "")
    )
    _freeze_startup()
    # The client address failed tokens are counted by: the peer, or the client
    # named in X-Forwarded-For when the peer is a trusted proxy (explicit here,
    # so uvicorn's own FORWARDED_ALLOW_IPS default does not apply silently).
    # With workers, uvicorn's parent binds the socket, starts them, starts a
    # new one for any that dies, and passes SIGTERM on (each flushes its counts).
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=False,
        proxy_headers=bool(config.trusted_proxies),
        forwarded_allow_ips=config.trusted_proxies or None,
        workers=workers if workers > 1 else None,
        factory=workers > 1,
        # SIGTERM: stop accepting, answer what is in flight (at most this long),
        # then the app's shutdown writes the buffered auth counts
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )


#: the environment variable that hands ``serve --workers``'s configuration to
#: its workers (the configuration as loaded: file, environment and flags)
_WORKER_CONFIG = "MAILTALLY_WORKER_CONFIG"
#: ... and how many they are (the range of their own metrics ports)
_WORKER_COUNT = "MAILTALLY_WORKER_COUNT"


def worker_app() -> Any:
    """The app of one ``serve --workers`` process (uvicorn calls it in the worker)."""
    from mailtally.api import create_app
    from mailtally.api.reuseport import listen_on_own_socket

    config = msgspec.json.decode(os.environ[_WORKER_CONFIG], type=Config)
    # (uvicorn loads the app before it listens: on the socket put in place here)
    listen_on_own_socket(config.port)
    workers = int(os.environ.get(_WORKER_COUNT, "1"))
    app = create_app(open_store(config.db, create=False), config, workers=workers)
    _freeze_startup()
    return app


def _freeze_startup() -> None:
    """What start-up made (modules, the API's tables) lives as long as the process:
    out of the cycle collector's sight, a full collection walks only what the
    requests made since (bench/RESULTS.md, "the tail")."""
    gc.collect()
    gc.freeze()


@main.group()
def operator() -> None:
    """Operators: accounts that may do everything."""


@operator.command("add")
@click.argument("name")
@db_option
@click.pass_context
def operator_add(ctx: click.Context, name: str, db: str | None) -> None:
    """Create (or reset the password of) operator NAME; the password is read from stdin."""
    if "@" in name or not name.strip() or len(name) > 128:
        raise click.ClickException("an operator name is 1-128 characters and not an address")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("no password on standard input")
    config = _config(ctx, db=db)
    store = open_configured(config, create=True)  # (a new deployment's first operator)
    password_hash = _hasher(config).hash(password)
    with store.write() as q:
        q.add_operator(name, password_hash, Clock().now())
        q.drop_tokens_of(name)
    store.close()
    click.echo(f"operator {name} ready")


@main.command()
@db_option
@click.pass_context
def migrate(ctx: click.Context, db: str | None) -> None:
    """Bring the store's schema up to this version (SQLite or PostgreSQL).

    Every command does it when it opens the store; this one does only that, so
    that a deployment can migrate once before it starts its nodes."""
    config = _config(ctx, db=db)
    try:
        store = open_store(config.db)
    except StoreURLError as exc:
        raise click.ClickException(f"db: {exc}") from None
    try:
        applied = store.applied_migrations
        version = store.schema_version()
        current = store.migrations_current()
    finally:
        store.close()
    done = f"applied {', '.join(f'{n:04d}' for n in applied)}; " if applied else ""
    click.echo(f"{done}schema version {version:04d}" + ("" if current else " (not current)"))
    if not current:
        raise SystemExit(1)


@main.command()
@db_option
@tz_option
@click.option("--force", is_flag=True, help="Replace an existing SQLite file.")
@click.pass_context
def demo(ctx: click.Context, db: str | None, timezone: str | None, force: bool) -> None:
    """Build a demo platform (3 domains, ~300 accounts, 14 months of activity)."""
    from rich.console import Console
    from rich.table import Table

    from mailtally.demo import build_demo
    from mailtally.errors import OMAError

    config = _config(ctx, db=db, timezone=timezone)
    if config.db.startswith("sqlite:///"):
        path = Path(config.db[len("sqlite:///") :])
        if path.exists():
            if not force:
                raise click.ClickException(f"{path} exists; use --force to replace it")
            for p in path.parent.glob(path.name + "*"):
                p.unlink()
    store = open_configured(config, create=True)
    console = Console()
    try:
        with console.status("building the demo platform…"):
            logins = build_demo(store, Periods(config.timezone), _hasher(config), Clock().now())
    except OMAError as exc:  # (a PostgreSQL store, which --force does not empty)
        raise click.ClickException(
            f"cannot build the demo in this store ({exc.message}); "
            "demo needs a store without it (a new --db)"
        ) from None
    finally:
        store.close()
    table = Table(title="demo logins")
    for col in ("user", "password", "role"):
        table.add_column(col)
    for login in logins:
        table.add_row(login.user, login.password, login.role)
    console.print(table)
    body = msgspec.json.encode(
        {
            "credentials": {"user": logins[0].user, "password": logins[0].password},
            "type": "domain",
            "object": "example.com",
            "by": "month",
        }
    ).decode()
    click.echo("Try:")
    click.echo(
        f"  curl -s -X POST http://{config.host}:{config.port}/api/stats_summary "
        f"-H 'Content-Type: application/json' -d '{body}'"
    )


@main.command()
@db_option
@click.option("--type", "type_", type=click.Choice(["company", "domain", "user"]), default=None)
@click.option("--object", "object_", required=True, help="Company, domain or address.")
@click.option("--by", type=click.Choice(["day", "week", "month"]), default="day")
@click.option("--json", "as_json", is_flag=True, help="Print the OMA JSON answer.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV, one row per period.")
@click.pass_context
def summary(
    ctx: click.Context,
    db: str | None,
    type_: str | None,
    object_: str,
    by: str,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Run a stats_summary locally (as an operator) and print it."""
    from mailtally.api.stats import resolve_object
    from mailtally.errors import OMAError
    from mailtally.summary import stats_summary
    from mailtally.tree import Principal, find_target, require_stats_readable

    config = _config(ctx, db=db)
    store = open_configured(config)
    periods = Periods(config.timezone)
    p = Principal(name="cli", operator=True)
    try:
        with store.read() as q:
            kind, name = resolve_object(q, p, type_, object_)  # type: ignore[arg-type]
            t = require_stats_readable(p, find_target(q, kind, name), kind, name)
            result = stats_summary(q, periods, t, by, Clock().now())  # type: ignore[arg-type]
    except OMAError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode({"success": True, "summary": result})))
        return
    rows = [_flatten(period, body) for period, body in msgspec.to_builtins(result).items()]
    columns = list(rows[0]) if rows else ["period"]
    if as_csv:
        import csv

        w = csv.DictWriter(sys.stdout, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"stats_summary {t.type} {t.name} by {by}")
    shown = ["period", *(c for c in _TABLE_COLUMNS if c in columns)]
    for c in shown:
        table.add_column(_TABLE_COLUMNS.get(c, c), justify="left" if c == "period" else "right")
    for r in rows:
        table.add_row(*(str(r[c]) for c in shown))
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@main.command()
@db_option
@click.option(
    "--type",
    "type_",
    type=click.Choice(["company", "domain"]),
    default=None,
    help="What --object is (default: a domain if one has that name, else a company).",
)
@click.option("--object", "object_", required=True, help="Company or domain.")
@click.option(
    "--date",
    "date_",
    required=True,
    help="A period as stats_list names it (20261128, 20261123-20261129, 2026-11) "
    "or a day as 2026-11-28.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the CSV here (default: standard output).",
)
@click.pass_context
def snapshot(
    ctx: click.Context,
    db: str | None,
    type_: str | None,
    object_: str,
    date_: str,
    output: str | None,
) -> None:
    """Write the CSV of stats_snapshot: one row per account of a company or domain
    for one period (SPEC §6), the same bytes the API's link gives."""
    from mailtally.api.stats import resolve_object
    from mailtally.errors import OMAError
    from mailtally.snapshot import SnapshotCSV, find_period
    from mailtally.tree import Principal, find_target, require_stats_readable

    config = _config(ctx, db=db)
    store = open_configured(config)
    periods = Periods(config.timezone)
    p = Principal(name="cli", operator=True)
    now = Clock().now()
    part = None if output is None else Path(f"{output}.part")
    try:
        # one reading session: the whole file is of one state of the store
        with store.read() as q:
            kind, name = resolve_object(q, p, type_, object_)  # type: ignore[arg-type]
            if kind == "user":
                raise click.ClickException("--object: a snapshot is of a company or a domain")
            t = require_stats_readable(p, find_target(q, kind, name), kind, name)
            period = find_period(periods, date_.strip(), now, t.createtime)
            lines = SnapshotCSV(t, period, now).lines(q)
            if part is None:
                for text in lines:
                    sys.stdout.buffer.write(text.encode())
                sys.stdout.buffer.flush()
            else:
                with part.open("wb") as f:
                    for text in lines:
                        f.write(text.encode())
                part.replace(output)  # type: ignore[arg-type]
    except OMAError as exc:
        raise click.ClickException(exc.message) from None
    except OSError as exc:
        if part is None:  # (standard output: a closed pipe is not the file's fault)
            raise
        # a folder that does not exist, a full disk: said, not a traceback
        raise click.ClickException(
            f"--output: cannot write {output}: {exc.strerror or exc}"
        ) from None
    finally:
        if part is not None:
            part.unlink(missing_ok=True)
        store.close()


#: what the terminal table shows (--json/--csv have everything), with headings
_TABLE_COLUMNS = {
    "messages.in_ham": "in ham",
    "messages.in_spam": "spam",
    "messages.denied": "denied",
    "messages.in_size": "in bytes",
    "messages.out_msg_count": "sent",
    "messages.out_rcpt_count": "rcpts",
    "messages.forward_count": "fwd",
    "logins.imap4": "imap",
    "logins.pop3": "pop3",
    "logins.webmail": "webmail",
    "users.mailbox": "mailboxes",
    "users.deleted": "deleted",
    "account_type": "type",
    "storage.items_stored": "items",
    "storage.current_size": "stored bytes",
}


def _flatten(period: str, body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"period": period}
    for group, value in body.items():
        if isinstance(value, dict):
            for k, v in value.items():
                out[f"{group}.{k}"] = v
        else:
            out[group] = value
    return out


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False))
@db_option
@tz_option
@click.option("--follow", is_flag=True, help="Keep reading as the files grow and rotate.")
@click.option(
    "--webmail-host",
    "webmail_hosts",
    multiple=True,
    help="IMAP/POP3 logins from this address are the webmail's own (repeatable; "
    "wins over [site] webmail_hosts and the top-level webmail_hosts).",
)
@click.option(
    "--source",
    help="This ingester's name (a mail host's): its file positions and joiner state "
    "are kept under it, so that several ingesters share one store "
    "(default: [ingest] source, else 'default').",
)
@click.option(
    "--to",
    "to_url",
    metavar="URL",
    help="Agent mode: post the events to this mailtally server (ingest_events) instead "
    "of writing a store; credentials from [agent] of the config file.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--batch-lines", type=click.IntRange(1, 10_000_000), default=2_000_000,
              show_default=True, help="Lines counted per transaction.")  # fmt: skip
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              envvar="MAILTALLY_METRICS_PORT",
              help="With --follow: serve this ingester's Prometheus metrics at "
                   "http://HOST:PORT/metrics (or MAILTALLY_METRICS_PORT).")  # fmt: skip
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="The address --metrics-port listens on.")  # fmt: skip
@click.pass_context
def ingest(
    ctx: click.Context,
    paths: tuple[str, ...],
    db: str | None,
    timezone: str | None,
    follow: bool,
    webmail_hosts: tuple[str, ...],
    source: str | None,
    to_url: str | None,
    quiet: bool,
    batch_lines: int,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Count mail-server logs and quota reports (plain or .gz), each line exactly once."""
    from mailtally.ingest.files import Ingester, valid_source

    config = _config(ctx, db=db, timezone=timezone)
    try:
        site = config.site_in_force(webmail_hosts)  # (the flag wins over both keys)
        source = valid_source(source or config.ingest.source)
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    files = list(paths) or (config.ingest.follow if follow else [])
    if not files:
        raise click.ClickException("name the files to read (or ingest.follow in the config)")
    if metrics_port is not None and not follow:
        raise click.ClickException("--metrics-port: only with --follow")
    import signal

    stop = {"now": False}

    def request_stop(signum: int, frame: object) -> None:
        stop["now"] = True

    if follow:
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    to_url = to_url or config.agent.url or None
    store = None
    if to_url:
        ingester: Any = _agent(config, to_url, source, site, batch_lines, lambda: stop["now"])
    else:
        store = open_configured(config)
        ingester = Ingester(store, Periods(config.timezone), site, batch_lines, source=source)
    if follow and metrics_port is not None:
        from mailtally.ingest.watch import FollowWatch, serve_metrics

        ingester.watch = FollowWatch(files)
        try:
            serve_metrics(ingester.watch, metrics_port, metrics_host)
        except OSError as exc:
            if store is not None:
                store.close()
            raise click.ClickException(
                f"--metrics-port: cannot listen on {metrics_host}:{metrics_port}: {exc.strerror}"
            ) from None
    # (the agent's errors only with --to: its module brings http.client and ssl,
    # ~0.1 s of start-up an ingest into the store never uses)
    stopped: tuple[type[Exception], ...] = ()  # (`except ()` catches nothing)
    refused: tuple[type[Exception], ...] = ()
    if to_url:
        from mailtally.ingest.agent import AgentStopped, AuthFailed, RefusedError

        stopped, refused = (AgentStopped,), (AuthFailed, RefusedError)
    try:
        if follow:
            click.echo(f"following {', '.join(files)} as {source} (Ctrl-C to stop)", err=True)
            report = ingester.follow(files, lambda: stop["now"])
        else:
            report = _ingest_with_progress(ingester, files, quiet)
    except stopped as exc:
        raise click.ClickException(f"{exc}; the batch is sent at the next start") from None
    except refused as exc:
        raise click.ClickException(str(exc)) from None
    if store is not None:
        store.close()
    _print_report(report)


def _agent(
    config: Config,
    url: str,
    source: str,
    site: Any,
    batch_lines: int,
    should_stop: Callable[[], bool],
) -> Any:
    """The agent of ``ingest --to`` (ingest/agent.py), its credentials from ``[agent]``."""
    from mailtally.ingest.agent import (
        Agent,
        AgentStopped,
        ApiClient,
        AuthFailed,
        RefusedError,
        agent_state_path,
    )

    settings = config.agent
    if not settings.user:
        raise click.ClickException("--to: set [agent] user (and its password) in the config")
    try:
        api = ApiClient(
            url, settings.user, settings.secret(), f"agent {source}", settings.ca_file or None
        )
        return Agent(
            api,
            agent_state_path(settings.state_directory(), source),
            Periods(config.timezone),
            site,
            batch_lines,
            source=source,
            should_stop=should_stop,
            log=lambda msg: click.echo(f"agent {source}: {msg}", err=True),
        )
    except (ConfigError, ValueError, AuthFailed, RefusedError, AgentStopped) as exc:
        raise click.ClickException(str(exc)) from None


def _ingest_with_progress(ingester: Any, files: list[str], quiet: bool) -> Any:
    if quiet:
        return ingester.ingest(files)
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    started = time.monotonic()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[rate]} lines/s, {task.fields[skipped]} not understood"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def progress(src: Any, n: int) -> None:
            if src.path not in tasks:
                size = max(os.path.getsize(src.path), 1)
                tasks[src.path] = bar.add_task(
                    os.path.basename(src.path), total=size, rate=0, skipped=0
                )
            raw = getattr(src.stream, "fileobj", None) or src.stream
            try:
                done = raw.tell()
            except (OSError, ValueError):
                done = 0
            rep = ingester.report
            elapsed = max(time.monotonic() - started, 1e-6)
            bar.update(
                tasks[src.path],
                completed=done,
                rate=f"{rep.lines / elapsed:,.0f}",
                skipped=f"{rep.unknown_lines:,}",
            )

        return ingester.ingest(files, progress)


def _print_report(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from mailtally.ingest.join import MAX_HELD_RECIPIENTS

    console = Console(stderr=False)
    console.print(
        f"[bold]{report.lines:,}[/] lines read, [bold]{report.events:,}[/] events counted, "
        f"{report.ignored_lines:,} lines understood and not counted, "
        f"{report.unknown_lines:,} lines not understood, "
        f"{report.outside_tree:,} events outside the tenant tree, "
        f"{report.skipped_messages:,} messages never completed"
        + (
            f", {report.dropped_recipients:,} deliveries dropped (over "
            f"{MAX_HELD_RECIPIENTS:,} recipients in one message)"
            if report.dropped_recipients
            else ""
        )
    )
    if report.ignored_programs:
        # Programs that never count, in one line: seen and set aside, not "not understood".
        by = sorted(report.ignored_programs.items(), key=lambda kv: (-kv[1], kv[0]))
        console.print(
            "ignored (programs that never count): "
            + ", ".join(f"{program} {count:,}" for program, count in by),
            markup=False,
            highlight=False,
            soft_wrap=True,  # one line, however many programs
        )
    if report.unknown:
        table = Table(title="lines not understood, by family (else by program)")
        table.add_column("family or program")
        table.add_column("lines", justify="right")
        table.add_column("sample")
        for family, (count, sample) in sorted(
            report.unknown.items(), key=lambda kv: -int(kv[1][0])
        ):
            # Text, not a str: anyone who writes a log line writes the sample (and
            # may name the program), and a str cell is read as Rich markup ("[/x]"
            # ended the report with a traceback and exit status 1; "[link=…]" put
            # a link in the operator's terminal; found in session 15)
            table.add_row(Text(family), f"{count:,}", Text(str(sample)[:160]))
        console.print(table)
    for path, why in report.damaged.items():
        console.print(Text("not read to its end:", style="bold red"), Text(f"{path}: {why}"))


@main.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for the logs, platform.json and truth.json.",
)
@click.option(
    "--lines",
    type=click.IntRange(min=100),
    default=100_000,
    show_default=True,
    help="About how many log lines to write.",
)
@click.option(
    "--days",
    type=click.IntRange(1, 1000),
    default=7,
    show_default=True,
    help="How many days the log covers.",
)
@click.option(
    "--companies",
    type=click.IntRange(min=1),
    default=None,
    help="Provider scale: how many companies (with --domains, --accounts-per-domain).",
)
@click.option(
    "--domains",
    type=click.IntRange(min=1),
    default=None,
    help="Provider scale: how many domains, shared out among the companies.",
)
@click.option(
    "--accounts-per-domain",
    type=click.IntRange(min=1),
    default=None,
    help="Provider scale: accounts in each domain (instead of --users).",
)
@click.option(
    "--lines-per-account-day",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="The log's length as accounts x days x this rate (instead of --lines).",
)
@click.option(
    "--history-days",
    type=click.IntRange(0, 1000),
    default=0,
    show_default=True,
    help="Days before the log recorded straight as counts (store and truth).",
)
@click.option(
    "--history-truth/--no-history-truth",
    default=True,
    show_default=True,
    help="Whether truth.json has the history's days (a benchmark's year would not fit in memory).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option(
    "--users",
    type=click.IntRange(min=8),
    default=None,
    help="How many accounts (default: from --lines).",
)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="First day of the log, UTC (default: DAYS days before today).",
)
@click.option(
    "--hosts",
    type=click.IntRange(min=1, max=16),
    default=1,
    show_default=True,
    help="Mail servers sharing the domains, their lines in one log (truth.json: own_hosts).",
)
@click.option(
    "--mta",
    type=click.Choice(["postfix", "exim"]),
    default="postfix",
    show_default=True,
    help="The platform's MTA: Postfix with rspamd and amavis, or Exim with spamd.",
)
@db_option
@click.pass_context
def synth(
    ctx: click.Context,
    out_dir: str,
    lines: int,
    days: int,
    seed: int,
    users: int | None,
    start: datetime | None,
    hosts: int,
    mta: str,
    companies: int | None,
    domains: int | None,
    accounts_per_domain: int | None,
    lines_per_account_day: float | None,
    history_days: int,
    history_truth: bool,
    db: str | None,
) -> None:
    """Create a generated platform in the store and write a realistic mail log for it.

    Also writes platform.json and truth.json (the true totals per user and day);
    ingest the files in the order truth.json lists them.
    """
    from mailtally.synth import SynthError, check_options, synthesize

    config = _config(ctx, db=db)
    try:  # before the store is opened: a refused run makes no new store
        check_options(lines=lines, days=days, users=users, hosts=hosts, mta=mta,
                      companies=companies, domains=domains,
                      accounts_per_domain=accounts_per_domain,
                      lines_per_account_day=lines_per_account_day,
                      history_days=history_days)  # fmt: skip
    except SynthError as exc:
        raise click.ClickException(str(exc)) from None
    store = open_configured(config, create=True)
    try:
        result = synthesize(store, Path(out_dir), lines=lines, days=days, seed=seed, users=users,
                            start=start.date() if start else None, hosts=hosts,
                            mta=mta, companies=companies, domains=domains,
                            accounts_per_domain=accounts_per_domain,
                            lines_per_account_day=lines_per_account_day,
                            history_days=history_days, history_truth=history_truth)  # fmt: skip
    except SynthError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    first = datetime.fromtimestamp(result.start, UTC)
    last = datetime.fromtimestamp(result.end, UTC)
    click.echo(f"platform: {result.companies} companies, {result.domains} domains, "
               f"{result.users} accounts, created in {without_password(config.db)} "
               f"in {result.create_seconds:.1f} s")  # fmt: skip
    if history_days:
        rate = result.history_rows / max(result.history_seconds, 1e-9)
        click.echo(f"history: {history_days} days before the log, {result.history_events:,} "
                   f"events written as counts, {result.history_rows:,} flow rows in "
                   f"{result.history_seconds:.1f} s ({rate:,.0f} rows/s)")  # fmt: skip
    click.echo(f"log: {result.lines:,} lines from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} "
               f"UTC, {result.bytes / 2**20:,.1f} MiB in "
               f"{result.seconds - result.create_seconds - result.history_seconds:.1f} s "
               f"(synth in all: {result.seconds:.1f} s)")  # fmt: skip
    for path in result.files:
        click.echo(f"  {path}")
    click.echo(f"  {result.platform}")
    click.echo(f"  {result.truth}")
    flags = ""
    if hosts > 1:
        truth = msgspec.json.decode(result.truth.read_bytes())
        own = truth["own_hosts"]
        click.echo(f"own hosts (tell the reader, [site] own_hosts): {', '.join(own)}")
        # the webmail logs in to the other hosts' IMAP from the first host's address:
        # read without it, those logins would count as users' own
        webmail = truth["webmail_hosts"]
        click.echo(f"webmail hosts ([site] webmail_hosts, or --webmail-host as below): "
                   f"{', '.join(webmail)}")  # fmt: skip
        flags = "".join(f" --webmail-host {h}" for h in webmail)
    files = " ".join(str(p) for p in result.files)
    click.echo(f"next: mailtally ingest --db {without_password(config.db)}{flags} {files}")


@main.command()
@db_option
@click.option(
    "--batch-rows",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Rows removed per write transaction at most (each also ends after 25 ms).",
)
@click.pass_context
def prune(ctx: click.Context, db: str | None, batch_rows: int) -> None:
    """Drop daily/weekly rows older than retention.days, monthly older than
    retention.months, and quota reports no kept period reads."""
    from mailtally.prune import prune_command

    config = _config(ctx, db=db)
    store = open_configured(config)
    for line in prune_command(store, config, Clock().now(), batch_rows):
        click.echo(line)
