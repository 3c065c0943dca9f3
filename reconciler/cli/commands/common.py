"""What several commands share: logging, the locks a writer holds, labels, the stores they open."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from reconciler.cli.logs import configure_logging
from reconciler.cli.settings import Settings
from reconciler.cli.wiring import connect, open_store
from reconciler.daemon import AccountLock, StateLock
from reconciler.engine import load_desired
from reconciler.model import TickOutcome
from reconciler.store import Store

#: The exit code of a command stopped by Ctrl-C (SIGINT), `run` and `apply` alike: 128 + 2.
INTERRUPTED = 130


def setup_logging(args: argparse.Namespace, settings: Settings, *, default: str) -> None:
    level = settings.log_level if getattr(args, "log_level", None) else default
    configure_logging(log_format=settings.log_format, level=level, secrets=settings.secrets(),
                      log_file=settings.log_file)


def say(text: str) -> None:
    """A note for people, on stderr (stdout stays the command's output)."""
    print(text, file=sys.stderr)


def paper_note(settings: Settings, *, url: str) -> None:
    """What `--paper` means for a command that starts its own exchange."""
    if settings.paper:
        say(f"--paper: started a fresh, empty paper exchange at {url} with a new throwaway key; "
            "it stops when this command exits. To keep one running and point commands at it: "
            "`reconciler paper-exchange --port 8080`, then CLOB_HOST=http://127.0.0.1:8080 and "
            "a key from `reconciler keygen > key && chmod 600 key` (--private-key-file key).")


@contextmanager
def writer(settings: Settings, state_lock: StateLock | None = None) -> Iterator[tuple[Any, Store]]:
    """What every command that writes the state file holds, in this order: the state lock, the
    connection, the account lock (one reconciler per account on this machine), the store."""
    state_lock = state_lock or StateLock(settings.state_path)
    with state_lock, connect(settings) as conn, \
            AccountLock(account=conn.wallet.maker, chain_id=settings.chain_id,
                        state_path=settings.state_path), \
            open_store(settings, conn) as store:
        paper_note(settings, url=conn.host)
        _close_stale_runs(store)
        yield conn, store


def _close_stale_runs(store: Store) -> None:
    """A run row still open when we hold the state lock belongs to a process that died mid-pass
    (killed, or the machine stopped): close it, so no pass is shown as running forever."""
    closed = store.close_unfinished_runs(
        outcome=TickOutcome.INTERRUPTED,
        error="the process stopped mid-pass; the next pass resolved what it left unknown")
    if closed:
        logging.getLogger(__name__).warning(
            "closed %d run(s) left open by a process that stopped mid-pass (#%s); their unknown "
            "outcomes are resolved by this pass", len(closed), ", #".join(map(str, closed)))


def labels(settings: Settings) -> dict[str, str]:
    """token id -> label, from the desired files (none while they are invalid)."""
    loaded = load_desired(settings.desired_dir)
    return dict(loaded.spec.labels) if loaded.spec is not None else {}


def existing_store(settings: Settings) -> Store:
    """The state file, read-only: never created, migrated or chmodded (StateFileError)."""
    return Store.open(settings.state_path, read_only=True)
