"""The systemd units: hardened as promised, and accepted by `systemd-analyze verify`."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[1] / "systemd"
SERVICES = ("reconciler.service", "reconciler@.service")


def directives(name: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit, keys may repeat (systemd allows it, configparser does not)."""
    found: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_notify_with_watchdog_and_restart(name: str) -> None:
    d = directives(name)
    assert d["Type"] == ["notify"]
    assert int(d["WatchdogSec"][0]) > 0
    assert d["Restart"] == ["on-failure"]
    assert d["KillSignal"] == ["SIGTERM"]
    assert d["ExecStart"][0].endswith("reconciler run")


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_hardened(name: str) -> None:
    d = directives(name)
    assert d.get("User") == ["reconciler"] or d.get("DynamicUser") == ["yes"]
    assert d["NoNewPrivileges"] == ["yes"]
    assert d["ProtectSystem"] == ["strict"]
    assert d["StateDirectory"][0].startswith("reconciler")
    assert d["PrivateTmp"] == ["yes"]
    assert d["ProtectHome"] == ["yes"]
    assert d["CapabilityBoundingSet"] == [""]
    assert d["UMask"] == ["0077"]


@pytest.mark.parametrize("name", SERVICES)
def test_secrets_come_from_credentials_not_argv(name: str) -> None:
    d = directives(name)
    assert any(v.startswith("private_key:/etc/reconciler/") for v in d["LoadCredential"])
    exec_start = " ".join(d["ExecStart"]).lower()
    for word in ("private", "secret", "passphrase", "0x"):
        assert word not in exec_start


def test_env_example_has_no_secret_values() -> None:
    text = (UNITS / "reconciler.env.example").read_text()
    assignments = dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    for key in ("PRIVATE_KEY", "SECRET", "PASSPHRASE", "API_KEY"):
        assert not assignments.get(key)
    assert not re.search(r"\b[0-9a-fA-F]{64}\b", text)
    assert assignments["CHAIN_ID"] == "137"


def test_git_pull_timer_and_service() -> None:
    timer = configparser.ConfigParser(strict=False)
    timer.read(UNITS / "reconciler-git-pull.timer")
    assert timer["Timer"]["OnUnitActiveSec"]
    service = directives("reconciler-git-pull.service")
    assert service["Type"] == ["oneshot"]
    assert "--ff-only" in service["ExecStart"][0]
    assert service["User"] == ["reconciler"]


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd provides it)")
    # verify checks that ExecStart exists: point it at this checkout's entry point.
    entry = Path(sys.executable).with_name("reconciler")
    if not entry.exists():
        pytest.skip(f"entry point {entry} is not installed (pip install -e .)")
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/opt/reconciler/.venv/bin/reconciler", str(entry))
        (tmp_path / unit.name).write_text(text)
    names = ["reconciler.service", "reconciler@alice.service", "reconciler-git-pull.service",
             "reconciler-git-pull.timer"]
    done = subprocess.run(
        [analyze, "verify", "--man=no", *[f"./{n}" for n in names]],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
    )
    # Unknown keys and unparsable values are only warnings (exit 0): any output is a failure.
    problems = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 0 and problems == [], "\n".join(problems)


def test_verify_would_catch_a_typo(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    (tmp_path / "bad.service").write_text("[Service]\nType=notifyy\nExecStart=/bin/true\n")
    done = subprocess.run([analyze, "verify", "--man=no", "./bad.service"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert "notifyy" in done.stdout + done.stderr
