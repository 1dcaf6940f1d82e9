"""Shortcuts ("Jump back in") is a shelf of familiar listens (issue 14, point 2): who it is served
to, what may be on it, and its label; on hand-made listeners whose answers are in the comments."""
from __future__ import annotations

import numpy as np
import pandas as pd

from tests.conftest import ms, utc
from transforms.listeners.aggregates import SideTables
from transforms.listeners.catalog import Catalog
from transforms.listeners.history import ListenerState, Profile, event_block

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
    a co-listening table (a1 -> hot1, a2 -> hot2), a popularity list (hot1, hot2) and a curated
    shortcuts slot (hot2 at position 1) that the shortcuts shelf must not use."""
    from models.serving.home import ServingContext

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
    nat = pd.Series([pd.NaT], dtype="datetime64[ns, UTC]")
    curation = pd.DataFrame({"shelf": ["shortcuts"], "item_id": ["hot2"], "position": [1], "market": None,
                             "valid_from": nat, "valid_to": nat})  # an editor's pick is not a familiar item
    return ServingContext(AS_OF, _catalog(), side, curation, cfg, {"shortcuts": types, "podcasts": ["album"]},
                          {"shortcuts": _FixedScorer(), "podcasts": _FixedScorer()}, "r")


def _rows(states, ctx):
    from models.serving.home import recommend_batch

    rows = recommend_batch(states, ctx).rows
    return {(lid, s): g.sort_values("position")["item_id"].tolist() for (lid, s), g in rows.groupby(["listener_id",
                                                                                                   "shelf"])}


def test_shortcuts_is_not_served_to_a_listener_without_a_play_in_the_last_28_days(config):
    from models.serving.home import active_within
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


def test_no_served_shortcut_is_unfamiliar_and_every_entity_level_is_a_candidate(config):
    from models.candidates.candidates import familiar_pairs
    from tests.conftest import one_batch

    # t1 (album a1, artist r1) with no context; t2 (album a2, artist r2) from playlist p1. Every
    # level counts: a1, r1, p1, a2, r2. One entity per play (item > context > parent > creator)
    # would have given a1 and p1 only. Neighbours (a1 -> hot1, a2 -> hot2) and the popular list
    # (hot1, hot2) and a curated slot (hot2) are there for the taking; the discovery shelf takes hot1, hot2.
    listener = _listener("L", [("t1", None, "2026-11-20"), ("t2", "p1", "2026-11-25")])
    ctx = _context(config)
    got = _rows([listener], ctx)
    assert sorted(got[("L", "shortcuts")]) == ["a1", "a2", "p1", "r1", "r2"]
    assert got[("L", "podcasts")] == ["hot1", "hot2"]
    batch = one_batch([listener], ctx.catalog, ctx.side)
    hist = batch.before(AS_OF)
    familiar = set(batch.ids(familiar_pairs(hist, ctx.entity_types["shortcuts"]) % batch.span))
    assert familiar == {"a1", "a2", "p1", "r1", "r2"}
    assert set(got[("L", "shortcuts")]) <= familiar
    # the per-item play features count the same levels: r1 was heard once (t1), 8 days ago
    ctx.log_features = True
    from models.serving.home import recommend_batch

    feats = recommend_batch([listener], ctx).features["shortcuts"].set_index("item_id")
    assert feats.loc["r1", "plays_all"] == 1 and feats.loc["r1", "last_play_days"] == 8
    assert feats.loc["a2", "plays_all"] == 1 and feats.loc["a2", "last_play_days"] == 3
    assert (feats["src_history"] == 1).all()


def test_a_non_familiar_shortcuts_config_would_let_neighbours_in(config):
    # the same listener with the old mix (a config that says familiar: false): one entity per play
    # (t1 -> a1, t2 -> p1), a1's neighbour hot1 enters, never played (what the familiar check at
    # config load now refuses), and so does the curated hot2
    listener = _listener("L", [("t1", None, "2026-11-20"), ("t2", "p1", "2026-11-25")])
    ctx = _context(config)
    ctx.config["shelves"]["shortcuts"].update(familiar=False, sources={"history": 10, "colisten": 10})
    assert sorted(_rows([listener], ctx)[("L", "shortcuts")]) == ["a1", "hot1", "hot2", "p1"]


def test_the_shortcuts_label_is_the_next_familiar_listen(config):
    import pytest

    from models.candidates.candidates import familiar_pairs
    from models.ranking.examples import examples_for_batch
    from tests.conftest import one_batch
    from transforms.listeners.labels import positive_keys

    # before as_of: t1 (album a1, artist r1). Label day: t3 (album a1, artist r1) from playlist p1,
    # never played before, and t2 (album a2, artist r2), also new. Familiar: a1 and r1. The label
    # counts every level of a window play and keeps the familiar ones: a1 and r1. (Before: one
    # entity per play, p1 for t3 and a2 for t2, both first listens: discovery.)
    listener = _listener("L", [("t1", None, "2026-11-20"), ("t3", "p1", "2026-11-28 09:00"),
                               ("t2", None, "2026-11-28 10:00")])
    ctx = _context(config)
    types = ctx.entity_types["shortcuts"]
    batch = one_batch([listener], ctx.catalog, ctx.side)
    hist, window = batch.before(AS_OF), batch.window(AS_OF, AS_OF + 86_400_000)
    pos = positive_keys("shortcuts", window, types, ctx.config, familiar_pairs(hist, types))
    assert sorted(batch.ids(pos % batch.span)) == ["a1", "r1"]
    with pytest.raises(ValueError, match="shelf 'shortcuts' is familiar"):
        positive_keys("shortcuts", window, types, ctx.config)
    # the training examples label their candidates with it (candidates: a1 and r1 from history)
    frames, recall, _ = examples_for_batch([listener], ctx, 86_400_000)
    labels = frames["shortcuts"].set_index("item_id")["label"].to_dict()
    assert labels == {"a1": 1, "r1": 1}
    assert recall["shortcuts"] == {"positives": 2, "found": 2, "listeners": 1}


def test_shortcuts_is_evaluated_at_its_served_size_too(config):
    import pytest

    from jobs.evaluate import format_table
    from models.evaluation.evaluation import eval_ks, evaluate
    from transforms.features.feature_spec import feature_names

    assert eval_ks(config, "shortcuts") == (5, 6, 10) and eval_ks(config, "podcasts") == (5, 10)

    class Scorer:  # ranks the rows in frame order
        metadata, version = {}, "v"

        def score(self, X):
            return -np.arange(len(X), dtype=np.float64)

    # one query of 8 candidates; its only positive is 6th: NDCG@5 = 0, NDCG@6 = NDCG@10 = 1 / log2(7)
    examples = pd.DataFrame({name: np.zeros(8, np.float32) for name in feature_names("shortcuts")})
    examples.insert(0, "listener_id", "L")
    examples.insert(1, "as_of", pd.Timestamp("2026-11-28", tz="UTC"))
    examples.insert(2, "item_id", [f"i{k}" for k in range(8)])
    examples["label"] = np.int8([0, 0, 0, 0, 0, 1, 0, 0])
    report = evaluate(examples, "shortcuts", Scorer(), config)
    m = report["model"]["metrics"]
    assert report["served_size"] == 6 and m["ndcg@5"] == 0
    assert m["ndcg@6"] == m["ndcg@10"] == pytest.approx(1 / np.log2(7))  # 0.3562
    assert "ndcg@6" in format_table(report).splitlines()[1]


def test_training_statistics_sample_the_served_population_not_only_the_active(config):
    from models.ranking.examples import examples_for_batch, in_stats_sample

    # A plays on the label day (an example listener); B played before as_of only (served, inactive)
    a = _listener("A", [("t1", None, "2026-11-20"), ("t1", None, "2026-11-28 09:00")])
    b = _listener("B", [("t2", None, "2026-11-25")])
    ctx = _context(config)
    frames, _, none = examples_for_batch([a, b], ctx, 86_400_000)
    assert set(frames["shortcuts"]["listener_id"]) == {"A"} and none == {}
    frames, _, stats = examples_for_batch([a, b], ctx, 86_400_000, stats_rate=1.0)
    # the examples are unchanged; the statistics see B's candidates (a2, r2) as serving would
    assert set(frames["shortcuts"]["listener_id"]) == {"A"}
    assert sorted(stats["shortcuts"].loc[stats["shortcuts"]["listener_id"] == "B", "last_play_days"]) == [3.0, 3.0]
    a_rows = stats["shortcuts"][stats["shortcuts"]["listener_id"] == "A"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a_rows, frames["shortcuts"][a_rows.columns].reset_index(drop=True))
    # the sample is a deterministic share of listeners: half of 20,000 ids within 4 sigma (sd 71)
    ids = np.array([f"L{i}" for i in range(20_000)], dtype=object)
    half = in_stats_sample(ids, 0.5)
    assert abs(int(half.sum()) - 10_000) < 284 and (half == in_stats_sample(ids, 0.5)).all()
    assert in_stats_sample(ids, 1.0).all() and not in_stats_sample(ids, 0.0).any()
