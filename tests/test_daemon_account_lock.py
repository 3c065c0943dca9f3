"""One reconciler per account on this machine: the abstract-socket lock, across processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reconciler.daemon.lock import AccountInUse, AccountLock, LockHeld

ACCOUNT = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"


def test_a_second_holder_in_this_process_is_refused_until_release() -> None:
    with AccountLock(account=ACCOUNT, chain_id=80002):
        with pytest.raises(AccountInUse) as refused:
            AccountLock(account=ACCOUNT.lower(), chain_id=80002).acquire()
        assert isinstance(refused.value, LockHeld)  # the CLI reports both the same way
        assert ACCOUNT.lower() in str(refused.value)
        AccountLock(account=ACCOUNT, chain_id=137).acquire()  # another chain is another account
    with AccountLock(account=ACCOUNT, chain_id=80002):
        pass


def test_the_lock_is_machine_wide_and_freed_when_its_holder_dies() -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from reconciler.daemon.lock import AccountLock\n"
         f"lock = AccountLock(account={ACCOUNT!r}, chain_id=31337)\n"
         "lock.acquire()  # kept referenced: a collected socket frees the name\n"
         "print('held', flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(AccountInUse):
            AccountLock(account=ACCOUNT, chain_id=31337).acquire()
    finally:
        holder.kill()
        holder.wait(timeout=10)
    with AccountLock(account=ACCOUNT, chain_id=31337):  # killed: the kernel freed the name
        pass
