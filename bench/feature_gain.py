"""Gain of each feature group on a later window (issue 14, point 4): ``python bench/feature_gain.py``.

Given examples from ``home-recs build-examples`` (one shelf, as_of dates before and after ``--split``):

1. trains the shelf's ranker (``models.ranking.ranker.train``, the production code and config) on the dates before
   ``--split`` with every feature of the spec, and scores the dates on and after it (the later window);
2. for each group of ``--groups``, trains again with that group's columns set to NaN in both windows (a tree
   ensemble then never splits on them: the group is removed without changing the spec or the code), and scores
   the same queries;
3. reports per group NDCG@k of the full model, of the model without the group, and the paired bootstrap
   interval (1,000 resamples, 95%, over queries; :func:`models.lifecycle.gate.paired_bootstrap`) of full minus without.
   A group **helps** when that difference is above 0 on the later window.

Prints a table and writes ``--output`` (JSON). Figures go to bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.lifecycle.gate import paired_bootstrap  # noqa: E402
from models.evaluation.metrics import per_query_ndcg  # noqa: E402
from models.ranking.ranker import XGBoostScorer, save_model, train  # noqa: E402
from transforms.config.config import load_config  # noqa: E402
from transforms.io.examples_table import read_examples  # noqa: E402
from transforms.features.feature_spec import feature_names  # noqa: E402

DEFAULT_GROUPS = ("actr_activation", "tod_affinity+dow_affinity", "genre_match+trend+pop_market_log",
                  "frecency_7d+last_play_days")


def later_window_ndcg(train_ex: pd.DataFrame, eval_ex: pd.DataFrame, shelf: str, config: dict, k: int,
                      work: Path) -> pd.Series:
    """Per-query NDCG@k (indexed by listener_id, as_of) on ``eval_ex`` of a model trained on ``train_ex``."""
    booster, meta = train(train_ex, shelf, config)
    save_model(booster, meta, str(work))
    scores = XGBoostScorer(str(work), shelf).score(eval_ex[feature_names(shelf)].to_numpy(dtype=np.float32))
    return per_query_ndcg(eval_ex[["listener_id", "as_of", "item_id", "label"]].assign(score=scores), k)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", required=True, help="build-examples output with dates on both sides of --split")
    ap.add_argument("--shelf", default="shortcuts")
    ap.add_argument("--split", required=True, help="first as_of (YYYY-MM-DD) of the later, evaluation window")
    ap.add_argument("--groups", default=",".join(DEFAULT_GROUPS),
                    help="comma-separated groups, features of one group joined by '+'")
    ap.add_argument("--base-without", default="",
                    help="'+'-joined features set to NaN in every model, the full one too (e.g. to measure against an "
                         "older spec)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--work", default="/tmp/feature-gain", help="scratch folder for the models")
    ap.add_argument("--output", help="JSON of the results (default WORK/feature_gain.json)")
    args = ap.parse_args()
    config, work = load_config(), Path(args.work)
    names = feature_names(args.shelf)
    groups = [g.split("+") for g in args.groups.split(",") if g]
    base = [f for f in args.base_without.split("+") if f]
    unknown = sorted(({f for g in groups for f in g} | set(base)) - set(names))
    if unknown:
        sys.exit(f"feature_gain: {unknown} not in the {args.shelf} spec {names}")
    examples = read_examples(args.examples, args.shelf)
    cut = pd.Timestamp(args.split, tz="UTC")
    examples = examples.assign(**{c: np.nan for c in base})
    train_ex, eval_ex = examples[examples["as_of"] < cut], examples[examples["as_of"] >= cut]
    started = time.time()
    full = later_window_ndcg(train_ex, eval_ex, args.shelf, config, args.k, work / "full")
    result = {"shelf": args.shelf, "split": args.split, "k": args.k, "queries": int(len(full)),
              "train_rows": int(len(train_ex)), "eval_rows": int(len(eval_ex)),
              "base_without": base, "full": float(full.mean()), "groups": {}}
    print(f"{args.shelf}: train {train_ex['as_of'].min():%Y-%m-%d}..{train_ex['as_of'].max():%Y-%m-%d}, later window "
          f"{eval_ex['as_of'].min():%Y-%m-%d}..{eval_ex['as_of'].max():%Y-%m-%d}, {len(full):,} queries; "
          f"full NDCG@{args.k} {full.mean():.4f}")
    for i, group in enumerate(groups):
        without = {c: np.nan for c in group}
        ablated = later_window_ndcg(train_ex.assign(**without), eval_ex.assign(**without), args.shelf, config,
                                    args.k, work / f"without-{i}")
        diff = (full - ablated.reindex(full.index)).to_numpy()
        low, high = paired_bootstrap(diff, 1000, 0.95)
        name = "+".join(group)
        result["groups"][name] = {"without": float(ablated.mean()), "gain": float(diff.mean()), "low": low,
                                  "high": high, "helps": bool(diff.mean() > 0)}
        print(f"  without {name:<28} {ablated.mean():.4f}  gain {diff.mean():+.4f} [{low:+.4f}, {high:+.4f}]")
    result["wall_s"] = round(time.time() - started, 1)
    out = Path(args.output) if args.output else work / "feature_gain.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
