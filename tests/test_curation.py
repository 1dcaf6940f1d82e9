"""Curation rows checked against the catalog and the shelves (transforms/listeners/curation.py)."""
from __future__ import annotations

import json

import pandas as pd

from transforms.listeners.catalog import Catalog
from transforms.config.config import load_config
from transforms.listeners.curation import check_curation


def test_unknown_shelf_unknown_item_and_a_type_the_shelf_does_not_serve_are_rejected():
    cat = Catalog.from_items(pd.DataFrame({"item_id": ["t1", "sh1", "al1"], "item_type": ["track", "show", "album"],
                                           "creator_id": ["ar1", None, "ar1"], "parent_id": ["al1", None, None]}))
    shelves = load_config()["shelves"]
    cur = pd.DataFrame({"shelf": ["podcasts", "podcasts", "podcasts", "editors_picks", "editors_picks", "nope"],
                        "item_id": ["sh1", "t1", "zz", "t1", "ar1", "sh1"], "position": [1, 2, 3, 1, 2, 1],
                        "market": None, "valid_from": pd.NaT, "valid_to": pd.NaT,
                        "_source_file": "c.csv", "_row_number": [1, 2, 3, 4, 5, 6]})
    kept, rejected = check_curation(cur, cat, shelves)
    # podcasts serves shows: sh1 stays, the track goes; editors_picks declares no item types: a track
    # and an artist named only as a creator (ar1) both stay
    assert kept[["shelf", "item_id"]].values.tolist() == [["podcasts", "sh1"], ["editors_picks", "t1"],
                                                          ["editors_picks", "ar1"]]
    assert rejected[["row_number", "reason", "column"]].values.tolist() == [
        [2, "item_type_not_on_shelf", "item_id"], [3, "unknown_item", "item_id"], [6, "unknown_shelf", "shelf"]]
    assert set(rejected["source_file"]) == {"c.csv"} and set(rejected["table"]) == {"curation"}
    assert json.loads(rejected["raw"].iloc[0]) == {"shelf": "podcasts", "item_id": "t1", "position": 2,
                                                  "market": None, "valid_from": None, "valid_to": None,
                                                  "catalog_item_type": "track"}
    assert check_curation(None, cat, shelves)[0] is None
