"""Offline comparison of an experiment's variants on what listeners played after each serve.

One query = one listener on one served day and shelf. A served item is relevant when the listener
played it in ``[D, D + horizon)`` at any entity level (:func:`models.evaluation.layout_eval.touched`: the
item, its album or show, its artist, or the playlist played from). Per shelf and variant:

- ``hit_rate``: the share of queries with at least one relevant served item (every served
  listener-day counts, hit or not), with a percentile bootstrap interval over queries;
- ``ndcg``: NDCG@k of the served order (position 1 first) over the queries with a hit
  (:func:`models.evaluation.metrics.per_query_ndcg`, binary relevance); k is the longest list the shelf served
  (so a variant that serves more items is not cut at a smaller k), or the k asked for;
- against the first variant (the control): the difference in hit rate and its interval, from
  independent resamples of the two groups (different listeners, so not paired). Efron and
  Tibshirani, "An Introduction to the Bootstrap" (1993), ch. 13.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.lifecycle.gate import bootstrap_means
from models.evaluation.layout_eval import touched
from models.evaluation.metrics import per_query_ndcg


def served_labels(recs: pd.DataFrame, plays: pd.DataFrame) -> pd.DataFrame:
    """``recs`` (listener_id, dt, shelf, variant, position, item_id: the rows served on day ``dt``)
    with ``label`` int8 0/1: 1 when the listener played the item in the window after that serve.
    ``plays``: listener_id, dt (the serve the play follows) and the entity columns."""
    pairs = [touched(g).assign(dt=d) for d, g in plays.groupby("dt", sort=False)]
    hit = (pd.concat(pairs, ignore_index=True) if pairs
           else pd.DataFrame(columns=["listener_id", "item_id", "dt"])).assign(label=np.int8(1))
    out = recs.merge(hit, on=["listener_id", "dt", "item_id"], how="left")
    out["label"] = out["label"].fillna(0).astype(np.int8)
    return out


def compare_variants(labelled: pd.DataFrame, k: int | None = None, order: list[str] | None = None,
                     resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict:
    """shelf -> variant -> {queries, hit_rate, hit_rate_low, hit_rate_high, ndcg, k, queries_with_hit,
    and for variants after the first: hit_rate_difference with its interval}, from
    :func:`served_labels` output. ``order``: the variants in config order, the first being the
    control (default: sorted names); a variant a shelf did not serve is left out of that shelf."""
    rng = np.random.default_rng(seed)
    tail = (1.0 - confidence) / 2.0
    out: dict = {}
    for shelf, rows in labelled.groupby("shelf", sort=True):
        per_query = rows.groupby(["variant", "listener_id", "dt"], sort=False)["label"].max().reset_index()
        present = set(rows["variant"])
        cut = int(k) if k else int(rows["position"].max())
        variants = [v for v in (order or sorted(present)) if v in present]
        shelf_out, control_draws, control_rate = {}, None, None
        for v in variants:
            hits = per_query.loc[per_query["variant"] == v, "label"].to_numpy(np.float64)
            draws = bootstrap_means(hits, resamples, rng)
            mine = rows[rows["variant"] == v].assign(score=lambda f: -f["position"].astype(np.float64))
            ndcg = per_query_ndcg(mine, cut, ["listener_id", "dt"]) if mine["label"].any() else pd.Series(dtype=float)
            entry = {"queries": int(len(hits)), "hit_rate": float(hits.mean()),
                     "hit_rate_low": float(np.quantile(draws, tail)),
                     "hit_rate_high": float(np.quantile(draws, 1 - tail)),
                     "ndcg": float(ndcg.mean()) if len(ndcg) else float("nan"), "k": cut,
                     "queries_with_hit": int(len(ndcg))}
            if control_draws is None:
                control_draws, control_rate = draws, hits.mean()
            else:
                diff = draws - control_draws
                entry.update({"hit_rate_difference": float(hits.mean() - control_rate),
                              "difference_low": float(np.quantile(diff, tail)),
                              "difference_high": float(np.quantile(diff, 1 - tail))})
            shelf_out[v] = entry
        out[shelf] = shelf_out
    return out


__all__ = ["served_labels", "compare_variants"]
