"""Shortcuts ("Jump back in") is a shelf of familiar listens (issue 14, point 2): who it is served
to, what may be on it, and its label; on hand-made listeners whose answers are in the comments."""
from __future__ import annotations

import numpy as np
import pandas as pd

from tests.conftest import ms, utc
from transforms.aggregates import SideTables
from transforms.catalog import Catalog
from transforms.history import ListenerState, Profile, event_block

AS_OF = ms("2026-11-28")


class _FixedScorer:
    source, version = "model", "v1"

    def score(self, X):
        return np.zeros(len(X))  # ties: rank by item id


def _catalog() -> Catalog:
    # two albums of two artists, a playlist, and two popular albums nobody here played
    return Catalog.from_items(pd.DataFrame({
        "item_id": ["t1", "t2", "t3", "a1", "a2", "r1", "r2", "p1", "hot1", "hot2", "r9"],
        "item_type": ["track"] * 3 + ["album"] * 2 + ["artist"] * 2 + ["playlist"] + ["album"] * 2 + ["artist"],
        "parent_id": ["a1", "a2", "a1", None, None, None, None, None, None, None, None],
        "creator_id": ["r1", "r2", "r1", "r1", "r2", None, None, None, "r9", "r9", None], "explicit": 0}))


def _listener(lid: str, plays) -> ListenerState:
    """``plays``: (track, context or None, timestamp) tuples."""
    events = pd.DataFrame({"item_id": [p[0] for p in plays], "item_type": "track",
                           "context_id": [p[1] for p in plays], "ts": [utc(p[2]) for p in plays],
                           "ms_played": 200_000})
    return ListenerState(lid, Profile(ms("2025-01-01"), "SE", birth_year=1980), event_block(events))


def _context(config, neighbours: bool = True):
    """Shortcuts with its default config, podcasts-like discovery shelf on albums fed by popularity;
    a co-listening table (a1 -> hot1) and a popularity list (hot1, hot2) the shortcuts shelf must not use."""
    from models.home import ServingContext

    shelves = config["shelves"]
    cfg = {**config, "page": {**config["page"], "dedup": False, "claim_order": [], "layout": {
        **config["page"]["layout"], "pinned": [], "new_listeners_first": []}}, "shelves": {
        "shortcuts": {**shelves["shortcuts"], "max_per_creator": None, "max_per_parent": None},
        "podcasts": {**shelves["podcasts"], "item_types": ["album"], "sources": {"popular": 10},
                     "exclude_played": False, "exclude_followed_shows": False, "max_per_creator": None}}}
    top = {s: {m: np.array(["hot1", "hot2"], dtype=object) for m in ("SE", "*")} for s in ("podcasts", "shortcuts")}
    table = pd.DataFrame({"a": ["a1", "a2"], "b": ["hot1", "hot2"], "sim": [0.9, 0.8]})
    nb = {"shortcuts": table, "podcasts": table} if neighbours else {}
    side = SideTables(AS_OF, {}, top, nb, {})
    types = ["album", "playlist", "show", "artist"]
    return ServingContext(AS_OF, _catalog(), side, None, cfg, {"shortcuts": types, "podcasts": ["album"]},
                          {"shortcuts": _FixedScorer(), "podcasts": _FixedScorer()}, "r")


def _rows(states, ctx):
    from models.home import recommend_batch

    rows = recommend_batch(states, ctx).rows
    return {(lid, s): g.sort_values("position")["item_id"].tolist() for (lid, s), g in rows.groupby(["listener_id",
                                                                                                   "shelf"])}


def test_shortcuts_is_not_served_to_a_listener_without_a_play_in_the_last_28_days(config):
    from models.home import active_within
    from tests.conftest import one_batch

    # as_of 2026-11-28 00:00: the 28-day window starts 2026-10-31 00:00 (inclusive)
    active = _listener("active", [("t1", None, "2026-11-20")])
    edge = _listener("edge", [("t1", None, "2026-10-31 00:00:00")])
    lapsed = _listener("lapsed", [("t2", None, "2026-10-30 23:59:59")])
    ctx = _context(config)
    batch = one_batch([active, edge, lapsed], ctx.catalog, ctx.side)
    assert active_within(batch, AS_OF, 28).tolist() == [True, True, False]
    got = _rows([active, edge, lapsed], ctx)
    assert ("active", "shortcuts") in got and ("edge", "shortcuts") in got
    assert ("lapsed", "shortcuts") not in got
    # what fills the lapsed listener's Home instead: the other shelves, which have no such rule
    assert got[("lapsed", "podcasts")] == ["hot1", "hot2"]
    # without the key, the lapsed listener's old album is back
    ctx.config["shelves"]["shortcuts"]["active_within_days"] = None
    assert ("lapsed", "shortcuts") in _rows([lapsed], ctx)
