"""Candidate sources (stage 1): small pluggable units that each propose items for a listener.

A shelf declares in config which sources it uses and the quota of each (``sources: {name: quota}``).
:func:`generate_candidates` runs them in that order, merges duplicates keeping every source that
proposed an item, drops already-played items on discovery shelves, and caps the total. The daily
job and the training-example job both call it, so they see the same candidates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from transforms.aggregates import GLOBAL_MARKET, SideTables
from transforms.catalog import Catalog, resolve_entities
from transforms.features import jaccard_to, listener_genres
from transforms.history import ListenerState


@dataclass
class CandidateSet:
    """One listener's candidates on one shelf: ``ids`` (object, n), ``sources`` name -> bool (n,)."""

    ids: np.ndarray
    sources: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)

    def source_labels(self) -> list[str]:
        """Per candidate, the ``|``-joined names of the sources that proposed it."""
        names = list(self.sources)
        flags = np.column_stack([self.sources[s] for s in names]) if names else np.zeros((len(self.ids), 0), bool)
        return ["|".join(n for n, f in zip(names, row) if f) for row in flags]


@dataclass
class ListenerView:
    """What sources see: the listener, their plays before as_of mapped to shelf entities."""

    state: ListenerState
    as_of_ms: int
    shelf: str
    played: np.ndarray      # entity per play (object), most recent last, None dropped
    played_ts: np.ndarray   # epoch ms UTC of those plays
    catalog: Catalog
    side: SideTables


def _history(view: ListenerView, quota: int) -> np.ndarray:
    """The listener's own entities, by decayed frequency (frecency, 7-day half-life-like decay)."""
    if len(view.played) == 0:
        return np.zeros(0, dtype=object)
    age_days = (view.as_of_ms - view.played_ts) / 86_400_000
    s = pd.Series(np.exp(-age_days / 7.0)).groupby(view.played).sum()
    s = s.sort_index().sort_values(ascending=False, kind="stable")
    return s.index.to_numpy(dtype=object)[:quota]


def _colisten(view: ListenerView, quota: int) -> np.ndarray:
    """Co-listening neighbours of the listener's entities, by summed cosine similarity."""
    table = view.side.neighbours.get(view.shelf)
    if table is None or table.empty or len(view.played) == 0:
        return np.zeros(0, dtype=object)
    rows = table[table["a"].isin(pd.unique(view.played))]
    s = rows.groupby("b")["sim"].sum().sort_index().sort_values(ascending=False, kind="stable")
    return s.index.to_numpy(dtype=object)[:quota]


def _als(view: ListenerView, quota: int) -> np.ndarray:
    """Nearest items in ALS factor space (Spark item-neighbours job) to the listener's 20 most
    recent distinct items, by summed cosine; nothing without an ALS table."""
    table = view.side.als
    if table is None or table.empty or len(view.played) == 0:
        return np.zeros(0, dtype=object)
    recent = pd.unique(view.played[::-1])[:20]
    rows = table[table["a"].isin(recent)]
    s = rows.groupby("b")["sim"].sum().sort_index().sort_values(ascending=False, kind="stable")
    return s.index.to_numpy(dtype=object)[:quota]


def _top_list(view: ListenerView) -> np.ndarray:
    tops = view.side.top.get(view.shelf, {})
    market = tops.get(view.state.profile.market, np.zeros(0, dtype=object))
    rest = tops.get(GLOBAL_MARKET, np.zeros(0, dtype=object))
    return pd.unique(np.concatenate([market, rest]))  # market first, topped up from all markets


def _popular(view: ListenerView, quota: int) -> np.ndarray:
    """Most-played items in the listener's market over the popularity window, then globally."""
    return _top_list(view)[:quota]


def _onboarding(view: ListenerView, quota: int) -> np.ndarray:
    """Popular items sharing a genre with the listener (onboarding genres + most played genres)."""
    top = _top_list(view)
    codes = listener_genres(view.state, view.state.before(view.as_of_ms), view.catalog)
    if len(top) == 0 or len(codes) == 0:
        return np.zeros(0, dtype=object)
    match = jaccard_to(view.catalog.genre_codes_of(top), codes)
    return top[match > 0][:quota]


SOURCES: dict[str, Callable[[ListenerView, int], np.ndarray]] = {
    "history": _history, "colisten": _colisten, "als": _als, "popular": _popular, "onboarding": _onboarding,
}


def listener_view(state: ListenerState, as_of_ms: int, shelf: str, entity_types, catalog: Catalog,
                  side: SideTables) -> ListenerView:
    hist = state.before(as_of_ms)
    ent, _ = resolve_entities(hist["item_id"], hist["item_type"], hist["context_id"], catalog, entity_types)
    ok = ent != None  # noqa: E711
    return ListenerView(state, as_of_ms, shelf, ent[ok], hist["ts_ms"][ok], catalog, side)


def generate_candidates(view: ListenerView, shelf_config: dict) -> CandidateSet:
    """Run the shelf's sources with their quotas and merge them.

    Order: each source's quota in config order (each source's own ranking inside), then the
    sources' further items in the same order until ``max_candidates`` is reached, so quota a source
    cannot use goes to the others. An item proposed by several sources appears once, at its first
    position, with the flags of every source that ranked it within the budget. With
    ``exclude_played`` the listener's already-played entities are removed first.
    Raises ValueError naming an unknown source.
    """
    limit = int(shelf_config.get("max_candidates", 200))
    played = pd.Index(pd.unique(view.played)) if shelf_config.get("exclude_played") else pd.Index([])
    quotas = shelf_config.get("sources") or {}
    ranked: dict[str, np.ndarray] = {}
    for name, quota in quotas.items():
        if name not in SOURCES:
            raise ValueError(f"shelf {view.shelf!r}: unknown candidate source {name!r} (known: {sorted(SOURCES)})")
        # each source ranks up to the whole candidate budget, so unused quota can be topped up below
        found = SOURCES[name](view, limit)
        ranked[name] = found[~pd.Index(found).isin(played)] if len(found) and len(played) else found
    # first every source's quota, in config order; then, while slots remain, the sources' next
    # items in the same order (a source that finds little leaves its quota to the others)
    ordered = [i for name, quota in quotas.items() for i in ranked[name][: int(quota)]]
    ordered += [i for name, quota in quotas.items() for i in ranked[name][int(quota):]]
    ids = pd.unique(np.asarray(ordered, dtype=object))[:limit] if ordered else np.zeros(0, dtype=object)
    flags = {name: set(found) for name, found in ranked.items()}
    sources = {name: np.fromiter((i in members for i in ids), dtype=bool, count=len(ids))
               for name, members in flags.items()}
    return CandidateSet(np.asarray(ids, dtype=object), sources)
