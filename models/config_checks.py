"""Checks of a loaded config that need the models' names (candidate sources, rules), run by the
jobs before any input is read: on the config itself and on each experiment variant's config.
(:func:`transforms.config.load_config` checks keys, types and the page; it cannot import the models.)"""
from __future__ import annotations

from models.candidates import SOURCES
from models.experiments import active_experiment, variant_config
from models.rules import RULES
from transforms.contract import ITEM_TYPES
from transforms.errors import InputError


def check_shelves(config: dict, where: str = "config") -> None:
    """What the config module cannot check, because the names live in the models: every source
    of a shelf is a known candidate source with a positive integer quota, every rule shelf names
    a known rule, every item type is a contract type. Raises InputError naming the shelf and key.
    Run by the jobs before any input is read, on the config and on each experiment variant's."""

    for name, shelf in config["shelves"].items():
        for source, quota in (shelf.get("sources") or {}).items():
            if source not in SOURCES:
                raise InputError(f"{where}: shelves.{name}.sources: unknown candidate source {source!r} "
                                 f"(known: {', '.join(sorted(SOURCES))})")
            if isinstance(quota, bool) or not isinstance(quota, int) or quota <= 0:
                raise InputError(f"{where}: shelves.{name}.sources.{source} must be a positive integer quota, "
                                 f"got {quota!r}")
        if shelf["kind"] == "rule" and shelf["rule"] not in RULES:
            raise InputError(f"{where}: shelves.{name}: unknown rule {shelf['rule']!r} "
                             f"(kind: rule needs `rule:` one of {', '.join(RULES)})")
        for key in ("item_types", "fallback_item_types"):
            bad = [t for t in shelf.get(key) or [] if t not in ITEM_TYPES]
            if bad:
                raise InputError(f"{where}: shelves.{name}.{key}: unknown item type(s) {bad} "
                                 f"(known: {', '.join(ITEM_TYPES)})")


def check_config(config: dict) -> None:
    """:func:`check_shelves` on ``config`` and on every variant of its experiment (shelf overrides
    merged in). A variant's models are resolved later, by the daily job, against its registry.
    Raises InputError naming the variant, shelf and key."""
    check_shelves(config)
    exp = active_experiment(config)
    for v, spec in (exp[1] if exp else {}).items():
        check_shelves(variant_config(config, spec), f"experiment {exp[0]}, variant {v}")


__all__ = ["check_shelves", "check_config"]
