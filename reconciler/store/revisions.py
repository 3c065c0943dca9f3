"""Revisions: every distinct content of the desired directory seen, valid or not, so `status` can
say which revision is in force and what is wrong with the newest one (invariant 2); and the exact
files of the valid ones, so the last valid revision stays in force across a restart."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.store.base import StoreBase
from reconciler.store.schema import Revision, file_text, revision_from_row


class Revisions(StoreBase):
    def record_revision(
        self,
        *,
        digest: str,
        git_commit: str | None,
        valid: bool,
        errors: Sequence[str] | str,
        files: Sequence[str | Path],
        contents: Mapping[str, bytes] | None = None,
    ) -> int:
        """Record what the desired directory held; a repeat of the newest revision is not
        recorded again (a daemon re-reads the files every tick) and returns its id.

        `contents` ({path relative to the directory: bytes}) of a VALID revision are kept once,
        so `revision_files` can rebuild it after a restart; an invalid one's never are."""
        errors_text = errors if isinstance(errors, str) else "\n".join(str(e) for e in errors)
        row = {
            "digest": digest,
            "git_commit": git_commit,
            "valid": int(valid),
            "errors": errors_text,
            "files": json.dumps([str(f) for f in files]),
            "created_ms": self._now_ms(),
        }
        with self._db.atomic():
            latest = self.latest_revision()
            if latest is not None and latest.repeats(row):
                revision_id = latest.id
            else:
                revision_id = self._insert("revisions", row)
            if valid and contents:
                self._keep_revision_files(revision_id, contents)
        return revision_id

    def _keep_revision_files(self, revision_id: int, contents: Mapping[str, bytes]) -> None:
        # Once per revision: when first recorded, or (a file from before migration 2) on the
        # first valid read after the upgrade.
        kept = self._db.query(
            "SELECT 1 FROM revision_files WHERE revision_id = ? LIMIT 1", [revision_id]
        )
        if any(True for _ in kept):
            return
        rows = [
            {"revision_id": revision_id, "name": name, "content": file_text(name, data)}
            for name, data in sorted(contents.items())
        ]
        self._db.table("revision_files").insert_all(rows)

    def revision_files(self, revision_id: int) -> dict[str, bytes]:
        """The exact files kept for a valid revision, {relative name: bytes}; empty when none
        were kept (an invalid revision, pruned, or recorded before migration 2)."""
        rows = self._db.query(
            "SELECT name, content FROM revision_files WHERE revision_id = ? ORDER BY name",
            [revision_id],
        )
        return {r["name"]: r["content"].encode("utf-8") for r in rows}

    def latest_revision(self) -> Revision | None:
        return self._one_revision("SELECT * FROM revisions ORDER BY id DESC LIMIT 1")

    def last_valid_revision(self) -> Revision | None:
        return self._one_revision(
            "SELECT * FROM revisions WHERE valid = 1 ORDER BY id DESC LIMIT 1"
        )

    def revision(self, revision_id: int) -> Revision | None:
        return self._one_revision("SELECT * FROM revisions WHERE id = ?", [revision_id])

    def _one_revision(self, sql: str, params: Sequence[Any] = ()) -> Revision | None:
        rows = list(self._db.query(sql, params))
        return revision_from_row(rows[0]) if rows else None
