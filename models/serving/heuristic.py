"""The heuristic ranker: a weighted sum of named features, declared per shelf in config.

It is the ranking of the first release and the fallback whenever a shelf has no usable model.
It reads the same feature matrix a model would, so it needs no feature code of its own.
"""
from __future__ import annotations

import numpy as np

from transforms.errors import InputError
from transforms.features.feature_spec import feature_names


class HeuristicScorer:
    """``score(X) = sum_i w_i * nan_to_0(X[:, i])`` over the configured weights.

    ``X``: float32 (n, n_features) in the shelf's spec order. Returns float64 (n,).
    ``source``: the output rows' ``source``: ``heuristic`` when it is the intended ranking (no
    ``--models``), ``fallback`` when a model was asked for and could not serve.
    Raises InputError when a weight names a feature that is not in the shelf's spec.
    """

    version = None

    def __init__(self, shelf: str, weights: dict[str, float], source: str = "heuristic"):
        names = feature_names(shelf)
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise InputError(f"config: shelves.{shelf}.heuristic_weights names unknown features {unknown}; "
                             f"the spec has {names}")
        self.shelf, self.source = shelf, source
        self.w = np.asarray([float(weights.get(n, 0.0)) for n in names], dtype=np.float64)

    def score(self, X: np.ndarray) -> np.ndarray:
        return np.nan_to_num(X.astype(np.float64), nan=0.0) @ self.w
