"""Which files of the desired directory are desired state, and reading them (for the spec parser).

Which files: every `*.yaml` / `*.yml` under the directory (subdirectories too), in sorted order
of their relative paths. Hidden files and directories (`.git`, `.x.yaml`, emacs' `.#x.yaml`)
and editor leftovers (`x.yaml~`, `#x.yaml#`, swap files, vim's `4913` probe) are skipped, so
saving in an editor never feeds a half-written temp file to the daemon.

All-or-nothing, as the parser is: what cannot be seen or read whole is an error, never absent.

Nothing outside the directory is read. A symlink (to a file or a directory) whose target resolves
outside it is refused with an error, because a link planted in a repository could point at
$CREDENTIALS_DIRECTORY/private_key, and the parser's messages would then quote it. (Messages
never quote a key in any case: see spec/errors.py.) The directory itself may be a symlink.
Files are opened without following a last symlink and without blocking (a fifo), checked with
fstat on the open file, and read up to MAX_FILE_BYTES + 1 bytes at most.
The bytes go to `reconciler.spec.load_read_files`, the one parser of both a directory and a
revision kept in the state file.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from pathlib import Path
from typing import TextIO

from reconciler.spec import (
    MAX_FILE_BYTES,
    LoadResult,
    SpecError,
    load_read_files,
    too_big_error,
    whole_file_error,
)

SUFFIXES = (".yaml", ".yml")


def is_candidate(name: str) -> bool:
    """Whether a file name is a desired-state file (not hidden, not an editor leftover)."""
    if name.startswith((".", "#", "~")) or name.endswith(("~", "#")):
        return False
    return name.endswith(SUFFIXES)


def desired_files(directory: Path, *, errors: list[SpecError] | None = None) -> list[Path]:
    """The files `load_desired` reads, sorted by path relative to `directory`.

    What cannot be seen whole is added to `errors` when given, so all-or-nothing holds: a
    subdirectory that cannot be listed, and a candidate name that is not a readable regular file
    (a dangling symlink mid-checkout, a fifo). Skipping either would drop its tokens, and so
    cancel their orders."""
    problems: list[SpecError] = [] if errors is None else errors

    def unlistable(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else directory
        problems.append(whole_file_error(where, f"cannot list this directory ({exc.strerror}); fix its "
                                      "permissions, or move it out of the desired directory"))

    inside = _resolved(directory)
    found: list[Path] = []
    for root, dirs, names in os.walk(directory, onerror=unlistable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for d in dirs:  # os.walk does not follow directory links; say so for those that leave
            link = Path(root) / d
            if link.is_symlink() and not _within(link, inside):
                problems.append(whole_file_error(link, _OUTSIDE.format(what="a directory")))
        found.extend(Path(root) / n for n in names if is_candidate(n))
    files: list[Path] = []
    for path in sorted(found, key=lambda p: p.relative_to(directory).as_posix()):
        if path.is_symlink() and not _within(path, inside):
            problems.append(whole_file_error(path, _OUTSIDE.format(what="a file")))
            continue
        try:
            regular = path.is_file()
        except OSError:  # e.g. a permission error on stat: reported as unreadable below
            regular = False
        if regular:
            files.append(path)
        else:
            problems.append(whole_file_error(path, "not a readable regular file (a dangling symlink?); "
                                         "restore its target or remove it"))
    return files


_OUTSIDE = ("a symlink to {what} outside the desired directory; refused, so that no file "
            "outside it (a key, say) is ever read: copy the file into the directory instead")


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _within(path: Path, directory: Path) -> bool:
    return _resolved(path).is_relative_to(directory)


def load_desired(directory: Path, *, now: float | None = None) -> LoadResult:
    """Load every desired-state file under `directory` (see the module docstring)."""
    directory = Path(directory)
    if not directory.is_dir():
        return LoadResult(
            spec=None,
            errors=[
                whole_file_error(
                    directory, "not a directory; create it or point to the desired state directory"
                )
            ],
        )
    errors: list[SpecError] = []
    contents: dict[str, bytes] = {}
    files = desired_files(directory, errors=errors)
    for path in files:
        data = _read(path, errors)
        if data is not None:
            contents[path.relative_to(directory).as_posix()] = data
    result = load_read_files(contents, base=directory, now=now, errors=errors)
    # `files` lists what was found, including a file that could not be read.
    return dataclasses.replace(result, files=files)


def _read(path: Path, errors: list[SpecError]) -> bytes | None:
    try:
        # The link (if any) was checked to stay inside; open its target, never a new link
        # swapped in since, and never block on a fifo.
        fd = os.open(_resolved(path), os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as exc:
        errors.append(SpecError(str(path), 1, 1, f"cannot read the file: {exc.strerror}"))
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            errors.append(whole_file_error(path, "not a regular file; remove it"))
            return None
        # Checked before reading too, so a huge file is never read into memory.
        if info.st_size > MAX_FILE_BYTES:
            errors.append(too_big_error(path))
            return None
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE_BYTES:  # it grew while being read
            errors.append(too_big_error(path))
            return None
        return b"".join(chunks)
    except OSError as exc:
        errors.append(SpecError(str(path), 1, 1, f"cannot read the file: {exc.strerror}"))
        return None
    finally:
        os.close(fd)


def validate_directory(directory: Path, out: TextIO, *, now: float | None = None) -> int:
    """`reconciler validate DIR`: 0 when valid, 1 when not; one `file:line:col: message` per line.

    Reads the clock (unless `now` is given) so that a GTD expiry already in the past is flagged.
    """
    result = load_desired(Path(directory), now=time.time() if now is None else now)
    for error in result.errors:
        out.write(f"{error}\n")
    if result.spec is None:
        return 1
    tokens = len(result.spec.tokens)
    levels = sum(len(t.levels) for t in result.spec.tokens)
    counts = ", ".join(f"{n} {noun if n == 1 else noun + 's'}" for n, noun in
                       ((len(result.files), "file"), (tokens, "token"), (levels, "level")))
    out.write(f"{directory}: valid ({counts})\n")
    return 0
