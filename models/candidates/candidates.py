"""Candidate sources (stage 1), for a whole batch of listeners at once.

A shelf declares in config which sources it uses and the quota of each (``sources: {name: quota}``).
Each source in :data:`SOURCES` takes a :class:`SourceInput` (the batch's history, the shelf's
entity types and the listeners it serves) and returns, for every listener, their ranked entities:
a :class:`Ranked` (``who``, ``code``) with each listener's rows contiguous and best first.
:func:`generate_candidates` runs the shelf's sources, merges duplicates keeping every source that
proposed an item, drops already-played items on discovery shelves, and caps the total. The daily
job and the training-example job both call it, so they see the same candidates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from transforms.listeners.batch import History
from transforms.features.features import listener_genres, neighbour_sums

ALS_RECENT_ITEMS = 20  # the ALS source looks for neighbours of this many most recent distinct items
HISTORY_DECAY_DAYS = 7.0


@dataclass
class SourceInput:
    """What sources see: the batch's plays before as_of, the shelf, its entity types, and
    ``served`` (bool (B,)): the listeners the shelf serves (others get no rows)."""

    hist: History
    shelf: str
    entity_types: list
    served: np.ndarray
    all_levels: bool = False  # a familiar shelf: each play counts toward every level (History.entity_pairs)

    @property
    def codebook(self):
        return self.hist.batch.codebook


@dataclass
class Ranked:
    """Per-listener ranked lists, stacked: ``who`` int64 and ``code`` int64 (n,), each listener's
    rows contiguous, in rank order (best first)."""

    who: np.ndarray
    code: np.ndarray

    @classmethod
    def empty(cls) -> "Ranked":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64))

    def rank(self) -> np.ndarray:
        """0-based rank of each row within its listener."""
        return _rank_within(self.who)

    def head(self, limit: int) -> "Ranked":
        keep = self.rank() < limit
        return Ranked(self.who[keep], self.code[keep])

    def only(self, mask: np.ndarray) -> "Ranked":
        return Ranked(self.who[mask], self.code[mask])


@dataclass
class CandidateSet:
    """A batch's candidates on one shelf: ``who``/``code`` (n,) int64, listeners contiguous in
    batch order, candidates in merge order; ``sources`` name -> bool (n,), config order."""

    who: np.ndarray
    code: np.ndarray
    sources: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.code)

    def take(self, rows: np.ndarray) -> "CandidateSet":
        """The candidates at positions ``rows`` (int (m,), increasing keeps the order)."""
        return CandidateSet(self.who[rows], self.code[rows], {k: v[rows] for k, v in self.sources.items()})

    def source_labels(self) -> np.ndarray:
        """Per candidate, the ``|``-joined names of the sources that proposed it (object (n,))."""
        names = list(self.sources)
        bits = np.zeros(len(self.code), dtype=np.int64)
        for i, name in enumerate(names):
            bits |= self.sources[name].astype(np.int64) << i
        uniq, inverse = np.unique(bits, return_inverse=True)
        labels = np.asarray(["|".join(n for i, n in enumerate(names) if b >> i & 1) for b in uniq], dtype=object)
        return labels[inverse] if len(bits) else np.zeros(0, dtype=object)


def _rank_within(who: np.ndarray) -> np.ndarray:
    """Position of each row within its run of equal ``who`` (rows of a listener are contiguous)."""
    if not len(who):
        return np.zeros(0, dtype=np.int64)
    start = np.r_[0, np.flatnonzero(np.diff(who)) + 1]
    return np.arange(len(who)) - np.repeat(start, np.diff(np.r_[start, len(who)]))


def _top_by_score(who, code, score, hist: History, limit: int) -> Ranked:
    """Rows ordered by listener, score descending, ties by item id; at most ``limit`` each."""
    if not len(code):
        return Ranked.empty()
    order = np.lexsort((hist.batch.id_rank(code), -score, who))
    return Ranked(who[order], code[order]).head(limit)


def _history(inp: SourceInput, limit: int) -> Ranked:
    """The listener's own entities, by decayed frequency (frecency: sum of exp(-age_days / 7));
    on a familiar shelf (``inp.all_levels``) at every entity level of each play."""
    hist = inp.hist
    idx, ent = hist.entity_pairs(inp.entity_types, inp.all_levels)
    ok = inp.served[hist.who[idx]]
    if not ok.any():
        return Ranked.empty()
    idx, ent = idx[ok], ent[ok]
    age_days = (hist.as_of_ms - hist.ts_ms[idx]) / 86_400_000
    span = pair_span(hist)
    # one compensated sum per (listener, entity), over the plays in time order
    s = pd.Series(np.exp(-age_days / HISTORY_DECAY_DAYS)).groupby(hist.who[idx] * span + ent, sort=False).sum()
    keys = s.index.to_numpy(np.int64)
    return _top_by_score(keys // span, keys % span, s.to_numpy(), hist, limit)


def _neighbour_source(table, recent: int | None):
    def source(inp: SourceInput, limit: int) -> Ranked:
        sums = neighbour_sums(inp.hist, table(inp), inp.entity_types, recent, listeners=inp.served)
        return _top_by_score(sums["who"].to_numpy(np.int64), sums["b"].to_numpy(np.int64), sums["sim"].to_numpy(),
                             inp.hist, limit)
    return source


_colisten = _neighbour_source(lambda inp: inp.codebook.neighbours.get(inp.shelf), None)
_colisten.__doc__ = "Co-listening neighbours of the listener's entities, by summed cosine similarity."
_als = _neighbour_source(lambda inp: inp.codebook.als, ALS_RECENT_ITEMS)
_als.__doc__ = ("Nearest items in ALS factor space (Spark item-neighbours job) to the listener's 20 most "
                "recent distinct items, by summed cosine; nothing without an ALS table.")


def _top_lists(inp: SourceInput, limit: int | None) -> Ranked:
    """Each served listener's market top list (market first, then all markets), cut to ``limit``."""
    batch = inp.hist.batch
    markets, which = np.unique(batch.market.astype(str), return_inverse=True)
    lists = [inp.codebook.top_list(inp.shelf, batch.market[np.flatnonzero(which == i)[0]]) for i in range(len(markets))]
    if limit is not None:
        lists = [x[:limit] for x in lists]
    lens = np.asarray([len(x) for x in lists], dtype=np.int64)
    who = np.flatnonzero(inp.served)
    n = lens[which[who]]
    starts = np.r_[0, np.cumsum(lens)[:-1]][which[who]]
    flat = np.concatenate(lists + [np.zeros(0, np.int64)]).astype(np.int64)
    idx = np.repeat(starts, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    return Ranked(np.repeat(who, n).astype(np.int64), flat[idx])


def _popular(inp: SourceInput, limit: int) -> Ranked:
    """Most-played items in the listener's market over the popularity window, then globally."""
    return _top_lists(inp, limit)


def _onboarding(inp: SourceInput, limit: int) -> Ranked:
    """Popular items sharing a genre with the listener (onboarding genres + most played genres)."""
    top = _top_lists(inp, None)
    cb = inp.codebook
    G = max(cb.n_genres, 1)
    owner, at = cb.genres.expand(top.code)
    hit = np.isin(top.who[owner] * G + cb.genres.values[at].astype(np.int64), listener_genres(inp.hist))
    match = np.bincount(owner[hit], minlength=len(top.code)) > 0
    return top.only(match).head(limit)


SOURCES: dict[str, Callable[[SourceInput, int], Ranked]] = {
    "history": _history, "colisten": _colisten, "als": _als, "popular": _popular, "onboarding": _onboarding,
}


def played_pairs(hist: History, entity_types) -> np.ndarray:
    """Sorted unique keys ``who * span + entity`` of what each listener played (entity mapping of
    the shelf), with ``span`` from :func:`pair_span`."""
    span = pair_span(hist)
    ent, _ = hist.entities(entity_types)
    ok = ent >= 0
    return hist.memo(("played_pairs", tuple(sorted(entity_types))), lambda: np.unique(hist.who[ok] * span + ent[ok]))


def familiar_pairs(hist: History, entity_types) -> np.ndarray:
    """Sorted unique keys ``who * span + entity`` of every entity each listener played before
    ``hist.as_of_ms`` at any level (item, context, parent, creator; :meth:`History.entity_pairs`):
    what a familiar shelf may show, and what its label counts."""
    def build():
        idx, ent = hist.entity_pairs(entity_types, True)
        return np.unique(hist.who[idx] * pair_span(hist) + ent)
    return hist.memo(("familiar_pairs", tuple(sorted(entity_types))), build)


def pair_span(hist: History) -> int:
    """Multiplier that makes ``who * span + code`` a unique (listener, entity) key in a batch."""
    return hist.batch.span


def generate_candidates(inp: SourceInput, shelf_config: dict) -> CandidateSet:
    """Run the shelf's sources with their quotas and merge them, for every served listener.

    Order per listener: each source's quota in config order (each source's own ranking inside),
    then the sources' further items in the same order until ``max_candidates`` is reached, so
    quota a source cannot use goes to the others. An item proposed by several sources appears
    once, at its first position, with the flags of every source that ranked it within the budget.
    Each source ranks up to ``max_candidates`` items; with ``exclude_played`` the listener's
    already-played entities are then removed from each source's list.
    Raises ValueError naming an unknown source.
    """
    limit = int(shelf_config["max_candidates"])
    quotas = shelf_config.get("sources") or {}
    for name in quotas:
        if name not in SOURCES:
            raise ValueError(f"shelf {inp.shelf!r}: unknown candidate source {name!r} (known: {sorted(SOURCES)})")
    span = pair_span(inp.hist)
    played = played_pairs(inp.hist, inp.entity_types) if shelf_config.get("exclude_played") else None
    parts = []
    for k, (name, quota) in enumerate(quotas.items()):
        found = SOURCES[name](inp, limit)
        keys = found.who * span + found.code
        if played is not None and len(keys):
            kept = ~np.isin(keys, played)
            found, keys = found.only(kept), keys[kept]
        rank = found.rank()
        parts.append((found.who, keys, np.full(len(keys), k), rank, rank >= int(quota)))
    if not parts:
        return CandidateSet(np.zeros(0, np.int64), np.zeros(0, np.int64), {})
    who, keys, src, rank, phase = (np.concatenate(c) for c in zip(*parts))
    # per listener: every source's quota first (config order), then the sources' further items
    order = np.lexsort((rank, src, phase, who))
    _, first, pair = np.unique(keys[order], return_index=True, return_inverse=True)
    # flags: every source that ranked the (listener, item) pair within the budget, from the same sort
    ranked_by = np.zeros((len(quotas), len(first)), dtype=bool)
    ranked_by[src[order], pair] = True
    at = np.sort(first)
    chosen, pair = order[at], pair[at]
    who, keys = who[chosen], keys[chosen]
    keep = _rank_within(who) < limit
    who, keys, pair = who[keep], keys[keep], pair[keep]
    return CandidateSet(who.astype(np.int64), (keys % span).astype(np.int64),
                        {name: ranked_by[k, pair] for k, name in enumerate(quotas)})
