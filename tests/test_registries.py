"""The serving registries (issue 13 point 3): adding a rule shelf, a post-ranking filter or a shelf kind is
one function, one registry line and config. Each test registers a toy entry (monkeypatch, so the registry
is restored) and checks the rows a config naming it serves on a hand-made batch."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.candidates.candidates import Ranked
from models.serving.filters import FILTERS, FilterInput
from models.serving.rule_shelves import RULES, RuleInput
from models.serving.shelf_kinds import SHELF_KINDS, ShelfJob, ShelfRows
from models.serving.shelf_rows import output_rows
from tests.conftest import ms, utc
from transforms.config import config_schema
from transforms.config.config import load_config
from transforms.errors import InputError
from transforms.listeners.aggregates import SideTables
from transforms.listeners.catalog import Catalog
from transforms.listeners.history import ListenerState, Profile, event_block

AS_OF = ms("2026-11-28")


class _FixedScorer:
    source, version = "model", "v1"

    def score(self, X):
        return np.zeros(len(X))  # ties: rank by item id


def _obj(*xs):
    return np.array(xs, dtype=object)


def _serve(config: dict, shelves: dict, entity_types: dict) -> pd.DataFrame:
    """Rows of ``shelves`` (name -> shelf config) for three listeners: A (SE, adult), M (SE, minor), U (US, adult).
    Catalog: shows s1..s4 (s3 explicit), episodes e1..e3 of s1 (e2 explicit). A played e1 then e2, M played
    e3, U played e1. The podcasts top list is s1, s2, s3, s4 in every market."""
    from models.serving.home import ServingContext, recommend_batch

    cat = Catalog.from_items(pd.DataFrame({
        "item_id": ["s1", "s2", "s3", "s4", "e1", "e2", "e3"],
        "item_type": ["show"] * 4 + ["episode"] * 3, "parent_id": [None] * 4 + ["s1"] * 3,
        "creator_id": ["c1", "c2", "c3", "c4", None, None, None], "explicit": [0, 0, 1, 0, 0, 1, 0]}))

    def listener(lid, market, birth_year, plays):
        ev = pd.DataFrame({"item_id": [p[0] for p in plays], "item_type": "episode", "context_id": None,
                           "ts": [utc(p[1]) for p in plays], "ms_played": 600_000})
        return ListenerState(lid, Profile(ms("2025-01-01"), market, birth_year=birth_year), event_block(ev))

    states = [listener("A", "SE", 1980, [("e1", "2026-11-20"), ("e2", "2026-11-25")]),
              listener("M", "SE", 2010, [("e3", "2026-11-21")]),
              listener("U", "US", 1980, [("e1", "2026-11-22")])]
    top = {"podcasts": {m: _obj("s1", "s2", "s3", "s4") for m in ("SE", "US", "*")}}
    cfg = {**config, "shelves": shelves, "page": {**config["page"], "claim_order": list(shelves)}}
    ctx = ServingContext(AS_OF, cat, SideTables(AS_OF, {}, top, {}, {}), None, cfg, entity_types,
                         {"podcasts": _FixedScorer()}, "r")
    return recommend_batch(states, ctx).rows


def _items(rows: pd.DataFrame, lid: str, shelf: str, col: str = "item_id") -> list:
    return rows[(rows["listener_id"] == lid) & (rows["shelf"] == shelf)].sort_values("position")[col].tolist()


def _podcasts(config: dict, **keys) -> dict:
    return {**config["shelves"]["podcasts"], "sources": {"popular": 10}, "exclude_played": False,
            "exclude_followed_shows": False, "max_per_creator": None, "size": 4, **keys}


def test_a_filter_is_one_function_and_one_registry_line(config, monkeypatch):
    def exclude_items(inp: FilterInput) -> np.ndarray:
        """Toy shelf key ``exclude_items``: drop the listed item ids (one isin over the batch's rows)."""
        return ~np.isin(inp.hist.batch.ids(inp.code), list(inp.cfg.get("exclude_items") or []))

    monkeypatch.setitem(FILTERS, "exclude_items", exclude_items)
    rows = _serve(config, {"podcasts": _podcasts(config, exclude_items=["s2"])}, {"podcasts": ["show"]})
    assert _items(rows, "A", "podcasts") == ["s1", "s3", "s4"]
    assert _items(rows, "M", "podcasts") == ["s1", "s4"]          # and block_explicit_for_minors still applies (s3)
    # the key off: the filter keeps every row
    rows = _serve(config, {"podcasts": _podcasts(config)}, {"podcasts": ["show"]})
    assert _items(rows, "A", "podcasts") == ["s1", "s2", "s3", "s4"]


def test_a_rule_shelf_is_one_function_one_registry_line_and_config(config, monkeypatch):
    def latest(inp: RuleInput) -> Ranked:
        """Toy rule: each served listener's most recently played item, explicit ones not for blocked minors."""
        hist = inp.hist
        order = np.lexsort((-hist.ts_ms, hist.who))
        who, code = hist.who[order], hist.item[order]
        explicit = np.isin(hist.batch.ids(code), ["e2"])   # the catalog's one explicit episode, by hand
        ok = inp.served[who] & ~(inp.blocked[who] & explicit)
        who, code = who[ok], code[ok]
        first = np.r_[True, who[1:] != who[:-1]]
        return Ranked(who[first], code[first])

    monkeypatch.setitem(RULES, "latest", latest)
    from models.config_checks import check_config

    loaded = load_config(overrides={"shelves": {"new_episodes": {"rule": "latest", "markets": ["SE"]}}})
    check_config(loaded)   # a registered rule is a known name
    rows = _serve(loaded, {"new_episodes": loaded["shelves"]["new_episodes"]}, {"new_episodes": ["episode"]})
    assert _items(rows, "A", "new_episodes") == ["e2"]
    assert _items(rows, "M", "new_episodes") == ["e3"]
    assert _items(rows, "U", "new_episodes") == []                # markets: SE only
    assert set(rows["candidate_source"]) == {"rule:latest"} and set(rows["source"]) == {"rule"}
    assert rows["score"].isna().all()


def test_a_shelf_kind_is_one_handler_and_one_registry_line(config, monkeypatch):
    def top_pick(job: ShelfJob) -> ShelfRows:
        """Toy kind: every served listener gets the shelf's ``item`` at position 1."""
        batch = job.hist.batch
        who = np.flatnonzero(job.served)
        item = np.full(len(who), job.cfg["item"], dtype=object)
        placed = pd.DataFrame({"who": who, "code": batch.encode(item), "item_id": item, "position": 1})
        n = len(who)
        none = np.full(n, None, dtype=object)
        return ShelfRows(output_rows(batch, job.shelf, placed, job.ctx, score=np.full(n, np.nan),
                                     source=np.full(n, "pick", dtype=object), candidate_source=none,
                                     model_version=none))

    monkeypatch.setitem(SHELF_KINDS, "top_pick", top_pick)
    pick = {"kind": "top_pick", "size": 1, "item": "s4", "markets": ["SE"], "block_explicit_for_minors": True}
    rows = _serve(config, {"pick": pick, "podcasts": _podcasts(config)}, {"podcasts": ["show"]})
    assert _items(rows, "A", "pick") == ["s4"] and _items(rows, "U", "pick") == []
    # the pick claims s4 first (page dedup), so podcasts drops it for SE listeners only
    assert _items(rows, "A", "podcasts") == ["s1", "s2", "s3"]
    assert _items(rows, "U", "podcasts") == ["s1", "s2", "s3", "s4"]


def test_the_registries_and_the_schema_name_the_same_kinds_and_keys():
    # a kind needs its handler and its shelf model; a filter reads the model-shelf key named like it
    assert list(SHELF_KINDS) == list(config_schema.SHELF_KINDS) == list(config_schema.SHELF_MODELS)
    assert set(FILTERS) <= set(config_schema.ModelShelf.model_fields)
    assert "new_episodes" in RULES


def test_an_unknown_rule_is_refused_before_any_input_with_the_closest_name(tmp_path, capsys):
    from jobs.cli import main
    from models.config_checks import check_config

    with pytest.raises(InputError) as err:
        check_config(load_config(overrides={"shelves": {"new_episodes": {"rule": "new_episode"}}}))
    assert str(err.value) == ("config: shelves.new_episodes.rule: unknown rule 'new_episode'; did you mean "
                              "`new_episodes`? (models/serving/rule_shelves RULES)")
    path = tmp_path / "c.yaml"
    path.write_text("shelves:\n  new_episodes:\n    rule: fresh_episodes\n")
    assert main(["config", "show", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "shelves.new_episodes.rule: unknown rule 'fresh_episodes'; did you mean `new_episodes`?" in err
    assert "Traceback" not in err
