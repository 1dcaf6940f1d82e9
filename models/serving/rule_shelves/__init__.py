"""Rule shelves (``kind: rule``: no model, no candidates, no features), as a registry: ``{name: rule}``.

A rule takes a :class:`RuleInput` (a whole batch of listeners) and returns a
:class:`models.candidates.candidates.Ranked`: ``who``/``code`` int64 (n,), each served listener's rows
contiguous and best first, at most ``depth`` per listener. ``models.serving.shelf_kinds`` then drops the
items an earlier shelf claimed, places the editorial slots and cuts to ``size``; rows get ``source=rule``,
``candidate_source=rule:<name>``, no score and no model version.

To add a rule: one module in this package with its function, one line in :data:`RULES`, and a shelf
with ``kind: rule`` and ``rule: <name>`` in the config (its own keys, if any, in ``RuleShelf`` of
``transforms/config/config_schema.py``).
"""
from __future__ import annotations

from typing import Callable

from models.candidates.candidates import Ranked
from models.serving.rule_shelves import new_episodes
from models.serving.rule_shelves.base import RuleInput

RULES: dict[str, Callable[[RuleInput], Ranked]] = {
    "new_episodes": new_episodes.rule,
}

__all__ = ["RULES", "RuleInput"]
