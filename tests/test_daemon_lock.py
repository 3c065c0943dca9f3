"""The state lock: one holder at a time, a refusal that names the file and the holder's pid."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.daemon.lock import LockHeld, StateLock, lock_path_for


def test_second_lock_in_same_process_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state" / "r.db"
    with StateLock(state) as first:
        assert first.held
        assert lock_path_for(state).read_text().strip() == str(os.getpid())
        with pytest.raises(LockHeld) as info:
            StateLock(state).acquire()
        assert str(state) in str(info.value)
        assert f"pid {os.getpid()}" in str(info.value)
        assert info.value.holder_pid == os.getpid()
    # Released: a new holder gets it.
    again = StateLock(state)
    again.acquire()
    again.release()


def test_lock_file_is_private(tmp_path: Path) -> None:
    with StateLock(tmp_path / "r.db") as lock:
        assert (lock.path.stat().st_mode & 0o777) == 0o600


def test_other_process_is_refused_and_lock_dies_with_holder(tmp_path: Path) -> None:
    state = tmp_path / "r.db"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from reconciler.daemon.lock import StateLock, LockHeld\n"
        "try:\n"
        "    StateLock(Path(sys.argv[1])).acquire()\n"
        "except LockHeld as exc:\n"
        "    print(exc); sys.exit(3)\n"
        "print('acquired')\n"
    )
    with StateLock(state):
        done = subprocess.run([sys.executable, "-c", script, str(state)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 3
        assert str(state) in done.stdout and f"pid {os.getpid()}" in done.stdout
    # A holder that exits without releasing (like a crash) leaves no stale lock behind.
    holder = subprocess.run(
        [sys.executable, "-c", script.replace("print('acquired')", "import os; os._exit(0)"),
         str(state)], timeout=60,
    )
    assert holder.returncode == 0
    done = subprocess.run([sys.executable, "-c", script, str(state)], capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip() == "acquired"
