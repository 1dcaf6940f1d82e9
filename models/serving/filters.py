"""Post-ranking filters of a model shelf, as a registry: ``{name: filter}``.

A filter takes a :class:`FilterInput` (a whole batch's ranked candidate rows of one shelf, as
columns) and returns a keep mask, bool (n,). It reads its own shelf config key (named like the
filter) and keeps every row when that key is off. :func:`filter_mask` applies the filters of
:data:`FILTERS` in registry order, after ranking and before the diversity caps
(``max_per_creator``, ``max_per_parent``); each mask is over the same rows, so the order is the
documented one but does not change which rows stay.

The shelf key ``markets`` is not here: it is a listener mask (``models.serving.home``), applied
before candidates are generated, and it also withholds the shelf's editorial rows.

To add a filter: a function ``(FilterInput) -> bool (n,)`` (here or in its own module), one line
in :data:`FILTERS`, and its key in ``ModelShelf`` of ``transforms/config/config_schema.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from models.serving.context import ServingContext
from models.serving.rules import explicit_allowed, followed_keys, not_followed, not_played_within
from models.serving.shelf_rows import blocked
from transforms.listeners.batch import History, take


@dataclass
class FilterInput:
    """A shelf's ranked candidate rows over a batch. ``who``/``code``: int64 (n,), listener index in
    the batch and item code, each listener's rows contiguous in rank order; ``minor``: bool (B,) per
    listener of the batch (``models.serving.rules.is_minor``); ``cfg``: the shelf's config."""

    hist: History
    shelf: str
    cfg: dict
    ctx: ServingContext
    who: np.ndarray
    code: np.ndarray
    minor: np.ndarray

    @property
    def keys(self) -> np.ndarray:
        """int64 (n,): ``who * span + code``, the rows' (listener, item) keys."""
        return self.who * self.hist.batch.span + self.code


def played_within(inp: FilterInput) -> np.ndarray:
    """Shelf key ``exclude_played_within_hours``: drop entities the listener played in
    ``[as_of - N h, as_of)`` (plays mapped to the shelf's entity types; on a familiar shelf at every level)."""
    hours = inp.cfg.get("exclude_played_within_hours")
    if hours is None:
        return np.ones(len(inp.code), dtype=bool)
    hist, span = inp.hist, inp.hist.batch.span
    play, ent = hist.entity_pairs(inp.ctx.entity_types[inp.shelf], bool(inp.cfg.get("familiar")))
    return not_played_within(inp.keys, hist.who[play] * span + ent, hist.ts_ms[play], inp.ctx.as_of_ms, hours)


def followed_shows(inp: FilterInput) -> np.ndarray:
    """Shelf key ``exclude_followed_shows``: drop shows the listener follows (``followed_min_plays``)."""
    if not inp.cfg.get("exclude_followed_shows"):
        return np.ones(len(inp.code), dtype=bool)
    return not_followed(inp.keys, followed_keys(inp.hist, int(inp.cfg["followed_min_plays"])))


def explicit_for_minors(inp: FilterInput) -> np.ndarray:
    """Shelf key ``block_explicit_for_minors``: drop catalog-explicit items for minors (unknown kept)."""
    explicit = take(inp.hist.batch.codebook.explicit, inp.code, np.nan)
    return explicit_allowed(explicit, blocked(inp.cfg, inp.minor)[inp.who])


FILTERS: dict[str, Callable[[FilterInput], np.ndarray]] = {
    "exclude_played_within_hours": played_within,
    "exclude_followed_shows": followed_shows,
    "block_explicit_for_minors": explicit_for_minors,
}


def filter_mask(inp: FilterInput) -> np.ndarray:
    """bool (n,): the rows every filter of :data:`FILTERS` keeps, applied in registry order."""
    keep = np.ones(len(inp.code), dtype=bool)
    for apply in FILTERS.values():
        keep &= apply(inp)
    return keep


__all__ = ["FilterInput", "FILTERS", "filter_mask"]
