"""Shared by the scale benchmarks (bench_apply, bench_idle, bench_ready, bench_rss, bench_import,
bench_latency's 10,000-order part): sizes, desired directories, processes and their resources.

The idea: measure what a user runs. The paper exchange is its own process (`python -m
paperclob`, tests/support/processes.py `PaperProcess`), `reconciler` commands are processes
started the way a user starts them (`python -m reconciler ...`, the key in the environment,
never in argv), and what a process cost is read from the kernel: its wall time, its CPU time
and peak RSS from `wait4` (per child, not summed over all children), or /proc/PID while it runs.

`--quick` on the command line (or BENCH_QUICK=1 in the environment) makes every benchmark run
tiny sizes, for a smoke test in seconds; the figures are then meaningless and say so.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.accounts import new_key
from tests.support.processes import REPO, PaperProcess, spec

#: Balances big enough for 10,000 resting orders on one account (bids reserve pUSD, asks shares).
PAPER_FUNDS = ("--collateral", "100000000", "--shares", "100000000")
#: The paper exchange's default page of GET /data/orders (paperclob PaperConfig.page_size). The
#: wire reference does not say what page size the live exchange serves.
PAGE_SIZE = 100
NOISE = ("The machine has 2 cores shared with other work (other sessions were running tests and "
         "builds at the same time): figures are medians of several rounds, and ratios measured "
         "side by side in one run mean more than absolute times.")


def quick() -> bool:
    """Tiny sizes: `--quick` among the arguments or BENCH_QUICK=1 in the environment."""
    return "--quick" in sys.argv[1:] or os.environ.get("BENCH_QUICK", "") not in ("", "0")


def quick_note() -> str:
    return "**--quick run: tiny sizes, the figures mean nothing.**\n\n" if quick() else ""


# --- desired state ---------------------------------------------------------------------------


def token_id(index: int) -> str:
    """A stable 77-digit decimal token id (the paper exchange lists unknown tokens on first use)."""
    return str(10**76 + 7_919 * index + 1)


def levels(count: int, *, shift: int = 0) -> list[tuple[str, str, str]]:
    """`count` levels of one token: bids from 0.10 up, asks from 0.90 down (more bids when odd).

    `shift` moves every price by that many cents (bids down, asks up), for a "moved" book.
    """
    bids = (count + 1) // 2
    rows = [("BUY", f"0.{10 + i - shift:02d}", "10") for i in range(bids)]
    rows += [("SELL", f"0.{90 - i + shift:02d}", "10") for i in range(count - bids)]
    return rows


Book = dict[str, list[tuple[str, str, str]]]


def book(tokens: int, per_token: int) -> Book:
    return {token_id(i): levels(per_token) for i in range(tokens)}


def write_desired(directory: Path, tokens: Book, *, files: int) -> Path:
    """Write `tokens` into `files` YAML files (tokens spread evenly, in order)."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.yaml"):
        old.unlink()
    items = list(tokens.items())
    per_file = max(1, -(-len(items) // files))
    for n, start in enumerate(range(0, len(items), per_file)):
        (directory / f"book-{n:03d}.yaml").write_text(spec(dict(items[start:start + per_file])))
    return directory


# --- processes -------------------------------------------------------------------------------


#: Where the children keep their bytecode. This environment sets PYTHONDONTWRITEBYTECODE=1 and
#: the source tree has no __pycache__, so without a cache every `python -m reconciler` would
#: compile our sources again (about half a second); an installed package has its .pyc files, and
#: so do the SDK's. The cache lives outside the repository.
PYCACHE = Path(tempfile.gettempdir()) / "reconciler-bench-pycache"
_BYTECODE_WARM = False


def bytecode_env() -> dict[str, str]:
    """Environment entries that give a child a warm bytecode cache (see PYCACHE).

    The first call also sets them in this process's environment, so that the children the
    tests/support helpers start (PaperProcess, DaemonProcess inherit os.environ) get them too,
    and fills the cache once.
    """
    global _BYTECODE_WARM
    env = {"PYTHONPYCACHEPREFIX": str(PYCACHE), "PYTHONDONTWRITEBYTECODE": ""}
    if not _BYTECODE_WARM:
        _BYTECODE_WARM = True
        os.environ.update(env)
        subprocess.run([sys.executable, "-c", "import reconciler.cli, paperclob, "
                        "py_clob_client_v2.client, bench.sdk_apply"],
                       env={**os.environ, **env}, cwd=REPO, check=True)
    return env


def clean_env(**extra: str) -> dict[str, str]:
    """This environment minus anything a reconciler would read as configuration, with a warm
    bytecode cache, plus `extra`."""
    dropped = ("NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID", "API_KEY",
               "SECRET", "PASSPHRASE", "CREDENTIALS_DIRECTORY", "PRIVATE_KEY", "CLOB_HOST",
               "RECONCILER_DESIRED", "RECONCILER_STATE", "RECONCILER_INTERVAL", "BENCH_QUICK")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(bytecode_env())
    env.update(extra)
    return env


@dataclass(frozen=True)
class Finished:
    """A child process that ran to its end, with what the kernel accounted to it alone."""

    code: int
    wall: float  # seconds from just before the fork to its exit
    cpu: float  # user + system seconds
    max_rss_kib: int
    stdout: str
    stderr: str


def run_process(argv: Sequence[str], *, env: dict[str, str], timeout: float = 600.0,
                cwd: Path = REPO) -> Finished:
    """Run to completion; wall time and `wait4`'s rusage of this child only.

    Output goes to temporary files (not pipes) so that reading it costs the clock nothing.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, env=env, cwd=cwd)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Finished(code=proc.returncode, wall=wall, cpu=usage.ru_utime + usage.ru_stime,
                        max_rss_kib=usage.ru_maxrss, stdout=out.read().decode(errors="replace"),
                        stderr=err.read().decode(errors="replace"))


def reconciler_argv(command: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", command, *args]


def check(finished: Finished, what: str) -> Finished:
    if finished.code != 0:
        tail = "\n".join((finished.stderr or finished.stdout).splitlines()[-15:])
        raise RuntimeError(f"{what} exited {finished.code}:\n{tail}")
    return finished


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a running process (all its threads), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid: int, field: str) -> int:
    """A kB field of /proc/PID/status: VmHWM (peak RSS), VmRSS."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def paper(*args: str) -> PaperProcess:
    """A paper exchange process funded for 10,000 resting orders per account."""
    bytecode_env()  # PaperProcess inherits os.environ: give it the bytecode cache
    return PaperProcess(*PAPER_FUNDS, *args)


def copy_state(source: Path, target: Path) -> Path:
    """A consistent copy of a SQLite state file (the backup API, so a WAL is included)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    return target


class NotifySocket:
    """A datagram socket where $NOTIFY_SOCKET points (systemd's, for the daemon), read in this
    thread: `wait_for("READY=1")` is the perf_counter() of the arrival of the next datagram
    holding that line. (The daemon never blocks on a full queue, it drops: read promptly.)"""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))

    def wait_for(self, line: str, *, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while True:
            self.sock.settimeout(max(0.001, deadline - time.perf_counter()))
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                raise AssertionError(f"no {line} from the daemon in {timeout:.0f} s") from None
            if line in message.split("\n"):
                return time.perf_counter()

    def close(self) -> None:
        self.sock.close()


# --- a book of resting orders the daemon owns ------------------------------------------------


@dataclass
class Warm:
    """A paper exchange with `orders` resting orders placed by one `reconciler apply` of
    `desired` (a key of our own), and the state file that apply left: the daemon owns them.

    Users copy `state` (and `desired`) before using them, so the pristine pair stays consistent
    with the exchange: nothing here may change an order of the book.
    """

    exchange: PaperProcess
    key: str
    desired: Path
    state: Path
    tokens: int
    per_token: int
    files: int
    apply_seconds: float
    apply_max_rss_kib: int

    @property
    def orders(self) -> int:
        return self.tokens * self.per_token

    def fresh_copy(self, into: Path) -> tuple[Path, Path]:
        """(desired directory, state file) copies in `into`, for one run of a consumer."""
        desired = into / "desired"
        shutil.copytree(self.desired, desired)
        return desired, copy_state(self.state, into / "state" / "reconciler.db")


_WARM: dict[tuple[int, int], Warm] = {}


def warm(tokens: int, per_token: int) -> Warm:
    """The shared warm book of `tokens` x `per_token` orders (built once per process)."""
    found = _WARM.get((tokens, per_token))
    if found is not None and found.exchange.proc.poll() is None:
        return found
    root = Path(tempfile.mkdtemp(prefix=f"bench-warm-{tokens * per_token}-"))
    exchange = paper()
    atexit.register(shutil.rmtree, root, True)
    atexit.register(exchange.stop)
    key = new_key()
    files = max(1, min(100, tokens // 10))
    desired = write_desired(root / "desired", book(tokens, per_token), files=files)
    state = root / "state" / "reconciler.db"
    done = check(run_process(
        reconciler_argv("apply", "--desired", str(desired), "--state", str(state),
                        "--log-level", "WARNING"),
        env=clean_env(CLOB_HOST=exchange.url, PRIVATE_KEY=key)), "the warm-up apply")
    built = Warm(exchange=exchange, key=key, desired=desired, state=state, tokens=tokens,
                 per_token=per_token, files=files, apply_seconds=done.wall,
                 apply_max_rss_kib=done.max_rss_kib)
    _WARM[(tokens, per_token)] = built
    return built


def discard_warm(book: Warm) -> None:
    """Forget a shared book that no longer matches its state file (the next user rebuilds)."""
    for shape, found in list(_WARM.items()):
        if found is book:
            del _WARM[shape]
    book.exchange.stop()


# --- figures ---------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def spread(values: Sequence[float], scale: float = 1000.0, digits: int = 0) -> str:
    """'min-max' of values, scaled (ms by default)."""
    return f"{min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def command(module: str) -> str:
    return f"`.venv/bin/python -m bench.{module}` (`--quick` for a smoke test)"
