"""amavis's lines (amavisd-new 2.x): ``Passed`` (inbound and originating), ``Blocked``
(into quarantine), and noise.  Its answers to Postfix are in :mod:`.postfix`.
"""

from __future__ import annotations

from .base import Program, Run


class Amavis(Program):
    """One host's amavis, a content filter of its Postfix (:10024 → :10025)."""

    def __init__(self, run: Run) -> None:
        super().__init__(run)
        self.n = 0  # the task counter of its log ids

    def log_id(self) -> str:
        self.n += 1
        return f"({self.run.pids['amavis'][0]:05d}-{self.n % 100:02d})"

    def passed_inbound(
        self,
        spam: bool,
        tag: str,
        ip: str,
        sender: str,
        rcpts: list[str],
        q: str,
        mid: str,
        size: int,
        b: str,
    ) -> str:
        """The text of ``Passed CLEAN``/``SPAM`` for ``q``, re-injected as ``b`` (returned:
        the caller decides when amavis answered)."""
        rng = self.rng
        cat = "SPAM" if spam else "CLEAN"
        if spam:
            tag = "RelayedTaggedInbound"
        hits = f"{rng.uniform(6.3, 19):.3f}" if spam else f"{rng.uniform(-5, 3):.3f}"
        to = ",".join(f"<{r}>" for r in rcpts)
        aid = self.log_id()
        return (
            f"amavis[{self.run.pids['amavis'][0]}]: {aid} Passed {cat} {{{tag}}}, [{ip}]:"
            f"{rng.randint(1024, 65000)} [{ip}] <{sender}> -> {to}, Queue-ID: {q}, "
            f"Message-ID: <{mid}>, mail_id: {rng.getrandbits(48):012x}, Hits: {hits}, "
            f"size: {size}, queued_as: {b}, {rng.randint(80, 3000)} ms"
        )

    def passed_outbound(
        self, t: int, ip: str, sender: str, rcpts: list[str], q: str, mid: str, size: int, b: str
    ) -> None:
        """A user's message, checked on its way out (:10026 → :10027)."""
        rng = self.rng
        to = ",".join(f"<{r}>" for r in rcpts)
        self.emit(
            t,
            f"amavis[{self.run.pids['amavis'][1]}]: {self.log_id()} Passed CLEAN "
            f"{{RelayedOutbound}}, ORIGINATING LOCAL [{ip}]:{rng.randint(1024, 65000)} [{ip}] "
            f"<{sender}> -> {to}, Queue-ID: {q}, Message-ID: <{mid}>, mail_id: "
            f"{rng.getrandbits(48):012x}, Hits: -, size: {size}, queued_as: {b}, "
            f"{rng.randint(80, 900)} ms",
        )

    def blocked(
        self,
        t: int,
        infected: bool,
        ip: str,
        sender: str,
        rcpts: list[str],
        q: str,
        mid: str,
        size: int,
    ) -> tuple[str, str]:
        """``Blocked INFECTED`` or ``Blocked SPAM`` into quarantine; returns the log id
        (without parentheses) and the reason, which Postfix's discard line repeats."""
        rng = self.rng
        aid = self.log_id()
        mail_id = f"{rng.getrandbits(48):012x}"
        to = ",".join(f"<{r}>" for r in rcpts)
        if infected:
            head = "Blocked INFECTED (Eicar-Signature) {DiscardedInbound,Quarantined}"
            quarantine = f"virus-{mail_id}"
            why = "INFECTED: Eicar-Signature"
        else:
            head = "Blocked SPAM {DiscardedInbound,Quarantined}"
            quarantine = f"spam-{mail_id}.gz"
            why = "spam"
        self.emit(
            t,
            f"amavis[{self.run.pids['amavis'][2]}]: {aid} {head}, [{ip}]:"
            f"{rng.randint(1024, 65000)} [{ip}] <{sender}> -> {to}, quarantine: {quarantine}, "
            f"Queue-ID: {q}, Message-ID: <{mid}>, mail_id: {mail_id}, Hits: "
            f"{'-' if infected else f'{rng.uniform(15, 40):.3f}'}, size: {size}, "
            f"{rng.randint(100, 4000)} ms",
        )
        return aid[1:-1], why

    def esmtp(self, t: int) -> None:
        fqdn = self.host.fqdn
        self.emit(
            t,
            f"amavis[{self.run.pids['amavis'][3]}]: {self.log_id()} ESMTP :10024 "
            f"/var/lib/amavis/tmp/amavis-{t}: <> -> <postmaster@{fqdn}> Received: from "
            f"{fqdn} ([127.0.0.1])",
        )
