"""`--target TOKEN` (repeatable): a pass limited to some tokens, named by id or by label."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.cli.settings import Settings, SettingsError
from reconciler.engine import load_desired
from reconciler.store import Store


def resolve_targets(given: Sequence[str] | None, *, settings: Settings,
                    store: Store) -> frozenset[str] | None:
    """The token ids named (None: every token). A target is a token of the desired files (by
    id or exact label) or a token we have orders on; anything else is refused, so a typo
    never means "nothing"."""
    if not given:
        return None
    loaded = load_desired(settings.desired_dir)
    declared = {t.token_id: t.label for t in loaded.spec.tokens} if loaded.spec else {}
    by_label: dict[str, list[str]] = {}
    for token_id, label in declared.items():
        if label:
            by_label.setdefault(label, []).append(token_id)
    ours = {o.key.token_id for o in store.inventory()}
    found: set[str] = set()
    for text in given:
        if text in declared or text in ours:
            found.add(text)
        elif len(by_label.get(text, [])) == 1:
            found.add(by_label[text][0])
        elif len(by_label.get(text, [])) > 1:
            raise SettingsError(f"--target {text!r} is the label of {len(by_label[text])} "
                                "tokens; name the token id")
        else:
            raise SettingsError(f"--target {text[:80]!r} is neither a token of the desired "
                                f"files (by id or label) nor one we have orders on")
    return frozenset(found)
