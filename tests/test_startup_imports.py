"""Start-up (issue 9): a command imports what it needs, not the whole package.

``mailtally prune`` with nothing to prune was its start-up (0.48 s, most of it
imports).  What each command may skip is checked here by module, not by time
(speed is bench/startup.py's)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: modules no command needs before it runs (the joiner, the recorder, the web stack)
HEAVY = (
    "mailtally.ingest.join",
    "mailtally.ingest.parsers",
    "mailtally.record",
    "mailtally.history",
    "mailtally.api",
    "starlette",
    "uvicorn",
    "asyncio",
    "prometheus_client",
    "rich",
)


def loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return set(json.loads(out.splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import mailtally",
        "import mailtally.cli",
        "from mailtally.config import load_config; load_config(None)",
        "from mailtally.cli import main\ntry: main(['--version'])\nexcept SystemExit: pass",
    ],
)
def test_the_cli_and_the_configuration_import_nothing_heavy(code: str) -> None:
    loaded = loaded_after(code)
    assert sorted(m for m in HEAVY if m in loaded) == []


def test_prune_imports_nothing_heavy(tmp_path) -> None:
    from mailtally.store import open_store

    url = f"sqlite:///{tmp_path}/s.sqlite3"
    open_store(url).close()
    code = (
        "from mailtally.cli import main\n"
        f"try: main(['prune', '--db', {url!r}])\n"
        "except SystemExit as e: assert e.code == 0, e.code"
    )
    loaded = loaded_after(code)
    assert sorted(m for m in HEAVY if m in loaded) == []
    assert "mailtally.prune" in loaded  # (it did run)


def test_the_lazy_names_are_the_modules_own() -> None:
    import mailtally
    import mailtally.ingest
    from mailtally.api import create_app
    from mailtally.ingest.join import Joiner
    from mailtally.store import open_store

    assert mailtally.create_app is create_app and mailtally.open_store is open_store
    assert mailtally.ingest.Joiner is Joiner
    assert set(mailtally.__all__) == set(mailtally._LAZY)
    assert set(mailtally.ingest.__all__) == set(mailtally.ingest._LAZY)
    with pytest.raises(AttributeError):
        mailtally.no_such_name  # noqa: B018
