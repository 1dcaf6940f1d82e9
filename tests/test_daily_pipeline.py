"""The daily Beam job end to end: the synthetic dataset of conftest.py (always; its one daily run
is shared with tests/test_skew.py), the real 30Music sample (an extra: skips without
../shared/data), a file of broken rows, and a TestPipeline check of the reading transform. Kept
few: each pipeline costs seconds."""
from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pandas as pd
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from jobs.cli import main
from tests.conftest import EXTRA_EVENTS_REASONS
from transforms.io import contract
from transforms.io.beam_io import ReadTable
from transforms.config.config import load_config
from transforms.features.feature_spec import feature_names

DATE = "2015-01-01"
CONFIG = load_config()
SHELVES = CONFIG["shelves"]
MODEL_SHELVES = [s for s, c in SHELVES.items() if c["kind"] == "model"]


# ---------------------------------------------------------------------------------------------
# the synthetic dataset (conftest.py): runs in CI whether or not ../shared/data exists


def test_synthetic_manifest_reconciles_every_input_row(synthetic_data, synthetic_daily):
    frames, day = synthetic_data.frames, synthetic_data.as_of
    manifest, out = synthetic_daily.manifest, synthetic_daily.out
    n_events = len(frames["events"])
    per_file = {(t, Path(f["path"]).name): (f["read"], f["accepted"], f["rejected"], f["reconciles"])
                for t, c in manifest["inputs"].items() for f in c["files"]}
    # the generated tables are clean; the extra CSV holds 1 good and 4 bad rows (conftest.py)
    assert per_file == {("events", "part-00000.parquet"): (n_events, n_events, 0, True),
                        ("events", "part-00001.csv"): (5, 1, 4, True),
                        ("items", "items.parquet"): (len(frames["items"]), len(frames["items"]), 0, True),
                        ("listeners", "listeners.parquet"): (200, 200, 0, True),
                        ("curation", "curation.parquet"): (len(frames["curation"]), len(frames["curation"]), 0, True)}
    ev = manifest["inputs"]["events"]
    assert (ev["read"], ev["accepted"], ev["rejected"], ev["reconciles"]) == (n_events + 5, n_events + 1, 4, True)
    rejected = pd.read_parquet(out / "rejected" / f"dt={day}")
    got = sorted(zip(rejected["source_file"].map(lambda f: Path(f).name), rejected["row_number"], rejected["reason"]))
    assert got == [("part-00001.csv", row, why) for row, why in EXTRA_EVENTS_REASONS.items()]
    recs = synthetic_daily.recs
    assert {s: c["rows"] for s, c in manifest["shelves"].items()} == recs["shelf"].value_counts().to_dict()
    for shelf in MODEL_SHELVES:
        served = pd.read_parquet(out / "served_features" / f"dt={day}" / f"shelf={shelf}")
        counts = manifest["shelves"][shelf]
        assert counts["candidate_rows"] == len(served) > counts["rows"]
        assert counts["listeners_scored"] == served["listener_id"].nunique()
        assert counts["features_per_row"] == len(feature_names(shelf))
    assert (out / "_manifests" / f"dt={day}" / "_SUCCESS").read_text() == manifest["run_id"]
    assert set(recs["run_id"]) == {manifest["run_id"]} and not (out / "_staging").exists()


def test_synthetic_each_model_shelf_reaches_its_audience(synthetic_data, synthetic_daily):
    frames, recs = synthetic_data.frames, synthetic_daily.recs
    as_of = pd.Timestamp(synthetic_data.as_of, tz="UTC")
    listeners = frames["listeners"]
    registered = listeners[listeners["registered_at"] < as_of]
    tenure = as_of - registered["registered_at"]
    new = set(registered.loc[tenure < pd.Timedelta(days=CONFIG["listeners"]["new_listener_days"]), "listener_id"])
    ev = frames["events"]
    window = pd.Timedelta(days=SHELVES["shortcuts"]["active_within_days"])
    # + the extra CSV's one accepted play, two days before as_of
    active = set(ev.loc[(ev["ts"] < as_of) & (ev["ts"] >= as_of - window), "listener_id"]) | {
        synthetic_data.extra_listener}
    expected = {"shortcuts": active & set(registered["listener_id"]), "podcasts": set(registered["listener_id"]),
                "playlists": new}
    assert set(expected) == set(MODEL_SHELVES)   # a new model shelf needs its audience here
    for shelf in MODEL_SHELVES:
        rows = recs[recs["shelf"] == shelf]
        assert set(rows["listener_id"]) == expected[shelf], shelf
        assert set(rows["item_type"]) <= set(SHELVES[shelf]["item_types"]), shelf
        # positions 1..n per listener, n at most the shelf's size
        n = rows.groupby("listener_id")["position"].agg(["min", "max", "count"])
        assert (n["min"] == 1).all() and (n["max"] == n["count"]).all() and n["count"].max() <= SHELVES[shelf]["size"]
        # no --models: the heuristic ranks (curation rows keep their slots on discovery shelves)
        assert set(rows["source"]) == ({"heuristic"} if SHELVES[shelf].get("familiar") else {"heuristic", "editorial"})
        assert rows["model_version"].isna().all()
    # the audiences really differ: 200 listeners, some registered after as_of, a few new, some lapsed
    assert 0 < len(new) < len(active) < len(registered) < len(listeners)


def test_synthetic_shortcuts_are_familiar_and_discovery_shelves_skip_what_was_played(synthetic_data, synthetic_daily):
    frames, recs = synthetic_data.frames, synthetic_daily.recs
    as_of = pd.Timestamp(synthetic_data.as_of, tz="UTC")
    ev = frames["events"]
    before = ev[ev["ts"] < as_of].merge(frames["items"][["item_id", "parent_id", "creator_id"]], on="item_id",
                                        how="left")
    # every entity level of a play: the item, the context it was played from, its parent, its creator
    levels = pd.concat([before[["listener_id", c]].set_axis(["listener_id", "entity"], axis=1)
                        for c in ("item_id", "context_id", "parent_id", "creator_id")]).dropna()
    played = set(zip(levels["listener_id"], levels["entity"]))
    ranked = recs[recs["source"] == "heuristic"]   # curated rows keep their slots whatever was played
    shelf_pairs = {s: set(zip(r["listener_id"], r["item_id"])) for s, r in ranked.groupby("shelf", observed=True)}
    assert shelf_pairs["shortcuts"] <= played and len(shelf_pairs["shortcuts"]) > 500
    # a show heard through an episode, a playlist played from: not "something else" or "you might like"
    assert len(shelf_pairs["podcasts"]) > 500 and not shelf_pairs["podcasts"] & played
    assert len(shelf_pairs["playlists"]) > 50 and not shelf_pairs["playlists"] & played


# ---------------------------------------------------------------------------------------------
# extra: the real 30Music sample (skips without ../shared/data)


@pytest.fixture(scope="module")
def m30(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("m30")
    data, out = root / "data", root / "out"
    assert main(["import", "30music", "--source", str(shared_data / "30music-sessions-sample"),
                 "--output", str(data)]) == 0
    assert main(["daily", "--date", DATE, "--input", str(data), "--output", str(out), "--runner", "DirectRunner"]) == 0
    events = pd.read_parquet(data / "events.parquet")
    listeners = pd.read_parquet(data / "listeners.parquet")
    recs = pd.read_parquet(out / "recommendations" / f"dt={DATE}")
    manifest = json.loads((out / "_manifests" / f"dt={DATE}" / "manifest.json").read_text())
    return events, listeners, recs, manifest, out


def test_30music_every_active_listener_gets_shortcuts_of_their_own_items(m30):
    events, _, recs, _, _ = m30
    before = events[events["ts"] < pd.Timestamp(DATE, tz="UTC")]
    shortcuts = recs[recs["shelf"] == "shortcuts"]
    # active: a play in the 28 days before as_of (shelf key active_within_days); lapsed listeners get none
    recent = before[before["ts"] >= pd.Timestamp(DATE, tz="UTC") - pd.Timedelta(days=28)]
    assert set(shortcuts["listener_id"]) == set(recent["listener_id"]) != set(before["listener_id"])
    played = set(zip(before["listener_id"], before["item_id"]))
    assert all(pair in played for pair in zip(shortcuts["listener_id"], shortcuts["item_id"]))
    assert shortcuts.groupby("listener_id")["position"].max().max() <= 6
    # no --models: the heuristic is the intended ranking, not a fallback
    assert (shortcuts["source"] == "heuristic").all() and shortcuts["model_version"].isna().all()


def test_30music_new_listeners_get_the_cold_start_shelf(m30):
    _, listeners, recs, _, _ = m30
    as_of = pd.Timestamp(DATE, tz="UTC")
    new = listeners[(listeners["registered_at"] < as_of)
                    & (listeners["registered_at"] >= as_of - pd.Timedelta(days=14))]
    playlists = recs[recs["shelf"] == "playlists"]
    assert len(new) > 100
    assert set(playlists["listener_id"]) == set(new["listener_id"])
    assert set(playlists["item_type"]) == {"track"}  # 30Music has no playlists: the fallback item type
    # discovery shelf: nothing the listener already played
    before = m30[0][m30[0]["ts"] < as_of]
    played = set(zip(before["listener_id"], before["item_id"]))
    assert not any(pair in played for pair in zip(playlists["listener_id"], playlists["item_id"]))


def test_30music_manifest_reconciles_with_the_input(m30):
    events, listeners, recs, manifest, out = m30
    ev = manifest["inputs"]["events"]
    assert ev["read"] == len(events) == 343_183
    assert ev["read"] == ev["accepted"] + ev["rejected"] and ev["reconciles"]
    assert manifest["inputs"]["listeners"]["read"] == len(listeners) == 14_262
    for shelf, counts in manifest["shelves"].items():
        assert counts["rows"] == int((recs["shelf"] == shelf).sum())
    assert (out / "_manifests" / f"dt={DATE}" / "_SUCCESS").read_text() == manifest["run_id"]


BROKEN_EVENTS = (
    "listener_id,item_id,item_type,ts,ms_played,context_id\n"
    "a,t1,track,2024-12-30T10:00:00Z,180000,\n"           # 1 ok
    ",t1,track,2024-12-30T10:00:00Z,1,\n"                 # 2 empty id
    "a,t1,track,yesterday,1,\n"                           # 3 bad timestamp
    "a,t1,track,2024-12-30T10:00:00Z,-5,\n"               # 4 negative ms
    "a,t1,vinyl,2024-12-30T10:00:00Z,1,\n"                # 5 unknown item type
    "a,t1,track,2024-12-30T10:00:00Z,lots,\n"             # 6 wrong column type
    "listener_id,item_id,item_type,ts,ms_played,context_id\n"  # 7 duplicated header line
    "a,t1,track,2099-01-01T00:00:00Z,1,\n"                # 8 future timestamp
    "a\x00b,t1,track,2024-12-30T10:00:00Z,1,\n"           # 9 NUL byte
    "a,t1,track\n"                                        # 10 too few fields
    "a,t1,track,2024-12-30T10:00:00Z,1,,extra\n"          # 11 too many fields
    "   ,t1,track,2024-12-30T10:00:00Z,1,\n"              # 12 whitespace-only id
    "a,t1,track,2024-12-30T10:00:00Z,1.5,\n"              # 13 fractional milliseconds
    "a,t1,,2024-12-30T10:00:00Z,1,\n"                     # 14 missing item type
    "b,t2,track,1735500000,90000,pl\n"                    # 15 ok (epoch seconds)
    "a,t1,album,2024-12-30T11:00:00Z,1,\n"                # 16 t1 is a track in the catalog
    "b,zz,episode,2024-12-30T12:00:00Z,5,\n"              # 17 ok: zz is not in the catalog, first seen
    "a,zz,show,2024-12-30T13:00:00Z,5,\n"                 # 18 zz was first seen as an episode
    "a,t1,track,0001-01-01T00:00:00Z,1,\n"                # 19 an instant pandas cannot hold
    "a,t1,track,2024-12-30T10:00:00Z,99999999999999999999,\n"  # 20 beyond int64
)
EXPECTED_REASONS = {2: "empty_id", 3: "bad_timestamp", 4: "negative_value", 5: "unknown_item_type",
                    6: "bad_number", 7: "malformed_row", 8: "future_timestamp", 9: "control_chars",
                    10: "malformed_row", 11: "malformed_row", 12: "empty_id", 13: "bad_number", 14: "missing_value",
                    16: "item_type_mismatch", 18: "item_type_mismatch", 19: "bad_timestamp", 20: "bad_number"}


@pytest.fixture()
def broken(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "events.csv").write_text(BROKEN_EVENTS)
    (data / "items.csv").write_text("item_id,item_type,creator_id,parent_id,genres,duration_ms\n"
                                    "t1,track,x,al,rock,200000\nt2,track,y,,pop,100000\npl,playlist,ed,,pop,\n"
                                    "al,album,x,,rock,\nt1,track,dup,,,\n")
    (data / "listeners.jsonl").write_text('{"listener_id": "a", "registered_at": "2024-01-01", "country": "SE"}\n'
                                          '{"listener_id": "b", "registered_at": "2024-12-28", "country": "SE",'
                                          ' "onboarding_genres": ["pop"]}\n'
                                          'oops\n{"listener_id": "a", "registered_at": "2020-01-01"}\n')
    return data


def test_broken_rows_are_rejected_with_their_reasons_and_reruns_replace(broken, tmp_path):
    out = tmp_path / "out"
    # one good curated row; then a shelf the config lacks, an item the catalog lacks, a track on the
    # shows-only podcasts shelf, and a 0-based position
    (broken / "curation.csv").write_text("shelf,item_id,position\neditors_picks,t2,1\nno_such_shelf,t1,1\n"
                                         "podcasts,zz,2\npodcasts,t1,1\neditors_picks,pl,0\n")
    for run_id in ("first", "second"):
        assert main(["daily", "--date", "2025-01-01", "--input", str(broken), "--output", str(out),
                     "--run-id", run_id]) == 0
    rejected = pd.read_parquet(out / "rejected" / "dt=2025-01-01")
    ev = rejected[rejected["table"] == "events"]
    assert dict(zip(ev["row_number"], ev["reason"])) == EXPECTED_REASONS
    assert json.loads(ev.set_index("row_number").loc[4, "raw"])["ms_played"] == "-5"
    others = sorted(zip(rejected.loc[rejected["table"] != "events", "table"],
                        rejected.loc[rejected["table"] != "events", "reason"]))
    assert others == [("curation", "bad_number"), ("curation", "item_type_not_on_shelf"), ("curation", "unknown_item"),
                      ("curation", "unknown_shelf"), ("items", "duplicate_key"), ("listeners", "duplicate_key"),
                      ("listeners", "malformed_row")]
    cur = rejected[rejected["table"] == "curation"].set_index("row_number")
    assert dict(zip(cur.index, cur["reason"])) == {2: "unknown_shelf", 3: "unknown_item", 4: "item_type_not_on_shelf",
                                                   5: "bad_number"}
    assert json.loads(cur.loc[4, "raw"])["catalog_item_type"] == "track"
    manifest = json.loads((out / "_manifests" / "dt=2025-01-01" / "manifest.json").read_text())
    assert manifest["run_id"] == "second"
    e = manifest["inputs"]["events"]
    assert (e["read"], e["accepted"], e["rejected"]) == (20, 3, 17)
    mismatch = json.loads(ev.set_index("row_number").loc[18, "raw"])
    assert (mismatch["item_type"], mismatch["expected_item_type"]) == ("show", "episode")
    for table in ("items", "listeners"):
        t = manifest["inputs"][table]
        assert t["read"] == t["accepted"] + t["rejected"] and t["rejected"] == (1 if table == "items" else 2)
    per_file = {(t, Path(f["path"]).name): (f["read"], f["accepted"], f["rejected"], f["reconciles"])
                for t, c in manifest["inputs"].items() for f in c["files"]}
    assert per_file == {("events", "events.csv"): (20, 3, 17, True), ("items", "items.csv"): (5, 4, 1, True),
                        ("listeners", "listeners.jsonl"): (4, 2, 2, True), ("curation", "curation.csv"): (5, 1, 4, True)}
    c = manifest["inputs"]["curation"]
    assert (c["read"], c["accepted"], c["rejected"]) == (5, 1, 4)
    recs = pd.read_parquet(out / "recommendations" / "dt=2025-01-01")
    assert set(recs["run_id"]) == {"second"}  # the re-run replaced the day, no rows of "first" remain
    assert recs[recs["shelf"] == "editors_picks"][["listener_id", "item_id", "position"]].values.tolist() == [
        ["a", "t2", 1], ["b", "t2", 1]]
    # shortcuts is familiar: every entity level of a play counts. a played t1 (album al, creator x);
    # b played t2 (creator y) from playlist pl. Equal scores, ties by item id
    assert recs[recs["shelf"] == "shortcuts"].sort_values(["listener_id", "position"])[
        ["listener_id", "item_id", "item_type"]].values.tolist() == [
        ["a", "al", "album"], ["a", "x", "artist"], ["b", "pl", "playlist"], ["b", "y", "artist"]]
    assert not (out / "_staging").exists()


def test_missing_column_stops_the_job_naming_file_and_column(broken, tmp_path, capsys):
    (broken / "listeners.jsonl").unlink()
    (broken / "listeners.csv").write_text("listener_id,country\na,SE\n")
    assert main(["daily", "--date", "2025-01-01", "--input", str(broken), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "listeners.csv" in err and "'registered_at'" in err


def test_an_input_folder_that_does_not_exist_is_named(tmp_path, capsys):
    missing = tmp_path / "no-such-folder"
    assert main(["daily", "--date", "2025-01-01", "--input", str(missing), "--output", str(tmp_path / "out")]) == 2
    assert f"--input {missing}: folder does not exist" in capsys.readouterr().err


def test_an_output_path_that_is_a_file_stops_the_job_before_reading(broken, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    for job in (["daily", "--date", "2025-01-01"], ["build-examples", "--as-of", "2025-01-01", "--horizon", "1d"]):
        assert main(job + ["--input", str(broken), "--output", str(taken)]) == 2
        assert f"--output {taken}: exists and is not a folder" in capsys.readouterr().err
    assert taken.read_text() == "not a folder"


def test_read_table_transform_with_assert_that(broken):
    now = pd.Timestamp("2026-01-01", tz="UTC")
    with beam.Pipeline(runner=FnApiRunner()) as p:
        result = p | ReadTable(contract.EVENTS, [str(broken / "events.csv")], now, chunk_rows=4)
        accepted = result.main | "Ids" >> beam.FlatMap(lambda f: f["listener_id"].tolist())
        reasons = result.rejected | "Reasons" >> beam.FlatMap(
            lambda f: list(zip(f["row_number"].tolist(), f["reason"].tolist())))
        # rows 1, 15-18 pass the row checks; item types are checked when events join their shard
        assert_that(accepted, equal_to(["a", "b", "a", "b", "a"]), label="accepted")
        assert_that(reasons, equal_to([(row, why) for row, why in EXPECTED_REASONS.items()
                                       if why != "item_type_mismatch"]), label="rejected")


def test_a_misspelt_flag_a_bad_runner_and_a_table_given_twice_stop_the_job(broken, tmp_path, capsys):
    day = ["daily", "--date", "2025-01-01", "--input", str(broken), "--output", str(tmp_path / "o")]
    # Beam only warns about arguments it cannot parse: the day would run on the default config
    assert main(day + ["--cofnig", "mine.yaml"]) == 2
    assert "unknown argument(s) --cofnig mine.yaml" in capsys.readouterr().err
    assert main(day + ["--runner", "Bogus"]) == 2
    assert "--runner Bogus: Unexpected pipeline runner: Bogus" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()   # refused before the job touched its output
    (broken / "items").mkdir()
    (broken / "items" / "part-0.csv").write_text((broken / "items.csv").read_text())
    assert main(day) == 2
    assert "table 'items' is given twice" in capsys.readouterr().err


def test_a_missing_neighbours_table_stops_the_day_unless_missing_is_ok(broken, tmp_path, capsys):
    day = ["daily", "--date", "2025-01-01", "--input", str(broken), "--neighbours", str(tmp_path / "nb" / "dt=2025-01-01")]
    assert main(day + ["--output", str(tmp_path / "o1")]) == 2
    assert "no neighbours table" in capsys.readouterr().err
    # the Spark job failed: the DAG still serves the day, without the table, and the manifest says why
    assert main(day + ["--output", str(tmp_path / "o2"), "--neighbours-missing-ok"]) == 0
    manifest = json.loads((tmp_path / "o2" / "_manifests" / "dt=2025-01-01" / "manifest.json").read_text())
    assert manifest["neighbours"] is None
    assert manifest["neighbours_skipped"]["path"] == str(tmp_path / "nb" / "dt=2025-01-01")
    assert "no neighbours table" in manifest["neighbours_skipped"]["reason"]
    assert "NOT USED" in capsys.readouterr().out
    # a neighbours flag without the table does nothing: refused, as a forgotten --neighbours
    assert main(["daily", "--date", "2025-01-01", "--input", str(broken), "--output", str(tmp_path / "o3"),
                 "--neighbours-as-of", "2025-01-01"]) == 2
    assert "--neighbours-as-of is given without --neighbours" in capsys.readouterr().err


def test_an_unusable_day_is_not_published_and_the_good_one_stays(broken, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["daily", "--date", "2025-01-01", "--input", str(broken), "--output", str(out), "--run-id", "good"]) == 0
    success = out / "_manifests" / "dt=2025-01-01" / "_SUCCESS"
    # a date before every play: no shelf has a row
    capsys.readouterr()
    assert main(["daily", "--date", "1990-01-01", "--input", str(broken), "--output", str(out)]) == 2
    assert "no shelf has a single row for 1990-01-01" in capsys.readouterr().err
    assert not (out / "_manifests" / "dt=1990-01-01").exists()
    # every event's timestamp unparseable: 2 rows read, 0 accepted
    (broken / "events.csv").write_text("listener_id,item_id,item_type,ts,ms_played\n"
                                       "a,t1,track,yesterday,1000\nb,t2,track,soon,2000\n")
    capsys.readouterr()
    assert main(["daily", "--date", "2025-01-01", "--input", str(broken), "--output", str(out), "--run-id", "bad"]) == 2
    err = capsys.readouterr().err
    assert "events: 0 of 2 rows accepted" in err and "not published; the day is published by run good" in err
    assert success.read_text() == "good" and "Traceback" not in err
