"""One daemon per state file: an exclusive `flock` on `<state>.lock`, held for the process life.

Two daemons on one SQLite file would each believe their inventory is the truth and post the same
levels twice, so the second one must not start (DESIGN.md invariant 6). `flock` is released by the
kernel when the process dies, however it dies, so a crash never leaves a stale lock behind; the
pid written into the file is only there to name the holder in the refusal message.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import socket
import threading
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


def tell_holder(state_path: Path) -> tuple[int | None, bool]:
    """Ask the daemon holding the state lock to look now (SIGHUP: reload, never a stop).
    Returns (its pid or None, whether it was told). The pid comes from the lock file, so it is
    signalled only when /proc says it is a reconciler (a pid of another namespace, or one
    reused, is left alone)."""
    pid = holder_pid(state_path)
    if not pid or pid < 0:
        return None, False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return pid, False
    if b"reconciler" not in cmdline:
        return pid, False
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError:
        return pid, False
    return pid, True


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


class AccountInUse(LockHeld):
    """Another reconciler on this machine manages the same account, from another state file."""

    def __init__(self, *, account: str, chain_id: int, holder: str | None = None) -> None:
        who = f" ({holder})" if holder else ""
        RuntimeError.__init__(
            self,
            f"account {account} (chain {chain_id}) is already managed by another reconciler on "
            f"this machine{who}. Two daemons on one account, each with its own state file, "
            f"would each take the other's orders for a stranger's and post every level twice. "
            f"Stop the other one first.",
        )
        self.state_path = Path()
        self.holder_pid = None


class AccountLock:
    """One reconciler per account on this machine, whatever state file each one uses.

    The state lock cannot see a second daemon that was given another `--state` for the same
    wallet. This one is an abstract Unix socket named after (chain, maker address): the kernel
    frees the name when the process dies, however it dies, and the name is shared by every
    process in the network namespace (the hardened unit keeps the host's, and AF_UNIX allowed).
    The holder answers whoever connects with its pid and state file, so a refusal names both
    (a thread answers until `release()`, so release it: a dropped lock holds until exit).
    """

    def __init__(self, *, account: str, chain_id: int, state_path: Path | None = None) -> None:
        self.account, self.chain_id = account.lower(), chain_id
        self.state_path = state_path
        self._sock: socket.socket | None = None
        self._wake: socket.socket | None = None
        self._thread: threading.Thread | None = None

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
                raise AccountInUse(account=self.account, chain_id=self.chain_id,
                                   holder=_ask_holder(self.name)) from None
            raise
        sock.listen(4)
        sock.setblocking(False)  # an asker that left between select and accept blocks nothing
        self._sock = sock
        where = str(self.state_path.absolute()) if self.state_path is not None else "?"
        answer = f"pid {os.getpid()}, state file {where}\n".encode()
        self._wake, wake_here = socket.socketpair()
        self._thread = threading.Thread(target=_answer_askers, args=(sock, wake_here, answer),
                                        name="account-lock", daemon=True)
        self._thread.start()

    def release(self) -> None:
        if self._sock is None:
            return
        sock, self._sock = self._sock, None
        if self._wake is not None:
            with contextlib.suppress(OSError):
                self._wake.send(b"x")  # the answering thread stops, then the name is freed
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._wake.close()
            self._wake, self._thread = None, None
        sock.close()

    def __enter__(self) -> AccountLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _answer_askers(sock: socket.socket, wake: socket.socket, answer: bytes) -> None:
    """Answer every asker with `answer` until `wake` is written to (then close `wake`)."""
    with wake:
        while True:
            ready, _, _ = select.select([sock, wake], [], [])
            if wake in ready:
                return
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn, contextlib.suppress(OSError):
                conn.settimeout(1.0)
                conn.sendall(answer)


def _ask_holder(name: str) -> str | None:
    """What the holder of an account lock says about itself (pid, state file), or None."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(name)
            data = sock.recv(4096)
    except OSError:
        return None
    text = data.decode("utf-8", "replace").strip()
    return text[:300] if text.startswith("pid ") else None
