"""Lines of other programs on a mail server (cron, sshd, systemd, the kernel's firewall,
policyd-spf, opendkim) and garbage (binary bytes, a line cut short, ``-- MARK --``).

Each method writes its line and returns the program's name (the scenarios tally it in
the truth: understood and never counted, or not understood).
"""

from __future__ import annotations

from .base import Program
from .log import RAW
from .platform import DAY
from .truth import GARBAGE


class Noise(Program):
    """Other programs of one host."""

    def cron(self, t: int) -> str:
        self.emit(
            t,
            f"CRON[{self.rng.randint(1000, 60000)}]: (root) CMD (command -v "
            "debian-sa1 > /dev/null && debian-sa1 1 1)",
        )
        return "CRON"

    def sshd(self, t: int, ip: str) -> str:
        rng = self.rng
        self.emit(
            t,
            f"sshd[{rng.randint(1000, 60000)}]: Failed password for "
            f"invalid user admin from {ip} port {rng.randint(1024, 65000)} "
            "ssh2",
        )
        return "sshd"

    def systemd(self, t: int) -> str:
        self.emit(t, "systemd[1]: Starting Daily apt upgrade and clean activities...")
        return "systemd"

    def kernel(self, t: int, ip: str) -> str:
        rng = self.rng
        self.emit(
            t,
            f"kernel: [{rng.randint(10**5, 10**7)}.{rng.randint(0, 999999):06d}] "
            f"[UFW BLOCK] IN=eth0 OUT= SRC={ip} DST={self.host.ip} LEN=44 PROTO=TCP "
            f"SPT={rng.randint(1024, 65000)} DPT=23",
        )
        return "kernel"

    def policyd_spf(self, t: int, ip: str) -> str:
        self.emit(
            t,
            f"policyd-spf[{self.rng.randint(1000, 60000)}]: prepend "
            f"Received-SPF: None (mailfrom) identity=mailfrom; "
            f"client-ip={ip}; helo=x; envelope-from=<a@b.example>",
        )
        return "policyd-spf"

    def opendkim(self, t: int, q: str, domain: str) -> str:
        """opendkim signs a user's message ``q`` (a milter of Postfix's cleanup)."""
        self.emit(
            t,
            f"opendkim[{self.run.pids['cleanup'][0] + 7}]: {q}: "
            f"DKIM-Signature field added (s=mail, d={domain})",
        )
        return "opendkim"

    def garbage(self, t: int) -> str:
        """A line that is not syslog at all."""
        rng = self.rng
        kind = rng.randrange(4)
        if kind == 0:
            text = "".join(rng.choice("abcdefghij klmnop,;=") for _ in range(rng.randint(5, 60)))
            text = "x" + text
        elif kind == 1:
            text = "\udcff\udcfe\x01\x02 binary \udc80\udc81"
        elif kind == 2:
            text = f"{self.run.log.days(t)[0]}{(t % DAY) // 3600:02d}:0"  # a line cut short
        else:
            text = "-- MARK --"
        self.emit(t, text, RAW)
        return GARBAGE
