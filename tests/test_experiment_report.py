"""Offline comparison of experiment variants (models/evaluation/experiment_eval.py, `home-recs experiment-report`)
on a hand-written published day."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.cli import main
from transforms.io import publish

DAY = "2026-11-21"


def _publish_day(out: Path) -> None:
    # control: a sees x then y, b sees x; challenger: c sees z then w
    folder = out / "recommendations" / f"dt={DAY}" / "shelf=shortcuts"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"listener_id": ["a", "a", "b", "c", "c"], "position": [1, 2, 1, 1, 2],
                             "item_id": ["x", "y", "x", "z", "w"], "experiment": ["e"] * 5,
                             "variant": ["control", "control", "control", "challenger", "challenger"]}),
                   folder / "part-0.parquet")
    manifest = Path(publish.success_path(str(out), DAY)).parent
    manifest.mkdir(parents=True)
    (manifest / "manifest.json").write_text(json.dumps(
        {"experiment": {"name": "e", "order": ["control", "challenger"],   # JSON keys are sorted: order says which
                        "variants": {"control": {"share": 0.5}, "challenger": {"share": 0.5,
                                                                               "shelves_changed": ["shortcuts"]}}}}))
    (manifest / "_SUCCESS").write_text("run")


def test_hit_rate_ndcg_and_difference_per_variant_by_hand(tmp_path, capsys):
    out, inp = tmp_path / "out", tmp_path / "in"
    _publish_day(out)
    inp.mkdir()
    # a plays y itself; c plays a track of album z; b plays nothing served; the play on the 23rd is
    # outside the 1-day window
    (inp / "events.csv").write_text("listener_id,item_id,item_type,ts\na,y,track,2026-11-21T08:00:00Z\n"
                                    "c,t9,track,2026-11-21T09:00:00Z\nb,x,track,2026-11-23T09:00:00Z\n")
    (inp / "items.csv").write_text("item_id,item_type,parent_id\nt9,track,z\nz,album,\n")
    report_path, page = tmp_path / "r.json", tmp_path / "r.html"
    assert main(["experiment-report", "--output", str(out), "--input", str(inp), "--experiment", "e",
                 "--from", DAY, "--to", DAY, "--json", str(report_path), "--html", str(page)]) == 0
    report = json.loads(report_path.read_text())
    assert report["variants"] == ["control", "challenger"]       # config order, not by name: the control first
    assert report["shelves_changed"] == ["shortcuts"]
    shortcuts = report["shelves"]["shortcuts"]
    control, challenger = shortcuts["control"], shortcuts["challenger"]
    assert (control["queries"], control["hit_rate"], control["queries_with_hit"]) == (2, 0.5, 1)
    assert control["ndcg"] == pytest.approx(1 / math.log2(3)) and control["k"] == 2  # a's hit at position 2
    assert (challenger["hit_rate"], challenger["ndcg"]) == (1.0, 1.0)
    assert challenger["hit_rate_difference"] == 0.5
    assert challenger["difference_low"] <= 0.5 <= challenger["difference_high"]
    assert "hit rate 0.5000" in capsys.readouterr().out
    assert "<svg" in page.read_text() and "challenger" in page.read_text()
    # an experiment that served nothing in the range is one line, exit 2
    assert main(["experiment-report", "--output", str(out), "--input", str(inp), "--experiment", "other",
                 "--from", DAY, "--to", DAY]) == 2
    assert "no row served under experiment 'other'" in capsys.readouterr().err
