"""Offline evaluation of a shelf's ranker against baselines on the same candidates and window."""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.ranking.baselines import baseline_scores
from models.evaluation.metrics import ndcg_curve, ranking_metrics, split_repeat_explore
from models.ranking.ranker import XGBoostScorer
from transforms.errors import InputError
from transforms.features.feature_spec import feature_names

KS = (5, 10)
KEYS = ["listener_id", "as_of", "item_id", "label"]


def eval_ks(config: dict, shelf: str) -> tuple[int, ...]:
    """The cut-offs k a shelf is evaluated at: :data:`KS` and the shelf's served ``size`` (6 for
    shortcuts: a listener sees 6 items, so NDCG@6 is what the shelf shows; the gate keeps its own
    ``gate.metric``). Sorted ints."""
    size = _served_size(config, shelf)
    return tuple(sorted(set(KS) | ({size} if size else set())))


def _served_size(config: dict, shelf: str) -> int | None:
    size = (config.get("shelves", {}).get(shelf) or {}).get("size")
    return int(size) if size else None


def evaluate(examples: pd.DataFrame, shelf: str, scorer: XGBoostScorer, config: dict,
             candidate_recall: float | None = None) -> dict:
    """Metrics of the model and of every applicable baseline on ``examples``, at k in
    :func:`eval_ks` (5, 10 and the shelf's served size).

    ``examples``: one shelf's example rows (see ``transforms.io.examples_table``). Returns the report
    dict ``{"shelf", "window", "n_examples", "candidate_recall", "model": {...}, "baselines":
    {"baseline_<name>": {...}}, "beats_every_baseline_ndcg@10", "best_baseline_ndcg@10"}`` where
    each entry holds ``metrics`` (see ``models.evaluation.metrics.ranking_metrics``) and ``ndcg_curve``; for
    ``shortcuts`` the model entry also holds ``repeat_explore: {"repeat": ..., "explore": ...}``
    (repeat = the listener played the item before as_of, i.e. ``plays_all > 0``).
    """
    X = examples[feature_names(shelf)].to_numpy(dtype=np.float32)
    base = examples[KEYS].copy()
    window = {"from": str(examples["as_of"].min().date()), "to": str(examples["as_of"].max().date()),
              "as_of_dates": int(examples["as_of"].nunique())}
    train_to = scorer.metadata.get("validation_window", {}).get("to") or scorer.metadata.get("training_window", {}).get("to")

    ks = eval_ks(config, shelf)

    def entry(scores: np.ndarray) -> dict:
        frame = base.assign(score=scores)
        return {"metrics": ranking_metrics(frame, ks), "ndcg_curve": ndcg_curve(frame, range(1, 21))}

    model = entry(scorer.score(X))
    model["name"] = "model"
    model["version"] = scorer.version
    if shelf == "shortcuts" and "plays_all" in examples:
        split = split_repeat_explore(base.assign(score=scorer.score(X)), examples["plays_all"].to_numpy() > 0, ks)
        model["repeat_explore"] = split
    baselines = {name: entry(s) for name, s in baseline_scores(examples, shelf, config).items()}
    best = max(baselines, key=lambda b: _nz(baselines[b]["metrics"]["ndcg@10"]))
    return {
        "shelf": shelf, "window": window, "n_examples": int(len(examples)), "served_size": _served_size(config, shelf),
        "evaluation_after_training": bool(train_to is None or window["from"] > train_to),
        "training_data_to": train_to, "candidate_recall": candidate_recall,
        "model": model, "baselines": baselines,
        "best_baseline_ndcg@10": {"name": best, "value": baselines[best]["metrics"]["ndcg@10"]},
        "beats_every_baseline_ndcg@10": all(_nz(model["metrics"]["ndcg@10"]) > _nz(b["metrics"]["ndcg@10"])
                                            for b in baselines.values()),
    }


def _nz(v) -> float:
    return -1.0 if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def check_evaluable(examples: pd.DataFrame, shelf: str, min_queries: int, where: str) -> int:
    """The number of queries (listener, as_of) with a positive label in ``examples``; raises
    InputError, naming ``where`` (the window or folder), when there is none (nothing to measure) or
    fewer than ``min_queries`` (``gate.min_queries``): a metric over so few queries is noise, and the
    gate must not promote on it."""
    positives = examples.loc[examples["label"] > 0, ["listener_id", "as_of"]]
    n = int(len(positives.drop_duplicates()))
    if n == 0:
        raise InputError(f"{shelf}: no positive label in {where} ({len(examples):,} examples): nothing to evaluate; "
                         f"is the window inside the input's dates?")
    if n < min_queries:
        raise InputError(f"{shelf}: {n} queries with a positive in {where}, fewer than gate.min_queries "
                         f"{min_queries}: too few to measure a model on, or to promote one")
    return n
