"""Configuration: one TOML file, overridden by environment variables, then flags.

The file is ``--config PATH``, else ``$MAILTALLY_CONFIG``, else
``/etc/mailtally/mailtally.toml`` if it exists.  Every key is optional::

    db = "sqlite:////var/lib/mailtally/mailtally.sqlite3"  # or MAILTALLY_DB (//// = absolute path)
    host = "127.0.0.1"                                       # MAILTALLY_HOST
    port = 8080                                              # MAILTALLY_PORT
    timezone = "UTC"                                         # MAILTALLY_TIMEZONE
    webmail_hosts = ["127.0.0.1", "::1"]
    trusted_proxies = ["127.0.0.1", "::1"]   # whose X-Forwarded-For names the client

    [retention]
    days = 400        # daily and weekly rows kept at least this many days
    months = 49       # monthly rows kept at least this many months

    [ingest]
    follow = ["/var/log/mail.log"]

    [auth]
    argon2_time_cost = 3
    argon2_memory_kib = 65536
    argon2_parallelism = 4
    max_waiting_checks = 64
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

import msgspec

from mailtally.periods import load_zone

__all__ = ["DEFAULT_CONFIG_PATH", "Config", "ConfigError", "load_config"]

DEFAULT_CONFIG_PATH = Path("/etc/mailtally/mailtally.toml")
DEFAULT_DB = "sqlite:///mailtally.sqlite3"


class ConfigError(ValueError):
    """A setting mailtally refuses; the message says which and why."""


class Retention(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    days: int = 400
    months: int = 49


class Ingest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    follow: list[str] = msgspec.field(default_factory=list)


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
    webmail_hosts: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1", "::1"])
    #: peers whose X-Forwarded-For names the client (uvicorn's proxy headers):
    #: failed tokens are limited per client address.  [] trusts no one.
    trusted_proxies: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1", "::1"])
    retention: Retention = msgspec.field(default_factory=Retention)
    ingest: Ingest = msgspec.field(default_factory=Ingest)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)

    def validate(self) -> Config:
        """Check every setting; raises ConfigError naming the bad one."""
        try:
            load_zone(self.timezone)
        except ValueError as exc:
            raise ConfigError(f"timezone: {exc}") from None
        if not 0 < self.port < 65536:
            raise ConfigError(f"port: {self.port} is not a TCP port (1-65535)")
        if not self.host:
            raise ConfigError("host: must not be empty")
        if not self.db:
            raise ConfigError("db: must name a store, e.g. sqlite:///mailtally.sqlite3")
        for h in self.webmail_hosts:
            try:
                ipaddress.ip_address(h)
            except ValueError:
                raise ConfigError(f"webmail_hosts: {h!r} is not an IP address") from None
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
