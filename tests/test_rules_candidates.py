"""Business rules, candidate merging and the population aggregates, on hand-made inputs."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models.candidates.candidates import SourceInput, generate_candidates
from models.serving.heuristic import HeuristicScorer
from models.serving.rules import cap_per_creator, editorial_slots, insert_editorial, rank_order
from tests.conftest import ms, one_batch, utc
from transforms.listeners.aggregates import SideTables, build_side_tables, partial_aggregates
from transforms.listeners.catalog import Catalog, resolve_entities
from transforms.listeners.history import ListenerState, Profile, event_block


def test_rank_order_breaks_ties_by_item_id():
    assert rank_order(np.array([1.0, 2.0, 2.0, 0.5]), np.array(["d", "c", "a", "b"])).tolist() == [2, 1, 0, 3]


def test_cap_per_creator_keeps_first_n_in_rank_order():
    creators = np.array(["x", "x", "y", None, "x", None], dtype=object)
    assert cap_per_creator(creators, 2).tolist() == [True, True, True, True, False, True]
    assert cap_per_creator(creators, None).all()


def test_editorial_slots_by_market_and_dates():
    cur = pd.DataFrame({
        "shelf": ["s", "s", "s", "s", "other"], "item_id": ["e1", "e2", "e3", "e4", "e5"],
        "position": [1, 1, 3, 2, 1], "market": ["*", "SE", "*", "US", "*"],
        "valid_from": [utc("2025-01-01"), utc("2025-01-01"), utc("2025-02-01"), None, None],
        "valid_to": [None, utc("2025-01-20"), None, None, None]})
    slots = editorial_slots(cur, "s", "SE", utc("2025-01-10"))
    assert slots.values.tolist() == [[1, "e2"]]  # SE-specific beats '*'; e3 not yet live; e4 is US
    assert editorial_slots(cur, "s", "DE", utc("2025-03-01")).values.tolist() == [[1, "e1"], [3, "e3"]]
    # a shelf whose only row is not live yet: no slot (the daily job once crashed here on a nullable position)
    later = cur[cur["item_id"] == "e3"].astype({"position": "Int64"})
    assert editorial_slots(later, "s", "SE", utc("2025-01-10")).empty


def test_insert_editorial_positions_and_dedup():
    slots = pd.DataFrame({"position": [1, 3], "item_id": ["e", "b"]})
    assert insert_editorial(["a", "b", "c", "d"], slots, 4) == [("e", True), ("a", False), ("b", True), ("c", False)]
    assert insert_editorial([], pd.DataFrame({"position": [5], "item_id": ["e"]}), 3) == [("e", True)]


def _side(neighbours=None, top=None):
    return SideTables(0, {}, top or {}, neighbours or {}, {})


def _view(state, cat, side, as_of=ms("2025-01-02")):
    """The podcasts shelf's source input for one listener, and a function giving candidate ids."""
    batch = one_batch([state], cat, side)
    return (SourceInput(batch.before(as_of), "podcasts", ["show"], np.ones(1, dtype=bool)),
            lambda cands: batch.ids(cands.code).tolist())


def test_candidate_merge_keeps_all_sources_and_excludes_played():
    cat = Catalog.from_items(pd.DataFrame({"item_id": ["s1", "s2", "s3", "s4"], "item_type": "show",
                                           "genres": ["news", "news", "comedy", "news"]}))
    nb = pd.DataFrame({"a": ["s1", "s1"], "b": ["s2", "s3"], "sim": [0.9, 0.5]})
    side = _side({"podcasts": nb}, {"podcasts": {"SE": np.array(["s4", "s3", "s1"], dtype=object)}})
    st = ListenerState("L", Profile(0, "SE", onboarding_genres=frozenset({"news"})), event_block(pd.DataFrame({
        "item_id": ["s1"], "item_type": ["show"], "context_id": [None], "ts": [utc("2025-01-01")], "ms_played": [1]})))
    view, ids = _view(st, cat, side)
    cands = generate_candidates(view, {"sources": {"colisten": 10, "popular": 10, "onboarding": 10},
                                       "exclude_played": True, "max_candidates": 10})
    assert ids(cands) == ["s2", "s3", "s4"]
    assert cands.source_labels().tolist() == ["colisten", "colisten|popular", "popular|onboarding"]
    capped = generate_candidates(view, {"sources": {"popular": 10}, "exclude_played": False, "max_candidates": 2})
    assert ids(capped) == ["s4", "s3"]


def test_resolve_entities_priority():
    cat = Catalog.from_items(pd.DataFrame({
        "item_id": ["t1", "al", "pl", "e1", "sh"], "item_type": ["track", "album", "playlist", "episode", "show"],
        "parent_id": ["al", None, None, "sh", None], "creator_id": ["ar", "ar", None, None, None]}))
    ent, typ = resolve_entities(np.array(["t1", "t1", "e1", "pl", "zz"], dtype=object),
                                np.array(["track", "track", "episode", "playlist", "track"], dtype=object),
                                np.array(["pl", None, None, None, None], dtype=object), cat,
                                ["album", "playlist", "show"])
    assert ent.tolist() == ["pl", "al", "sh", "pl", None]
    assert typ.tolist() == ["playlist", "album", "show", "playlist", None]


def test_popularity_and_cosine_neighbours(config):
    cat = Catalog.from_items(pd.DataFrame({"item_id": ["a", "b", "c"], "item_type": "show"}))

    def listener(lid, market, shows):
        return ListenerState(lid, Profile(0, market), event_block(pd.DataFrame({
            "item_id": shows, "item_type": "show", "context_id": None,
            "ts": [utc("2025-01-05")] * len(shows), "ms_played": 1})))

    states = [listener("1", "SE", ["a", "b"]), listener("2", "SE", ["a", "b", "c"]), listener("3", "US", ["a"])]
    as_of = ms("2025-01-10")
    # two partial batches summed give the same as one batch (associative combine)
    from transforms.listeners.aggregates import merge_partials
    split = merge_partials([partial_aggregates(states[:1], as_of, {"podcasts": ["show"]}, ["podcasts"], cat, config),
                            partial_aggregates(states[1:], as_of, {"podcasts": ["show"]}, ["podcasts"], cat, config)])
    side = build_side_tables(split, as_of, config)
    w, t = side.pop_lookup("podcasts", "SE", np.array(["a", "b", "c", "z"], dtype=object))
    assert w.tolist() == [2, 2, 1, 0] and t.tolist() == [2, 2, 1, 0]  # plays are 5 days old: inside the 7-day trend
    assert side.pop_lookup("podcasts", "*", np.array(["a"], dtype=object))[0].tolist() == [3]
    assert side.top["podcasts"]["SE"].tolist() == ["a", "b", "c"]
    nb = side.neighbours["podcasts"].set_index(["a", "b"])["sim"]
    # n_a = 3, n_b = 2, n_c = 1, n_ab = 2, n_ac = 1, n_bc = 1
    assert math.isclose(nb[("a", "b")], 2 / math.sqrt(6)) and math.isclose(nb[("b", "c")], 1 / math.sqrt(2))
    assert math.isclose(nb[("c", "a")], 1 / math.sqrt(3))


def test_heuristic_scorer_weights_named_features():
    s = HeuristicScorer("shortcuts", {"frecency_7d": 2.0, "plays_7d": 1.0})
    X = np.zeros((2, len(s.w)), dtype=np.float32)
    X[0, 0], X[0, 3], X[1, 3] = 1.0, 0.5, np.nan  # plays_7d, frecency_7d
    assert s.score(X).tolist() == [2.0, 0.0]


def test_unused_quota_is_topped_up_from_the_other_sources():
    cat = Catalog.from_items(pd.DataFrame({"item_id": [f"s{i}" for i in range(8)], "item_type": "show"}))
    nb = pd.DataFrame({"a": ["s0"], "b": ["s1"], "sim": [0.5]})  # co-listening finds a single show
    side = _side({"podcasts": nb}, {"podcasts": {"SE": np.array([f"s{i}" for i in (7, 6, 5, 4, 3, 1)], dtype=object)}})
    st = ListenerState("L", Profile(0, "SE"), event_block(pd.DataFrame({
        "item_id": ["s0"], "item_type": ["show"], "context_id": [None], "ts": [utc("2025-01-01")], "ms_played": [1]})))
    view, ids = _view(st, cat, side)
    cands = generate_candidates(view, {"sources": {"colisten": 3, "popular": 2}, "max_candidates": 5})
    # colisten uses 1 of its 3 slots; popular fills its 2, then tops up the 2 colisten left unused
    assert ids(cands) == ["s1", "s7", "s6", "s5", "s4"]
    # s1 is popular's 6th item: beyond the 5-candidate budget, so only colisten claims it
    assert cands.source_labels().tolist() == ["colisten", "popular", "popular", "popular", "popular"]


def test_editorial_layout_matches_inserting_one_list_at_a_time():
    from models.serving.rules import editorial_layout

    rng = np.random.default_rng(11)
    for _ in range(200):
        k, size = int(rng.integers(1, 5)), int(rng.integers(1, 8))
        positions = np.sort(rng.choice(np.arange(0, 12), size=k, replace=False))  # 0 and 1 both mean first
        n_rest = rng.integers(0, 12, size=6)
        rest_at, ed_at = editorial_layout(positions, n_rest, size)
        slots = pd.DataFrame({"item_id": [f"e{i}" for i in range(k)], "position": positions})
        for row, n in enumerate(n_rest):
            expected = insert_editorial([f"r{j}" for j in range(n)], slots, size)
            got = sorted([(int(rest_at[row, j]), f"r{j}") for j in range(min(n, size))]
                         + [(int(ed_at[row, i]), f"e{i}") for i in range(k)])
            assert [i for at, i in got if at < size] == [i for i, _ in expected]
