"""One Home page per listener (models/serving/page.py): claim order, cross-shelf dedup and backfill, on
hand-made inputs whose answers are worked out in the comments."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.serving.page import claim_order, drop_claimed, slot_claims, split_slot_sets
from tests.conftest import ms, utc
from transforms.listeners.aggregates import SideTables
from transforms.listeners.catalog import Catalog
from transforms.config.config import load_config
from transforms.errors import InputError
from transforms.listeners.history import ListenerState, Profile, event_block

AS_OF = ms("2026-11-28")


def test_claim_order_listed_first_then_config_order_and_unknown_names_refused(tmp_path):
    config = {"shelves": {"a": {}, "b": {}, "c": {}}, "page": {"claim_order": ["c", "a"]}}
    assert claim_order(config) == ["c", "a", "b"]
    assert claim_order({"shelves": {"a": {}, "b": {}}}) == ["a", "b"]
    # a shelf disabled with `name: null` may stay in the list; a name that is no shelf is refused
    disabled = tmp_path / "disabled.yaml"
    disabled.write_text("shelves:\n  new_episodes: null\n")
    assert "new_episodes" not in claim_order(load_config(str(disabled)))
    typo = tmp_path / "typo.yaml"
    typo.write_text("page:\n  claim_order: [shortcut, podcasts]\n")
    with pytest.raises(InputError, match=r"page.claim_order names shelf\(s\) \['shortcut'\]"):
        load_config(str(typo))


def test_split_slot_sets_removes_each_listeners_claimed_slots():
    span = 100
    set_of = np.array([0, 0, 1])          # listeners 0 and 1 share slot set 0; listener 2 has set 1
    codes = [np.array([5, 7, -1]), np.array([7])]
    claimed = np.array([0 * span + 7, 2 * span + 7, 1 * span + 9])  # 1*span+9: not a slot of listener 1
    new_of, keep, parent = split_slot_sets(set_of, codes, claimed, span)
    kept = [codes[parent[new_of[i]]][keep[new_of[i]]].tolist() for i in range(3)]
    assert kept == [[5, -1], [5, 7, -1], []]
    assert len(keep) == 3                 # listeners 0 and 1 no longer share a set


def test_slot_claims_first_size_slots_of_served_listeners():
    set_of = np.array([0, 0, 1])
    codes = [np.array([5, 7, -1]), np.array([7])]
    got = slot_claims(set_of, codes, np.array([True, False, True]), size=2, span=100)
    assert sorted(got.tolist()) == [5, 7, 207]   # listener 1 not served; -1 (unknown item) never claims
    assert sorted(slot_claims(set_of, codes, np.ones(3, bool), 1, 100).tolist()) == [5, 105, 207]


def test_drop_claimed_keeps_order_and_counts_only_what_would_have_shown():
    who = np.array([0, 0, 0, 1, 1])
    code = np.array([1, 2, 3, 2, 4])
    claimed = np.array([2, 104])          # (0, 2) and (1, 4)
    keep, removed = drop_claimed(who, code, claimed, 100, 2)
    assert keep.tolist() == [True, False, True, True, False] and removed == 2
    keep, removed = drop_claimed(who, code, claimed, 100, 1)
    assert removed == 0                   # both claimed rows ranked 2nd: a list of 1 never showed them
    # per row: listener 1 has one editorial slot on a shelf of 2, so one ranked row shows
    keep, removed = drop_claimed(who, code, claimed, 100, np.array([2, 2, 2, 1, 1]))
    assert removed == 1
    exempt = np.array([False, True, False, False, False])
    keep, removed = drop_claimed(who, code, claimed, 100, 2, exempt=exempt)
    assert keep.tolist() == [True, True, True, True, False] and removed == 1
    # (0, 2) was one of the shelf's slots: dropped, not counted, and not a rank either, so (1, 4)
    # ranked 2nd for listener 1 still counts
    keep, removed = drop_claimed(who, code, claimed, 100, 2, uncounted=exempt)
    assert keep.tolist() == [True, False, True, True, False] and removed == 1


class _FixedScorer:
    source, version = "model", "v1"

    def score(self, X):
        return np.zeros(len(X))  # ties: rank by item id


def _page(config, dedup: bool):
    """One listener who played an episode of show s3; four popular shows; editors pick s1; the
    podcasts shelf curates s2 at position 1 and s1 at position 2."""
    from models.serving.home import ServingContext, recommend_batch

    cat = Catalog.from_items(pd.DataFrame({
        "item_id": ["s1", "s2", "s3", "s4", "e3"], "item_type": ["show"] * 4 + ["episode"],
        "parent_id": [None] * 4 + ["s3"], "creator_id": ["c1", "c2", "c3", "c4", None], "explicit": 0}))
    events = pd.DataFrame({"item_id": ["e3"], "item_type": "episode", "context_id": None,
                           "ts": [utc("2026-11-20")], "ms_played": 600_000})
    listener = ListenerState("A", Profile(ms("2025-01-01"), "SE", birth_year=1980), event_block(events))
    shelves = config["shelves"]
    cfg = {**config, "page": {**config["page"], "dedup": dedup}, "shelves": {
        "shortcuts": {**shelves["shortcuts"], "item_types": ["show"], "fallback_item_types": [],
                      "sources": {"history": 10}},
        "podcasts": {**shelves["podcasts"], "size": 2, "sources": {"popular": 10}, "exclude_played": False,
                     "exclude_followed_shows": False, "max_per_creator": None},
        "editors_picks": shelves["editors_picks"]}}
    top = {"podcasts": {m: np.array(["s1", "s2", "s3", "s4"], dtype=object) for m in ("SE", "*")}}
    nat = pd.Series([pd.NaT] * 3, dtype="datetime64[ns, UTC]")
    curation = pd.DataFrame({"shelf": ["editors_picks", "podcasts", "podcasts"], "item_id": ["s1", "s2", "s1"],
                             "position": [1, 1, 2], "market": None, "valid_from": nat, "valid_to": nat})
    ctx = ServingContext(AS_OF, cat, SideTables(AS_OF, {}, top, {}, {}), curation, cfg,
                         {"shortcuts": ["show"], "podcasts": ["show"], "editors_picks": []},
                         {"shortcuts": _FixedScorer(), "podcasts": _FixedScorer()}, "r")
    result = recommend_batch([listener], ctx)
    rows = result.rows.sort_values(["shelf", "position"])
    return {s: g["item_id"].tolist() for s, g in rows.groupby("shelf")}, result.dedup_removed, result.layout


def test_each_item_once_on_the_page_editorial_first_then_claim_order(config):
    # claim order editors_picks, shortcuts, podcasts. Slots first: editors_picks claims s1, so the
    # podcasts slot s1@2 goes (1 removed); podcasts keeps its slot s2@1. Then ranked rows:
    # shortcuts (history) claims s3. Podcasts ranks s1 s2 s3 s4 (ties by id): s1 is claimed (its
    # slot was already counted), s2 is its own slot, s3 is claimed -> s2 (slot), then s4 backfills.
    got, removed, layout = _page(config, dedup=True)
    assert got == {"editors_picks": ["s1"], "shortcuts": ["s3"], "podcasts": ["s2", "s4"]}
    assert removed == {"podcasts": 1}
    # shelf order (models.serving.layout): shortcuts pinned; then by base_rate * affinity / prior. The one
    # play (an episode of s3) maps to a show, so both show shelves have affinity (1 + 0.2 * 5) / (1 + 5)
    # = 1/3; editorial has the prior 0.2: podcasts 0.0316 * (1/3) / 0.2 = 0.0527 > editors_picks 0.0105
    assert layout[["shelf", "shelf_rank", "reason"]].values.tolist() == [
        ["shortcuts", 1, "pinned"], ["podcasts", 2, "affinity"], ["editors_picks", 3, "affinity"]]
    assert layout["affinity"].tolist() == pytest.approx([1 / 3, 1 / 3, 0.2])
    assert layout["score"].tolist() == pytest.approx([0.483 * 5 / 3, 0.0316 * 5 / 3, 0.0105])
    # without the page step each shelf is on its own: s1 shows twice
    got, removed, _ = _page(config, dedup=False)
    assert got == {"editors_picks": ["s1"], "shortcuts": ["s3"], "podcasts": ["s2", "s1"]}
    assert removed == {}
