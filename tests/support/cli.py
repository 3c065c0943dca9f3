"""Driving the `reconciler` command in-process, as a user would, against a real paper exchange
and a real state file: the `cli` fixture (tests/conftest.py) builds a `Cli` on the paper exchange
with the account's key in the ENVIRONMENT (never argv), a desired directory and a state path.

- `Cli.run(*argv)`: exit code, stdout, stderr (argparse's own refusals are caught too).
- `Cli.write(yaml)`: replace the desired file; `spec(...)`: the YAML of a few levels.
- `Cli.counterparty()`: another account on the same exchange, to trade against our orders.
- `DaemonThread`: the real `Daemon` over the real `Reconciler` the CLI would build, in a
  thread, with a semaphore released after every tick (`wait_ticks(n)`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from paperclob import PaperExchange
from reconciler.cli.main import main
from reconciler.clob.client import ClobClient
from tests.support.accounts import new_client

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
OTHER = "52114319501245915516055106046884209969926127482827954674443846427813813222426"


def spec(levels: Sequence[tuple[str, str, str]], *, token: str = TOKEN, label: str = "",
         extra: str = "", more: str = "") -> str:
    """One token's YAML: levels as (side, price, size); `extra` lines go under the token."""
    lines = ["version: 1", "tokens:", f'  - token_id: "{token}"']
    if label:
        lines.append(f'    label: "{label}"')
    lines += [f"    {line}" for line in extra.splitlines() if line]
    lines.append("    orders:")
    lines += [f'      - {{side: {s}, price: "{p}", size: {z}}}' for s, p, z in levels]
    return "\n".join(lines) + "\n" + more


@dataclass
class Cli:
    capsys: pytest.CaptureFixture[str]
    paper: PaperExchange
    key: str
    root: Path
    calls: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def desired(self) -> Path:
        return self.root / "desired"

    @property
    def state(self) -> Path:
        return self.root / "state" / "reconciler.db"

    @property
    def address(self) -> str:
        return Account.from_key(self.key).address

    def run(self, *argv: str) -> tuple[int, str, str]:
        self.calls.append(argv)
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse's own refusals and --help
            code = int(exit_.code or 0)
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def write(self, text: str, name: str = "book.yaml") -> None:
        self.desired.mkdir(exist_ok=True)
        (self.desired / name).write_text(text)

    def client(self) -> ClobClient:
        """Our own account, seen from the test (not through the CLI)."""
        client = ClobClient(self.paper.url, chain_id=137)
        from reconciler.clob.signing import Wallet

        client.wallet = Wallet.from_private_key(self.key)
        client.creds = client.create_or_derive_api_key()
        return client

    def counterparty(self) -> ClobClient:
        return new_client(self.paper.url)


class DaemonThread:
    """`with DaemonThread(cli) as d:` runs the daemon on the cli's state file and exchange."""

    def __init__(self, cli: Cli, *, interval: float = 0.05) -> None:
        from reconciler.cli.settings import load_settings
        from reconciler.cli.wiring import connect, make_reconciler, open_store
        from reconciler.daemon import Daemon, DaemonOptions

        settings = load_settings(flags={"state": str(cli.state), "desired": str(cli.desired)})
        self._conn = connect(settings)
        self._store = open_store(settings, self._conn)
        reconciler = make_reconciler(self._conn, self._store)
        self._ticks = threading.Semaphore(0)
        tick = reconciler.tick

        def counted() -> Any:
            try:
                return tick()
            finally:
                self._ticks.release()

        reconciler.tick = counted  # type: ignore[method-assign]
        self.daemon = Daemon(ticker=reconciler, desired_dir=cli.desired,
                             options=DaemonOptions(interval_seconds=interval,
                                                   debounce_seconds=0.01))
        self._thread = threading.Thread(target=self.daemon.run,
                                        kwargs={"install_signals": False}, daemon=True)

    def wait_ticks(self, count: int) -> None:
        for _ in range(count):
            assert self._ticks.acquire(timeout=20), "the daemon did not tick"

    def __enter__(self) -> DaemonThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.daemon.stop("test done")
        self._thread.join(timeout=20)
        self._store.close()
        self._conn.close()
