"""``home-recs lookup`` on a hand-written published day."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.cli import main
from transforms.errors import InputError
from transforms.io.lookup import read_home

DAY = "2026-11-28"


def _write_day(root, rows_by_shelf: dict[str, list[tuple]]):
    """rows: (listener_id, position, item_id, score, source); two row groups per file."""
    for shelf, rows in rows_by_shelf.items():
        folder = root / "recommendations" / f"dt={DAY}" / f"shelf={shelf}"
        folder.mkdir(parents=True)
        table = pa.table({"listener_id": [r[0] for r in rows], "position": [r[1] for r in rows],
                          "item_id": [r[2] for r in rows], "item_type": ["album"] * len(rows),
                          "score": [r[3] for r in rows], "source": [r[4] for r in rows],
                          "candidate_source": ["history"] * len(rows), "model_version": [None] * len(rows),
                          "run_id": ["r1"] * len(rows)})
        pq.write_table(table, folder / "part-00000.parquet", row_group_size=2, compression="zstd")
    (root / "_manifests" / f"dt={DAY}").mkdir(parents=True)
    (root / "_manifests" / f"dt={DAY}" / "_SUCCESS").write_text("")


def test_read_home_returns_the_listeners_shelves_in_the_given_order(tmp_path):
    _write_day(tmp_path, {
        "podcasts": [("A", 1, "p1", 0.9, "model"), ("A", 2, "p2", 0.5, "model"), ("B", 1, "p3", 0.7, "model")],
        "shortcuts": [("B", 1, "s9", 2.0, "heuristic"), ("A", 2, "s2", 1.0, "heuristic"),
                      ("A", 1, "s1", 3.0, "heuristic")]})
    home = read_home(str(tmp_path), DAY, "A", ["shortcuts", "podcasts"])
    assert home[["shelf", "position", "item_id"]].values.tolist() == [
        ["shortcuts", 1, "s1"], ["shortcuts", 2, "s2"], ["podcasts", 1, "p1"], ["podcasts", 2, "p2"]]
    assert read_home(str(tmp_path), DAY, "nobody").empty
    with pytest.raises(InputError, match="no shelf folder for \\['playlists'\\]"):
        read_home(str(tmp_path), DAY, "A", ["playlists"])
    with pytest.raises(InputError, match="day 2026-11-27 is not published"):
        read_home(str(tmp_path), "2026-11-27", "A")
    broken = tmp_path / "recommendations" / f"dt={DAY}" / "shelf=podcasts" / "part-00001.parquet"
    broken.write_text("not parquet")
    with pytest.raises(InputError, match="part-00001.parquet: not a readable recommendations file"):
        read_home(str(tmp_path), DAY, "A")


def test_lookup_command_prints_json_and_exits_1_for_an_unknown_listener(tmp_path, capsys):
    _write_day(tmp_path, {"shortcuts": [("A", 1, "s1", 3.0, "heuristic")]})
    assert main(["lookup", "--output", str(tmp_path), "--date", DAY, "--listener", "A", "--json"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert page["shelves"] == [{"shelf": "shortcuts", "title": "Jump back in", "shelf_rank": None, "reason": None,
                                "items": [{"position": 1, "item_id": "s1", "item_type": "album", "score": 3.0,
                                           "source": "heuristic", "candidate_source": "history",
                                           "model_version": None, "experiment": None, "variant": None}]}]
    assert main(["lookup", "--output", str(tmp_path), "--date", DAY, "--listener", "Z"]) == 1
    assert main(["lookup", "--output", str(tmp_path), "--date", "2026-11-27", "--listener", "A"]) == 2


def test_lookup_orders_shelves_by_the_listeners_home_layout(tmp_path, capsys):
    _write_day(tmp_path, {"shortcuts": [("A", 1, "s1", 3.0, "heuristic")], "podcasts": [("A", 1, "p1", 0.9, "model")]})
    folder = tmp_path / "home_layout" / f"dt={DAY}"
    folder.mkdir(parents=True)
    # config order is shortcuts, podcasts; A's layout puts podcasts first
    pq.write_table(pa.table({"listener_id": ["A", "A", "B"], "shelf": ["podcasts", "shortcuts", "shortcuts"],
                             "shelf_rank": [1, 2, 1], "reason": ["affinity", "affinity", "pinned"],
                             "affinity": [0.5, 0.4, 0.9], "score": [0.2, 0.1, 0.9]}), folder / "part-0.parquet")
    assert main(["lookup", "--output", str(tmp_path), "--date", DAY, "--listener", "A", "--json"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert [(s["shelf"], s["shelf_rank"], s["reason"]) for s in page["shelves"]] == [
        ("podcasts", 1, "affinity"), ("shortcuts", 2, "affinity")]
