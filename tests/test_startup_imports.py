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


def test_the_console_script_prunes_without_click(tmp_path) -> None:
    """``mailtally prune`` (the console script, mailtally.entry) loads neither
    click nor mailtally.cli, and says what the click command says."""
    from click.testing import CliRunner

    from mailtally.cli import main
    from mailtally.store import open_store

    url = f"sqlite:///{tmp_path}/s.sqlite3"
    open_store(url).close()
    CliRunner().invoke(main, ["prune", "--db", url], catch_exceptions=False)  # (folds)
    code = (
        "import sys\n"
        "from mailtally.entry import main\n"
        f"main(['prune', '--db={url}', '--batch-rows', '50'])\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    loaded = set(out[-1].split()[1:])
    assert {"click", "mailtally.cli"} & loaded == set()
    assert sorted(m for m in HEAVY if m in loaded) == []
    via_click = CliRunner().invoke(main, ["prune", "--db", url, "--batch-rows", "50"])
    assert via_click.exit_code == 0
    # (the last line carries the minute it ran)
    assert out[:-2] == via_click.output.splitlines()[:-1]
    assert out[-2].startswith("pruned 0 rows at ")


@pytest.mark.parametrize(
    ("argv", "plain"),
    [
        (["prune"], (None, None, 1000)),
        (["prune", "--db", "x.sqlite3"], (None, "x.sqlite3", 1000)),
        (["--config=c.toml", "prune", "--db=a", "--db", "b"], ("c.toml", "b", 1000)),
        (["--config", "c.toml", "prune", "--batch-rows=7"], ("c.toml", None, 7)),
        # everything else is click's: help, other commands, values it refuses
        (["prune", "--help"], None),
        (["--help"], None),
        ([], None),
        (["summary", "--db", "prune"], None),
        (["prune", "--db"], None),
        (["prune", "--db", "--batch-rows", "5"], None),
        (["prune", "--batch-rows", "0"], None),
        (["prune", "--batch-rows", "x"], None),
        (["prune", "--batch-rows", "1" * 5000], None),  # (past int()'s digit limit)
        (["prune", "--timezone", "UTC"], None),
        (["--config", ".", "prune"], None),
        (["prune", "extra"], None),
    ],
)
def test_what_the_console_script_prunes_itself(argv, plain) -> None:
    from mailtally.entry import plain_prune

    assert plain_prune(argv) == plain


def test_an_unreadable_configuration_is_clicks_to_refuse(tmp_path, monkeypatch) -> None:
    import mailtally.entry
    from mailtally.entry import plain_prune

    config = tmp_path / "c.toml"
    config.write_text("")
    argv = ["--config", str(config), "prune"]
    assert plain_prune(argv) == (str(config), None, 1000)
    # (the tests run as root, who reads any file: the permission is the stub's)
    monkeypatch.setattr(mailtally.entry.os, "access", lambda path, mode: path != str(config))
    assert plain_prune(argv) is None


def test_the_console_script_refuses_as_click_does(tmp_path, capsys) -> None:
    from click.testing import CliRunner

    from mailtally.cli import main as click_main
    from mailtally.entry import main

    for argv in (
        ["prune", "--db", f"sqlite:///{tmp_path}/none.sqlite3"],  # no store there
        ["prune", "--db", "mysql://x/y"],
        ["--config", str(tmp_path / "missing.toml"), "prune"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        ours = capsys.readouterr().err
        theirs = CliRunner().invoke(click_main, argv)
        assert (exc.value.code, ours) == (theirs.exit_code, theirs.output), argv
