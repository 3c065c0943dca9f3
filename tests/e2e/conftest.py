"""Fixtures for the end-to-end tests: a paper exchange process, a counting proxy, an observer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import Account, CountingProxy, DaemonProcess, PaperProcess, new_key


@dataclass
class Stack:
    paper: PaperProcess
    proxy: CountingProxy
    key: str  # the daemon's key: generated here, passed to it through the environment only
    desired: Path
    state: Path
    daemons: list[DaemonProcess]

    def start_daemon(self, *args: str, env: dict[str, str] | None = None) -> DaemonProcess:
        daemon = DaemonProcess(host=self.proxy.url, key=self.key, desired=self.desired,
                               state=self.state, extra_args=args, env=env)
        self.daemons.append(daemon)
        return daemon

    def observer(self) -> Account:
        """The daemon's own account, seen directly (not through the proxy)."""
        return Account.connect(self.paper.url, self.key)

    def counterparty(self) -> Account:
        return Account.connect(self.paper.url)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    paper = PaperProcess()
    proxy = CountingProxy(paper.url)
    desired = tmp_path / "desired"
    desired.mkdir()
    made = Stack(paper=paper, proxy=proxy, key=new_key(), desired=desired,
                 state=tmp_path / "state" / "reconciler.db", daemons=[])
    try:
        yield made
    finally:
        for daemon in made.daemons:
            daemon.stop()
        proxy.stop()
        paper.stop()
