"""Configuration: one TOML file, overridden by environment variables, then flags.

The file is ``--config PATH``, else ``$MAILTALLY_CONFIG``, else
``/etc/mailtally/mailtally.toml`` if it exists.  Every key is optional::

    db = "sqlite:////var/lib/mailtally/mailtally.sqlite3"  # or MAILTALLY_DB (//// = absolute path)
    host = "127.0.0.1"                                       # MAILTALLY_HOST
    port = 8080                                              # MAILTALLY_PORT
    timezone = "UTC"                                         # MAILTALLY_TIMEZONE
    webmail_hosts = ["127.0.0.1", "::1"]
    trusted_proxies = ["127.0.0.1", "::1"]   # whose X-Forwarded-For names the client
    access_log = false                       # MAILTALLY_ACCESS_LOG: a JSON line per request
    metrics_port = 0          # MAILTALLY_METRICS_PORT: each serve process's /metrics on its own
    metrics_host = "127.0.0.1"  # port, the first free of metrics_port..+workers-1 (0: none)

    [retention]
    days = 400        # daily and weekly rows kept at least this many days
    months = 49       # monthly rows kept at least this many months

    [ingest]
    follow = ["/var/log/mail.log"]
    source = "default"   # this ingester's name (--source): its positions and joiner state

    [agent]           # mailtally ingest --to URL: post events to a server, no store here
    url = ""          # the server (--to wins over it), e.g. "https://api.example/"
    user = ""         # an operator, or a company's admin (that company's events only)
    password = ""     # or password_file = "/etc/mailtally/agent.password" (first line)
    password_file = ""
    state_dir = ""    # where agent-SOURCE.json is kept ("": $STATE_DIRECTORY, else ".")
    ca_file = ""      # CA bundle for an https url ("": the system's)

    [site]            # facts of the mail platform the logs come from
    webmail_hosts = ["127.0.0.1", "::1"]  # IMAP/POP3 logins from here are the webmail's
    webmail_uids = [33]                   # pickup uid= of the webmail's sendmail (www-data)
    webmail_users = ["www-data"]          # Exim's U= of the webmail's sendmail (P=local)
    junk_mailboxes = ["Junk", "Spam", "Junk E-mail"]  # sieve fileinto here: in_spam
    local_services = ["lmtp", "local", "virtual", "pipe"]  # Postfix transports into mailboxes
    filter_relays = []                    # content filters by host, IP or IP:port
    filter_ports = [10023, 10024, 10026]  # loopback ports that are content filters
    reinject_grace = 60                   # s a loopback re-injection waits for its filter
    recipient_delimiter = "+"             # address extensions: alice+tag@ is alice@ ("" none)
    own_hosts = []                        # host names and IPs of the platform's own servers
    month_names = ""                      # classic stamps' month names: "de", "fr", … or 12

    [auth]
    argon2_time_cost = 3
    argon2_memory_kib = 65536
    argon2_parallelism = 4
    max_waiting_checks = 64

``[site]``: the joiner's facts about the platform (mailtally.ingest.join).
``webmail_hosts`` may also be given at the top level (the older spelling of the
same setting); ``[site] webmail_hosts`` wins over it, and ``--webmail-host``
(``mailtally ingest``) over both.  ``filter_relays`` names content filters
that are not on a loopback port: a delivery to one is a hand-off, not a
receipt.  ``month_names`` names a built-in table (``stamps.MONTH_TABLES``:
cs da de es fi fr it nb nl pl pt ru sv) or lists the 12 names as
``journalctl`` writes ``%b`` under the log's locale; English names stay
understood, and without the setting a localised stamp is not understood.
``own_hosts`` is handed to the joiner when not empty.  The defaults fit
amavis (10024; 10026, its ORIGINATING bank) and Proxmox Mail Gateway (LMTP to
10024 for mail from outside, 10023 from the internal network); README
"Configuration" has an example of each.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

# (not ingest.join: every command reads the configuration, few need the joiner)
from mailtally.ingest.defaults import FILTER_PORTS, JUNK_MAILBOXES, LOCAL_SERVICES
from mailtally.periods import load_zone

__all__ = ["DEFAULT_CONFIG_PATH", "Config", "ConfigError", "Site", "load_config"]

DEFAULT_CONFIG_PATH = Path("/etc/mailtally/mailtally.toml")
DEFAULT_DB = "sqlite:///mailtally.sqlite3"
#: the webmail's hosts by default (its IMAP/POP3 logins are not the users' own)
WEBMAIL_HOSTS = ("127.0.0.1", "::1")


class ConfigError(ValueError):
    """A setting mailtally refuses; the message says which and why."""


class Retention(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    days: int = 400
    months: int = 49


class Ingest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    follow: list[str] = msgspec.field(default_factory=list)
    source: str = "default"


class AgentSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[agent]``: how ``mailtally ingest --to`` reaches its server (ingest/agent.py)."""

    url: str = ""
    user: str = ""
    password: str = ""
    password_file: str = ""
    state_dir: str = ""
    ca_file: str = ""

    def secret(self) -> str:
        """The password: ``password``, else the first line of ``password_file``."""
        if self.password:
            return self.password
        if not self.password_file:
            raise ConfigError("agent: set password or password_file for the agent's user")
        try:
            text = Path(self.password_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"agent.password_file: cannot read {self.password_file}: {exc.strerror}"
            ) from None
        line = text.splitlines()[0] if text.strip() else ""
        if not line:
            raise ConfigError(f"agent.password_file: {self.password_file} is empty")
        return line

    def state_directory(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir)
        # systemd's StateDirectory= (the first, if several)
        return Path(os.environ.get("STATE_DIRECTORY", ".").split(":")[0])


class Site(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The joiner's facts about the platform (module docstring, README "Configuration")."""

    #: None: the top-level ``webmail_hosts`` (the older spelling) is used
    webmail_hosts: list[str] | None = None
    webmail_uids: list[int] = msgspec.field(default_factory=lambda: [33])
    #: the users whose local submissions through Exim's sendmail (``<= … U=user
    #: P=local``) are the webmail's or the users' scripts': counted as the envelope
    #: sender's, as Postfix's pickup ``webmail_uids``
    webmail_users: list[str] = msgspec.field(default_factory=lambda: ["www-data"])
    junk_mailboxes: list[str] = msgspec.field(default_factory=lambda: list(JUNK_MAILBOXES))
    local_services: list[str] = msgspec.field(default_factory=lambda: list(LOCAL_SERVICES))
    filter_relays: list[str] = msgspec.field(default_factory=list)
    filter_ports: list[int] = msgspec.field(default_factory=lambda: list(FILTER_PORTS))
    reinject_grace: int = 60
    recipient_delimiter: str = "+"
    own_hosts: list[str] = msgspec.field(default_factory=list)
    #: "" (English only), a built-in table's name, or the 12 names January first
    month_names: str | list[str] = ""

    def validate(self) -> None:
        """Check every key; raises ConfigError naming the bad one (``site.KEY``)."""
        for h in self.webmail_hosts or ():
            _ip("site.webmail_hosts", h)
        for uid in self.webmail_uids:
            if not 0 <= uid < 2**32:
                raise ConfigError(f"site.webmail_uids: {uid} is not a uid (0 to 4294967295)")
        for user in self.webmail_users:
            if not user or any(c.isspace() for c in user):
                raise ConfigError(f"site.webmail_users: {user!r} is not a user name")
        for key, names in (
            ("junk_mailboxes", self.junk_mailboxes),
            ("local_services", self.local_services),
        ):
            for name in names:
                if not name.strip():
                    raise ConfigError(f"site.{key}: a name must not be empty")
        for relay in self.filter_relays:
            if not relay.strip() or any(c.isspace() for c in relay):
                raise ConfigError(
                    f"site.filter_relays: {relay!r} is not a host, IP address or IP:port"
                )
        for port in self.filter_ports:
            if not 0 < port < 65536:
                raise ConfigError(f"site.filter_ports: {port} is not a TCP port (1-65535)")
        if not 0 <= self.reinject_grace <= 3600:
            raise ConfigError("site.reinject_grace: must be 0 to 3600 seconds")
        d = self.recipient_delimiter
        if len(d) > 1 or d.isspace() or d in '@<>"':
            raise ConfigError(
                f'site.recipient_delimiter: {d!r} must be one character (not @ < > " or space)'
                " or empty"
            )
        for h in self.own_hosts:
            if not h.strip() or any(c.isspace() for c in h):
                raise ConfigError(f"site.own_hosts: {h!r} is not a host name or IP address")
        if self.month_names != "":  # ("": English only; no stamps module to load for it)
            from mailtally.ingest.stamps import month_table

            try:
                month_table(self.month_names)
            except ValueError as exc:
                raise ConfigError(f"site.month_names: {exc}") from None

    def joiner_config(self) -> dict[str, Any]:
        """The joiner's keyword arguments."""
        hosts = WEBMAIL_HOSTS if self.webmail_hosts is None else self.webmail_hosts
        config: dict[str, Any] = {
            "webmail_hosts": tuple(hosts),
            "webmail_uids": tuple(self.webmail_uids),
            "webmail_users": tuple(self.webmail_users),
            "junk_mailboxes": tuple(self.junk_mailboxes),
            "local_services": tuple(self.local_services),
            "filter_relays": tuple(self.filter_relays),
            "filter_ports": tuple(self.filter_ports),
            "reinject_grace": self.reinject_grace,
            "recipient_delimiter": self.recipient_delimiter,
            "own_hosts": tuple(self.own_hosts),
        }
        return config


def _ip(key: str, text: str) -> None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ConfigError(f"{key}: {text!r} is not an IP address") from None


class AuthSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    #: password checks that may wait for one of the two argon2 threads; past
    #: this a check is refused at once with error 1
    max_waiting_checks: int = 64


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    db: str = DEFAULT_DB
    host: str = "127.0.0.1"
    port: int = 8080
    timezone: str = "UTC"
    webmail_hosts: list[str] = msgspec.field(default_factory=lambda: list(WEBMAIL_HOSTS))
    #: peers whose X-Forwarded-For names the client (uvicorn's proxy headers):
    #: failed tokens are limited per client address.  [] trusts no one.
    trusted_proxies: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1", "::1"])
    #: one JSON line per API request on standard error (api/ops.py)
    access_log: bool = False
    #: ``serve``: each process also answers ``/metrics`` on a port of its own,
    #: the first free one of metrics_port .. metrics_port + workers - 1 (0: none),
    #: since on the API's port a scrape reaches one worker chosen by the kernel
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    retention: Retention = msgspec.field(default_factory=Retention)
    ingest: Ingest = msgspec.field(default_factory=Ingest)
    agent: AgentSettings = msgspec.field(default_factory=AgentSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    site: Site = msgspec.field(default_factory=Site)

    def site_in_force(self, webmail_hosts: Iterable[str] = ()) -> Site:
        """``[site]`` with the webmail's hosts in force: ``webmail_hosts`` (the
        ``--webmail-host`` flag) if any, else ``[site] webmail_hosts``, else the
        top-level ``webmail_hosts``."""
        hosts = list(webmail_hosts)
        for h in hosts:
            _ip("--webmail-host", h)
        if not hosts:
            hosts = (
                self.webmail_hosts if self.site.webmail_hosts is None else self.site.webmail_hosts
            )
        return msgspec.structs.replace(self.site, webmail_hosts=hosts)

    def validate(self) -> Config:
        """Check every setting; raises ConfigError naming the bad one."""
        try:
            load_zone(self.timezone)
        except ValueError as exc:
            raise ConfigError(f"timezone: {exc}") from None
        if not 0 < self.port < 65536:
            raise ConfigError(f"port: {self.port} is not a TCP port (1-65535)")
        if not 0 <= self.metrics_port < 65536:
            raise ConfigError(
                f"metrics_port: {self.metrics_port} is not a TCP port (1-65535; 0: none)"
            )
        if not self.host:
            raise ConfigError("host: must not be empty")
        if not self.db:
            raise ConfigError("db: must name a store, e.g. sqlite:///mailtally.sqlite3")
        for h in self.webmail_hosts:
            _ip("webmail_hosts", h)
        self.site.validate()
        for h in self.trusted_proxies:
            try:
                ipaddress.ip_network(h, strict=False)
            except ValueError:
                raise ConfigError(
                    f"trusted_proxies: {h!r} is not an IP address or network"
                ) from None
        if self.retention.days < 400:
            raise ConfigError("retention.days: daily rows are kept at least 400 days")
        if self.retention.months < 49:
            raise ConfigError("retention.months: monthly rows are kept at least 49 months")
        a = self.auth
        if a.argon2_time_cost < 1 or a.argon2_parallelism < 1:
            raise ConfigError("auth: argon2 time cost and parallelism must be at least 1")
        if a.argon2_memory_kib < 8 * a.argon2_parallelism:
            raise ConfigError("auth.argon2_memory_kib: at least 8 KiB per lane")
        if not 0 <= a.max_waiting_checks <= 10_000:
            raise ConfigError("auth.max_waiting_checks: must be 0 to 10000")
        return self


def _flag(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """File, then environment, then ``overrides`` (flags; None means not given)."""
    if path is None:
        env = os.environ.get("MAILTALLY_CONFIG")
        if env:
            path = env
        elif DEFAULT_CONFIG_PATH.exists():
            path = DEFAULT_CONFIG_PATH
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
        try:
            data = msgspec.toml.decode(text)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    for key, var, cast in (
        ("db", "MAILTALLY_DB", str),
        ("host", "MAILTALLY_HOST", str),
        ("port", "MAILTALLY_PORT", int),
        ("timezone", "MAILTALLY_TIMEZONE", str),
        ("access_log", "MAILTALLY_ACCESS_LOG", _flag),
        ("metrics_port", "MAILTALLY_METRICS_PORT", int),
    ):
        if os.environ.get(var):
            try:
                data[key] = cast(os.environ[var])
            except ValueError:
                raise ConfigError(f"{var}: {os.environ[var]!r} is not valid") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        where = f" in {path}" if path else ""
        raise ConfigError(f"bad setting{where}: {exc}") from None
    return config.validate()
