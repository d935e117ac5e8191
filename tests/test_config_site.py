"""``[site]``: the joiner's facts about the platform, from the TOML file to the counts.

Each key is parsed, has its default, and a bad value is refused with its key
named; then a real ``mailtally ingest --config`` shows that a setting changes
what is counted (a custom junk folder makes a receipt spam, a custom filter
port makes a hand-off no delivery, a month-name table makes localised stamps
readable), in both hot loops.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailtally.config import WEBMAIL_HOSTS, ConfigError, Site, load_config
from mailtally.ingest.join import FILTER_PORTS, JUNK_MAILBOXES, LOCAL_SERVICES, Joiner
from mailtally.ingest.stamps import MONTH_TABLES, month_table
from mailtally.store import open_store
from test_ingest_fidelity import cli_ingest, flows, lmtp, message, pf
from test_ingest_files import build_tree, write


@pytest.fixture(autouse=True)
def no_environment(monkeypatch):
    for var in ("MAILTALLY_CONFIG", "MAILTALLY_DB", "MAILTALLY_TIMEZONE"):
        monkeypatch.delenv(var, raising=False)


def load(tmp_path: Path, toml: str, **overrides):
    path = tmp_path / "mailtally.toml"
    path.write_text(toml, encoding="utf-8")
    return load_config(path, **overrides)


# -- parsing ------------------------------------------------------------------------------


def test_defaults_are_the_joiners() -> None:
    site = Site()
    assert site.webmail_hosts is None  # the top-level key then
    assert site.webmail_uids == [33]
    assert site.webmail_users == ["www-data"]  # PHP's user on Debian and Ubuntu
    assert tuple(site.junk_mailboxes) == JUNK_MAILBOXES
    assert tuple(site.local_services) == LOCAL_SERVICES
    assert site.filter_relays == [] and tuple(site.filter_ports) == FILTER_PORTS
    assert 10023 in FILTER_PORTS  # Proxmox Mail Gateway's internal port
    assert site.reinject_grace == 60 and site.recipient_delimiter == "+"
    assert site.own_hosts == [] and site.month_names == ""
    j = Joiner(**Site().joiner_config())
    assert j.webmail_hosts == frozenset(WEBMAIL_HOSTS)
    assert j.filter_ports == frozenset(FILTER_PORTS)
    assert tuple(j.own_hosts) == ()
    assert j.webmail_users == frozenset({"www-data"})


SITE_TOML = """
[site]
webmail_hosts = ["10.0.0.20"]
webmail_uids = [33, 1001]
webmail_users = ["apache", "nginx"]
junk_mailboxes = ["Quarantaine"]
local_services = ["lmtp", "dovecot"]
filter_relays = ["scanner.example.net", "10.0.0.9:10024"]
filter_ports = [10023, 10024]
reinject_grace = 120
recipient_delimiter = "-"
own_hosts = ["mx1.example.net", "10.0.0.1"]
month_names = "de"
"""


def test_each_key_is_parsed(tmp_path: Path) -> None:
    c = load(tmp_path, SITE_TOML)
    s = c.site
    assert s.webmail_hosts == ["10.0.0.20"]
    assert s.webmail_uids == [33, 1001]
    assert s.webmail_users == ["apache", "nginx"]
    assert s.junk_mailboxes == ["Quarantaine"]
    assert s.local_services == ["lmtp", "dovecot"]
    assert s.filter_relays == ["scanner.example.net", "10.0.0.9:10024"]
    assert s.filter_ports == [10023, 10024]
    assert s.reinject_grace == 120
    assert s.recipient_delimiter == "-"
    assert s.own_hosts == ["mx1.example.net", "10.0.0.1"]
    assert month_table(s.month_names) == {"Mär": 3, "Mai": 5, "Okt": 10, "Dez": 12}
    kw = c.site_in_force().joiner_config()
    assert kw["own_hosts"] == ("mx1.example.net", "10.0.0.1")
    assert kw["webmail_users"] == ("apache", "nginx")
    assert kw["filter_relays"] == ("scanner.example.net", "10.0.0.9:10024")
    assert kw["recipient_delimiter"] == "-" and kw["reinject_grace"] == 120
    names = [f"m{i}" for i in range(1, 13)]
    c = load(tmp_path, f"[site]\nmonth_names = {names!r}\n".replace("'", '"'))
    assert month_table(c.site.month_names)["m12"] == 12


def test_which_webmail_hosts_win(tmp_path: Path) -> None:
    top = 'webmail_hosts = ["10.0.0.5"]\n'
    assert load(tmp_path, top).site_in_force().webmail_hosts == ["10.0.0.5"]
    both = top + '[site]\nwebmail_hosts = ["10.0.0.6"]\n'
    assert load(tmp_path, both).site_in_force().webmail_hosts == ["10.0.0.6"]
    assert load(tmp_path, both).site_in_force(["10.0.0.7"]).webmail_hosts == ["10.0.0.7"]
    assert load(tmp_path, "").site_in_force().webmail_hosts == list(WEBMAIL_HOSTS)
    with pytest.raises(ConfigError, match="--webmail-host"):
        load(tmp_path, "").site_in_force(["webmail.example"])


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('webmail_hosts = ["webmail"]', "site.webmail_hosts"),
        ("webmail_uids = [-1]", "site.webmail_uids"),
        ('webmail_uids = ["www-data"]', "webmail_uids"),
        ('webmail_users = [""]', "site.webmail_users"),
        ('webmail_users = ["www data"]', "site.webmail_users"),
        ("webmail_users = [33]", "webmail_users"),
        ('junk_mailboxes = [" "]', "site.junk_mailboxes"),
        ('local_services = [""]', "site.local_services"),
        ('filter_relays = ["a b"]', "site.filter_relays"),
        ("filter_ports = [0]", "site.filter_ports"),
        ("filter_ports = [65536]", "site.filter_ports"),
        ("reinject_grace = -1", "site.reinject_grace"),
        ("reinject_grace = 86400", "site.reinject_grace"),
        ('recipient_delimiter = "+-"', "site.recipient_delimiter"),
        ('recipient_delimiter = "@"', "site.recipient_delimiter"),
        ('own_hosts = [""]', "site.own_hosts"),
        ('month_names = "klingon"', "site.month_names"),
        ('month_names = ["Jan", "Feb"]', "site.month_names"),
        # "Mar" is March in English: as May it would misread every English stamp
        ('month_names = ["a","b","c","d","Mar","f","g","h","i","j","k","l"]', "site.month_names"),
        ('month_names = ["a","a","c","d","e","f","g","h","i","j","k","l"]', "site.month_names"),
        ('month_names = ["1a","b","c","d","e","f","g","h","i","j","k","l"]', "site.month_names"),
        ('month_names = ["a b","b","c","d","e","f","g","h","i","j","k","l"]', "site.month_names"),
        ("colour = 1", "colour"),
    ],
)
def test_a_bad_value_is_refused_with_its_key(tmp_path: Path, toml: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load(tmp_path, "[site]\n" + toml + "\n")


def test_the_built_in_tables_are_whole_and_unambiguous() -> None:
    for name, names in MONTH_TABLES.items():
        assert len(names) == 12 and len(set(names)) == 12, name
        month_table(name)  # none is refused


# -- through `mailtally ingest --config` -------------------------------------------------


def ingest(tmp_path: Path, lines: list[str], toml: str) -> tuple[dict[str, int], str]:
    """Lines ingested by the real command with the configuration ``toml``: the store's
    company totals and the printed report."""
    tmp_path.mkdir(exist_ok=True)
    db = tmp_path / "site.sqlite3"
    store = open_store(f"sqlite:///{db}")
    build_tree(store)
    store.close()
    log = tmp_path / "mail.log"
    write(log, lines)
    config = tmp_path / "site.toml"
    config.write_text(toml, encoding="utf-8")
    out = cli_ingest(f"sqlite:///{db}", log, "--config", str(config))
    store = open_store(f"sqlite:///{db}")
    try:
        return flows(store), out
    finally:
        store.close()


#: A sieve fileinto a folder of the site's own naming.
SIEVE_QUARANTAINE = [
    "2026-01-10T08:00:00.000000+00:00 mx1 dovecot: lmtp(carol@example.com): s1: sieve: "
    "msgid=<q1@other.org>: stored mail into mailbox 'Quarantaine'",
    *message("1B0001", "q1@other.org", 500, [lmtp("1B0001", "carol@example.com", "s1")]),
]

#: A content filter on a loopback port of this site's own choosing, by LMTP.
CUSTOM_FILTER = message(
    "1C0001",
    "f1@other.org",
    900,
    [
        pf(
            "lmtp",
            "1C0001: to=<bob@example.com>, relay=127.0.0.1[127.0.0.1]:10030, delay=0.2, "
            "delays=0/0/0/0.2, dsn=2.5.0, status=sent (250 2.5.0 OK (x1))",
        )
    ],
)

#: journalctl under de_DE: "Okt", "Mär" (and "Jan", the same in English).
GERMAN = [
    "Okt 10 08:00:00 mx1 dovecot: imap-login: Login: user=<bob@example.com>, method=PLAIN, "
    "rip=203.0.113.9, lip=10.0.0.1, mpid=1, TLS, session=<g1>",
    "Mär 10 08:00:00 mx1 dovecot: pop3-login: Login: user=<alice@example.com>, method=PLAIN, "
    "rip=203.0.113.9, lip=10.0.0.1, mpid=2, TLS, session=<g2>",
    "Jan 10 08:00:00 mx1 dovecot: imap-login: Login: user=<carol@example.com>, method=PLAIN, "
    "rip=203.0.113.9, lip=10.0.0.1, mpid=3, TLS, session=<g3>",
]


@pytest.mark.usefixtures("ingest_mode")
@pytest.mark.parametrize(
    ("lines", "toml", "metrics", "without", "with_setting"),
    [
        # a custom junk folder: the receipt is spam
        (
            SIEVE_QUARANTAINE,
            '[site]\njunk_mailboxes = ["Quarantaine"]\n',
            ("messages_in_ham", "messages_in_spam"),
            (1, 0),
            (0, 1),
        ),
        # a custom filter port: the hand-off is no mailbox delivery
        (CUSTOM_FILTER, "[site]\nfilter_ports = [10030]\n", ("messages_in_ham",), (1,), (0,)),
        # localised stamps: read with the table, not understood (never guessed) without
        (
            GERMAN,
            '[site]\nmonth_names = "de"\n',
            ("logins_imap4", "logins_pop3"),
            (1, 0),
            (2, 1),
        ),
    ],
    ids=["junk_mailboxes", "filter_ports", "month_names"],
)
def test_a_setting_changes_what_is_counted(
    tmp_path: Path,
    lines: list[str],
    toml: str,
    metrics: tuple[str, ...],
    without: tuple[int, ...],
    with_setting: tuple[int, ...],
) -> None:
    counts, out = ingest(tmp_path / "default", lines, "")
    assert tuple(counts[m] for m in metrics) == without
    if lines is GERMAN:
        assert "dovecot" in out  # the two localised lines: shown as not understood
    counts, _ = ingest(tmp_path / "set", lines, toml)
    assert tuple(counts[m] for m in metrics) == with_setting
