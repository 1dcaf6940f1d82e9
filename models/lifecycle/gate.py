"""The evaluation gate: may a newly trained model replace ``production``?

Promotion needs every check to pass:
1. absolute: the candidate's metric is at or above the shelf's threshold (``gate.thresholds``);
2. no regression: when a model is in production, the candidate's metric is at least the
   production model's metric, measured on the same evaluation window, minus ``gate.tolerance``.
   With nothing in production this check is skipped, and the decision says so.
3. beats the best baseline: on the same candidates and window, the lower bound of a paired
   bootstrap confidence interval (over queries) of mean(candidate - best baseline) NDCG@k is above
   ``gate.baseline_margin`` (``null`` skips the check). A model that a one-feature rule or the
   heuristic already matches earns no place in production, even when nothing is there yet.
"""
from __future__ import annotations

import math

import numpy as np


def gate_config(config: dict, shelf: str) -> dict:
    g = config["gate"]
    margin = g.get("baseline_margin")
    return {"metric": g["metric"], "threshold": float((g.get("thresholds") or {}).get(shelf, g["default_threshold"])),
            "tolerance": float(g["tolerance"]), "baseline_margin": None if margin is None else float(margin),
            "baseline_resamples": int(g["baseline_resamples"]), "baseline_confidence": float(g["baseline_confidence"]),
            "min_queries": int(g["min_queries"])}


def paired_bootstrap(diff: np.ndarray, resamples: int = 1000, confidence: float = 0.95, seed: int = 0
                     ) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(diff)``: ``diff`` float (n,) per-query differences
    between two rankers of the same queries, resampled with replacement ``resamples`` times (seeded,
    so a decision can be replayed). Returns (low, high); (nan, nan) without a query.
    Efron and Tibshirani, "An Introduction to the Bootstrap" (1993), ch. 13 (percentile interval)."""
    diff = np.asarray(diff, dtype=np.float64)
    if not len(diff):
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(bootstrap_means(diff, resamples, np.random.default_rng(seed)), [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_means(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """float64 (resamples,): the mean of ``values`` (float (n,), n >= 1) over ``resamples`` resamples
    with replacement drawn from ``rng``. 100 resamples at a time bound the index matrix's memory."""
    values = np.asarray(values, dtype=np.float64)
    means = np.empty(resamples)
    for start in range(0, resamples, 100):
        idx = rng.integers(0, len(values), size=(min(100, resamples - start), len(values)))
        means[start:start + len(idx)] = values[idx].mean(axis=1)
    return means


def decide(candidate: float, production: float | None, cfg: dict, baseline: dict | None = None) -> dict:
    """Gate decision.

    Args:
      candidate: the candidate's metric on the evaluation window (NaN counts as failing).
      production: the production model's metric on the same window, or None without one.
      cfg: ``{"metric", "threshold", "tolerance"}`` and optionally ``"baseline_margin"`` (see
        :func:`gate_config`).
      baseline: the best baseline on the same queries, ``{"name", "value", "interval": [low, high]}``
        with the paired bootstrap interval of mean(candidate - baseline) (see :func:`paired_bootstrap`),
        or None when it was not measured.

    Returns ``{"promote": bool, "checks": {"absolute": {...}, "no_regression": {...},
    "beats_best_baseline": {...}}, "reasons": [...]}``; each check has ``status`` passed | failed |
    skipped and the values compared.
    """
    metric, threshold, tol = cfg["metric"], cfg["threshold"], cfg["tolerance"]
    ok_value = candidate is not None and not math.isnan(candidate)
    absolute = {"status": "passed" if ok_value and candidate >= threshold else "failed",
                "value": candidate, "threshold": threshold, "metric": metric}
    if production is None:
        regression = {"status": "skipped", "reason": "no model in production yet", "metric": metric}
    else:
        floor = production - tol
        regression = {"status": "passed" if ok_value and candidate >= floor else "failed", "value": candidate,
                      "production": production, "tolerance": tol, "floor": floor, "metric": metric}
    margin = cfg.get("baseline_margin")
    if margin is None or baseline is None:
        versus = {"status": "skipped", "reason": "gate.baseline_margin is null" if margin is None
                  else "no baseline measured", "metric": metric}
    else:
        low = baseline["interval"][0]
        versus = {"status": "passed" if low is not None and not math.isnan(low) and low > margin else "failed",
                  "baseline": baseline["name"], "baseline_value": baseline["value"], "value": candidate,
                  "interval": baseline["interval"], "margin": margin, "metric": metric}
    reasons = []
    if absolute["status"] == "failed":
        reasons.append(f"{metric} {candidate:.4f} is below the threshold {threshold:.4f}" if ok_value
                       else f"{metric} is undefined (no evaluated query)")
    if regression["status"] == "failed":
        reasons.append(f"{metric} {candidate:.4f} regresses against production {production:.4f} "
                       f"beyond the tolerance {tol:.4f}")
    if versus["status"] == "failed":
        low, high = versus["interval"]
        reasons.append(f"{metric} does not beat the best baseline {versus['baseline']} "
                       f"({versus['baseline_value']:.4f}): the interval of the difference "
                       f"[{low:+.4f}, {high:+.4f}] is not above the margin {margin:+.4f}")
    return {"promote": not reasons,
            "checks": {"absolute": absolute, "no_regression": regression, "beats_best_baseline": versus},
            "reasons": reasons}
