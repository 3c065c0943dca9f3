"""The ready CI pieces for a desired-state repository (deploy/ci/): a GitHub Actions workflow, a
pre-commit configuration and the plan-verdicts script. The YAML parses, every `reconciler`
command they name is one the CLI accepts, secrets stay out of the job that needs none, and the
script really fails on a held verdict (run here against the embedded paper exchange)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli.main import build_parser

CI = Path(__file__).resolve().parents[1] / "deploy" / "ci"
WORKFLOW = CI / "github-actions.yml"
HOOKS = CI / "pre-commit-config.yaml"
SCRIPT = CI / "plan-verdicts.sh"
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"


def _workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def _hooks() -> list[dict[str, Any]]:
    return [h for repo in yaml.safe_load(HOOKS.read_text())["repos"] for h in repo["hooks"]]


def _commands() -> list[str]:
    """Every shell line of the workflow's steps and every hook entry."""
    lines = [line.strip() for job in _workflow()["jobs"].values() for step in job["steps"]
             for line in str(step.get("run", "")).splitlines() if line.strip()]
    return lines + [h["entry"] for h in _hooks()]


def _accepts(argv: list[str]) -> None:
    """The CLI parses `argv` (after `reconciler`) without a usage error."""
    args, unknown = build_parser().parse_known_args(argv)
    assert not unknown, (argv, unknown)
    assert args.command == argv[0]


def test_the_files_parse_and_have_the_expected_shape() -> None:
    workflow = _workflow()
    assert set(workflow["jobs"]) == {"check", "plan"}
    assert workflow["jobs"]["plan"]["needs"] == "check"
    assert {h["id"] for h in _hooks()} == {"reconciler-validate", "reconciler-policy-check",
                                          "reconciler-plan-verdicts"}


def test_every_reconciler_command_named_is_a_real_one() -> None:
    named = []
    for line in _commands():
        words = shlex.split(line)
        if words[0] == "reconciler":
            _accepts(words[1:])
            named.append(words[1])
        elif words[:2] == ["sh", "ci/plan-verdicts.sh"]:
            assert SCRIPT.is_file()
            _accepts(["plan", "--json", *words[2:]])  # the script runs `reconciler plan --json "$@"`
            named.append("plan")
    assert {"validate", "policy-check", "plan"} <= set(named)
    assert 'reconciler plan --json "$@"' in SCRIPT.read_text()


def test_only_the_plan_job_sees_secrets_and_each_of_its_steps_is_guarded() -> None:
    jobs = _workflow()["jobs"]
    assert "secrets." not in yaml.safe_dump(jobs["check"])
    for step in jobs["plan"]["steps"]:
        assert "env.PRIVATE_KEY != ''" in step["if"], step


def _run_script(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    bin_dir = str(Path(sys.executable).parent)
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("PRIVATE_KEY", "API_KEY", "SECRET", "PASSPHRASE", "CLOB_HOST")}
    environment["PATH"] = bin_dir + os.pathsep + environment.get("PATH", "")
    environment.update(env or {})
    return subprocess.run(["sh", str(SCRIPT), *args], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=120, check=False)


def _desired(tmp_path: Path, band: str) -> None:
    (tmp_path / "desired").mkdir(exist_ok=True)
    (tmp_path / "desired" / "book.yaml").write_text(
        f"version: 1\npolicy:\n  price_band: {band}\ntokens:\n"
        f'  - token_id: "{TOKEN}"\n    orders:\n      - {{side: BUY, price: "0.45", size: 10}}\n'
    )


def test_the_script_skips_where_there_are_no_credentials(tmp_path: Path) -> None:
    done = _run_script(tmp_path, "--desired", "desired")
    assert done.returncode == 0 and "skipped" in done.stdout


@pytest.mark.parametrize(
    ("band", "code", "says"),
    [
        # The paper market is empty: the post cannot be checked, which a soft rule holds.
        ('{max_distance: "0.05"}', 1, "1 verdict(s) would hold tokens"),
        ('{max_distance: "0.05", without_book: advisory}', 0, "no verdict would hold a token"),
    ],
)
def test_the_script_fails_on_a_held_verdict(tmp_path: Path, band: str, code: int,
                                            says: str) -> None:
    _desired(tmp_path, band)
    done = _run_script(tmp_path, "--paper", "--desired", "desired", "--state", "state/ci.db")
    assert done.returncode == code, (done.stdout, done.stderr)
    assert says in done.stdout
    assert "price_band (" in done.stdout
