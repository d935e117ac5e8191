"""Timestamps of log lines, and the split of a syslog line into its parts.

Every time leaves this module as UTC epoch seconds (an ``int``; fractions of a
second are dropped).  Four stamp shapes are read:

* RFC 3339 (rsyslog's high-precision template, ``journalctl -o short-iso``):
  ``2026-11-28T01:23:45.123456+00:00``, ``…Z``, ``…+0000``; a stamp without an
  offset is local time of the deployment zone.
* Classic syslog ``Mmm dd hh:mm:ss`` (``Nov  3 04:05:06``; the day is
  space-padded, ``Nov 03`` and ``Nov 3`` are accepted too).  The year is not in
  the stamp: it is inferred as the latest year in which that moment is not after
  the *reference* time (the file's mtime), give or take ``slack`` seconds of
  clock skew, in the deployment zone.
* ``YYYY-MM-DD hh:mm:ss[.fff]`` local time — rspamd's own log file.
* ``dd-Mmm-YYYY hh:mm:ss [+hhmm|Zone/Name]`` — Roundcube's log files.

Parsing is on the hot path of ``mailtally ingest``: stamps are decoded with
slicing and integer arithmetic, and the local-time conversion is cached per
hour (a zone's offset is constant within an hour except around a transition,
which is detected and computed exactly).
"""

from __future__ import annotations

import time as _time
from datetime import UTC, datetime, tzinfo
from typing import NamedTuple
from zoneinfo import ZoneInfo

__all__ = [
    "MAX_ADDRESS",
    "MAX_DIGITS",
    "MAX_MESSAGE_ID",
    "MONTHS",
    "MONTH_TABLES",
    "StampParser",
    "SyslogLine",
    "days_from_civil",
    "month_table",
    "split_syslog",
    "zone",
]

MONTHS: dict[str, int] = {
    "Jan": 1,
    "Feb": 2,
    "Mar": 3,
    "Apr": 4,
    "May": 5,
    "Jun": 6,
    "Jul": 7,
    "Aug": 8,
    "Sep": 9,
    "Oct": 10,
    "Nov": 11,
    "Dec": 12,
}

_ENGLISH = tuple(MONTHS)

#: Month names as glibc's ``%b`` writes them under common locales (``journalctl``
#: formats its classic stamps with ``%b %d %H:%M:%S`` under the log reader's locale:
#: ``Okt 03 04:05:06``, ``déc. 03 04:05:06``).  Read from glibc's locale sources
#: (``abmon`` of ``/usr/share/i18n/locales/LL_CC``).  ``[site] month_names``
#: names one, or lists 12 names of its own.
MONTH_TABLES: dict[str, tuple[str, ...]] = {
    locale: tuple(names.split())
    for locale, names in {
        "cs": "led úno bře dub kvě čen čec srp zář říj lis pro",
        "da": "jan feb mar apr maj jun jul aug sep okt nov dec",
        "de": "Jan Feb Mär Apr Mai Jun Jul Aug Sep Okt Nov Dez",
        "es": "ene feb mar abr may jun jul ago sep oct nov dic",
        "fi": "tammi helmi maalis huhti touko kesä heinä elo syys loka marras joulu",
        "fr": "janv. févr. mars avril mai juin juil. août sept. oct. nov. déc.",
        "it": "gen feb mar apr mag giu lug ago set ott nov dic",
        "nb": "jan. feb. mars april mai juni juli aug. sep. okt. nov. des.",
        "nl": "jan feb mrt apr mei jun jul aug sep okt nov dec",
        "pl": "sty lut mar kwi maj cze lip sie wrz paź lis gru",
        "pt": "jan fev mar abr mai jun jul ago set out nov dez",
        "ru": "янв фев мар апр мая июн июл авг сен окт ноя дек",
        "sv": "jan feb mar apr maj jun jul aug sep okt nov dec",
    }.items()
}
#: A month name of more bytes than this is refused (the compiled parser's bound).
MAX_MONTH_NAME = 32


def month_table(setting: str | list[str] | tuple[str, ...]) -> dict[str, int]:
    """The localised month names of ``[site] month_names`` → month (1-12).

    ``""`` is English only ({}); a name of MONTH_TABLES, or 12 names, January
    first.  Names are matched as written (case and all).  The English names stay
    understood: a name that is the English one of the same month is left out, and
    one that is the English name of *another* month (or given for two months) is
    refused (ValueError): a stamp must never be read as the wrong month.
    """
    if isinstance(setting, str):
        if not setting:
            return {}
        names = MONTH_TABLES.get(setting.lower())
        if names is None:
            raise ValueError(f"{setting!r} is not one of {', '.join(sorted(MONTH_TABLES))}")
    else:
        names = tuple(setting)
        if len(names) != 12:
            raise ValueError(f"a list of month names has 12 names, not {len(names)}")
    table: dict[str, int] = {}
    for mo, name in enumerate(names, 1):
        if (
            not name
            or any(c.isspace() for c in name)
            or name[0].isdigit()
            or name[0] == "["
            or len(name.encode("utf-8", "surrogatepass")) > MAX_MONTH_NAME
        ):
            raise ValueError(
                f"{name!r} is not a month name (1-{MAX_MONTH_NAME} bytes, no space,"
                " not beginning with a digit or [)"
            )
        english = MONTHS.get(name)
        if english is not None and english != mo:
            raise ValueError(f"{name!r} is the English name of month {english}, not {mo}")
        if table.get(name, mo) != mo:
            raise ValueError(f"{name!r} names two months")
        if english is None:
            table[name] = mo
    return table


#: A run of more digits than this is not a number, in every field of every line,
#: in both implementations.  Python's int() refuses more than 4,300 digits by
#: default (and as few as 640 when so configured), where C would read on: a
#: bound below any setting makes both paths give the same answer, and keeps
#: int() of a field cheap.  No real field comes near (a port, a stamp field, a uid).
MAX_DIGITS = 640
#: A Message-ID (cleanup's ``message-id=``, sieve's ``msgid=``) of more characters
#: than a header line may hold (RFC 5322: 998) makes the line not understood.  The
#: joiner keeps a message's Message-ID while it is in flight, in two tables of up
#: to 100,000 entries: a sender's choice must not make each entry 64 KiB.
MAX_MESSAGE_ID = 998
#: An address (``to=``, ``orig_to=``, ``from=``, ``sasl_username=``, a Dovecot,
#: sieve, Roundcube or quota user, amavis's recipients) of more characters than
#: this makes the line not understood, and so does any other name the joiner keeps
#: while a message is in flight (queue ids, the client's address, a Dovecot session,
#: a quota root).  RFC 5321 allows a path of 256 octets (64 local part, 255 domain);
#: 320 leaves room for the angle brackets, an address extension and a quoted local
#: part, and is what mail software commonly allows.  Without it a sender's choice
#: made each of the joiner's 100,000 entries up to 64 KiB per field (1.2 GB in all).
MAX_ADDRESS = 320

_DIM = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_CACHE_MAX = 4096


def _leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _valid_date(y: int, m: int, d: int) -> bool:
    if not (1 <= y <= 9999 and 1 <= m <= 12 and d >= 1):
        return False
    if m == 2 and d == 29:
        return _leap(y)
    return d <= _DIM[m - 1]


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


_UTC_NAMES = frozenset({"UTC", "Z", "GMT", "ETC/UTC", "ETC/GMT", "UNIVERSAL", "ZULU"})


def zone(tz: str | tzinfo | None) -> tzinfo:
    """The deployment time zone: ``None``/``"UTC"`` → UTC, an IANA name → ZoneInfo.

    A ZoneInfo for UTC is turned into ``datetime.UTC`` too, for the fast path.
    """
    if tz is None:
        return UTC
    if isinstance(tz, str):
        if tz.upper() in _UTC_NAMES:
            return UTC
        return ZoneInfo(tz)
    key = getattr(tz, "key", None)
    if isinstance(key, str) and key.upper() in _UTC_NAMES:
        return UTC
    return tz


def _offset(text: str) -> int | None:
    """Seconds east of UTC for ``Z``, ``+hh:mm``, ``+hhmm``, ``+hh``; ``None`` if not one."""
    if text in ("Z", "z"):
        return 0
    n = len(text)
    if n < 3 or text[0] not in "+-":
        return None
    hh = text[1:3]
    if n == 3:
        mm = "00"
    elif n == 5:
        mm = text[3:5]
    elif n == 6 and text[3] == ":":
        mm = text[4:6]
    else:
        return None
    if not (hh.isdigit() and mm.isdigit() and hh.isascii() and mm.isascii()):
        return None
    off = int(hh) * 3600 + int(mm) * 60
    if off > 18 * 3600:
        return None
    return -off if text[0] == "-" else off


def _two(text: str) -> int:
    """An ASCII-digit field as int, -1 if it is not one (never raises)."""
    if len(text) <= MAX_DIGITS and text.isdigit() and text.isascii():
        return int(text)
    return -1


class StampParser:
    """Decodes the stamps of one log source (one file) into UTC epoch seconds.

    ``reference`` is the moment the source was last written (its mtime; now for a
    followed file) and anchors the year of classic syslog stamps; ``tz`` is the
    deployment zone (an IANA name or tzinfo; UTC by default), used for stamps
    that carry no offset.  ``slack`` tolerates lines stamped slightly after the
    reference (clock skew between hosts, a late mtime).

    Every method returns ``None`` for text that is not a valid stamp; none raises.
    """

    __slots__ = (
        "_hours",
        "_iso_key",
        "_iso_val",
        "_last_key",
        "_last_val",
        "_month_initials",
        "_ref_day",
        "_ref_month",
        "_ref_year",
        "_syslog_hours",
        "_utc",
        "months",
        "reference",
        "slack",
        "tz",
    )

    def __init__(
        self,
        reference: float | None = None,
        tz: str | tzinfo | None = None,
        slack: int = 3600,
        months: dict[str, int] | None = None,
    ) -> None:
        #: localised month name -> month (month_table(); {}: English only), as
        #: (name, month) pairs: classic stamps may begin with these (:meth:`english`)
        self.months = tuple((months or {}).items())
        self._month_initials = frozenset(name[0] for name, _ in self.months)
        self.tz = zone(tz)
        self.reference = int(_time.time() if reference is None else reference)
        self.slack = slack
        self._utc = self.tz is UTC
        ref = datetime.fromtimestamp(self.reference, self.tz)
        self._ref_year = ref.year
        self._ref_month = ref.month
        self._ref_day = ref.day
        self._hours: dict[tuple[int, int, int, int], int | None] = {}
        self._syslog_hours: dict[str, tuple[int | None, ...]] = {}
        self._last_key = ""
        self._last_val: int | None = None
        self._iso_key: tuple[str, str] = ("", "")  # (stamp to the minute, offset)
        self._iso_val: int | None = None  # epoch of that minute

    # -- local wall time -> epoch --------------------------------------------------

    def local(self, y: int, mo: int, d: int, h: int, mi: int, s: int) -> int | None:
        """Epoch seconds of a wall-clock time in the deployment zone (None if invalid)."""
        if not (_valid_date(y, mo, d) and 0 <= h < 24 and 0 <= mi < 60 and 0 <= s <= 60):
            return None
        if self._utc:
            return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
        key = (y, mo, d, h)
        hours = self._hours
        if key in hours:
            base = hours[key]
        else:
            if len(hours) >= _CACHE_MAX:
                hours.clear()
            start = datetime(y, mo, d, h, 0, 0, tzinfo=self.tz).timestamp()
            end = datetime(y, mo, d, h, 59, 59, tzinfo=self.tz).timestamp()
            # Within an hour the offset is constant unless a transition falls in it
            # (e.g. a half-hour DST shift); such an hour is computed exactly below.
            base = int(start) if end - start == 3599 else None
            hours[key] = base
        if base is not None:
            return base + mi * 60 + s
        sec = min(s, 59)
        return int(datetime(y, mo, d, h, mi, sec, tzinfo=self.tz).timestamp()) + (s - sec)

    # -- classic syslog ------------------------------------------------------------

    def english(self, line: str) -> str:
        """``line`` with a leading localised month name (``months``) followed by a
        space made the English one (``déc. 03 04:05:06 …`` → ``Dec 03 04:05:06 …``),
        so that the line is read as any classic line is; other lines as they are.
        Never a guess: only names of the configured table are read."""
        if line[:1] in self._month_initials:
            for name, mo in self.months:
                n = len(name)
                if line.startswith(name) and line[n : n + 1] == " ":
                    return _ENGLISH[mo - 1] + line[n:]
        return line

    def syslog(self, stamp: str) -> int | None:
        """``Mmm dd hh:mm:ss`` (day space- or zero-padded, or single digit)."""
        if stamp == self._last_key:
            return self._last_val
        value = self._syslog(stamp)
        self._last_key = stamp
        self._last_val = value
        return value

    def _syslog(self, stamp: str) -> int | None:
        if len(stamp) < 14 or stamp[-3] != ":" or stamp[-6] != ":" or stamp[-9] != " ":
            return None
        mi_text, s_text = stamp[-5:-3], stamp[-2:]
        if not (mi_text.isdigit() and s_text.isdigit() and mi_text.isascii() and s_text.isascii()):
            return None
        mi, s = int(mi_text), int(s_text)
        if mi >= 60 or s > 60:
            return None
        key = stamp[:-6]  # "Nov 28 01": the candidate hour starts are cached per hour
        bases = self._syslog_hours.get(key)
        if bases is None:
            if len(self._syslog_hours) >= _CACHE_MAX:
                self._syslog_hours.clear()
            bases = self._syslog_hours[key] = self._hour_starts(key)
        off = mi * 60 + s
        limit = self.reference + self.slack
        if bases and bases[0] is None:
            # An hour with a zone transition in it: compute each candidate exactly.
            for y in bases[1:]:
                t = self.local(y, *self._mdh(key), mi, s)  # type: ignore[misc]
                if t is not None and t <= limit:
                    return t
            return None
        for base in bases:
            if base + off <= limit:  # type: ignore[operator]
                return base + off  # type: ignore[operator]
        return None

    @staticmethod
    def _mdh(key: str) -> tuple[int, int, int]:
        parts = key[4:].split()
        return MONTHS[key[:3]], int(parts[0]), int(parts[1])

    def _hour_starts(self, key: str) -> tuple[int | None, ...]:
        """Start of hour ``Mmm dd hh`` in each candidate year, latest first.

        The candidates are the reference's year (and the next one when the
        reference is on 31 December) and the eight years before, so that 29
        February always finds a leap year.  ``(None, years…)`` marks an hour
        with a zone transition, computed per stamp.
        """
        mo = MONTHS.get(key[:3])
        parts = key[4:].split()
        if mo is None or len(parts) != 2:
            return ()
        d, h = _two(parts[0]), _two(parts[1])
        if d < 1 or not 0 <= h < 24:
            return ()
        year = self._ref_year
        # Only a stamp within `slack` of a new year can belong to the next one.
        if self._ref_month == 12 and self._ref_day == 31 and mo == 1:
            year += 1
        years = [y for y in range(year, year - 9, -1) if _valid_date(y, mo, d)]
        starts: list[int | None] = []
        for y in years:
            start = self.local(y, mo, d, h, 0, 0)
            end = self.local(y, mo, d, h, 59, 59)
            if start is None or end is None or end - start != 3599:
                return (None, *years)
            starts.append(start)
        return tuple(starts)

    # -- RFC 3339 and naive ISO ----------------------------------------------------

    def rfc3339(self, stamp: str) -> int | None:
        """``YYYY-MM-DD[T ]hh:mm:ss[.frac][Z|±hh:mm|±hhmm]``; no offset → deployment zone."""
        # Lines of one minute share the stamp up to the minute and the offset:
        # the epoch of that minute is kept, and a stamp of the same minute costs
        # its seconds (the fraction is dropped from the key, and checked).
        rest = stamp[19:]
        if rest[:1] in (".", ","):
            tail = rest[1:].lstrip("0123456789")
            if len(tail) == len(rest) - 1:
                return None  # a point without digits
        else:
            tail = rest
        key = (stamp[:16], tail)
        sec = stamp[17:19]
        same_minute = key == self._iso_key and self._iso_val is not None
        if (
            same_minute
            and stamp[16:17] == ":"
            and len(sec) == 2
            and sec.isascii()
            and sec.isdigit()
        ):
            seconds = int(sec)
            if seconds <= 60:
                return self._iso_val + seconds  # type: ignore[operator]
        t = self._rfc3339(stamp)
        if t is not None:
            self._iso_key, self._iso_val = key, t - int(sec)
        return t

    def _rfc3339(self, stamp: str) -> int | None:
        if len(stamp) < 19:
            return None
        if stamp[4] != "-" or stamp[7] != "-" or stamp[13] != ":" or stamp[16] != ":":
            return None
        if stamp[10] not in "Tt ":
            return None
        y, mo, d = _two(stamp[0:4]), _two(stamp[5:7]), _two(stamp[8:10])
        h, mi, s = _two(stamp[11:13]), _two(stamp[14:16]), _two(stamp[17:19])
        if min(y, mo, d, h, mi, s) < 0:
            return None
        rest = stamp[19:]
        if rest[:1] in (".", ","):
            i = 1
            n = len(rest)
            while i < n and "0" <= rest[i] <= "9":
                i += 1
            if i == 1:
                return None
            rest = rest[i:]
        if not rest:
            return self.local(y, mo, d, h, mi, s)
        off = _offset(rest)
        if off is None:
            return None
        if not (_valid_date(y, mo, d) and h < 24 and mi < 60 and s <= 60):
            return None
        return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off

    # -- Roundcube -----------------------------------------------------------------

    def roundcube(self, stamp: str) -> int | None:
        """Roundcube's default ``d-M-Y H:i:s O`` (``28-Nov-2026 01:02:03 +0000``).

        A zone name (``Europe/Berlin``) in place of the offset, no zone at all
        (deployment zone), and an RFC 3339 stamp (a custom ``log_date_format``)
        are accepted too.
        """
        if stamp[:1].isdigit() and stamp[4:5] == "-":
            return self.rfc3339(stamp.replace(" +", "+").replace(" -", "-"))
        parts = stamp.split()
        if len(parts) not in (2, 3):
            return None
        dmy = parts[0].split("-")
        if len(dmy) != 3:
            return None
        d, mo, y = _two(dmy[0]), MONTHS.get(dmy[1][:1].upper() + dmy[1][1:3].lower()), _two(dmy[2])
        clock = parts[1]
        if mo is None or d < 1 or y < 1 or len(clock) != 8 or clock[2] != ":" or clock[5] != ":":
            return None
        h, mi, s = _two(clock[0:2]), _two(clock[3:5]), _two(clock[6:8])
        if min(h, mi, s) < 0:
            return None
        if len(parts) == 2:
            return self.local(y, mo, d, h, mi, s)
        off = _offset(parts[2])
        if off is None:
            if parts[2].upper() in ("UTC", "GMT"):
                off = 0
            else:
                try:
                    tz = ZoneInfo(parts[2])
                    return int(datetime(y, mo, d, h, mi, min(s, 59), tzinfo=tz).timestamp())
                except (ValueError, KeyError, OSError, OverflowError):
                    return None  # not a zone, or a date no calendar has
        if not (_valid_date(y, mo, d) and h < 24 and mi < 60 and s <= 60):
            return None
        return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off

    def stamp(self, kind: int, text: str) -> int | None:
        """Decode a stamp of the kind :func:`_split` reported."""
        if kind == CLASSIC:
            return self.syslog(text)
        if kind == ROUNDCUBE:
            return self.roundcube(text)
        return self.rfc3339(text)


# -- splitting a line -------------------------------------------------------------

#: Stamp kinds reported by :func:`_split`.
CLASSIC = 0
ISO = 1
ROUNDCUBE = 2


class SyslogLine(NamedTuple):
    """A syslog line taken apart; ``time`` is UTC epoch seconds or None if unreadable."""

    time: int | None
    host: str
    program: str
    pid: int | None
    message: str


def is_exim_id(s: str) -> bool:
    """An Exim message id: 6-6-2 base-62 characters (before 4.97) or 6-11-4."""
    n = len(s)
    if n == 16:
        d1, d2 = 6, 13
    elif n == 23:
        d1, d2 = 6, 18
    else:
        return False
    for i, c in enumerate(s):
        if i in (d1, d2):
            if c != "-":
                return False
        elif not (c.isascii() and c.isalnum()):
            return False
    return True


def _exim_head(line: str, sp: int) -> tuple[int, str, str, str, str, str] | None:
    """Exim's own main log after its stamp ``line[:sp]`` (``YYYY-MM-DD hh:mm:ss[.fff]``):
    ``[ ±zzzz][ [pid]] [ID ]text`` (log_timezone, +pid); None for other files.

    A zone, a pid or a message id after the stamp says Exim.  Without them, a line
    whose first word ends in ``:`` (Dovecot's own file with an ISO
    ``log_timestamp``) or whose second word does (``host program:``) is not Exim's;
    any other line is Exim's (``H=… rejected RCPT``, ``SMTP connection from …``).
    """
    stamp = line[:sp]
    p = sp + 1
    sure = False
    z = line[p : p + 5]
    if (
        len(z) == 5
        and z[0] in "+-"
        and z[1:].isdigit()
        and z[1:].isascii()
        and line[p + 5 : p + 6] == " "
    ):
        stamp += z
        p += 6
        sure = True
    pid = ""
    if line.startswith("[", p):
        e = line.find("] ", p)
        if e > p + 1 and line[p + 1 : e].isdigit() and line[p + 1 : e].isascii():
            pid = line[p + 1 : e]
            p = e + 2
            sure = True
    if not sure:
        e = line.find(" ", p)
        first = line[p:e] if e >= 0 else line[p:]
        if not is_exim_id(first):
            if first.endswith(":") or ("(" in first and ")" not in first) or e < 0:
                return None
            e2 = line.find(" ", e + 1)
            second = line[e + 1 : e2] if e2 >= 0 else line[e + 1 :]
            if second.endswith(":"):
                return None
    return ISO, stamp, "", "exim", pid, line[p:]


def _split(line: str) -> tuple[int, str, str, str, str, str] | None:
    """Take a log line apart without decoding its stamp.

    Returns ``(stamp_kind, stamp, host, program, pid, message)`` (``pid`` as text,
    possibly empty) or ``None`` when the line has no recognisable stamp.  Lines
    without a host (Dovecot's own log file, some syslog templates) are told by
    their first word ending in ``:``; rspamd's own log file (``… #pid(proc)
    <tag>; module; …``) and Roundcube's (``[stamp]: …``) get programs ``rspamd``
    and ``roundcube``.
    """
    n = len(line)
    if n < 16:
        return None
    c = line[0]
    if c == "[":
        e = line.find("]", 1)
        if e < 0:
            return None
        msg = line[e + 1 :]
        if msg.startswith(": "):
            msg = msg[2:]
        elif msg.startswith(" "):
            msg = msg[1:]
        return ROUNDCUBE, line[1:e], "", "roundcube", "", msg
    if "0" <= c <= "9":
        if line[4] != "-" or line[7] != "-" or line[13] != ":":
            return None
        if line[10] == " ":
            # rspamd's own file: "2026-11-28 01:02:03[.123] #1234(normal) <tag>; …"
            sp = line.find(" ", 11)
            if sp < 0:
                return None
            stamp = line[:sp]
            rest = line[sp + 1 :]
            if rest.startswith("["):
                # rspamd with `logging { severity = true; }` (3.0+, logger.c):
                # "… [notice] #1234(normal) <tag>; …"
                e = rest.find("] #", 1, 16)
                if e > 1 and rest[1:e].isascii() and rest[1:e].isalpha():
                    rest = rest[e + 2 :]
            if rest.startswith("#"):
                sp2 = rest.find(" ")
                tag = rest[1:sp2] if sp2 > 0 else rest[1:]
                p = tag.find("(")
                pid = tag[:p] if p > 0 else tag
                return ISO, stamp, "", "rspamd", pid, rest[sp2 + 1 :] if sp2 > 0 else ""
            exim = _exim_head(line, sp)
            if exim is not None:
                return exim
            start = sp + 1
        else:
            sp = line.find(" ")
            if sp < 0:
                return None
            stamp = line[:sp]
            start = sp + 1
        kind = ISO
    else:
        # Classic "Mmm dd hh:mm:ss": 15 characters when the day is padded, 14 if not.
        if line[3] != " ":
            return None
        if line[6] == " " and line[9] == ":" and line[15] == " ":
            stamp = line[:15]
            start = 16
        elif line[5] == " " and line[8] == ":" and line[14] == " ":
            stamp = line[:14]
            start = 15
        else:
            return None
        kind = CLASSIC
    sp = line.find(" ", start)
    if sp < 0:
        return None
    first = line[start:sp]
    if "(" in first and ")" not in first:
        # Dovecot's own file, 2.1 style: "lmtp(12345, alice@example.com): Info: …"
        close = line.find(")", sp)
        colon = line.find(": ", close) if close > 0 else -1
        if colon > 0 and " " not in line[close:colon]:
            return kind, stamp, "", line[start:colon], "", line[colon + 2 :]
    if first.endswith(":"):
        host = ""
        tag = first[:-1]
        msg = line[sp + 1 :]
    else:
        host = first
        e = line.find(" ", sp + 1)
        if e < 0:
            tag = line[sp + 1 :]
            msg = ""
        else:
            tag = line[sp + 1 : e]
            msg = line[e + 1 :]
        if tag.endswith(":"):
            tag = tag[:-1]
        else:
            # "host last message repeated 3 times", "-- MARK --": no program tag.
            return kind, stamp, host, "", "", line[sp + 1 :]
    pid = ""
    if tag.endswith("]"):
        b = tag.find("[")
        if b >= 0:
            pid = tag[b + 1 : -1]
            tag = tag[:b]
    return kind, stamp, host, tag, pid, msg


def split_syslog(line: str, stamps: StampParser | None = None) -> SyslogLine | None:
    """Split a syslog line into (time, host, program, pid, message).

    Both ``prog[pid]: msg`` and ``prog: msg`` are accepted, with any
    ``syslog_name`` (``postfix/submission/smtpd``, ``postfix-out/smtp``).
    ``stamps`` decodes the time (a fresh UTC parser referenced to now if None).
    Returns None for a line without a recognisable stamp.
    """
    parts = _split(line.rstrip("\r\n"))
    if parts is None:
        return None
    kind, stamp, host, program, pid, msg = parts
    if stamps is None:
        stamps = StampParser()
    pid_num = int(pid) if len(pid) <= MAX_DIGITS and pid.isdigit() and pid.isascii() else None
    return SyslogLine(stamps.stamp(kind, stamp), host, program, pid_num, msg)
