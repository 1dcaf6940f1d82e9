"""Point-in-time neighbours table (issue 14, point 1): the table's as_of comes from the
item-neighbours summary.json, and a table built after the first date it would serve (an example
date, the served date) is refused before any input is read. Hand-written tables; no Spark."""
from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.cli import main
from transforms.errors import InputError
from transforms.io.neighbours_table import check_point_in_time, table_as_of

DAY = "2025-01-10"   # the example date / served date


def neighbours_table(root, pairs, as_of=None, run_id="run-1", success=True):
    """An item-neighbours output folder as the job writes it: neighbours/part-0.parquet (cooccurrence
    rows of ``pairs``, both directions), summary.json with ``as_of`` (none when None), _SUCCESS."""
    (root / "neighbours").mkdir(parents=True)
    rows = [(a, b) for a, b in pairs] + [(b, a) for a, b in pairs]
    pq.write_table(pa.table({"item_id": [a for a, _ in rows], "neighbour_id": [b for _, b in rows],
                             "score": [0.5] * len(rows), "method": ["cooccurrence"] * len(rows)}),
                   root / "neighbours" / "part-0.parquet")
    (root / "neighbours" / "_SUCCESS").write_text("")   # Spark's own, inside the table folder
    if as_of is not None:
        (root / "summary.json").write_text(json.dumps({"job": "item-neighbours", "as_of": as_of, "run_id": run_id}))
        if success:
            (root / "_SUCCESS").write_text(run_id)
    return root


# ---- the as_of lookup -----------------------------------------------------------------------------

def test_as_of_is_found_from_the_output_folder_its_neighbours_folder_or_a_part_file(tmp_path):
    out = neighbours_table(tmp_path / "nb", [("t1", "t3")], as_of=DAY)
    summary = str(out / "summary.json")
    for given in (out, out / "neighbours", str(out / "neighbours") + "/", out / "neighbours" / "part-0.parquet"):
        assert table_as_of(str(given)) == (DAY, summary)
    # no summary: unknown, not an error here (check_point_in_time decides)
    bare = neighbours_table(tmp_path / "bare", [("t1", "t3")])
    assert table_as_of(str(bare)) == (None, None)
    assert table_as_of(str(bare / "neighbours" / "part-0.parquet")) == (None, None)


def test_a_summary_that_cannot_be_trusted_is_refused_naming_the_file(tmp_path):
    running = neighbours_table(tmp_path / "running", [("t1", "t3")], as_of=DAY, success=False)
    with pytest.raises(InputError, match=r"running: has summary\.json but no _SUCCESS: .* still writing"):
        table_as_of(str(running))
    other = neighbours_table(tmp_path / "other", [("t1", "t3")], as_of=DAY)
    (other / "_SUCCESS").write_text("run-2")
    with pytest.raises(InputError, match=r"_SUCCESS: run 'run-2' does not match run_id 'run-1'"):
        table_as_of(str(other / "neighbours"))
    bad_date = neighbours_table(tmp_path / "bad_date", [("t1", "t3")], as_of="10/01/2025")
    with pytest.raises(InputError, match=r"bad_date/summary\.json: 'as_of' must be a date YYYY-MM-DD, got '10/01/2025'"):
        table_as_of(str(bad_date))
    examples = tmp_path / "ex"   # build-examples also writes a summary.json with as_of (a list)
    examples.mkdir()
    (examples / "summary.json").write_text(json.dumps({"as_of": [DAY]}))
    pq.write_table(pa.table({"item_id": ["t1"]}), examples / "nb.parquet")
    with pytest.raises(InputError, match=r"ex/summary\.json: not a summary of `home-recs item-neighbours` \(job: None\)"):
        table_as_of(str(examples / "nb.parquet"))
    (examples / "summary.json").write_text("{not json")
    with pytest.raises(InputError, match=r"ex/summary\.json: not valid JSON"):
        table_as_of(str(examples))


def test_check_point_in_time_allows_at_or_before_and_refuses_after(tmp_path):
    table = str(neighbours_table(tmp_path / "nb", [("t1", "t3")], as_of=DAY))
    assert check_point_in_time(table, DAY) == DAY                 # same day: plays before 00:00 of DAY only
    assert check_point_in_time(table, "2025-02-01") == DAY        # older table: stale, not leaking
    with pytest.raises(InputError) as err:
        check_point_in_time(table, "2025-01-09")
    assert str(err.value) == (
        f"--neighbours {table}: table built at as_of 2025-01-10, after the earliest example date 2025-01-09: "
        "its co-plays include the label days of the examples before 2025-01-10 (leakage); build the table at or "
        "before the window's first as_of (`home-recs item-neighbours --as-of 2025-01-09`)")
    with pytest.raises(InputError, match=r"after the served date 2025-01-09: it holds plays from days after it; "
                                         r"use a table built at or before 2025-01-09"):
        check_point_in_time(table, "2025-01-09", "serving")
    with pytest.raises(InputError, match=r"--neighbours-as-of 2025-01-09 contradicts as_of 2025-01-10 in .*summary\.json"):
        check_point_in_time(table, DAY, declared_as_of="2025-01-09")


def test_a_table_without_summary_needs_its_as_of_declared(tmp_path):
    bare = str(neighbours_table(tmp_path / "bare", [("t1", "t3")]))
    with pytest.raises(InputError, match=r"--neighbours .*bare: no summary\.json of `home-recs item-neighbours` in "
                                         r".*bare, so the table's as_of is unknown .*pass --neighbours-as-of"):
        check_point_in_time(bare, DAY)
    assert check_point_in_time(bare, DAY, declared_as_of="2025-01-03") == "2025-01-03"
    with pytest.raises(InputError, match=r"after the earliest example date 2025-01-10"):
        check_point_in_time(bare, DAY, declared_as_of="2025-01-11")
    with pytest.raises(InputError, match=r"--neighbours-as-of must be a date YYYY-MM-DD, got 'soon'"):
        check_point_in_time(bare, DAY, declared_as_of="soon")
    with pytest.raises(InputError, match=r"none: no neighbours table"):   # named as missing, not as undated
        check_point_in_time(str(tmp_path / "none"), DAY, declared_as_of=DAY)


# ---- the jobs ------------------------------------------------------------------------------------

@pytest.fixture()
def colisten_data(tmp_path):
    """Tracks t1..t3 (shortcuts falls back to tracks). Before DAY: u1 plays t1, u2 plays t1 and t3.
    In the label window [DAY, DAY + 1d): u1 plays t2, u2 plays t1 and t2, so the co-play t1-t2
    exists ONLY in the label window. A table that counted it would offer u1 t2 (a neighbour of
    u1's t1) as a colisten candidate labelled 1: the label leaking into the candidates."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "items.csv").write_text("item_id,item_type,creator_id,parent_id\n"
                                    "t1,track,c1,p1\nt2,track,c2,p2\nt3,track,c3,p3\n")
    (data / "listeners.csv").write_text("listener_id,registered_at,country\n"
                                        "u1,2024-06-01,SE\nu2,2024-06-01,SE\n")
    (data / "events.csv").write_text(
        "listener_id,item_id,item_type,ts,ms_played\n"
        "u1,t1,track,2025-01-05T10:00:00Z,200000\nu1,t1,track,2025-01-07T10:00:00Z,200000\n"
        "u2,t1,track,2025-01-06T10:00:00Z,200000\nu2,t3,track,2025-01-06T11:00:00Z,200000\n"
        "u1,t2,track,2025-01-10T12:00:00Z,200000\n"
        "u2,t1,track,2025-01-10T09:00:00Z,200000\nu2,t2,track,2025-01-10T10:00:00Z,200000\n")
    return data


def examples_argv(data, out, table):
    # shortcuts is familiar (history only) by default: these tests need a shelf fed by the table, so
    # they give it the co-listening source back (one entity per play; tracks here either way)
    config = out.parent / "colisten-shortcuts.yaml"
    config.write_text("shelves:\n  shortcuts:\n    familiar: false\n    sources: {history: 100, colisten: 60}\n")
    return ["build-examples", "--as-of", DAY, "--horizon", "1d", "--input", str(data), "--output", str(out),
            "--shelf", "shortcuts", "--neighbours", str(table), "--config", str(config)]


def test_build_examples_refuses_a_table_built_after_the_example_date(colisten_data, tmp_path, capsys):
    leaky = neighbours_table(tmp_path / "nb-0111", [("t1", "t2"), ("t1", "t3")], as_of="2025-01-11")
    out = tmp_path / "ex"
    assert main(examples_argv(colisten_data, out, leaky)) == 2
    err = capsys.readouterr().err
    assert err == (f"home-recs build-examples: error: --neighbours {leaky}: table built at as_of 2025-01-11, after "
                   f"the earliest example date 2025-01-10: its co-plays include the label days of the examples "
                   f"before 2025-01-11 (leakage); build the table at or before the window's first as_of "
                   f"(`home-recs item-neighbours --as-of 2025-01-10`)\n")
    assert not out.exists()   # refused before the output or any input was touched


def test_build_examples_runs_with_a_table_at_the_example_date(colisten_data, tmp_path):
    table = neighbours_table(tmp_path / "nb-0110", [("t1", "t3")], as_of=DAY)   # t1-t3: co-played before DAY
    out = tmp_path / "ex"
    assert main(examples_argv(colisten_data, out, table / "neighbours")) == 0
    ex = pd.read_parquet(out / "shelf=shortcuts")
    got = sorted(zip(ex["listener_id"], ex["item_id"], ex["candidate_source"], ex["label"].astype(int)))
    # t3 reaches u1 through the table (colisten); t2, played together with t1 only in the label
    # window, is no candidate of u1's; u2's replay of t1 is the one positive
    assert [(lid, item, label) for lid, item, _, label in got] == [
        ("u1", "t1", 0), ("u1", "t3", 0), ("u2", "t1", 1), ("u2", "t3", 0)]
    assert dict(((lid, item), src) for lid, item, src, _ in got)[("u1", "t3")] == "colisten"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["neighbours"] == {"path": str(table / "neighbours"), "as_of": DAY}


def test_daily_and_retrain_refuse_a_later_table_before_reading_input(tmp_path, capsys):
    table = neighbours_table(tmp_path / "nb", [("t1", "t3")], as_of=DAY)
    missing = tmp_path / "no-input"   # the table is checked first: the missing input is never reached
    assert main(["daily", "--date", "2025-01-09", "--input", str(missing), "--output", str(tmp_path / "out"),
                 "--neighbours", str(table)]) == 2
    assert capsys.readouterr().err == (
        f"home-recs daily: error: --neighbours {table}: table built at as_of 2025-01-10, after the served date "
        f"2025-01-09: it holds plays from days after it; use a table built at or before 2025-01-09 "
        f"(`home-recs item-neighbours --as-of 2025-01-09`)\n")
    # retrain: one table for the whole window, so it must predate the first training date (as_of - 28 days)
    assert main(["retrain", "--shelf", "shortcuts", "--as-of", "2025-01-11", "--input", str(missing),
                 "--models", str(tmp_path / "reg"), "--work", str(tmp_path / "work"), "--neighbours", str(table)]) == 2
    assert "after the earliest example date 2024-12-14: " in capsys.readouterr().err


def test_the_fixture_leaks_when_a_false_as_of_is_declared(colisten_data, tmp_path):
    # the check is what stands between the label window and the candidates: the same table without
    # its summary, declared (falsely) at DAY, puts u1's label-window play t2 among u1's candidates
    bare = neighbours_table(tmp_path / "bare", [("t1", "t2"), ("t1", "t3")])
    out = tmp_path / "ex"
    assert main(examples_argv(colisten_data, out, bare) + ["--neighbours-as-of", DAY]) == 0
    ex = pd.read_parquet(out / "shelf=shortcuts").set_index(["listener_id", "item_id"])
    assert (ex.loc[("u1", "t2"), "candidate_source"], int(ex.loc[("u1", "t2"), "label"])) == ("colisten", 1)


def test_retrain_neighbours_missing_ok_trains_without_an_absent_table_only(tmp_path, monkeypatch, capsys):
    # what retrain hands to build-examples, without running Beam: the stub stops the job right there
    import jobs.pipelines.retrain
    seen = []

    def stop(request, beam_args):
        seen.append((request.neighbours, request.neighbours_as_of))
        raise InputError("stub: examples not built")

    monkeypatch.setattr(jobs.pipelines.retrain, "build_examples", stop)
    base = ["retrain", "--shelf", "shortcuts", "--as-of", "2025-01-11", "--input", str(tmp_path / "in"),
            "--models", str(tmp_path / "reg"), "--work", str(tmp_path / "work")]
    absent = tmp_path / "nb" / "dt=2024-12-14"   # the Spark job of that day failed: no folder at all
    assert main(base + ["--neighbours", str(absent), "--neighbours-missing-ok"]) == 2
    assert seen[-1] == (None, None)
    assert "stub: examples not built" in capsys.readouterr().err
    half = neighbours_table(tmp_path / "half", [("t1", "t3")], as_of="2024-12-14", success=False)
    assert main(base + ["--neighbours", str(half), "--neighbours-missing-ok", "--neighbours-as-of", "2024-12-14"]) == 2
    assert seen[-1] == (None, None)   # no _SUCCESS: an incomplete run is skipped, not read
    # a complete table is passed on unchanged (build-examples then checks it point in time)
    table = neighbours_table(tmp_path / "ok", [("t1", "t3")], as_of="2024-12-14")
    assert main(base + ["--neighbours", str(table), "--neighbours-missing-ok"]) == 2
    assert seen[-1] == (str(table), None)
    assert len(seen) == 3
    capsys.readouterr()
    assert main(base + ["--neighbours-missing-ok"]) == 2
    assert capsys.readouterr().err == ("home-recs retrain: error: --neighbours-missing-ok is given without "
                                       "--neighbours: pass the table with --neighbours PATH, or drop the flag\n")
    assert len(seen) == 3
