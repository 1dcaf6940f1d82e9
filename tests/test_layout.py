"""The shelf order of each listener's Home (models/serving/layout.py) and its offline evaluation
(models/evaluation/layout_eval.py, `home-recs layout-report`), on hand-made inputs worked out in comments."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.cli import main
from models.serving.layout import expected_engagement, shelf_ranks
from models.evaluation.layout_eval import compare_orders, shelf_relevance
from transforms.io import publish

LAYOUT = {"pinned": ["shortcuts"], "new_listeners_first": ["playlists"], "prior": 0.2, "default_base_rate": 0.1,
          "base_rates": {"podcasts": 0.06, "editors_picks": 0.02}}
SHELVES = ["editors_picks", "shortcuts", "podcasts", "playlists"]   # claim order: ties


def test_pinned_then_new_listener_shelves_then_expected_engagement_ties_in_claim_order():
    # listener 0 (new) has all four shelves; listener 1 (not new) has editors_picks, podcasts, playlists
    who = np.array([0, 0, 0, 0, 1, 1, 1])
    shelf = np.array([0, 1, 2, 3, 0, 2, 3])
    score = np.array([0.5, 0.0, 0.9, 0.1, 0.3, 0.3, 0.4])
    rank, reason = shelf_ranks(who, shelf, score, np.array([True, False]), SHELVES, LAYOUT)
    # 0: shortcuts pinned, playlists (new listener), then podcasts 0.9 > editors_picks 0.5
    # 1: no pinned shelf here, not new: playlists 0.4, then the 0.3 tie in claim order: editors_picks, podcasts
    assert rank.tolist() == [4, 1, 3, 2, 2, 3, 1]
    assert reason.tolist() == ["affinity", "pinned", "affinity", "new_listener", "affinity", "affinity", "affinity"]


def test_expected_engagement_is_base_rate_times_affinity_over_prior():
    got = expected_engagement("podcasts", np.array([0.2, 0.5]), LAYOUT)
    assert got.tolist() == pytest.approx([0.06, 0.15])
    assert expected_engagement("new_episodes", np.array([0.4]), LAYOUT).tolist() == pytest.approx([0.2])  # default 0.1


def test_shelf_relevance_matches_a_play_by_item_parent_creator_or_context():
    recs = pd.DataFrame({"listener_id": ["a", "a", "a", "b", "b"],
                         "shelf": ["shortcuts", "podcasts", "podcasts", "shortcuts", "playlists"],
                         "item_id": ["al1", "sh1", "sh2", "ar9", "pl1"]})
    plays = pd.DataFrame({"listener_id": ["a", "b", "b"], "item_id": ["ep1", "t1", "t2"],
                          "parent_id": ["sh2", "al5", None], "creator_id": [None, "ar9", "ar3"],
                          "context_id": [None, None, "pl2"]})
    got = shelf_relevance(recs, plays).sort_values(["listener_id", "shelf"])
    # a played an episode of sh2 (podcasts); b a track by ar9 (shortcuts); pl2 was not shown to b
    assert got.values.tolist() == [["a", "podcasts", 1], ["a", "shortcuts", 0], ["b", "playlists", 0],
                                   ["b", "shortcuts", 1]]


def test_compare_orders_ndcg_over_shelves_by_hand():
    layout = pd.DataFrame({"listener_id": ["a", "a", "b", "b", "c"], "shelf": ["podcasts", "shortcuts"] * 2 + ["podcasts"],
                           "shelf_rank": [1, 2, 2, 1, 1]})
    relevance = pd.DataFrame({"listener_id": ["a", "a", "b", "b", "c"], "shelf": ["podcasts", "shortcuts"] * 2 + ["podcasts"],
                              "label": [1, 0, 0, 1, 0]})
    got = compare_orders(layout, relevance, ["shortcuts", "podcasts"], resamples=200)
    # c has no relevant shelf: not a query. Policy puts the relevant shelf first for a and b (1, 1);
    # the fixed order has a's podcasts second: 1 / log2(3) = 0.6309, b first: 1
    assert got["listeners"] == 3 and got["listeners_evaluated"] == 2 and got["k"] == 2
    assert got["ndcg_policy"] == pytest.approx(1.0)
    assert got["ndcg_fixed"] == pytest.approx((1 / math.log2(3) + 1) / 2)
    assert got["difference"] == pytest.approx(1 - (1 / math.log2(3) + 1) / 2)
    assert got["difference_low"] <= got["difference"] <= got["difference_high"]
    # podcasts was shown to a, b and c (c evaluated or not) and played from by a: 1/3; ranks 1, 2, 1
    assert got["shelves"]["podcasts"] == {"relevant_share": round(1 / 3, 4), "mean_rank": round(4 / 3, 3)}


def _write(path, frame):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def test_layout_report_command_reads_a_published_day_and_the_next_days_plays(tmp_path, capsys):
    out, inp = tmp_path / "out", tmp_path / "in"
    day = "dt=2026-11-21"
    _write(out / "home_layout" / day / "part-0.parquet", pd.DataFrame(
        {"listener_id": ["a", "a", "b", "b"], "shelf": ["podcasts", "shortcuts", "shortcuts", "podcasts"],
         "shelf_rank": [1, 2, 1, 2]}))
    _write(out / "recommendations" / day / "shelf=shortcuts" / "part-0.parquet",
           pd.DataFrame({"listener_id": ["a", "b"], "item_id": ["al1", "al2"]}))
    _write(out / "recommendations" / day / "shelf=podcasts" / "part-0.parquet",
           pd.DataFrame({"listener_id": ["a", "b"], "item_id": ["sh1", "sh1"]}))
    success = Path(publish.success_path(str(out), "2026-11-21"))   # the day is published
    success.parent.mkdir(parents=True, exist_ok=True)
    success.write_text("run")
    inp.mkdir()
    # a plays an episode of sh1 on the day (podcasts relevant); b plays a track of al2 (shortcuts);
    # b's play two days later is outside the 1-day window
    (inp / "events.csv").write_text("listener_id,item_id,item_type,ts\n"
                                    "a,ep1,episode,2026-11-21T08:00:00Z\nb,t2,track,2026-11-21T09:00:00Z\n"
                                    "b,ep1,episode,2026-11-23T09:00:00Z\n")
    (inp / "items.csv").write_text("item_id,item_type,parent_id,creator_id\nep1,episode,sh1,\nt2,track,al2,ar1\n")
    report_path = tmp_path / "report.json"
    assert main(["layout-report", "--output", str(out), "--input", str(inp), "--date", "2026-11-21",
                 "--fixed-order", "shortcuts,podcasts", "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["plays"] == 2 and report["listeners_evaluated"] == 2
    assert report["ndcg_policy"] == pytest.approx(1.0)
    assert report["ndcg_fixed"] == pytest.approx((1 / math.log2(3) + 1) / 2)
    assert "NDCG over shelves, policy (home_layout): 1.0000" in capsys.readouterr().out
    # a fixed order naming a shelf the config lacks, or one twice, is refused
    assert main(["layout-report", "--output", str(out), "--input", str(inp), "--date", "2026-11-21",
                 "--fixed-order", "shortcuts,radio,shortcuts"]) == 2
    assert "--fixed-order: unknown shelf(s) ['radio']; listed twice ['shortcuts']" in capsys.readouterr().err
    # a day whose label window holds no play is one clear line, exit 2
    (inp / "events.csv").write_text("listener_id,item_id,item_type,ts\na,ep1,episode,2026-11-01T08:00:00Z\n")
    assert main(["layout-report", "--output", str(out), "--input", str(inp), "--date", "2026-11-21"]) == 2
    assert "no play in [2026-11-21, 2026-11-22)" in capsys.readouterr().err
