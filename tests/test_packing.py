"""Batches that Beam pickles between stages: codes on the wire, the same values on arrival."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from transforms.io.beam_io import BatchAwareCoder, SideValue, approx_bytes
from transforms.listeners.catalog import Catalog
from transforms.listeners.history import ListenerColumns
from transforms.io.packing import Columns, factorize, pack, unpack


def test_factorize_keeps_nul_bytes_apart_and_orders_by_first_appearance():
    # pandas' own factorize gives "a\x00b" the code of "a" (C strings end at NUL)
    codes, distinct = factorize(np.array(["b", "a\x00b", None, "a", "b"], dtype=object))
    assert codes.tolist() == [0, 1, -1, 2, 0]
    assert distinct.tolist() == ["b", "a\x00b", "a"]


def test_pack_round_trip_turns_missing_into_none_and_leaves_numbers_alone():
    values = np.array(["x", None, np.nan, "x", "y"], dtype=object)
    tag, codes, distinct = pack(values)
    assert (tag, codes.dtype, codes.tolist(), distinct.tolist()) == ("codes", np.int32, [0, -1, -1, 0, 1], ["x", "y"])
    assert unpack(pack(values)).tolist() == ["x", None, None, "x", "y"]
    numbers = np.arange(3)
    assert pack(numbers) is numbers


def test_listener_columns_survive_pickling():
    cols = ListenerColumns(np.array(["L1", "L2"], dtype=object), np.array(["SE", "US"], dtype=object),
                           np.array([5, 7]), np.array([np.nan, 1990.0]),
                           np.array([frozenset({"pop"}), frozenset()], dtype=object), np.array([False, True]),
                           np.array([0, 0, 1]),
                           Columns({"item_id": np.array(["t1", "t1", "t2"], dtype=object),
                                    "context_id": np.array([None, "pl", None], dtype=object),
                                    "ts_ms": np.array([1, 2, 3])}))
    back = pickle.loads(pickle.dumps(cols))
    assert back.listener_id.tolist() == ["L1", "L2"] and back.market.tolist() == ["SE", "US"]
    assert back.onboarding.tolist() == [frozenset({"pop"}), frozenset()]
    assert back.birth_year[1] == 1990.0 and np.isnan(back.birth_year[0]) and back.derived.tolist() == [False, True]
    assert back.events["item_id"].tolist() == ["t1", "t1", "t2"]
    assert back.events["context_id"].tolist() == [None, "pl", None]
    assert back.events["ts_ms"].tolist() == [1, 2, 3] and back.who.tolist() == [0, 0, 1]


def test_catalog_survives_pickling_with_the_same_genre_codes():
    items = pd.DataFrame({"item_id": ["t1", "t2", "t3"], "item_type": ["track", "track", "episode"],
                          "creator_id": ["a1", None, "s1"], "parent_id": [None, None, "show1"],
                          "genres": ["rock|pop", None, "pop"], "language": [None] * 3,
                          "duration_ms": [1000.0, np.nan, 2.0], "explicit": [0.0, 1.0, np.nan],
                          "name": ["x", "y", "z"],
                          "release_date": pd.to_datetime(["2020-01-01", None, "2021-01-01"], utc=True)})
    cat = Catalog.from_items(items)
    # codes numbered by first appearance, each item's genres sorted: pop=0, rock=1
    assert cat.genre_vocab == {"pop": 0, "rock": 1}
    assert [c.tolist() for c in cat.genre_codes] == [[0, 1], [], [0]]
    assert cat.primary_genre.tolist() == [1, -1, 0]      # the first genre as listed
    back = pickle.loads(pickle.dumps(cat))
    pd.testing.assert_frame_equal(back.frame, cat.frame)
    assert back.genre_vocab == cat.genre_vocab and back.primary_genre.tolist() == cat.primary_genre.tolist()


def test_batch_aware_coder_measures_arrays_without_changing_the_encoding():
    frame = pd.DataFrame({"a": np.arange(1000, dtype=np.int64), "b": np.zeros(1000)})
    impl = BatchAwareCoder().get_impl()
    assert approx_bytes(frame) == 16_000
    assert impl.estimate_size(frame) == 16_000
    assert impl.estimate_size((3, frame)) == 16_000 + approx_bytes(3, 0) + 16
    pd.testing.assert_frame_equal(impl.decode(impl.encode(frame)), frame)
    assert impl.decode(impl.encode(("k", 7))) == ("k", 7)


def test_beams_cache_weighs_a_side_value_from_its_arrays_not_its_strings():
    from apache_beam.runners.worker.statecache import get_deep_size

    frame = pd.DataFrame({"id": ["x" * 100 + str(i) for i in range(1000)], "n": np.arange(1000)})
    assert get_deep_size(frame) > 100 * 1000            # objsize counts every 100-byte string
    wrapped = get_deep_size(SideValue({"t": frame}))
    assert 16_000 <= wrapped < 16_000 + 1_000           # 8 bytes per slot of each column, plus the wrapper


def test_a_spilled_shard_comes_back_in_the_same_batches(tmp_path):
    from transforms.io.spill import SpilledShard, batches_of, spill

    cols = ListenerColumns(np.array(["L1", "L2", "L3"], dtype=object), np.array(["SE"] * 3, dtype=object),
                           np.array([5, 6, 7]), np.full(3, np.nan), np.array([frozenset()] * 3, dtype=object),
                           np.zeros(3, dtype=bool), np.array([0, 1, 1, 2]),
                           {"item_id": np.array(["a", "b", "c", "d"], dtype=object), "ts_ms": np.arange(4)})
    handle = spill(cols, str(tmp_path / "spill"), 7)
    assert handle == SpilledShard(str(tmp_path / "spill" / "shard-00007.pkl"), 3, 4)
    in_memory = [(b.listener_id.tolist(), b.who.tolist(), b.events["item_id"].tolist()) for b in batches_of(cols, 2)]
    spilled = [(b.listener_id.tolist(), b.who.tolist(), b.events["item_id"].tolist()) for b in batches_of(handle, 2)]
    assert spilled == in_memory == [(["L1", "L2"], [0, 1, 1], ["a", "b", "c"]), (["L3"], [0], ["d"])]


def test_a_spilled_event_block_comes_back_equal(tmp_path):
    from transforms.io.spill import SpilledBlock, load_block, spill_block

    block = Columns({"item_id": np.array(["a", None, "a\x00b"], dtype=object), "ts_ms": np.array([3, 1, 2]),
                     "listener_id": np.array(["L1", "L1", "L2"], dtype=object)})
    first, second = spill_block(block, str(tmp_path / "ev"), 4), spill_block(block, str(tmp_path / "ev"), 4)
    assert isinstance(first, SpilledBlock) and first.rows == 3 and first.path != second.path
    assert first.path.startswith(str(tmp_path / "ev" / "shard-00004") + "/")
    back = load_block(first)
    assert {k: v.tolist() for k, v in back.items()} == {k: v.tolist() for k, v in block.items()}
    assert load_block(block) is block      # a block kept in memory passes through


def test_the_allocator_setting_is_off_unless_asked_for(monkeypatch):
    from transforms.io.beam_io import MMAP_THRESHOLD_ENV, tune_allocator

    monkeypatch.delenv(MMAP_THRESHOLD_ENV, raising=False)
    assert tune_allocator() is False            # default: glibc's own behaviour
    monkeypatch.setenv(MMAP_THRESHOLD_ENV, "0")
    assert tune_allocator() is False
    monkeypatch.setenv(MMAP_THRESHOLD_ENV, "lots")
    assert tune_allocator() is False            # unreadable: off, not a crash


def test_progress_logs_the_first_call_then_at_most_every_interval(caplog):
    import logging

    from transforms.io import beam_io

    beam_io._progress.pop("test stage", None)
    clock = iter([100.0, 110.0, 131.0, 140.0])
    with caplog.at_level(logging.INFO, logger="home_recs.progress"):
        for n in (1000, 2000, 500, 1):
            beam_io.progress("test stage", n, "listeners", clock=lambda: next(clock))
    assert [r.getMessage() for r in caplog.records] == ["test stage: 1,000 listeners in 0m00s",
                                                        "test stage: 3,500 listeners in 0m31s"]
