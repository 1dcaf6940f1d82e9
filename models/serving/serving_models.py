"""Which ranker serves each shelf: a verified XGBoost model, a measured best baseline, or the heuristic.

The Home page is never empty because of a model: a missing, corrupt or mismatched model makes its
shelf fall back, with a warning and a manifest flag. A shelf of a registry without a production
model serves the best baseline of its latest evaluation (``source=baseline``), when ``retrain``
recorded one: a model the gate refused for not beating that baseline must not leave the shelf on a
ranking measured to be worse. Otherwise the shelf serves the configured heuristic
(``source=fallback``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from models.ranking.baselines import BaselineScorer
from models.serving.heuristic import HeuristicScorer
from models.ranking.ranker import XGBoostScorer
from transforms.errors import InputError
from transforms.features.feature_spec import FEATURE_SPECS

log = logging.getLogger("home_recs.serving_models")


@dataclass
class ModelChoice:
    """Per shelf: ``paths`` (shelf -> verified model folder), ``versions`` (shelf -> version),
    ``fallbacks`` (shelf -> reason no model serves although one was asked for) and ``baselines``
    (shelf -> the registry's best-baseline record, for fallback shelves that serve it instead of the
    heuristic: ``{"baseline", "metric", "value", "version", ...}``)."""

    paths: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    fallbacks: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)


def choose_models(requested: dict[str, tuple[str, str | None]]) -> ModelChoice:
    """Verify each requested model (shelf -> (path, version or None)) by loading it once.

    A model that fails to load (missing files, checksum, feature spec fingerprint) is recorded in
    ``fallbacks`` with the reason and logged as a warning; it never stops the job.
    """
    choice = ModelChoice()
    for shelf, (path, version) in requested.items():
        if shelf not in FEATURE_SPECS:
            raise InputError(f"--model {shelf}=...: shelf {shelf!r} has no feature spec (model shelves: "
                             f"{sorted(FEATURE_SPECS)})")
        try:
            scorer = XGBoostScorer(path, shelf, version)
        except (InputError, OSError, ValueError) as err:
            log.warning("shelf %s: model %s unusable, serving the heuristic fallback: %s", shelf, path, err)
            choice.fallbacks[shelf] = str(err)
            continue
        choice.paths[shelf] = path
        choice.versions[shelf] = scorer.version
    return choice


def recorded_baselines(registry_root: str, shelves) -> dict:
    """shelf -> best-baseline record (:meth:`models.lifecycle.registry.Registry.best_baseline`) for each of
    ``shelves`` that has one whose baseline can rank it today (a record naming a baseline the shelf's
    spec no longer has is skipped with a warning: the heuristic serves)."""
    from models.lifecycle.registry import Registry

    reg, found = Registry(registry_root), {}
    for shelf in shelves:
        try:
            record = reg.best_baseline(shelf)
            if not record:
                continue
            if record["baseline"] != "baseline_heuristic":
                BaselineScorer(shelf, record["baseline"])
        except (InputError, KeyError, TypeError) as err:   # a corrupt record must not stop the day
            log.warning("shelf %s: recorded best baseline unusable, serving the heuristic: %s", shelf, err)
            continue
        log.warning("shelf %s: no production model; serving its best baseline %s (%s %s, measured with version %s)",
                    shelf, record["baseline"], record.get("metric"), record.get("value"), record.get("version"))
        found[shelf] = record
    return found


def baseline_scorer(shelf: str, name: str, weights: dict):
    """The serving scorer of a best baseline: the heuristic (``baseline_heuristic``) or a
    :class:`models.ranking.baselines.BaselineScorer`; both say ``source=baseline``."""
    if name == "baseline_heuristic":
        return HeuristicScorer(shelf, weights, "baseline")
    return BaselineScorer(shelf, name)


class ScorerSet:
    """Loaded scorers for every model shelf (weak-referenceable, so Beam's ``Shared`` can hold it)."""

    def __init__(self, config: dict, choice: ModelChoice):
        self.scorers = {}
        for shelf, cfg in config["shelves"].items():
            if shelf not in FEATURE_SPECS:
                continue
            if shelf in choice.paths:
                self.scorers[shelf] = XGBoostScorer(choice.paths[shelf], shelf, choice.versions[shelf])
            elif shelf in choice.baselines:
                self.scorers[shelf] = baseline_scorer(shelf, choice.baselines[shelf]["baseline"],
                                                      cfg.get("heuristic_weights", {}))
            else:
                self.scorers[shelf] = HeuristicScorer(shelf, cfg.get("heuristic_weights", {}),
                                                      "fallback" if shelf in choice.fallbacks else "heuristic")
