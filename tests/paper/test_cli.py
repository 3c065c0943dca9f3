"""`python -m paperclob` as a real process: prints its URL, serves, stops cleanly on SIGTERM."""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import sys

import pytest
import requests

from paperclob import main
from paperclob.cli import build_parser, config_from_args


def _first_line(process: subprocess.Popen[str], *, wait_s: float = 30) -> str:
    # Bounded: a server that never starts fails the test instead of hanging it.
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], wait_s)
    assert ready, "the paper exchange printed nothing"
    return process.stdout.readline().strip()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_module_prints_its_url_serves_and_stops_on_a_signal(stop: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "paperclob", "--port", "0", "--protocol", "v1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _first_line(process)
        assert line.startswith("paper exchange listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[-1]
        assert requests.get(url + "/version", timeout=10).json() == {"version": 1}
        process.send_signal(stop)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "paper exchange stopped" in out


def test_main_reports_a_port_in_use_and_returns_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port)]) == 1
    assert "cannot start" in capsys.readouterr().err


def test_flags_become_the_config() -> None:
    args = build_parser().parse_args(
        [
            "--port",
            "0",
            "--page-size",
            "3",
            "--tick-size",
            "0.001",
            "--min-size",
            "10",
            "--collateral",
            "5",
            "--shares",
            "0",
            "--latency-ms",
            "20",
            "--fail-5xx-rate",
            "0.5",
            "--rate-limit",
            "10/2",
            "--chain-id",
            "80002",
            "--seed",
            "1",
        ]
    )
    config = config_from_args(args)
    assert (config.page_size, str(config.default_tick), str(config.default_min_size)) == (
        3,
        "0.001",
        "10",
    )
    assert (config.latency_ms, config.fail_5xx_rate, config.chain_id) == (20, 0.5, 80002)
    assert config.rate_limit is not None and config.rate_limit.requests == 10


@pytest.mark.parametrize(
    "bad", [["--tick-size", "0.02"], ["--collateral", "-1"], ["--rate-limit", "x"]]
)
def test_bad_flags_exit_with_usage(bad: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(bad)
    assert exit_.value.code == 2
