"""Hand-computed features on a tiny history, and the leakage guarantee (issue 3)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.conftest import listener_features, ms, one_batch, utc
from transforms.listeners.aggregates import build_side_tables, partial_aggregates
from transforms.listeners.catalog import Catalog
from transforms.features.feature_spec import feature_names, spec_fingerprint
from transforms.features.features import jaccard_to, listener_cohorts, weekday
from transforms.listeners.history import ListenerState, Profile, event_block

AS_OF = ms("2025-01-10")  # a Friday


def catalog() -> Catalog:
    return Catalog.from_items(pd.DataFrame({
        "item_id": ["t1", "t2", "t3", "A", "B", "C"],
        "item_type": ["track", "track", "track", "album", "album", "album"],
        "creator_id": ["x", "x", "y", "x", "y", "z"],
        "parent_id": ["A", "A", "B", None, None, None],
        "genres": ["rock", "rock", "pop", "rock", "pop", "jazz|blues"],
        "language": None, "release_date": None,
        "duration_ms": [200_000, 100_000, 300_000, None, None, None], "explicit": None,
    }))


def state(extra: list[tuple] = ()) -> ListenerState:
    rows = [("t1", "2025-01-09 12:00", 200_000), ("t2", "2025-01-08 00:00", 20_000),
            ("t3", "2025-01-03 00:00", 150_000), *extra]
    frame = pd.DataFrame({"item_id": [r[0] for r in rows], "item_type": "track", "context_id": None,
                          "ts": pd.to_datetime([r[1] for r in rows], utc=True), "ms_played": [r[2] for r in rows]})
    frame = frame.sort_values("ts").reset_index(drop=True)
    profile = Profile(registered_ms=ms("2024-12-31"), market="SE", onboarding_genres=frozenset({"jazz"}))
    return ListenerState("L", profile, event_block(frame))


def features(st: ListenerState, config) -> pd.DataFrame:
    cat = catalog()
    side = build_side_tables(partial_aggregates([st], AS_OF, {"shortcuts": ["album"]}, [], cat, config), AS_OF, config)
    cands = np.array(["A", "B", "C"], dtype=object)
    X = listener_features("shortcuts", st, AS_OF, cands, {"history": np.array([True, True, False])}, cat, side,
                          ["album"])
    assert X.dtype == np.float32 and X.shape == (3, len(feature_names("shortcuts")))
    return pd.DataFrame(X, columns=feature_names("shortcuts"), index=cands)


def test_hand_computed_shortcut_features(config):
    f = features(state(), config)
    expected = {
        "plays_7d": [2, 0, 0], "plays_28d": [2, 1, 0], "plays_all": [2, 1, 0],
        "frecency_7d": [math.exp(-0.5 / 7) + math.exp(-2 / 7), math.exp(-1), 0.0],
        # ages 0.5 and 2 days; 7 days; never played
        "actr_activation": [0.5 ** -0.5 + 2 ** -0.5, 7 ** -0.5, 0.0],
        "last_play_days": [0.5, 7.0, np.nan],
        "completion_ratio": [(1.0 + 0.2) / 2, 0.5, np.nan],
        "skip_rate": [0.5, 0.0, np.nan],
        # dayparts (UTC): 12:00 -> 2, 00:00 -> 0, 00:00 -> 0; the listener's modal daypart is 0
        "tod_affinity": [0.5, 1.0, np.nan],
        # as_of is a Friday; only the 2025-01-03 play (a Friday) matches
        "dow_affinity": [0.0, 1.0, np.nan],
        "pop_market_log": [math.log(2), math.log(2), 0.0],
        "trend": [1.0, 1.0, 0.0],  # B's play is exactly 7 days old: inside [as_of-7d, as_of)
        # listener genres = onboarding {jazz} + played {rock, pop}
        "genre_match": [1 / 3, 1 / 3, 1 / 4],
        "tenure_days": [10.0] * 3, "listener_plays_28d": [3.0] * 3, "listener_active_days_28d": [3.0] * 3,
        "src_history": [1.0, 1.0, 0.0],
    }
    assert list(expected) == feature_names("shortcuts")
    for name, values in expected.items():
        np.testing.assert_allclose(f[name].to_numpy(), np.asarray(values, dtype=np.float32), rtol=1e-6,
                                   err_msg=name)


def test_event_at_or_after_as_of_changes_no_feature(config):
    base = features(state(), config)
    leaked = features(state(extra=[("t3", "2025-01-10 00:00", 300_000), ("t1", "2025-01-11 00:00", 1)]), config)
    pd.testing.assert_frame_equal(base, leaked)


def test_same_event_before_as_of_changes_the_expected_features(config):
    base = features(state(), config)
    more = features(state(extra=[("t3", "2025-01-09 23:59", 300_000)]), config)
    changed = {c for c in base.columns if not np.allclose(base[c], more[c], equal_nan=True)}
    # one more play of album B, on a Thursday night (daypart 3): B's counts, recency, completion,
    # weekday share and daypart share move; so does the listener's play total (2025-01-09 was
    # already an active day, so active days stay 3)
    assert changed == {"plays_7d", "plays_28d", "plays_all", "frecency_7d", "actr_activation", "last_play_days",
                       "completion_ratio",
                       "tod_affinity", "dow_affinity", "listener_plays_28d"}
    assert more.loc["B", "plays_all"] == 2 and more.loc["A", "plays_all"] == 2


def test_jaccard_and_weekday():
    got = jaccard_to([np.array([0, 1]), np.array([], dtype=np.int32), np.array([2])], np.array([1, 2, 3]))
    np.testing.assert_allclose(got, [1 / 4, 0.0, 1 / 3])
    assert weekday([ms("1970-01-01")])[0] == 3 and weekday([ms("2025-01-10")])[0] == 4


def test_spec_fingerprint_is_stable_and_shelf_specific(monkeypatch):
    import transforms.features.feature_spec as fs

    assert spec_fingerprint("shortcuts") == spec_fingerprint("shortcuts")
    assert spec_fingerprint("shortcuts") != spec_fingerprint("podcasts")
    # a revision changes the fingerprint with the same declared features (models of the old meaning are refused)
    before = spec_fingerprint("podcasts")
    monkeypatch.setitem(fs.SPEC_REVISIONS, "podcasts", 2)
    assert spec_fingerprint("podcasts") != before
    with pytest.raises(KeyError):
        feature_names("nope")


def test_cohort_and_genre_overlap_features_by_hand(config):
    cat = Catalog.from_items(pd.DataFrame({
        "item_id": ["t1", "t2", "t3", "e1", "e2", "e3", "s1", "s2", "s3"],
        "item_type": ["track"] * 3 + ["episode"] * 3 + ["show"] * 3,
        "parent_id": [None] * 3 + ["s1", "s2", "s3"] + [None] * 3,
        "genres": ["rock", "rock", "pop", None, None, None, "news", "comedy|news", "sports"]}))

    def listener(lid, plays, onboarding=()):
        frame = pd.DataFrame({"item_id": plays, "item_type": ["episode" if p.startswith("e") else "track" for p in plays],
                              "context_id": None, "ts": pd.date_range("2025-01-05", periods=len(plays), freq="h", tz="UTC"),
                              "ms_played": 600_000})
        return ListenerState(lid, Profile(ms("2024-01-01"), "SE", onboarding_genres=frozenset(onboarding)),
                             event_block(frame))

    L = listener("L", ["t1", "t2", "t3", "e1"], onboarding=["comedy"])
    M = listener("M", ["t1", "e2"])             # rock cohort, like L; played show s2
    N = listener("N", ["t3", "t3", "e3"])       # pop cohort; played show s3
    rock = f"genre:{cat.genre_vocab['rock']}"
    side = build_side_tables(partial_aggregates([L, M, N], AS_OF, {"podcasts": ["show"]}, [], cat, config), AS_OF, config)
    assert listener_cohorts(one_batch([L, M, N], cat, side).before(AS_OF)).tolist() == [
        rock, rock, f"genre:{cat.genre_vocab['pop']}"]
    cands = np.array(["s2", "s3"], dtype=object)
    X = listener_features("podcasts", L, AS_OF, cands, {}, cat, side, ["show"])
    f = pd.DataFrame(X, columns=feature_names("podcasts"), index=cands)
    np.testing.assert_allclose(f["pop_cohort_log"], [math.log(2), 0.0], rtol=1e-6)  # only M (rock) played s2
    np.testing.assert_allclose(f["pop_market_log"], [math.log(2), math.log(2)], rtol=1e-6)
    np.testing.assert_allclose(f["shelf_genre_overlap"], [0.5, 0.0])  # L's shows: s1 {news}
    X2 = listener_features("playlists", L, AS_OF, cands, {}, cat, side, ["show"])
    g = pd.DataFrame(X2, columns=feature_names("playlists"), index=cands)
    np.testing.assert_allclose(g["onboarding_overlap"], [0.5, 0.0])  # onboarding {comedy}
