"""One daemon per state file: an exclusive `flock` on `<state>.lock`, held for the process life.

Two daemons on one SQLite file would each believe their inventory is the truth and post the same
levels twice, so the second one must not start (DESIGN.md invariant 6). `flock` is released by the
kernel when the process dies, however it dies, so a crash never leaves a stale lock behind; the
pid written into the file is only there to name the holder in the refusal message.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path
from types import TracebackType


class LockHeld(RuntimeError):
    """Another process holds the state lock. The message names the state file and its pid."""

    def __init__(self, *, state_path: Path, holder_pid: int | None) -> None:
        who = f"pid {holder_pid}" if holder_pid else "another process (pid unknown)"
        super().__init__(
            f"state file {state_path} is in use by {who}: only one reconciler may use a state "
            f"file at a time. Stop the other one first, or pass a different --state."
        )
        self.state_path = state_path
        self.holder_pid = holder_pid


def lock_path_for(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


class StateLock:
    """`with StateLock(state_path):` — raise LockHeld when another process holds it."""

    def __init__(self, state_path: Path) -> None:
        self.state_path = state_path
        self.path = lock_path_for(state_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockHeld(state_path=self.state_path, holder_pid=holder) from None
            raise
        # Only the holder writes, after it holds the lock, so a reader sees a whole pid or none.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # The file stays: unlinking it would race with a process that just opened it.
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def holder_pid(state_path: Path) -> int | None:
    """The pid of the process holding the lock on `state_path`, or None when nobody holds it.

    Probes with a shared lock released at once, so it never blocks and never keeps a daemon
    from starting for longer than the probe itself.
    """
    path = lock_path_for(state_path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _read_pid(fd) or -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


class AccountInUse(LockHeld):
    """Another reconciler on this machine manages the same account, from another state file."""

    def __init__(self, *, account: str, chain_id: int) -> None:
        RuntimeError.__init__(
            self,
            f"account {account} (chain {chain_id}) is already managed by another reconciler on "
            f"this machine. Two daemons on one account, each with its own state file, would each "
            f"take the other's orders for a stranger's and post every level twice. Stop the "
            f"other one first.",
        )
        self.state_path = Path()
        self.holder_pid = None


class AccountLock:
    """One reconciler per account on this machine, whatever state file each one uses.

    The state lock cannot see a second daemon that was given another `--state` for the same
    wallet. This one is an abstract Unix socket named after (chain, maker address): the kernel
    frees the name when the process dies, however it dies, and the name is shared by every
    process in the network namespace (the hardened unit keeps the host's, and AF_UNIX allowed).
    """

    def __init__(self, *, account: str, chain_id: int) -> None:
        self.account, self.chain_id = account.lower(), chain_id
        self._sock: socket.socket | None = None

    @property
    def name(self) -> str:
        return f"\0reconciler:account:{self.chain_id}:{self.account}"

    def acquire(self) -> None:
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(self.name)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise AccountInUse(account=self.account, chain_id=self.chain_id) from None
            raise
        self._sock = sock

    def release(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()

    def __enter__(self) -> AccountLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
