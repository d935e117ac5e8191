"""contrib/systemd's units (issue 13): ``systemd-analyze verify`` accepts them
without a warning, and each service carries the hardening README "Deployment"
promises."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "contrib" / "systemd"
SERVICES = (
    "mailtally-serve.service",
    "mailtally-ingest@.service",
    "mailtally-quota-report.service",
)
#: where the units expect the program (a venv in /opt/mailtally)
INSTALLED = "/opt/mailtally/bin/mailtally"


def installed_here(tmp_path: Path) -> Path:
    """The units, with the program where this test runs it from (verify checks
    that every command exists and is executable)."""
    here = str(Path(sys.executable).parent / "mailtally")
    for unit in UNITS.iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, here))
    # a template is verified as an instance of it
    shutil.copyfile(
        tmp_path / "mailtally-ingest@.service", tmp_path / "mailtally-ingest@mx1.service"
    )
    return tmp_path


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
def test_systemd_analyze_verify_accepts_every_unit_without_a_warning(tmp_path: Path) -> None:
    d = installed_here(tmp_path)
    names = [
        "mailtally-serve.service",
        "mailtally-ingest@mx1.service",
        "mailtally-quota-report.service",
        "mailtally-quota-report.timer",
    ]
    r = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(d / n) for n in names)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # (an unknown key or a bad value is only a warning: verify still exits 0)
    assert (r.returncode, r.stdout + r.stderr) == (0, "")


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
def test_verify_would_catch_a_bad_unit(tmp_path: Path) -> None:
    """(the test above can fail: a misspelt setting is reported)"""
    d = installed_here(tmp_path)
    unit = d / "mailtally-serve.service"
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict"))
    r = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True
    )
    assert "ProtectSytem" in r.stdout + r.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_is_hardened(name: str) -> None:
    settings = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in (UNITS / name).read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert settings.get("DynamicUser") == "yes" and settings.get("User") == "mailtally"
    for key, value in {
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictNamespaces": "yes",
        "SystemCallArchitectures": "native",
    }.items():
        assert settings.get(key) == value, (name, key)
    assert settings["StateDirectory"].startswith("mailtally")
    assert (
        "/var/lib/mailtally/" in settings["Environment"] or "MAILTALLY" in settings["Environment"]
    )


def test_the_ingest_instance_is_the_source() -> None:
    text = (UNITS / "mailtally-ingest@.service").read_text()
    assert "ingest --follow --source %i" in text
