"""Baseline rankers for offline evaluation, scored on the same candidates and window as the model.

Each baseline orders a listener's candidates by one feature of the examples (the feature code
path is the same one the model sees), so a comparison differs only in the ranking function.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.heuristic import HeuristicScorer
from transforms.feature_spec import feature_names

# name -> (feature, sign): score = sign * feature, missing = lowest
_SINGLE_FEATURE = {
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
    for name, (feature, sign) in _SINGLE_FEATURE.items():
        if feature in names:
            values = examples[feature].to_numpy(dtype=np.float64) * sign
            out[name] = np.where(np.isnan(values), -np.inf, values)
    weights = config["shelves"][shelf].get("heuristic_weights", {})
    X = examples[feature_names(shelf)].to_numpy(dtype=np.float32)
    out["baseline_heuristic"] = HeuristicScorer(shelf, weights).score(X)
    return out
