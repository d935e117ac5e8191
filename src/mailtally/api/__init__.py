"""The OMA HTTP API: ``POST /api/<method>``."""

from mailtally.api.app import create_app

__all__ = ["create_app"]
