"""The evaluation gate: may a newly trained model replace ``production``?

Promotion needs both checks to pass:
1. absolute: the candidate's metric is at or above the shelf's threshold (``gate.thresholds``);
2. no regression: when a model is in production, the candidate's metric is at least the
   production model's metric, measured on the same evaluation window, minus ``gate.tolerance``.
   With nothing in production this check is skipped, and the decision says so.
"""
from __future__ import annotations

import math


def gate_config(config: dict, shelf: str) -> dict:
    g = config["gate"]
    return {"metric": g["metric"], "threshold": float((g.get("thresholds") or {}).get(shelf, g["default_threshold"])),
            "tolerance": float(g["tolerance"])}


def decide(candidate: float, production: float | None, cfg: dict) -> dict:
    """Gate decision.

    Args:
      candidate: the candidate's metric on the evaluation window (NaN counts as failing).
      production: the production model's metric on the same window, or None without one.
      cfg: ``{"metric", "threshold", "tolerance"}`` (see :func:`gate_config`).

    Returns ``{"promote": bool, "checks": {"absolute": {...}, "no_regression": {...}}, "reasons": [...]}``;
    each check has ``status`` passed | failed | skipped and the values compared.
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
    reasons = []
    if absolute["status"] == "failed":
        reasons.append(f"{metric} {candidate:.4f} is below the threshold {threshold:.4f}" if ok_value
                       else f"{metric} is undefined (no evaluated query)")
    if regression["status"] == "failed":
        reasons.append(f"{metric} {candidate:.4f} regresses against production {production:.4f} "
                       f"beyond the tolerance {tol:.4f}")
    return {"promote": not reasons, "checks": {"absolute": absolute, "no_regression": regression},
            "reasons": reasons}
