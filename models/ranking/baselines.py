"""Baseline rankers for offline evaluation, scored on the same candidates and window as the model.

Each baseline orders a listener's candidates by one feature of the examples (the feature code
path is the same one the model sees), so a comparison differs only in the ranking function.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.serving.heuristic import HeuristicScorer
from transforms.errors import InputError
from transforms.features.feature_spec import feature_names

# name -> (feature, sign): score = sign * feature, missing = lowest
SINGLE_FEATURE = {
    "baseline_popularity": ("pop_market_log", 1.0),   # popularity in the listener's market
    "baseline_recency": ("last_play_days", -1.0),     # most recently played first
    "baseline_frequency": ("plays_all", 1.0),         # personal play count
    "baseline_actr": ("actr_activation", 1.0),         # ACT-R base-level activation (recency x frequency)
    "baseline_colisten": ("colisten_score", 1.0),     # co-listening similarity
}


def baseline_scores(examples: pd.DataFrame, shelf: str, config: dict) -> dict[str, np.ndarray]:
    """``{baseline name: float64 scores (n,)}`` for every baseline whose feature the shelf's spec
    has, plus ``baseline_heuristic`` (the configured heuristic of the first release)."""
    names = set(feature_names(shelf))
    out = {}
    for name, (feature, sign) in SINGLE_FEATURE.items():
        if feature in names:
            values = examples[feature].to_numpy(dtype=np.float64) * sign
            out[name] = np.where(np.isnan(values), -np.inf, values)
    weights = config["shelves"][shelf].get("heuristic_weights", {})
    X = examples[feature_names(shelf)].to_numpy(dtype=np.float32)
    out["baseline_heuristic"] = HeuristicScorer(shelf, weights).score(X)
    return out


def best_baseline_name(baselines: dict, metric: str) -> str | None:
    """The baseline with the highest ``metric`` in an evaluation report's ``baselines`` section
    (``{name: {"metrics": {metric: value}}}``); None and NaN count as lowest. None when empty."""
    def value(name):
        v = baselines[name]["metrics"].get(metric)
        return -1.0 if v is None or v != v else float(v)
    return max(baselines, key=value) if baselines else None


class BaselineScorer:
    """A one-feature baseline (:data:`SINGLE_FEATURE`) as a serving ranker: ``score(X) = sign * X[:, f]``.

    Serves a model shelf whose retrained model the gate refused while no production model exists
    (see :func:`models.serving.serving_models.recorded_baselines`). ``X``: float32 (n, n_features) in the
    shelf's spec order; returns float64 (n,). A missing feature (NaN) ranks below every present
    one: it is scored one below the lowest present score, so scores stay finite in the output.
    Output rows say ``source=baseline``. Raises InputError for a name that is not a one-feature
    baseline of the shelf's spec.
    """

    version = None
    source = "baseline"

    def __init__(self, shelf: str, name: str):
        names = feature_names(shelf)
        if name not in SINGLE_FEATURE or SINGLE_FEATURE[name][0] not in names:
            raise InputError(f"baseline {name!r} cannot rank shelf {shelf!r}: one-feature baselines of its spec are "
                             f"{sorted(b for b, (f, _) in SINGLE_FEATURE.items() if f in names)}")
        feature, self.sign = SINGLE_FEATURE[name]
        self.shelf, self.name, self.column = shelf, name, names.index(feature)

    def score(self, X: np.ndarray) -> np.ndarray:
        s = X[:, self.column].astype(np.float64) * self.sign
        missing = np.isnan(s)
        if missing.any():
            s[missing] = (s[~missing].min() - 1.0) if (~missing).any() else 0.0
        return s
