"""Periods: days, Monday weeks and months in the deployment's time zone.

An event is counted in the period that contains its time in the deployment's
zone (SPEC §3).  Period keys are the SPEC's own strings and sort in time order
within a kind: ``20261128`` (day), ``20261123-20261129`` (week, Monday to
Sunday), ``2026-11`` (month).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "KINDS",
    "WINDOW",
    "Clock",
    "Kind",
    "Period",
    "Periods",
    "format_time",
    "load_zone",
    "parse_rfc3339",
]

Kind = Literal["day", "week", "month"]
KINDS: tuple[Kind, ...] = ("day", "week", "month")

#: How many periods a stats_summary window holds, the current one included.
WINDOW: dict[Kind, int] = {"day": 30, "week": 52, "month": 48}

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EPOCH = date(1970, 1, 1)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError with a sentence a person can act on."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'Europe/Amsterdam'"
        ) from exc


def parse_rfc3339(value: object, now: int, max_ahead: int) -> int:
    """An RFC 3339 time (with its offset) as epoch seconds, at most ``max_ahead``
    seconds after ``now`` and not before 1970; ValueError says what is wrong, as
    the end of a sentence about the value ("... must carry a time zone offset")."""
    example = "must be an RFC 3339 time such as 2011-07-21T17:46:22Z"
    if not isinstance(value, str) or "T" not in value.upper():
        raise ValueError(example)
    try:
        dt = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(example) from None
    if dt.tzinfo is None:
        raise ValueError("must carry a time zone offset (Z or ±hh:mm)")
    ts = int(dt.timestamp())
    if ts > now + max_ahead:
        raise ValueError("must not be in the future")
    if ts < 0:
        raise ValueError("must not be before 1970")
    return ts


def format_time(ts: int | None) -> str:
    """``Thu Jul 21 17:46:22 2011 UTC`` (day not padded), or ``""`` for none."""
    if not ts:
        return ""
    # a user summary formats up to 150 of these: the date once per UTC day, and
    # no format specs (parsing ``:02d`` cost more than the rest)
    day, second = divmod(ts, 86400)
    date_part, year_part = _utc_day(day)
    return f"{date_part}{_HOUR_MINUTE[second // 60]}{_TWO[second % 60]}{year_part}"


_TWO = [f"{i:02d}" for i in range(60)]
#: "HH:MM:" of each minute of a day
_HOUR_MINUTE = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440)]


@lru_cache(maxsize=4096)
def _utc_day(day: int) -> tuple[str, str]:
    """("Thu Jul 21 ", " 2011 UTC"): the text around the time of UTC day ``day``
    (days since the epoch)."""
    d = _EPOCH + timedelta(days=day)
    return f"{_WEEKDAYS[d.weekday()]} {_MONTHS[d.month - 1]} {d.day} ", f" {d.year} UTC"


@dataclass(frozen=True, slots=True)
class Period:
    """One period: its key, and its bounds as UTC epoch seconds [start, end)."""

    kind: Kind
    key: str
    start: int
    end: int


def _day_key(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def _week_key(d: date) -> str:
    monday = d - timedelta(days=d.weekday())
    return f"{_day_key(monday)}-{_day_key(monday + timedelta(days=6))}"


def _month_key(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


class Clock:
    """The current time; tests substitute a fixed one."""

    def now(self) -> int:
        # time.time() is the same clock as datetime.now(UTC).timestamp(), a
        # quarter of the cost; a request asks for the time several times
        return int(time.time())


class FixedClock(Clock):
    def __init__(self, now: int) -> None:
        self.value = now

    def now(self) -> int:
        return self.value


class Periods:
    """Period arithmetic in one time zone."""

    def __init__(self, zone: str = "UTC") -> None:
        self.zone_name = zone
        self.zone = load_zone(zone)
        # Local dates of 15-minute UTC buckets: every modern zone offset is a
        # multiple of 15 minutes, so a bucket almost never straddles local
        # midnight (and when one does, keys() computes the exact answer).
        self._keys_of_bucket = lru_cache(maxsize=65536)(self._compute_keys)
        self._windows = lru_cache(maxsize=64)(self._compute_window)

    # -- events → keys ------------------------------------------------------
    def local_date(self, ts: int) -> date:
        return datetime.fromtimestamp(ts, self.zone).date()

    def _compute_keys(self, bucket: int) -> tuple[str, str, str] | None:
        first = self.local_date(bucket * 900)
        if self.local_date(bucket * 900 + 899) != first:
            return None  # an odd historical offset: this bucket straddles midnight
        return _day_key(first), _week_key(first), _month_key(first)

    def bucket_keys(self, bucket: int) -> tuple[str, str, str] | None:
        """The keys of every second of quarter hour ``bucket`` (``ts // 900``).

        None for a quarter hour that straddles a local midnight (an odd
        historical offset): its seconds must be asked one by one.
        """
        return self._keys_of_bucket(bucket)

    def keys(self, ts: int) -> tuple[str, str, str]:
        """(day, week, month) keys of the periods that contain ``ts``."""
        found = self._keys_of_bucket(ts // 900)
        if found is None:
            d = self.local_date(ts)
            return _day_key(d), _week_key(d), _month_key(d)
        return found

    def key(self, kind: Kind, ts: int) -> str:
        return self.keys(ts)[KINDS.index(kind)]

    # -- periods ------------------------------------------------------------
    def _midnight(self, d: date) -> int:
        # A local midnight that does not exist (a DST jump at 00:00) resolves to
        # the first instant of the day that does.
        return int(datetime(d.year, d.month, d.day, tzinfo=self.zone).timestamp())

    def period_of(self, kind: Kind, d: date) -> Period:
        """The period of ``kind`` containing local date ``d``."""
        if kind == "day":
            first, nxt = d, d + timedelta(days=1)
            key = _day_key(d)
        elif kind == "week":
            first = d - timedelta(days=d.weekday())
            nxt = first + timedelta(days=7)
            key = _week_key(d)
        else:
            first = d.replace(day=1)
            nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
            key = _month_key(d)
        return Period(kind, key, self._midnight(first), self._midnight(nxt))

    def window(self, kind: Kind, now: int, count: int | None = None) -> list[Period]:
        """The current period and the ``count - 1`` before it, oldest first."""
        n = WINDOW[kind] if count is None else count
        # every summary asks for it: worked out once per local day
        return list(self._windows(kind, self.local_date(now), n))

    def _compute_window(self, kind: Kind, d: date, n: int) -> tuple[Period, ...]:
        out: list[Period] = []
        for _ in range(n):
            p = self.period_of(kind, d)
            out.append(p)
            d = self.local_date(p.start) - timedelta(days=1)
        out.reverse()
        return tuple(out)
