"""Offline evaluation of the shelf order (``home_layout``) against a fixed order.

Labels: a shelf is relevant to a listener when, in ``[D, D + horizon)``, the listener played
something the shelf showed them on day D: a play matches a shown item when the item is the
played item, its parent (album, show), its creator (artist) or the play's context (playlist) -
the entity levels the shelves serve. One query per listener with at least one relevant shelf;
NDCG over the listener's shelves (binary relevance, :func:`models.evaluation.metrics.per_query_ndcg`, so
the same definition as the item rankings), for the policy's ``shelf_rank`` and for the fixed
order, compared query by query with a paired bootstrap interval
(:func:`models.lifecycle.gate.paired_bootstrap`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.lifecycle.gate import paired_bootstrap
from models.evaluation.metrics import per_query_ndcg

ENTITY_COLUMNS = ("item_id", "parent_id", "creator_id", "context_id")


def touched(plays: pd.DataFrame) -> pd.DataFrame:
    """Distinct (listener_id, item_id) pairs a listener "played" in ``plays`` at every entity level:
    the item, its parent, its creator and the context of each play (:data:`ENTITY_COLUMNS`
    present in ``plays``), so a served album, artist or playlist matches a track played from it."""
    cols = [c for c in ENTITY_COLUMNS if c in plays.columns]
    pairs = pd.concat([plays[["listener_id", c]].rename(columns={c: "item_id"}) for c in cols], ignore_index=True)
    return pairs.dropna().drop_duplicates().reset_index(drop=True)


def shelf_relevance(recs: pd.DataFrame, plays: pd.DataFrame) -> pd.DataFrame:
    """Which served shelves a listener played from.

    ``recs``: listener_id, shelf, item_id (the published recommendations of day D); ``plays``:
    listener_id and any of :data:`ENTITY_COLUMNS` (plays in the label window, with the catalog's
    parent and creator). Returns listener_id, shelf, label (int8 0/1), one row per (listener,
    shelf) of ``recs``.
    """
    hit = recs[["listener_id", "shelf", "item_id"]].merge(touched(plays), on=["listener_id", "item_id"], how="inner")
    hit = hit[["listener_id", "shelf"]].drop_duplicates().assign(label=np.int8(1))
    out = recs[["listener_id", "shelf"]].drop_duplicates().merge(hit, on=["listener_id", "shelf"], how="left")
    out["label"] = out["label"].fillna(0).astype(np.int8)
    return out.reset_index(drop=True)


def compare_orders(layout: pd.DataFrame, relevance: pd.DataFrame, fixed_order: list[str], resamples: int = 1000,
                   confidence: float = 0.95) -> dict:
    """NDCG over shelves of the policy (``layout``: listener_id, shelf, shelf_rank) and of
    ``fixed_order`` (shelf names, first = top; others after, by name), on the listeners with at
    least one relevant shelf. Returns a dict: listeners, listeners_evaluated, ndcg_policy,
    ndcg_fixed, difference and its interval (``difference_low``, ``difference_high``), and per shelf
    the share of the listeners shown it who played from it (``relevant_share``, every listener of
    ``layout`` with the shelf, evaluated or not: the base rate of :mod:`models.serving.layout`) and its
    mean rank under the policy."""
    frame = layout[["listener_id", "shelf", "shelf_rank"]].merge(relevance, on=["listener_id", "shelf"], how="left")
    frame["label"] = frame["label"].fillna(0).astype(np.int8)
    fixed = {s: i for i, s in enumerate(fixed_order)}
    names = sorted(frame["shelf"].unique())
    fixed_rank = frame["shelf"].map({s: fixed.get(s, len(fixed) + names.index(s)) for s in names})
    frame = frame.rename(columns={"shelf": "item_id"})  # per_query_ndcg ranks "items": here, shelves
    k = int(frame.groupby("listener_id").size().max()) if len(frame) else 1
    policy = per_query_ndcg(frame.assign(score=-frame["shelf_rank"].astype(np.float64)), k, ["listener_id"])
    base = per_query_ndcg(frame.assign(score=-fixed_rank.astype(np.float64)), k, ["listener_id"])
    diff = (policy - base.reindex(policy.index)).to_numpy()
    low, high = paired_bootstrap(diff, resamples, confidence)
    per_shelf = frame.groupby("item_id").agg(relevant=("label", "mean"), mean_rank=("shelf_rank", "mean"))
    return {"listeners": int(frame["listener_id"].nunique()), "listeners_evaluated": int(len(policy)),
            "k": k, "ndcg_policy": float(policy.mean()) if len(policy) else float("nan"),
            "ndcg_fixed": float(base.mean()) if len(base) else float("nan"),
            "difference": float(diff.mean()) if len(diff) else float("nan"),
            "difference_low": low, "difference_high": high, "confidence": confidence,
            "fixed_order": list(fixed_order),
            "shelves": {s: {"relevant_share": round(float(r.relevant), 4), "mean_rank": round(float(r.mean_rank), 3)}
                        for s, r in per_shelf.iterrows()}}


__all__ = ["ENTITY_COLUMNS", "touched", "shelf_relevance", "compare_orders"]
