"""Row validation and chunked reading: each bad row gets exactly one reason, none is lost."""
from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from transforms.io import contract
from transforms.errors import InputError
from transforms.io.read import file_splits, find_table_files, read_chunks
from transforms.io.validate import reject_duplicate_keys, validate_frame

NOW = pd.Timestamp("2020-01-01", tz="UTC")


def test_each_broken_row_gets_its_reason():
    raw = pd.DataFrame({
        "listener_id": ["ok", "", "b", "c", "d", "e", "listener_id", "f", "g\x00", "h", "  "],
        "item_id": ["i1", "i2", "i3", "i4", "i5", "i6", "item_id", "i8", "i9", "i10", "i11"],
        "item_type": ["Track ", "track", "track", "podcast", "track", "track", "item_type", "track", "track", "track",
                      "track"],
        "ts": ["2014-01-01T00:00:00Z", "1400000000", "notadate", "1400000000", "2099-01-01", "1400000000", "ts",
               "1400000000", "1400000000", "", "1400000000"],
        "ms_played": ["100", "5", "5", "5", "5", "-3", "ms_played", "1.5", "1", "", "1"],
    })
    accepted, rejected = validate_frame(raw, contract.EVENTS, now=NOW, source_file="f.csv")
    assert len(accepted) + len(rejected) == len(raw)
    assert accepted.to_dict("records") == [{
        "listener_id": "ok", "item_id": "i1", "item_type": "track", "ts": pd.Timestamp("2014-01-01", tz="UTC"),
        "ms_played": 100, "context_id": None}]
    assert dict(zip(rejected["row_number"], rejected["reason"])) == {
        2: "empty_id", 3: "bad_timestamp", 4: "unknown_item_type", 5: "future_timestamp", 6: "negative_value",
        7: "malformed_row", 8: "bad_number", 9: "control_chars", 10: "bad_timestamp", 11: "empty_id"}
    assert json.loads(rejected.set_index("row_number").loc[6, "raw"])["ms_played"] == "-3"
    assert str(accepted["ts"].dtype) == "datetime64[ns, UTC]" and str(accepted["ms_played"].dtype) == "Int64"


def test_epoch_seconds_and_typed_parquet_values():
    raw = pd.DataFrame({"listener_id": ["a", "b"], "item_id": ["x", "y"], "item_type": ["episode", "show"],
                        "ts": [1_400_000_000, 0], "ms_played": [None, 7]})
    accepted, rejected = validate_frame(raw, contract.EVENTS, now=NOW, source_file="p")
    assert rejected.empty
    assert accepted["ts"].tolist() == [pd.Timestamp(1_400_000_000, unit="s", tz="UTC"), pd.Timestamp(0, tz="UTC")]
    assert accepted["ms_played"].isna().tolist() == [True, False]


def test_curation_range_and_duplicate_keys():
    raw = pd.DataFrame({"shelf": ["p", "p", "p"], "item_id": ["a", "b", "c"], "position": ["1", "2", "0"],
                        "valid_from": ["2020-01-02", None, None], "valid_to": ["2020-01-01", None, None],
                        "market": None})
    acc, rej = validate_frame(raw, contract.CURATION, now=NOW, source_file="c")
    # positions are 1-based, as on the served shelf: 0 is not a position
    assert acc["item_id"].tolist() == ["b"]
    assert rej[["reason", "column"]].values.tolist() == [["bad_date_range", "valid_to"], ["bad_number", "position"]]
    items = pd.DataFrame({"item_id": ["a", "b", "a"], "item_type": ["track"] * 3, "_source_file": "f",
                          "_row_number": [1, 2, 3]})
    kept, dups = reject_duplicate_keys(items, contract.ITEMS)
    assert kept["_row_number"].tolist() == [1, 2]
    assert dups[["row_number", "reason"]].values.tolist() == [[3, "duplicate_key"]]


def test_csv_reader_keeps_malformed_rows(tmp_path):
    path = tmp_path / "events.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("listener_id,item_id,item_type,ts,ms_played\n"
                "a,i,track,1400000000,5\nb,i,track\nc,i,track,1400000000,5,9\nd,i,track,1400000000,5\n")
    chunks = list(read_chunks(str(path), contract.EVENTS))
    ok = pd.concat([c.raw for c in chunks])
    bad = pd.concat([c.parse_rejected for c in chunks])
    assert ok["listener_id"].tolist() == ["a", "d"]
    assert [n for c in chunks for n in c.row_numbers] == [1, 4]
    assert bad["row_number"].tolist() == [2, 3] and set(bad["reason"]) == {"malformed_row"}


def test_jsonl_reader_keeps_bad_lines(tmp_path):
    path = tmp_path / "listeners.jsonl"
    path.write_text('{"listener_id": "a", "registered_at": "2019-01-01"}\nnot json\n[1]\n'
                    '{"listener_id": "b", "registered_at": 1500000000}\n')
    chunks = list(read_chunks(str(path), contract.LISTENERS))
    assert [n for c in chunks for n in c.row_numbers] == [1, 4]
    assert pd.concat([c.parse_rejected for c in chunks])["row_number"].tolist() == [2, 3]


def test_whole_file_problems_name_file_and_column(tmp_path):
    (tmp_path / "events.csv").write_text("listener_id,item_id,ts\nx,y,1\n")
    with pytest.raises(InputError, match=r"events.csv: required column 'item_type'"):
        list(read_chunks(str(tmp_path / "events.csv"), contract.EVENTS))
    with pytest.raises(InputError, match=r"no file for table 'items' under"):
        find_table_files(str(tmp_path), "items")
    assert find_table_files(str(tmp_path), "curation") == []
    (tmp_path / "items.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"items.parquet: cannot be read as parquet"):
        list(read_chunks(str(tmp_path / "items.parquet"), contract.ITEMS))


def test_parquet_row_groups_are_read_apart_with_the_files_row_numbers(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = str(tmp_path / "events.parquet")
    table = pa.table({"listener_id": ["a", "b", "c", "d", "e"], "item_id": ["i"] * 5,
                      "item_type": ["track", "track", "vinyl", "track", "track"],
                      "ts": [1_400_000_000] * 5, "ms_played": [5] * 5})
    pq.write_table(table, path, row_group_size=2)          # row groups: rows 1-2, 3-4, 5
    assert file_splits(path) == [(path, 0), (path, 1), (path, 2)]
    parts = [list(read_chunks(path, contract.EVENTS, row_group=g)) for g in range(3)]
    assert [[n for c in chunks for n in c.row_numbers] for chunks in parts] == [[1, 2], [3, 4], [5]]
    assert [c.raw["listener_id"].tolist() for chunks in parts for c in chunks] == [["a", "b"], ["c", "d"], ["e"]]
    single = str(tmp_path / "one.parquet")
    pq.write_table(table, single)
    assert file_splits(single) == [(single, None)]


def test_accepted_chunks_leave_joined_up_to_emit_rows_and_rejects_at_once(tmp_path):
    import apache_beam as beam
    import pyarrow as pa
    import pyarrow.parquet as pq

    from transforms.io.beam_io import _ReadValidateFn

    path = str(tmp_path / "events.parquet")
    types = ["track", "track", "vinyl", "track", "track", "track", "track"]      # row 3 is bad
    pq.write_table(pa.table({"listener_id": list("abcdefg"), "item_id": ["i"] * 7, "item_type": types,
                             "ts": [1_400_000_000] * 7, "ms_played": [5] * 7}), path)
    now = pd.Timestamp("2026-11-28", tz="UTC")
    out = list(_ReadValidateFn(contract.EVENTS, now, chunk_rows=2, emit_rows=3).process((path, None)))
    # chunks of 2 rows accept 2, 1, 2, 1 rows: joined into 3 + 3; the rejected row leaves with its chunk
    rejected = [o.value for o in out if isinstance(o, beam.pvalue.TaggedOutput)]
    accepted = [o for o in out if not isinstance(o, beam.pvalue.TaggedOutput)]
    assert len(rejected) == 1 and rejected[0]["row_number"].tolist() == [3]
    assert rejected[0]["column"].tolist() == ["item_type"]
    assert [o["listener_id"].tolist() for o in accepted] == [["a", "b", "d"], ["e", "f", "g"]]
    single = list(_ReadValidateFn(contract.EVENTS, now, chunk_rows=2).process((path, None)))
    assert [len(o) for o in single if not isinstance(o, beam.pvalue.TaggedOutput)] == [2, 1, 2, 1]


def _reasons(rejected):
    return sorted(zip(rejected["row_number"], rejected["reason"], rejected["column"]))


def test_instants_outside_the_supported_range_are_bad_timestamps(tmp_path):
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    # a Parquet timestamp[ms] column can hold year 1; pandas nanoseconds cannot
    path = tmp_path / "events.parquet"
    stamps = [dt.datetime(1, 1, 1), dt.datetime(2014, 5, 13), dt.datetime(1899, 12, 31, 23), dt.datetime(1900, 1, 1)]
    pq.write_table(pa.table({"listener_id": list("abcd"), "item_id": ["i"] * 4, "item_type": ["track"] * 4,
                             "ts": pa.array(stamps, type=pa.timestamp("ms", tz="UTC")), "ms_played": [1] * 4}), path)
    chunk = next(read_chunks(str(path), contract.EVENTS))
    accepted, rejected = validate_frame(chunk.raw, contract.EVENTS, now=NOW, source_file=str(path))
    assert _reasons(rejected) == [(1, "bad_timestamp", "ts"), (3, "bad_timestamp", "ts")]
    assert str(accepted["ts"].dtype) == "datetime64[ns, UTC]"
    assert accepted["ts"].tolist() == [pd.Timestamp("2014-05-13", tz="UTC"), pd.Timestamp("1900-01-01", tz="UTC")]
    # text: ISO dates past TS_MAX, and epoch seconds before TS_MIN (-2208988800 is 1900-01-01)
    raw = pd.DataFrame({"item_id": ["x", "y", "z", "w"], "item_type": ["album"] * 4,
                        "release_date": ["2300-01-01", "-2208988801", "-2208988800", "9999-12-31T00:00:00Z"]})
    accepted, rejected = validate_frame(raw, contract.ITEMS, now=NOW, source_file="items.csv")
    assert _reasons(rejected) == [(1, "bad_timestamp", "release_date"), (2, "bad_timestamp", "release_date"),
                                  (4, "bad_timestamp", "release_date")]
    assert accepted["release_date"].tolist() == [pd.Timestamp("1900-01-01", tz="UTC")]


@pytest.mark.parametrize("value,unit,factor", [("1400000000000", "milliseconds", "1,000"),
                                               ("1400000000000000", "microseconds", "1,000,000"),
                                               ("1400000000000000000", "nanoseconds", "1,000,000,000")])
def test_a_column_of_another_epoch_unit_stops_with_file_column_and_unit(tmp_path, value, unit, factor):
    path = tmp_path / "events.csv"
    rows = [f"L{i},I1,track,{value},1000" for i in range(9)] + ["L9,I1,track,1400000000,1000"]
    path.write_text("listener_id,item_id,item_type,ts,ms_played\n" + "\n".join(rows) + "\n")
    chunk = next(read_chunks(str(path), contract.EVENTS))
    with pytest.raises(InputError) as err:     # 9 of 10 numbers are in that unit: almost all
        validate_frame(chunk.raw, contract.EVENTS, now=NOW, source_file=str(path))
    message = str(err.value)
    assert str(path) in message and "'ts'" in message and f"epoch {unit}" in message and factor in message


def test_a_few_huge_epoch_values_are_rejected_alone():
    raw = pd.DataFrame({"listener_id": ["a", "b", "c"], "item_id": ["i"] * 3, "item_type": ["track"] * 3,
                        "ts": [1_400_000_000, 1_400_000_000_000, 1_400_000_001], "ms_played": [1, 2, 3]})
    accepted, rejected = validate_frame(raw, contract.EVENTS, now=NOW, source_file="f")
    assert _reasons(rejected) == [(2, "bad_timestamp", "ts")]
    assert accepted["listener_id"].tolist() == ["a", "c"]


def test_integers_beyond_int64_are_bad_numbers_in_every_numeric_column(tmp_path):
    huge, over, top = "99999999999999999999", "9223372036854775808", "9223372036854775807"
    events = tmp_path / "events.csv"
    events.write_text("listener_id,item_id,item_type,ts,ms_played\n"
                      f"a,i,track,1400000000,{huge}\nb,i,track,1400000000,5\nc,i,track,1400000000,{over}\n"
                      f"d,i,track,1400000000,-{huge}\n")
    chunk = next(read_chunks(str(events), contract.EVENTS))
    accepted, rejected = validate_frame(chunk.raw, contract.EVENTS, now=NOW, source_file=str(events))
    assert _reasons(rejected) == [(1, "bad_number", "ms_played"), (3, "bad_number", "ms_played"),
                                  (4, "bad_number", "ms_played")]
    assert accepted["ms_played"].tolist() == [5] and str(accepted["ms_played"].dtype) == "Int64"
    raw = pd.DataFrame({"listener_id": ["a"], "item_id": ["i"], "item_type": ["track"], "ts": ["1400000000"],
                        "ms_played": [top]})          # the largest int64 itself is kept, exactly
    accepted, rejected = validate_frame(raw, contract.EVENTS, now=NOW, source_file="f")
    assert len(rejected) == 0 and accepted["ms_played"].tolist() == [2 ** 63 - 1]
    # JSON Lines bring Python ints of any size; the other numeric columns of every table
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"item_id": "x", "item_type": "track", "duration_ms": int(huge)}) + "\n"
                     + json.dumps({"item_id": "y", "item_type": "track", "duration_ms": 1000, "explicit": int(over)})
                     + "\n" + json.dumps({"item_id": "z", "item_type": "track", "duration_ms": 1000}) + "\n")
    chunk = next(read_chunks(str(items), contract.ITEMS))
    accepted, rejected = validate_frame(chunk.raw, contract.ITEMS, now=NOW, source_file=str(items))
    assert _reasons(rejected) == [(1, "bad_number", "duration_ms"), (2, "bad_number", "explicit")]
    assert accepted["item_id"].tolist() == ["z"]
    raw = pd.DataFrame({"shelf": ["s", "s"], "item_id": ["x", "y"], "position": [huge, "1"]})
    _, rejected = validate_frame(raw, contract.CURATION, now=NOW, source_file="curation.csv")
    assert _reasons(rejected) == [(1, "bad_number", "position")]
    raw = pd.DataFrame({"listener_id": ["a", "b"], "registered_at": ["1400000000"] * 2, "birth_year": [over, "1990"]})
    accepted, rejected = validate_frame(raw, contract.LISTENERS, now=NOW, source_file="listeners.csv")
    assert _reasons(rejected) == [(1, "bad_number", "birth_year")] and accepted["birth_year"].tolist() == [1990]


def test_one_type_per_item_catalog_first_then_first_seen_by_file_and_row():
    import numpy as np

    from transforms.listeners.catalog import Catalog
    from transforms.listeners.item_types import FirstTypesCombineFn, first_types, split_mismatched

    catalog = Catalog.from_items(pd.DataFrame({"item_id": ["t1"], "item_type": ["track"]}))

    def chunk(source, rows, items, types):
        return pd.DataFrame({"item_id": items, "item_type": types, "_source_file": source, "_row_number": rows})

    # x: "b.csv" row 1 is read first, but "a.csv" row 9 comes first in (file, row) order
    parts = [first_types(chunk("b.csv", [1, 2, 3], ["x", "t1", "y"], ["track", "album", "show"]), catalog),
             first_types(chunk("a.csv", [9, 10], ["x", "x"], ["show", "show"]), catalog)]
    assert "t1" not in set(parts[0]["item_id"])          # the catalog decides t1: not gathered
    fn = FirstTypesCombineFn()
    acc = fn.merge_accumulators([fn.add_input(fn.create_accumulator(), p) for p in parts])
    first_seen = fn.extract_output(acc)
    assert first_seen == {"x": "show"}                   # y came with one type: no rule needed
    block = {"item_id": np.array(["t1", "t1", "x", "x", "y"], dtype=object),
             "item_type": np.array(["track", "album", "track", "show", "show"], dtype=object),
             "context_id": np.array([None] * 5, dtype=object), "ts_ms": np.arange(5) * 1000,
             "ms_played": np.array([1.0, np.nan, 3.0, 4.0, 5.0]),
             "listener_id": np.array(["L1"] * 5, dtype=object),
             "_source_file": np.array(["b.csv"] * 5, dtype=object), "_row_number": np.arange(1, 6)}
    kept, rejected = split_mismatched(block, catalog, first_seen)
    assert kept["item_type"].tolist() == ["track", "show", "show"] and kept["_row_number"].tolist() == [1, 4, 5]
    assert _reasons(rejected) == [(2, "item_type_mismatch", "item_type"), (3, "item_type_mismatch", "item_type")]
    raw = json.loads(rejected["raw"].iloc[0])
    assert (raw["item_type"], raw["expected_item_type"], raw["ms_played"]) == ("album", "track", None)
    assert rejected["source_file"].tolist() == ["b.csv", "b.csv"]


def test_files_of_other_types_in_a_table_folder_are_named_in_a_warning(tmp_path, caplog):
    from transforms.io.read import find_table_files

    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "part-0.csv").write_text("listener_id,item_id,item_type,ts\n")
    (folder / "part-1.parq").write_text("")
    (folder / "_SUCCESS").write_text("")
    with caplog.at_level("WARNING", logger="home_recs.read"):
        assert find_table_files(str(tmp_path), "events") == [str(folder / "part-0.csv")]
    assert "1 file(s) not read" in caplog.text and "part-1.parq" in caplog.text and "_SUCCESS" not in caplog.text
