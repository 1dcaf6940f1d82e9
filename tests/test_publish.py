"""The publish step (``home-recs publish``): idempotent, resumable after a killed publish, refusing
incomplete staging; the in-graph counts behind its manifest; one small daily --no-publish + publish.

Most tests fabricate a run's staging folder (``_request.json``, ``_counts.json``, staged tables)
without running Beam."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from jobs.cli import main
from jobs.manifest import REQUEST_FILE, write_request
from transforms.io import publish
from transforms.config.config import load_config
from transforms.io.counts import COUNTS_FILE, add_counts, file_counts, late_rejection_counts

DATE = "2026-11-28"
TABLES = ["recommendations", "home_layout", "rejected"]


def stage_run(out: Path, run_id: str, files: dict[str, list[str]], counts: dict | None = None,
              complete: bool = True, date: str = DATE) -> Path:
    """A run's staging as daily leaves it: table -> relative file names (each file holds its own name)."""
    stage = out / "_staging" / run_id
    for table, names in files.items():
        for name in names:
            path = stage / table / f"dt={date}" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{run_id}:{name}")
    config = load_config()
    config["drift"]["run_after_daily"] = False
    config["shelves"] = {"mixes": {"kind": "model"}, "picks": {"kind": "editorial"}}
    request = {"date": date, "run_id": run_id, "runner": "DirectRunner", "input": "in", "output": str(out),
               "config_path": None, "config": config, "config_fingerprint": "f", "training_stats": None,
               "tables": TABLES, "neighbours": None, "neighbours_as_of": None, "neighbours_skipped": None,
               "models": {"registry": None, "paths": {}, "versions": {}, "fallbacks": {}},
               "files": {"events": [{"path": "in/events.csv", "size_bytes": 5, "last_updated": 1.0}],
                         "items": [], "listeners": [], "curation": []},
               "experiment": None, "code": {"version": "0", "git_commit": None}, "started": 1_795_834_800.0}
    stage.mkdir(parents=True, exist_ok=True)
    write_request(str(stage / REQUEST_FILE), request)
    if complete:
        # a usable day by default (jobs.manifest.unusable_day): events accepted and a shelf with rows
        usable = {"events.read": 3, "events.accepted": 3, "shelf.mixes.rows": 2}
        (stage / COUNTS_FILE).write_text(json.dumps({"counts": usable if counts is None else counts,
                                                     "files_written": 1,
                                                     "finished_at": "2026-11-28T03:10:00+00:00"}))
    return stage


def day_files(out: Path, date: str = DATE) -> dict[str, str]:
    """Every published file of the day (outside _staging and _manifests) -> its content."""
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*"))
            if p.is_file() and f"dt={date}" in str(p) and not str(p.relative_to(out)).startswith(("_staging", "_manifests"))}


def publish_cli(out: Path, run_id: str) -> int:
    return main(["publish", "--output", str(out), "--date", DATE, "--run-id", run_id])


COUNTS = {"events.read": 10, "events.accepted": 8, "events.rejected": 2, "events.item_type_mismatch_rejected": 1,
          "file|events|read|in/events.csv": 10, "file|events|accepted|in/events.csv": 8,
          "file|events|rejected|in/events.csv": 2, "file|events|late_rejected|in/events.csv": 1,
          "shelf.mixes.rows": 12, "shelf.mixes.listeners": 3, "listeners.served": 4, "cpu_ms.recommend": 1500}


def test_publish_twice_leaves_one_day_and_the_second_is_a_no_op(tmp_path, capsys):
    out = tmp_path / "out"
    old = stage_run(out, "old", {"recommendations": ["shelf=mixes/a.parquet"], "rejected": ["r.parquet"]})
    assert publish_cli(out, "old") == 0
    assert not old.exists()
    stage_run(out, "new", {"recommendations": ["shelf=mixes/b.parquet", "shelf=picks/c.parquet"],
                           "home_layout": ["l.parquet"]}, COUNTS)
    assert publish_cli(out, "new") == 0
    want = {f"recommendations/dt={DATE}/shelf=mixes/b.parquet": "new:shelf=mixes/b.parquet",
            f"recommendations/dt={DATE}/shelf=picks/c.parquet": "new:shelf=picks/c.parquet",
            f"home_layout/dt={DATE}/l.parquet": "new:l.parquet"}
    assert day_files(out) == want   # old's rows are gone, and its rejected table (the new run staged none)
    assert publish.published_run(str(out), DATE) == "new"
    manifest = json.loads((out / "_manifests" / f"dt={DATE}" / "manifest.json").read_text())
    # 8 accepted by the row checks, 1 of them rejected later for its item type: 7 accepted, 3 rejected
    assert manifest["inputs"]["events"]["accepted"] == 7 and manifest["inputs"]["events"]["rejected"] == 3
    assert manifest["inputs"]["events"]["files"][0] == {
        "path": "in/events.csv", "size_bytes": 5, "last_updated": 1.0, "read": 10, "accepted": 7, "rejected": 3,
        "reconciles": True}
    assert manifest["shelves"]["mixes"]["rows"] == 12 and manifest["shelves"]["mixes"]["ranking"] == "heuristic"
    assert list(manifest["shelves"]) == ["mixes", "picks"]   # the config's (page) order survives the JSON
    assert manifest["listeners"] == {"served": 4} and manifest["timings_s"]["cpu"] == {"recommend": 1.5}
    assert manifest["timings_s"]["total"] == 600.0   # started 1795834800 = 2026-11-28 03:00:00 UTC, finished 03:10:00
    capsys.readouterr()
    assert publish_cli(out, "new") == 0
    assert "already published by run new" in capsys.readouterr().out
    assert day_files(out) == want and not (out / "_staging").exists()


def test_publish_after_a_killed_publish_completes_the_day(tmp_path, monkeypatch):
    out = tmp_path / "out"
    stage_run(out, "old", {"recommendations": ["o.parquet"], "home_layout": ["o.parquet"],
                           "rejected": ["o.parquet"]})
    assert publish_cli(out, "old") == 0
    stage_run(out, "new", {"recommendations": ["n1.parquet", "n2.parquet"], "home_layout": ["n.parquet"]})
    real_move = publish.move_files

    def killed_at_home_layout(staged, final):
        if "home_layout" in staged:
            raise KeyboardInterrupt("killed")
        real_move(staged, final)

    monkeypatch.setattr(publish, "move_files", killed_at_home_layout)
    assert publish_cli(out, "new") == 130   # Ctrl-C: one line, exit 130
    # half-way: recommendations swapped, home_layout emptied, rejected still old's, and no _SUCCESS
    assert publish.published_run(str(out), DATE) is None
    assert set(day_files(out)) == {f"recommendations/dt={DATE}/n1.parquet", f"recommendations/dt={DATE}/n2.parquet",
                                   f"rejected/dt={DATE}/o.parquet"}
    monkeypatch.setattr(publish, "move_files", real_move)
    assert publish_cli(out, "new") == 0
    assert day_files(out) == {f"recommendations/dt={DATE}/n1.parquet": "new:n1.parquet",
                              f"recommendations/dt={DATE}/n2.parquet": "new:n2.parquet",
                              f"home_layout/dt={DATE}/n.parquet": "new:n.parquet"}
    assert publish.published_run(str(out), DATE) == "new" and not (out / "_staging").exists()


def test_publish_resumes_a_table_moved_file_by_file(tmp_path):
    # as on GCS (copy + delete per object): killed after one of two files reached the final folder
    out = tmp_path / "out"
    stage = stage_run(out, "new", {"recommendations": ["b.parquet"]})
    (out / "recommendations" / f"dt={DATE}").mkdir(parents=True)
    (out / "recommendations" / f"dt={DATE}" / "a.parquet").write_text("new:a.parquet")
    (stage / publish.JOURNAL).write_text(json.dumps({"staged": ["recommendations"], "cleared": ["recommendations"],
                                                     "done": []}))
    assert publish_cli(out, "new") == 0
    assert day_files(out) == {f"recommendations/dt={DATE}/a.parquet": "new:a.parquet",
                              f"recommendations/dt={DATE}/b.parquet": "new:b.parquet"}


@pytest.mark.parametrize("case, message", [
    ("no staging", "run new: nothing staged at"),
    ("no counts", "is not complete (no _counts.json: the pipeline has not finished, or failed)"),
    ("other date", "run new staged 2026-11-27, not --date 2026-11-28"),
])
def test_publish_refuses_a_run_without_complete_staging(tmp_path, capsys, case, message):
    out = tmp_path / "out"
    stage_run(out, "old", {"recommendations": ["o.parquet"]})
    assert publish_cli(out, "old") == 0
    if case != "no staging":
        stage_run(out, "new", {"recommendations": ["n.parquet"]}, complete=case != "no counts",
                  date="2026-11-27" if case == "other date" else DATE)
    before = day_files(out)
    capsys.readouterr()
    assert publish_cli(out, "new") == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert day_files(out) == before and publish.published_run(str(out), DATE) == "old"


def test_counts_as_data_match_the_reading_counters_by_hand():
    accepted = pd.DataFrame({"_source_file": ["a.csv", "a.csv", "b.csv"], "x": [1, 2, 3]})
    rejected = pd.DataFrame({"table": ["events"], "source_file": ["b.csv"]})
    total = add_counts(file_counts(accepted, "events", "accepted", "_source_file"),
                       file_counts(rejected, "events", "rejected", "source_file"))
    assert total == {"events.accepted": 3, "events.rejected": 1, "events.read": 4,
                     "file|events|accepted|a.csv": 2, "file|events|read|a.csv": 2,
                     "file|events|accepted|b.csv": 1, "file|events|rejected|b.csv": 1, "file|events|read|b.csv": 2}
    late = pd.DataFrame({"table": ["listeners", "listeners", "events"], "source_file": ["l.csv", "l.csv", "b.csv"]})
    assert late_rejection_counts(late) == {"listeners.duplicates_rejected": 2, "file|listeners|late_rejected|l.csv": 2,
                                           "events.item_type_mismatch_rejected": 1,
                                           "file|events|late_rejected|b.csv": 1}
    assert late_rejection_counts(late.iloc[:0]) == {}


def test_daily_no_publish_then_publish_end_to_end(tmp_path, capsys):
    data, out = tmp_path / "data", tmp_path / "out"
    assert main(["generate", "--listeners", "60", "--days", "7", "--seed", "3", "--end", DATE,
                 "--output", str(data)]) == 0
    assert main(["daily", "--date", DATE, "--input", str(data), "--output", str(out), "--run-id", "r1",
                 "--no-publish"]) == 0
    assert "publish it with: home-recs publish" in capsys.readouterr().out
    assert publish.published_run(str(out), DATE) is None and not (out / "recommendations").exists()
    stage = out / "_staging" / "r1"
    graph = json.loads((stage / COUNTS_FILE).read_text())["counts"]
    beam_counters = json.loads((stage / "_beam_counters.json").read_text())
    # the graph counts what Beam's counters count, the same values (cpu times are measured twice)
    assert {k: v for k, v in graph.items() if not k.startswith("cpu_ms.")} == {
        k: v for k, v in beam_counters.items() if k in graph and not k.startswith("cpu_ms.")}
    assert {"events.read", "shelf.shortcuts.rows", "listeners.served"} <= set(graph)
    assert publish_cli(out, "r1") == 0
    assert "home-recs publish 2026-11-28: run r1" in capsys.readouterr().out
    manifest = json.loads((out / "_manifests" / f"dt={DATE}" / "manifest.json").read_text())
    events = pd.read_parquet(data / "events.parquet")
    recs = pd.read_parquet(out / "recommendations" / f"dt={DATE}")
    assert manifest["inputs"]["events"]["read"] == len(events)
    assert manifest["run_id"] == "r1" and manifest["listeners"]["served"] == 60
    assert sum(s["rows"] for s in manifest["shelves"].values()) == len(recs)
    assert publish.published_run(str(out), DATE) == "r1" and not (out / "_staging").exists()
    capsys.readouterr()
    # a run id names one staging folder: reusing it is refused before anything is read or written
    assert main(["daily", "--date", DATE, "--input", str(data), "--output", str(out), "--run-id", "r1"]) == 2
    assert "--run-id r1 was already used" in capsys.readouterr().err
