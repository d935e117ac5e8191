"""Proxmox Mail Gateway's filter (``pmg-smtp-filter``): its spam verdict and re-injections.

PMG's Postfix hands each message (queue id A) by LMTP to ``pmg-smtp-filter`` on
127.0.0.1:10024 (or :10023 for the internal network), which names it by a log id
of its own and, for each recipient it accepts, re-injects it on 127.0.0.1:10025
as a new Postfix message B before it answers A's LMTP delivery with
``250 2.5.0 OK (LOGID)`` (the joiner links A to B through the log id)::

    pmg-smtp-filter[2146]: 5F1C8A2B3D4E6F70A81: SA score=7/5 time=1.220 bayes=… hits=…
    pmg-smtp-filter[2146]: 5F1C8A2B3D4E6F70A81: accept mail to <bob@example.com>
        (4B7C9D2E1F) (rule: default-accept)          [one line]

``SA score=S/M`` is SpamAssassin's score and the required score: spam when S >= M
(PMG's own ``is_spam`` test, PMG::RuleDB::Spam).  Every other line is ignored.
"""

from __future__ import annotations

from .amavis import Reinjected
from .families import PMG_VERDICT
from .postfix import _close
from .rspamd import SpamVerdict

__all__ = ["parse_pmg"]


def _spam(score: str, required: str) -> bool | None:
    """``score >= required`` for an integer score (PMG logs ``int($sa_score)``) and a
    required score of digits with an optional fraction; None if either is not one."""
    whole, dot, frac = required.partition(".")
    if not (score.isdigit() and score.isascii() and whole.isdigit() and whole.isascii()):
        return None
    if dot and not (frac.isdigit() and frac.isascii()):
        return None
    if len(score) > 18 or len(whole) > 18:
        return None  # (no real score; the compiled parser's int64)
    # score >= required  <=>  score >= ceil(required), the score being whole
    return int(score) >= int(whole) + (1 if frac.strip("0") else 0)


def parse_pmg(msg: str) -> tuple[SpamVerdict | Reinjected, ...] | str:
    """Records of one pmg-smtp-filter text; ``()`` for lines that count nothing, the
    family (``families``) of a verdict or re-injection line not understood."""
    c = msg.find(": ")
    if c <= 0:
        return ()
    logid = msg[:c]
    if not (logid.isalnum() and logid.isascii()):
        return ()
    rest = msg[c + 2 :]
    if rest.startswith("SA score="):
        slash = rest.find("/", 9)
        end = rest.find(" ", slash + 1)
        if slash < 0:
            return PMG_VERDICT
        spam = _spam(rest[9:slash], rest[slash + 1 :] if end < 0 else rest[slash + 1 : end])
        if spam is None:
            return PMG_VERDICT
        return (SpamVerdict(logid, "spam" if spam else "ham", "pmg"),)
    if rest.startswith("accept mail to <"):
        # The recipient is the sender's text (PMG takes any local part of a relay
        # domain unless it verifies receivers), quoted by Postfix's LMTP client when
        # it holds "> (": "<\"a> (VICTIM) x\"@here> (NEWID)" must not re-inject as
        # VICTIM.  Its ">" is found past the quotes (postfix._close), and "(" follows;
        # a second "> (" after it (an unquoted address's) makes the line ambiguous.
        e = _close(rest, 16)
        if e >= 0 and (not rest.startswith("> (", e) or rest.find("> (", e + 3) >= 0):
            e = -1
        q = rest.find(")", e + 3) if e >= 0 else -1
        new = rest[e + 3 : q] if q >= 0 else ""
        if not (new.isalnum() and new.isascii()):
            return PMG_VERDICT
        return (Reinjected(logid, new),)
    return ()
