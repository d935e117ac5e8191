"""SpamAssassin's spamd lines (spamd/spamd.raw of 3.4/4.0), through syslog.

Exim's ``spam`` ACL condition asks spamd (``CHECK``) at DATA time, before Exim logs
the message's ``<=`` line: spamd logs the connection, ``checking message <mid>``, the
``identified spam``/``clean message`` summary, and the ``result:`` line (``Y`` spam,
``.`` ham; its items ``…,mid=<Message-ID>,…`` join it to the message).
"""

from __future__ import annotations

from .base import Program, Run

HAM_TESTS = (
    "BAYES_00,DKIM_SIGNED,DKIM_VALID,DKIM_VALID_AU,RCVD_IN_DNSWL_NONE,SPF_HELO_NONE,SPF_PASS",
    "BAYES_05,HTML_MESSAGE,MIME_HTML_MOSTLY,SPF_PASS",
    "ALL_TRUSTED,BAYES_00",
)
SPAM_TESTS = (
    "BAYES_99,BAYES_999,HTML_MESSAGE,RCVD_IN_SBL_CSS,RDNS_NONE,URIBL_ABUSE_SURBL",
    "BAYES_80,FREEMAIL_FROM,HTML_IMAGE_ONLY_16,MIME_HTML_ONLY,URIBL_BLACK",
    "BAYES_95,FSL_BULK_SIG,RCVD_IN_PBL,RDNS_DYNAMIC,SPF_SOFTFAIL",
)


class Spamd(Program):
    """One host's spamd (a parent and its children)."""

    def __init__(self, run: Run) -> None:
        super().__init__(run)
        rng = self.rng
        self.parent = rng.randint(900, 2000)
        self.children = [rng.randint(2000, 4_000_000) for _ in range(5)]

    def check(
        self, t: int, mid: str, size: int, spam: bool, score: float, user: str, uid: int
    ) -> None:
        """One scan of a message (``user`` the account Exim asks for)."""
        rng = self.rng
        p = rng.choice(self.children)
        port = rng.randint(30000, 60999)
        secs = f"{rng.uniform(0.1, 3.5):.1f}"
        self.emit(
            t, f"spamd[{p}]: spamd: connection from localhost [127.0.0.1]:{port} to port 783, fd 6"
        )
        self.emit(t, f"spamd[{p}]: spamd: checking message <{mid}> for {user}:{uid}")
        verdict = "identified spam" if spam else "clean message"
        self.emit(
            t,
            f"spamd[{p}]: spamd: {verdict} ({score:.1f}/5.0) for {user}:{uid} in {secs} seconds, "
            f"{size} bytes.",
        )
        tests = rng.choice(SPAM_TESTS if spam else HAM_TESTS)
        bayes = rng.uniform(0.95, 1) if spam else rng.uniform(0, 0.05)
        learn = "no" if spam or score > 0.1 else "ham"
        self.emit(
            t,
            f"spamd[{p}]: spamd: result: {'Y' if spam else '.'} {int(score):2d} - {tests} "
            f"scantime={secs},size={size},user={user},uid={uid},required_score=5.0,"
            f"rhost=localhost,raddr=127.0.0.1,rport={port},mid=<{mid}>,bayes={bayes:.6f},"
            f"autolearn={learn} autolearn_force=no",
        )
        if rng.random() < 0.3:
            self.emit(t, f"spamd[{self.parent}]: prefork: child states: II")

    def child_cleanup(self, t: int) -> None:
        self.emit(
            t,
            f"spamd[{self.parent}]: spamd: handled cleanup of child pid "
            f"[{self.rng.choice(self.children)}] due to SIGCHLD: exit 0",
        )
