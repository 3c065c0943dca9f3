"""Which desired state is in force for a pass: step 1 of reconcile.py (DESIGN invariant 2).

The files on disk, when they are valid. When they are not (broken YAML, an invalid spec, a
missing directory), the last valid revision stays in force and nothing of the broken files is
used: the revision this process last loaded, or, when the process has none (a restart while the
files are broken), the one rebuilt from the exact files the state file kept for it. Those bytes
go through the same loader as the directory (`load_files`), so the same validation applies, and
the digest must match the one recorded: a kept revision that no longer loads is refused with a
clear log line, never trusted. A kept revision never overrides valid files: it is read only while
the files on disk are invalid.

GTD expiries: a revision seen for the first time with an expiry already in the past is invalid,
like any other error (`validate`, `plan` and `apply` agree), so the last valid revision stays in
force. A revision accepted while its expiries were ahead (it is the last valid one) stays valid as
they pass: the planner skips the expired levels. The callers pass `now`; this module reads no
clock.

Every valid revision's files are handed to the store as they are recorded (they are not secret);
`status` then reads which revision the newest pass worked from, and whether the files are valid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reconciler.engine.desired_files import load_desired
from reconciler.spec import DesiredState, LoadResult, load_files
from reconciler.store import Revision, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InForce:
    """The spec a pass works from, and what the files on disk said."""

    spec: DesiredState | None  # None: no valid spec at all, so the pass changes nothing
    revision_id: int | None  # the revision `spec` was built from (None: not recorded, `plan`)
    errors: tuple[str, ...] = ()  # what is wrong with the files on disk; () when they are valid
    digest: str = ""  # of the files on disk
    git_commit: str | None = None  # of the desired directory, now
    kept: str | None = None  # "revision N from <time> (git commit X)" kept in force, if any


class DesiredStateKeeper:
    """Loads the desired files for each pass and keeps the last valid revision in force."""

    def __init__(
        self,
        *,
        store: Store,
        desired_dir: Path,
        git_commit_of: Callable[[Path], str | None] | None = None,
    ) -> None:
        self.store = store
        self.desired_dir = Path(desired_dir)
        self.git_commit_of = git_commit_of
        self._last_valid: tuple[DesiredState, int] | None = None
        self._last_valid_digest: str | None = None
        self._logged_invalid_digest: str | None = None
        self._unrestorable: int | None = None  # a kept revision that failed to load: not retried

    def for_tick(self, *, now: float | None = None) -> InForce:
        """Read the files, record them as a revision (with their bytes when valid), and say
        which spec is in force. `now` (unix seconds) refuses a new revision whose GTD expiry
        has passed (module docstring); None skips that check."""
        load = self._load(now)
        commit = self._git_commit()
        errors = tuple(str(e) for e in load.errors)
        revision_id = self.store.record_revision(
            digest=load.digest,
            git_commit=commit,
            valid=load.spec is not None,
            errors=errors,
            files=[_relative(f, self.desired_dir) for f in load.files],
            contents=load.contents,
        )
        if load.spec is not None:
            self._last_valid = (load.spec, revision_id)
            self._last_valid_digest = load.digest
            return InForce(load.spec, revision_id, (), load.digest, commit)
        # Log once per broken revision, not on every tick while it stays broken.
        level = logging.ERROR if load.digest != self._logged_invalid_digest else logging.DEBUG
        self._logged_invalid_digest = load.digest
        for error in errors:
            log.log(level, "desired state: %s", error)
        in_force = self._kept_in_force(load, commit)
        if in_force.kept is not None:
            log.log(min(level, logging.WARNING), "desired files invalid; %s stays in force",
                    in_force.kept)
        return in_force

    def for_plan(self, *, now: float | None = None) -> InForce:
        """The same choice as `for_tick`, recording nothing (`plan` writes no revision)."""
        load = self._load(now)
        commit = self._git_commit()
        if load.spec is not None:
            return InForce(load.spec, None, (), load.digest, commit)
        return self._kept_in_force(load, commit)

    def _load(self, now: float | None) -> LoadResult:
        load = load_desired(self.desired_dir)
        if now is None or load.spec is None or self._accepted(load.digest):
            return load
        # New files: held to their expiries now, as `validate` holds them.
        return load_desired(self.desired_dir, now=now)

    def _accepted(self, digest: str) -> bool:
        """Whether these files are the last valid revision already (so their expiries were
        ahead when they were accepted)."""
        if self._last_valid_digest is not None:
            return digest == self._last_valid_digest
        last = self.store.last_valid_revision()
        return last is not None and last.digest == digest

    def _git_commit(self) -> str | None:
        return self.git_commit_of(self.desired_dir) if self.git_commit_of else None

    def _kept_in_force(self, load: LoadResult, commit: str | None) -> InForce:
        errors = tuple(str(e) for e in load.errors)
        if self._last_valid is None:
            self._last_valid = self._restore()
        if self._last_valid is None:
            return InForce(None, None, errors, load.digest, commit)
        spec, revision_id = self._last_valid
        kept = describe(self.store.revision(revision_id), revision_id=revision_id)
        return InForce(spec, revision_id, errors, load.digest, commit, kept=kept)

    def _restore(self) -> tuple[DesiredState, int] | None:
        """The last valid revision, rebuilt from the files the state file kept for it."""
        revision = self.store.last_valid_revision()
        if revision is None or revision.id == self._unrestorable:
            return None
        what = describe(revision, revision_id=revision.id)
        contents = self.store.revision_files(revision.id)
        load = load_files(contents, base=self.desired_dir) if contents else None
        if load is None or load.spec is None or load.digest != revision.digest:
            self._unrestorable = revision.id
            if load is None:
                why = "its files were not kept (recorded by an older version, or pruned)"
            elif load.spec is None:
                why = "its kept files no longer load: " + "; ".join(str(e) for e in load.errors)
            else:
                why = "its kept files do not match its digest"
            log.error("%s was the last valid desired state, but %s; no desired state is in force "
                      "and nothing changes until the desired files are fixed", what, why)
            return None
        log.warning("restarted with invalid desired files: %s is in force, rebuilt from the "
                    "files kept in the state file", what)
        self._last_valid_digest = revision.digest
        return load.spec, revision.id


def describe(revision: Revision | None, *, revision_id: int) -> str:
    """`revision N from <UTC time> (git commit X)`, for logs and `plan`."""
    if revision is None:
        return f"revision {revision_id}"
    at = datetime.fromtimestamp(revision.created_ms / 1000, tz=UTC)
    text = f"revision {revision.id} from {at:%Y-%m-%d %H:%M:%S} UTC"
    return text + (f" (git commit {revision.git_commit})" if revision.git_commit else "")


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return str(path)


__all__ = ["DesiredStateKeeper", "InForce", "describe"]
