"""OMA's error numbers (SPEC §1), raised by the domain code and encoded by ``api``."""

from __future__ import annotations

__all__ = [
    "BAD_ATTRIBUTE",
    "BAD_CREDENTIALS",
    "BAD_REQUEST",
    "EXISTS",
    "FORBIDDEN",
    "IS_ALIAS",
    "NOT_FOUND",
    "SERVER_ERROR",
    "OMAError",
]

SERVER_ERROR = 0
BAD_CREDENTIALS = 1
NOT_FOUND = 2
IS_ALIAS = 3
FORBIDDEN = 4
BAD_REQUEST = 5
BAD_ATTRIBUTE = 6
EXISTS = 7


class OMAError(Exception):
    """A failure the client gets as ``success: false`` with ``error_number``."""

    def __init__(self, number: int, message: str, hints: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.number = number
        self.message = message
        self.hints = hints

    def body(self) -> dict[str, object]:
        out: dict[str, object] = {
            "success": False,
            "error": self.message,
            "error_number": self.number,
        }
        if self.hints:
            out["hints"] = self.hints
        return out
