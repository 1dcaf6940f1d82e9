"""Checks of a loaded config that need the models' names (candidate sources, rules), run by the
jobs before any input is read: on the config itself and on each experiment variant's config.
(:func:`transforms.config.config.load_config` checks keys, types and the page; it cannot import the models.)"""
from __future__ import annotations

import difflib

from models.candidates.candidates import SOURCES
from models.serving.experiments import active_experiment, variant_config
from models.serving.rule_shelves import RULES
from transforms.io.contract import ITEM_TYPES
from transforms.errors import InputError
from transforms.features.feature_spec import ALL_FEATURES, FEATURE_SPECS, feature_names


def check_shelves(config: dict, where: str = "config") -> None:
    """What the config module cannot check, because the names live in the models: every source
    of a shelf is a known candidate source with a positive integer quota, every rule shelf names
    a known rule, every item type is a contract type, every model shelf has a feature spec and its
    heuristic weights name features of it. Raises InputError naming the shelf and key.
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
            raise InputError(f"{where}: shelves.{name}.rule: unknown rule {shelf['rule']!r}; "
                             f"{_closest(str(shelf['rule']), list(RULES))} (models/serving/rule_shelves RULES)")
        if shelf["kind"] == "model":
            _check_model_shelf(name, shelf, where)
        for key in ("item_types", "fallback_item_types"):
            bad = [t for t in shelf.get(key) or [] if t not in ITEM_TYPES]
            if bad:
                raise InputError(f"{where}: shelves.{name}.{key}: unknown item type(s) {bad} "
                                 f"(known: {', '.join(ITEM_TYPES)})")


def _check_model_shelf(name: str, shelf: dict, where: str) -> None:
    # without a spec the shelf would be skipped without a word (models/serving/home.py serves spec'd shelves only)
    if name not in FEATURE_SPECS:
        raise InputError(f"{where}: shelves.{name} is a model shelf without a feature spec (model shelves: "
                         f"{', '.join(FEATURE_SPECS)}; transforms/features/feature_spec.py); give it kind: rule or editorial, "
                         f"or add its spec")
    names = feature_names(name)
    for feature in shelf.get("heuristic_weights") or {}:
        if feature not in names:
            raise InputError(f"{where}: shelves.{name}.heuristic_weights.{feature}: unknown feature; "
                             f"{_closest(feature, names)}")


def check_drift_features(config: dict, where: str = "config") -> None:
    """Every key of ``drift.thresholds.features`` is a feature (``trend``) or a model shelf's feature
    (``shortcuts.trend``): a misspelt one would leave its default threshold in place. Raises
    InputError naming the key and the closest valid name."""
    for key in config["drift"]["thresholds"]["features"]:
        shelf, _, feature = key.rpartition(".")
        valid = feature_names(shelf) if shelf in FEATURE_SPECS else list(ALL_FEATURES)
        if shelf and shelf not in FEATURE_SPECS:
            raise InputError(f"{where}: drift.thresholds.features.{key}: {shelf!r} is not a model shelf "
                             f"({', '.join(FEATURE_SPECS)})")
        if feature not in valid:
            raise InputError(f"{where}: drift.thresholds.features.{key}: unknown feature; {_closest(feature, valid)}")


def _closest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else f"valid: {', '.join(sorted(valid))}"


def check_config(config: dict) -> None:
    """:func:`check_shelves` on ``config`` and on every variant of its experiment (shelf overrides
    merged in). A variant's models are resolved later, by the daily job, against its registry.
    Raises InputError naming the variant, shelf and key."""
    check_shelves(config)
    check_drift_features(config)
    exp = active_experiment(config)
    for v, spec in (exp[1] if exp else {}).items():
        check_shelves(variant_config(config, spec), f"experiment {exp[0]}, variant {v}")


__all__ = ["check_shelves", "check_drift_features", "check_config"]
