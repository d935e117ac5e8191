"""rspamd's lines: the task log line with its verdict (rspamd 3.x), and milter noise."""

from __future__ import annotations

from .base import Program


class Rspamd(Program):
    """One host's rspamd, a milter of its Postfix."""

    def verdict(
        self,
        t: int,
        q: str,
        mid: str,
        ip: str,
        sender: str,
        rcpts: list[str],
        action: str,
        user: str | None = None,
    ) -> None:
        """``rspamd_task_write_log`` for a message: ``action`` is rspamd's (``no action``,
        ``greylist``, ``add header``, ``rewrite subject``, ``soft reject``, ``reject``)."""
        rng = self.rng
        spam = action in ("add header", "rewrite subject", "reject")
        score = rng.uniform(6.5, 14.5) if spam else rng.uniform(-4, 4.5)
        flag = "T" if spam else "F"
        syms = (
            "BAYES_SPAM(5.10){99.87%;},RBL_SPAMHAUS_XBL(4.00){45.67.89.12:from;},"
            "MIME_GOOD(-0.10){text/plain;}"
            if spam
            else "BAYES_HAM(-3.00){99.99%;},DKIM_TRACE(0.00){example.org:+;},"
            "R_SPF_ALLOW(-0.20){+ip4:209.85.128.0/17;},MIME_GOOD(-0.10){multipart/alternative;}"
        )
        u = f", user: {user}" if user else ""
        tag = f"{rng.getrandbits(24):06x}"
        self.emit(
            t,
            f"rspamd[{self.pid('rspamd')}]: <{tag}>; task; rspamd_task_write_log: id: <{mid}>, "
            f"qid: <{q}>, ip: {ip}{u}, from: <{sender}>, (default: {flag} ({action}): "
            f"[{score:.2f}/15.00] [{syms}]), len: {rng.randint(900, 90000)}, "
            f"time: {rng.uniform(20, 400):.3f}ms, dns req: {rng.randint(3, 40)}, "
            f"digest: <{rng.getrandbits(128):032x}>, rcpts: <{rcpts[0]}>, mime_rcpts: <{rcpts[0]}>",
        )

    def milter_connection(self, t: int) -> None:
        rng = self.rng
        self.emit(
            t,
            f"rspamd[{self.pid('rspamd')}]: <{rng.getrandbits(24):06x}>; milter; "
            "rspamd_milter_process_command: got connection from "
            f"127.0.0.1:{rng.randint(30000, 60000)}",
        )
