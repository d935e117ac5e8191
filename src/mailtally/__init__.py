"""mailtally: exact usage statistics for mail platforms, served over OMA's API.

The public surface is small: the ASGI app factory, the store opener, the
configuration loader, the events and the one function that records them.

Every name is imported when first asked for (PEP 562): every ``mailtally.X``
import runs this file first, and ``mailtally prune`` or ``--version`` must not
pay for the joiner, the recorder and the web stack (issue 9: the CLI's start-up
was most of an idle prune's 0.5 s).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from mailtally.api import create_app
    from mailtally.config import Config, load_config
    from mailtally.events import (
        ApiAuth,
        Autoresponse,
        Event,
        Forward,
        Login,
        MessageDenied,
        MessageIn,
        MessageOut,
        StorageReport,
    )
    from mailtally.record import record_events
    from mailtally.store import Store, open_store

#: public name → the module that defines it
_LAZY = {
    "create_app": "mailtally.api",
    "Config": "mailtally.config",
    "load_config": "mailtally.config",
    **dict.fromkeys(
        (
            "ApiAuth",
            "Autoresponse",
            "Event",
            "Forward",
            "Login",
            "MessageDenied",
            "MessageIn",
            "MessageOut",
            "StorageReport",
        ),
        "mailtally.events",
    ),
    "record_events": "mailtally.record",
    "Store": "mailtally.store",
    "open_store": "mailtally.store",
}

__all__ = [
    "ApiAuth",
    "Autoresponse",
    "Config",
    "Event",
    "Forward",
    "Login",
    "MessageDenied",
    "MessageIn",
    "MessageOut",
    "StorageReport",
    "Store",
    "create_app",
    "load_config",
    "open_store",
    "record_events",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mailtally' has no attribute {name!r}")
    return getattr(import_module(module), name)
