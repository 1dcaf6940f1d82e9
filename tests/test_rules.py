"""Post-ranking rules (models/serving/rules.py) and the new_episodes rule shelf (models/serving/rule_shelves/)
on hand-made inputs, plus one small recommend_batch call that checks the wiring in models/serving/home.py."""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.serving.rule_shelves.new_episodes import new_episodes, recent_episodes
from models.serving.rules import (MINOR_AGE, cap_per_parent, diversify, explicit_allowed, followed_shows, is_minor,
                                  market_allowed, not_followed, not_played_within)
from tests.conftest import ms, utc
from transforms.listeners.aggregates import SideTables
from transforms.listeners.catalog import Catalog
from transforms.listeners.history import ListenerState, Profile, event_block

AS_OF = ms("2026-11-28")
H = 3_600_000
D = 86_400_000


def obj(*xs):
    return np.array(xs, dtype=object)


def test_cap_per_parent_and_both_caps_in_sequence():
    parents = obj("al1", "al1", "al2", None, "al1", None)
    assert cap_per_parent(parents, 2).tolist() == [True, True, True, True, False, True]
    assert cap_per_parent(parents, None).all() and cap_per_parent(parents, 0).all()
    # a: creator cap 1 drops item 1; the parent cap then counts only kept items, so item 2 keeps its slot
    creators = obj("x", "x", "y", "z")
    parents = obj("p", "q", "q", "q")
    assert diversify(creators, parents, 1, 1).tolist() == [True, False, True, False]
    assert diversify(creators, parents, None, None).all()


def test_market_whitelist():
    assert market_allowed("SE", None)
    assert market_allowed("SE", ["SE", "DE"]) and not market_allowed("US", ["SE", "DE"])
    assert not market_allowed("SE", [])


def test_minor_from_birth_year_is_conservative():
    # at 2026-11-28 someone born in 2008 is 17 or 18: a minor until 2027; born 2007: 18 or 19
    assert MINOR_AGE == 18
    assert is_minor(2008, AS_OF) and is_minor(2015, AS_OF)
    assert not is_minor(2007, AS_OF) and not is_minor(1980, AS_OF)
    assert not is_minor(2008, ms("2027-01-01"))
    assert not is_minor(None, AS_OF)  # unknown age: not treated as a minor


def test_explicit_blocked_only_for_minors_unknown_kept():
    explicit = np.array([0.0, 1.0, np.nan])
    assert explicit_allowed(explicit, True).tolist() == [True, False, True]
    assert explicit_allowed(explicit, False).all()


def test_played_within_hours_window():
    played = obj("a", "b", "c", "d")
    ts = np.array([AS_OF - 30 * H, AS_OF - 2 * H, AS_OF - 24 * H, AS_OF + H])  # d: at/after as_of, unseen
    ids = obj("a", "b", "c", "d", "e")
    assert not_played_within(ids, played, ts, AS_OF, 24).tolist() == [True, False, False, True, True]
    assert not_played_within(ids, played, ts, AS_OF, 48).tolist() == [False, False, False, True, True]
    assert not_played_within(ids, played, ts, AS_OF, None).all()
    assert not_played_within(ids, obj(), np.zeros(0, np.int64), AS_OF, 24).all()


def test_followed_shows_definition_and_filter():
    per_play = obj("s1", "s2", "s1", None, "s3", "s3", "s3")
    assert followed_shows(per_play).tolist() == ["s1", "s3"]      # default: at least 2 plays
    assert followed_shows(per_play, 3).tolist() == ["s3"]
    assert followed_shows(per_play, 1).tolist() == ["s1", "s2", "s3"]
    assert followed_shows(obj()).tolist() == []
    assert not_followed(obj("s1", "s2", "s4"), obj("s1", "s3")).tolist() == [False, True, True]


def _episodes():
    ids = obj("e_old", "e1", "e2", "e3", "e4", "e5", "t1", "e_orphan", "e_future", "e_edge", "e_nodate")
    types = obj(*(["episode"] * 6 + ["track"] + ["episode"] * 4))
    parents = obj("s1", "s1", "s1", "s1", "s2", "s3", "s1", None, "s1", "s1", "s1")
    release = np.array([AS_OF - 8 * D, AS_OF - 3 * D, AS_OF - 1 * D, AS_OF - 1 * D, AS_OF - 2 * D,
                        AS_OF - 1 * H, AS_OF - D, AS_OF - D, AS_OF, AS_OF - 7 * D, np.nan])
    return recent_episodes(ids, types, parents, release, AS_OF, 7)


def test_recent_episodes_release_window():
    recent = _episodes()
    # [as_of - 7 d, as_of): e_old (8 d) and e_future (at as_of) are out, e_edge (exactly 7 d) is in;
    # tracks, episodes without a show and without a release date are out; newest first, ties by id
    assert recent["item_id"].tolist() == ["e5", "e2", "e3", "e4", "e1", "e_edge"]
    assert recent["show_id"].tolist() == ["s3", "s1", "s1", "s2", "s1", "s1"]
    assert recent["release_ms"].iloc[0] == AS_OF - H
    assert recent_episodes(obj(), obj(), obj(), np.zeros(0), AS_OF).empty


def test_new_episodes_followed_unplayed_newest_first():
    recent = _episodes()
    vocab = pd.Index(["s1", "s2", "s3", "e1", "e2", "e3", "e4", "e5", "e_edge", "zz"])
    span = len(vocab)

    def keys(who, ids):
        return np.asarray(who, dtype=np.int64) * span + vocab.get_indexer(ids)

    def picked(followed, played, size, max_per_show=None):
        who, row = new_episodes(vocab.get_indexer(recent["show_id"]), vocab.get_indexer(recent["item_id"]),
                                np.sort(followed), np.sort(played), span, size, max_per_show)
        return [(int(w), recent["item_id"].iloc[r]) for w, r in zip(who, row)]

    # listener 0 follows s1 and s2 and played e3; listener 1 follows s2 only
    followed = np.concatenate([keys([0, 0], ["s1", "s2"]), keys([1], ["s2"])])
    got = picked(followed, keys([0, 0], ["e3", "zz"]), 10)
    assert got == [(0, "e2"), (0, "e4"), (0, "e1"), (0, "e_edge"), (1, "e4")]  # s3 not followed, e3 played
    assert picked(followed, keys([0], ["e3"]), 2) == [(0, "e2"), (0, "e4"), (1, "e4")]
    assert picked(followed, np.zeros(0, np.int64), 10, max_per_show=1) == [(0, "e2"), (0, "e4"), (1, "e4")]
    assert picked(np.zeros(0, np.int64), np.zeros(0, np.int64), 10) == []


class _FixedScorer:
    source, version = "model", "v1"

    def score(self, X):
        return np.zeros(len(X))  # ties: rank by item id


def test_recommend_batch_applies_rules_markets_minors_and_rule_shelf(config):
    from models.serving.home import ServingContext, recommend_batch

    cat = Catalog.from_items(pd.DataFrame({
        "item_id": ["s1", "s2", "s3", "s4", "e_a", "e_b", "e_c", "e_d", "e_old", "e_s2", "ed_x", "ed_ok"],
        "item_type": ["show"] * 4 + ["episode"] * 6 + ["album", "album"],
        "parent_id": [None] * 4 + ["s1", "s1", "s1", "s1", "s1", "s2", None, None],
        "creator_id": ["c1", "c2", "c3", "c4"] + [None] * 8,
        "explicit": [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0]}))
    # Catalog.from_items keeps only the columns it maps: set release dates on the frame directly
    cat.frame["release_date"] = pd.to_datetime(
        [None] * 4 + ["2026-11-26", "2026-11-27", "2026-11-25", "2026-11-25", "2026-11-10", "2026-11-27", None, None],
        utc=True)

    def listener(lid, market, birth_year, plays):
        ev = pd.DataFrame({"item_id": [p[0] for p in plays], "item_type": "episode", "context_id": None,
                           "ts": [utc(p[1]) for p in plays], "ms_played": 600_000})
        return ListenerState(lid, Profile(ms("2025-01-01"), market, birth_year=birth_year), event_block(ev))

    # s1 followed (3 plays, e_d among them, none in the last 24 h), s2 played once (last 24 h): not followed
    plays = [("e_old", "2026-11-12"), ("e_old", "2026-11-13"), ("e_d", "2026-11-20"), ("e_s2", "2026-11-27")]
    adult, minor = listener("A", "SE", 1980, plays), listener("M", "SE", 2010, plays)
    abroad = listener("U", "US", 1980, plays)
    shelves = config["shelves"]
    # each shelf's own rules, so the page's cross-shelf dedup is off (tests/test_page.py has it on)
    cfg = {**config, "page": {**config["page"], "dedup": False}, "shelves": {
        "podcasts": {**shelves["podcasts"], "sources": {"popular": 10}, "exclude_played": False,
                     "exclude_played_within_hours": 24, "max_per_creator": None},
        "new_episodes": {**shelves["new_episodes"], "markets": ["SE"]},
        "editors_picks": {**shelves["editors_picks"], "markets": ["SE"]},
    }}
    top = {"podcasts": {"SE": obj("s1", "s2", "s3", "s4"), "US": obj("s1", "s2", "s3", "s4"),
                        "*": obj("s1", "s2", "s3", "s4")}}
    side = SideTables(AS_OF, {}, top, {}, {})
    curation = pd.DataFrame({"shelf": ["editors_picks", "editors_picks", "new_episodes"],
                             "item_id": ["ed_x", "ed_ok", "ed_ok"], "position": [1, 2, 2], "market": None,
                             "valid_from": pd.Series([pd.NaT] * 3, dtype="datetime64[ns, UTC]"),
                             "valid_to": pd.Series([pd.NaT] * 3, dtype="datetime64[ns, UTC]")})
    ctx = ServingContext(AS_OF, cat, side, curation, cfg,
                         {"podcasts": ["show"], "new_episodes": ["episode"], "editors_picks": []},
                         {"podcasts": _FixedScorer()}, "r")
    rows = recommend_batch([adult, minor, abroad], ctx).rows

    def shelf(lid, name, col="item_id"):
        return rows[(rows["listener_id"] == lid) & (rows["shelf"] == name)].sort_values("position")[col].tolist()

    # podcasts: s1 followed, s2 played in the last 24 h; s3 explicit (minors); markets unrestricted
    assert shelf("A", "podcasts") == ["s3", "s4"]
    assert shelf("M", "podcasts") == ["s4"]
    assert shelf("U", "podcasts") == ["s3", "s4"]
    # rule shelf: new unplayed episodes of s1 (newest first, at most 2 per show), editorial at position 2
    assert shelf("A", "new_episodes") == ["e_b", "ed_ok", "e_a"]
    assert shelf("A", "new_episodes", "candidate_source") == ["rule:new_episodes", "editorial", "rule:new_episodes"]
    assert shelf("M", "new_episodes") == ["e_a", "ed_ok", "e_c"]  # e_b is explicit
    ne = rows[rows["shelf"] == "new_episodes"]
    assert ne["score"].isna().all() and ne["model_version"].isna().all()
    assert set(ne["source"]) == {"rule", "editorial"}
    # editorial shelf: explicit pick removed for the minor; nothing outside the market whitelist
    assert shelf("A", "editors_picks") == ["ed_x", "ed_ok"]
    assert shelf("M", "editors_picks") == ["ed_ok"]
    assert shelf("U", "new_episodes") == [] and shelf("U", "editors_picks") == []
