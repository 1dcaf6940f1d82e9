"""The order of the shelves on each listener's Home page (``home_layout`` table).

A transparent policy, in three tiers (config ``page.layout``):

1. ``pinned`` shelves come first, in the listed order, for every listener who has them (for
   example ``shortcuts``: the listener's way back into what they play).
2. ``new_listeners_first`` shelves come next for new listeners (tenure below
   ``listeners.new_listener_days``): cold start is what they are for.
3. The other shelves by their expected engagement ``score``, highest first, ties in the page's
   claim order (:func:`models.serving.page.claim_order`).

``score = base_rate[shelf] * affinity / prior``: the share of listeners who play from the shelf
(``base_rates``, measured on a past day by ``home-recs layout-report``; ``default_base_rate``
for a shelf without one), scaled by how much more than the reference ``prior`` this listener
plays the shelf's item types. ``affinity`` is the share of the listener's plays in
``[as_of - window_days, as_of)`` that map to one of the shelf's entity types
(:meth:`transforms.listeners.batch.History.entities`: an episode play maps to a show, a track play from a
playlist to that playlist...), smoothed towards ``prior`` with the weight of ``prior_plays``
plays (additive smoothing, the mean of a Beta(prior * w, (1 - prior) * w) posterior):
``(plays_of_types + prior * w) / (plays + w)``. A shelf without item types (editorial) has
affinity ``prior``, so its score is its base rate. Item scores are not used: a heuristic's and a
ranker's scores are on different scales, so they do not compare across shelves.

``reason`` says which tier placed the shelf: ``pinned``, ``new_listener`` or ``affinity``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.listeners.history import MS_PER_DAY

LAYOUT_COLUMNS = ["listener_id", "shelf", "shelf_rank", "reason", "affinity", "score"]


def expected_engagement(shelf: str, affinity_: np.ndarray, layout: dict) -> np.ndarray:
    """float64: ``base_rate[shelf] * affinity / prior`` (see the module docstring)."""
    rate = (layout.get("base_rates") or {}).get(shelf, layout["default_base_rate"])
    return float(rate) * np.asarray(affinity_, dtype=np.float64) / float(layout["prior"])


def affinity(hist, types, n_listeners: int, window_days: float, prior: float, prior_plays: float) -> np.ndarray:
    """float64 (B,): each listener's smoothed share of plays in the window that map to ``types``
    (see the module docstring); ``prior`` for every listener when ``types`` is empty."""
    if not len(types):
        return np.full(n_listeners, float(prior))
    recent = hist.ts_ms >= hist.as_of_ms - float(window_days) * MS_PER_DAY
    ent, _ = hist.entities(types)
    plays = np.bincount(hist.who[recent], minlength=n_listeners)
    hits = np.bincount(hist.who[recent & (ent >= 0)], minlength=n_listeners)
    w = float(prior_plays)
    return (hits + float(prior) * w) / (plays + w)


def shelf_ranks(who: np.ndarray, shelf: np.ndarray, score: np.ndarray, new_listener: np.ndarray,
                shelves: list[str], layout: dict) -> tuple[np.ndarray, np.ndarray]:
    """Rank the (listener, shelf) rows of a batch.

    ``who`` int64 (n,) listener index; ``shelf`` int64 (n,) index into ``shelves`` (the claim
    order, used for ties); ``score`` float64 (n,) the expected engagement; ``new_listener`` bool (B,).
    Returns ``shelf_rank`` int64 (n,) 1-based per listener, and ``reason`` (n,) object.
    """
    names = np.asarray(shelves, dtype=object)[shelf]
    pinned = {s: i for i, s in enumerate(layout["pinned"])}
    first = {s: i for i, s in enumerate(layout["new_listeners_first"])}
    pin_at = np.array([pinned.get(s, -1) for s in names], dtype=np.int64)
    new_at = np.array([first.get(s, -1) for s in names], dtype=np.int64)
    new_at = np.where(new_listener[who], new_at, -1)
    tier = np.where(pin_at >= 0, 0, np.where(new_at >= 0, 1, 2))
    within = np.where(tier == 0, pin_at, np.where(tier == 1, new_at, 0))
    order = np.lexsort((shelf, np.where(tier == 2, -score, 0.0), within, tier, who))
    rank = np.empty(len(who), dtype=np.int64)
    sorted_who = who[order]
    rank[order] = np.arange(len(who)) - np.searchsorted(sorted_who, sorted_who, side="left") + 1
    reason = np.asarray(["pinned", "new_listener", "affinity"], dtype=object)[tier]
    return rank, reason


def layout_frame(listener_id: np.ndarray, who: np.ndarray, shelf: np.ndarray, affinity_: np.ndarray,
                 score: np.ndarray, new_listener: np.ndarray, shelves: list[str], layout: dict) -> pd.DataFrame:
    """:data:`LAYOUT_COLUMNS` rows for the (listener, shelf) pairs of a batch, by listener then rank."""
    rank, reason = shelf_ranks(who, shelf, score, new_listener, shelves, layout)
    frame = pd.DataFrame({"listener_id": listener_id[who], "shelf": np.asarray(shelves, dtype=object)[shelf],
                          "shelf_rank": rank, "reason": reason, "affinity": affinity_, "score": score, "_who": who})
    return frame.sort_values(["_who", "shelf_rank"], kind="stable", ignore_index=True)[LAYOUT_COLUMNS]


__all__ = ["LAYOUT_COLUMNS", "affinity", "expected_engagement", "shelf_ranks", "layout_frame"]
