"""Roundcube's own login log (``logs/userlogins``), one file for the platform's webmail."""

from __future__ import annotations

from .base import Program
from .log import ROUNDCUBE
from .platform import SUser


class Roundcube(Program):
    """The webmail."""

    def login(self, t: int, u: SUser, sess: str, ip: str) -> None:
        self.emit(
            t,
            f"<{sess[:8]}> Successful login for {u.address} (ID: {u.rc_id}) from {ip} "
            f"in session {sess}",
            ROUNDCUBE,
        )

    def failed(self, t: int, u: SUser, sess: str, ip: str) -> None:
        self.emit(
            t,
            f"<{sess[:8]}> Failed login for {u.address} from {ip} in session {sess} (error: 0)",
            ROUNDCUBE,
        )
