"""Business rules applied after ranking: diversity caps and editorial slots.

Both are declared in config (per shelf ``max_per_creator``) and in the ``curation`` table, so a
product change needs no code change. Positions are 1-based everywhere.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def rank_order(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Indices by score descending; ties broken by item id ascending so runs are reproducible."""
    return np.lexsort((np.asarray(ids, dtype=str), -np.asarray(scores, dtype=np.float64)))


def cap_per_creator(creators: np.ndarray, limit: int | None) -> np.ndarray:
    """Bool mask keeping at most ``limit`` items per creator, in the given (ranked) order.
    Items with an unknown creator (None) are never capped. ``limit`` None or <= 0 keeps all."""
    creators = np.asarray(creators, dtype=object)
    if not limit or limit <= 0 or len(creators) == 0:
        return np.ones(len(creators), dtype=bool)
    known = creators != None  # noqa: E711
    rank_within = pd.Series(np.where(known, creators, "")).groupby(np.where(known, creators, "")).cumcount()
    return ~known | (rank_within.to_numpy() < limit)


def editorial_slots(curation: pd.DataFrame, shelf: str, market: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """Curation rows for ``shelf`` live at ``as_of`` (valid_from <= as_of < valid_to, open ends
    allowed) in ``market`` or ``*``; one row per position (a market-specific row beats ``*``,
    then the lower item id). Returns columns position (int), item_id, sorted by position."""
    if curation is None or curation.empty:
        return pd.DataFrame({"position": pd.Series(dtype=np.int64), "item_id": pd.Series(dtype=object)})
    c = curation[curation["shelf"] == shelf]
    live = (c["valid_from"].isna() | (c["valid_from"] <= as_of)) & (c["valid_to"].isna() | (c["valid_to"] > as_of))
    mk = c["market"].fillna("*")
    c = c[live & ((mk == market) | (mk == "*"))].assign(_specific=(mk != "*"))
    c = c.sort_values(["position", "_specific", "item_id"], ascending=[True, False, True])
    c = c.drop_duplicates("position", keep="first").drop_duplicates("item_id", keep="first")
    return c[["position", "item_id"]].astype({"position": np.int64}).reset_index(drop=True)


def insert_editorial(ranked_ids: list, slots: pd.DataFrame, size: int) -> list[tuple[object, bool]]:
    """Place editorial items at their positions among ``ranked_ids`` and cut to ``size``.

    Returns ``[(item_id, is_editorial), ...]``; an item both ranked and curated appears once, at
    its editorial position. A position beyond the list's end appends the item.
    """
    editorial = dict(zip(slots["item_id"], slots["position"]))
    rest = [i for i in ranked_ids if i not in editorial]
    out: list[tuple[object, bool]] = [(i, False) for i in rest]
    for item, position in sorted(editorial.items(), key=lambda kv: kv[1]):
        out.insert(min(max(int(position) - 1, 0), len(out)), (item, True))
    return out[:size]
