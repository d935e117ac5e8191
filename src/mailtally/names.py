"""Names are text (SPEC §2, isolation rule 5): what no name may hold, and the
canonical form of a company name.

Kept apart from :mod:`mailtally.tree` because the store needs it too (its
migration fills in the canonical key of every existing company).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["BAD_CHARACTERS", "NAME_PATTERN", "company_key", "has_bad_characters"]

#: Characters no name may hold: the C0 and C1 controls and DEL (NUL among them),
#: and the invisible format characters that make two names look alike or turn
#: text around (zero-width spaces and joiners, bidirectional overrides and
#: isolates, the byte-order mark).
BAD_CHARACTERS = "\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff"
_BAD = re.compile(f"[{BAD_CHARACTERS}]")
#: the same as a pattern a whole name must match (for msgspec's ``Meta``).  ``\Z``,
#: not ``$``: ``$`` also matches before a final newline, so ``"staff\n"`` would pass.
NAME_PATTERN = f"^[^{BAD_CHARACTERS}]*\\Z"


def has_bad_characters(name: str) -> bool:
    return _BAD.search(name) is not None


def company_key(name: str) -> str:
    """The canonical form of a company name: two names with the same key are the
    same company.  Surrounding white space is not part of a name, compatibility
    forms are folded (a full-width ``Ａcme`` is ``Acme``), and case is folded
    (``ACME``, ``acme`` and ``Acme`` are one name; ``Straße`` is ``STRASSE``)."""
    return unicodedata.normalize("NFKC", name.strip()).casefold()
