"""mailtally: exact usage statistics for mail platforms, served over OMA's API.

The public surface is small: the ASGI app factory, the store opener, the
configuration loader, the events and the one function that records them.
"""

from typing import TYPE_CHECKING, Any

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

__version__ = "0.1.0"

if TYPE_CHECKING:
    from mailtally.api import create_app


def __getattr__(name: str) -> Any:
    # The web stack is imported when the app is asked for, not by every command:
    # `mailtally ingest` starts in half the time without it.
    if name == "create_app":
        from mailtally.api import create_app

        return create_app
    raise AttributeError(f"module 'mailtally' has no attribute {name!r}")
