"""Feature statistics: hand-computed bins and frequencies, exact merge, privacy, Beam CombineFn."""
from __future__ import annotations

import json

import apache_beam as beam
import numpy as np
import pandas as pd
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from transforms.io import storage
from transforms.features.feature_spec import FEATURE_SPECS, feature_names, spec_fingerprint
from transforms.features.feature_stats import (OTHER, ComputeFeatureStats, FeatureStatsCombineFn, accumulate, add_frame,
                                      align_bins, value_label,
                                      distribution, fit_bin_edges, fit_edges_from_frame, finalize,
                                      listener_hashes, merge, write_stats)

SHELF = "playlists"  # numeric: pop_market_log ... listener_plays_28d; categorical: src_popular, src_onboarding, src_colisten
NUMERIC = [f.name for f in FEATURE_SPECS[SHELF] if f.kind == "numeric"]
CATEGORICAL = [f.name for f in FEATURE_SPECS[SHELF] if f.kind == "categorical"]
NAN = np.nan


def tiny() -> pd.DataFrame:
    """6 rows, 3 listeners (a, a, b, b, c, c); every numeric feature is 1.0 unless set below."""
    frame = pd.DataFrame({"listener_id": ["a", "a", "b", "b", "c", "c"], "item_id": list("pqrstu"),
                          "candidate_source": "popular"})
    for name in feature_names(SHELF):
        frame[name] = np.float32(1.0)
    frame["pop_market_log"] = np.array([0.5, 1.0, 1.5, NAN, 2.0, 7.0], dtype=np.float32)
    frame["trend"] = np.array([-5.0, 1.0, 1.5, 3.0, 2.0, 7.0], dtype=np.float32)
    frame["src_popular"] = np.array([1, 1, 0, 1, NAN, 1], dtype=np.float32)
    frame["src_colisten"] = np.array([0, 0, 0, 0, 0, 0], dtype=np.float32)
    return frame


EDGES = {name: [1.0, 2.0] for name in NUMERIC}  # bins (-inf, 1), [1, 2), [2, +inf)


def test_fit_bin_edges_quantiles_nan_constant_empty():
    assert fit_bin_edges(np.arange(10.0), n_bins=5) == [1.0, 3.0, 5.0, 7.0]  # "lower" quantiles: observed values
    assert fit_bin_edges(np.array([*range(10), NAN, np.inf], dtype=np.float32), n_bins=5) == [1.0, 3.0, 5.0, 7.0]
    assert fit_bin_edges(np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 2.0]), n_bins=10) == [0.0, 1.0]
    assert fit_bin_edges(np.full(4, 3.0)) == [3.0, float(np.nextafter(3.0, np.inf))]  # bins <3, {3}, >3
    assert fit_bin_edges(np.array([])) == [] and fit_bin_edges(np.array([NAN, NAN])) == []
    assert fit_bin_edges(np.arange(10.0), n_bins=1) == []
    with pytest.raises(ValueError):
        fit_bin_edges(np.arange(3.0), n_bins=0)


def test_fit_edges_from_frame_needs_enough_listeners():
    frame = tiny()
    assert fit_edges_from_frame(frame, SHELF, n_bins=2, min_listeners=0)["trend"] == [1.5]
    assert set(fit_edges_from_frame(frame, SHELF)) == set(NUMERIC)
    assert fit_edges_from_frame(frame, SHELF)["trend"] == []  # 3 listeners < 5: no quantile published


def test_hand_computed_bins_counts_and_frequencies():
    stats = finalize(accumulate(tiny(), SHELF, EDGES), SHELF, min_listeners=0)
    assert (stats["shelf"], stats["fingerprint"], stats["n_rows"], stats["n_listeners"]) == (
        SHELF, spec_fingerprint(SHELF), 6, 3)
    assert stats["bin_edges"] == EDGES
    pop = stats["features"]["pop_market_log"]
    assert pop == {"kind": "numeric", "count": 5, "missing": 1, "missing_rate": 1 / 6, "bins": [
        {"lo": None, "hi": 1.0, "count": 1, "freq": 0.2},   # 0.5: the open first bin
        {"lo": 1.0, "hi": 2.0, "count": 2, "freq": 0.4},    # 1.0 (on the edge: upper bin), 1.5
        {"lo": 2.0, "hi": None, "count": 2, "freq": 0.4}]}  # 2.0, 7.0: the open last bin
    assert [b["count"] for b in stats["features"]["trend"]["bins"]] == [1, 2, 3]
    src = stats["features"]["src_popular"]
    assert src == {"kind": "categorical", "count": 5, "missing": 1, "missing_rate": 1 / 6,
                   "values": {"1": 0.8, "0": 0.2}, "other": 0.0}
    assert stats["features"]["src_colisten"]["values"] == {"0": 1.0}
    assert distribution(src) == {"1": 0.8, "0": 0.2, OTHER: 0.0}
    top1 = finalize(accumulate(tiny(), SHELF, EDGES), SHELF, min_listeners=0, top_k=1)
    assert top1["features"]["src_popular"]["values"] == {"1": 0.8} and top1["features"]["src_popular"]["other"] == 0.2
    json.dumps(stats, allow_nan=False)  # strict JSON: no NaN / Infinity


def test_numeric_bins_below_k_listeners_fold_into_neighbours():
    stats = finalize(accumulate(tiny(), SHELF, EDGES), SHELF, min_listeners=2)
    # trend: bin0 {a} is too small -> joins bin1 ({a, b}); bin2 {b, c} stands alone
    assert stats["features"]["trend"]["bins"] == [{"lo": None, "hi": 2.0, "count": 3, "freq": 0.5},
                                                  {"lo": 2.0, "hi": None, "count": 3, "freq": 0.5}]
    # pop_market_log: bin0+bin1 = {a, b}; the tail bin2 = {c} joins it -> one open bin
    assert stats["features"]["pop_market_log"]["bins"] == [{"lo": None, "hi": None, "count": 5, "freq": 1.0}]
    # a feature seen by fewer than k listeners in total: one bin, count only
    assert finalize(accumulate(tiny(), SHELF, EDGES), SHELF, min_listeners=5)["features"]["trend"]["bins"] == [
        {"lo": None, "hi": None, "count": 6, "freq": 1.0}]


def test_privacy_rare_categorical_value_goes_to_other_and_no_ids_in_json(tmp_path):
    frame = tiny()
    frame["listener_id"] = frame["listener_id"].map(lambda s: f"secret-listener-{s}")
    acc = accumulate(frame, SHELF, EDGES)
    stats = finalize(acc, SHELF, min_listeners=2)
    src = stats["features"]["src_popular"]
    assert src["values"] == {"1": 0.8} and src["other"] == pytest.approx(0.2)  # "0" only seen by listener b
    path = write_stats(str(tmp_path / "feature_stats" / "dt=2025-01-10"), stats)
    text = (tmp_path / "feature_stats" / "dt=2025-01-10" / f"{SHELF}.json").read_text()
    assert path.endswith(f"{SHELF}.json") and storage.read_json(path) == json.loads(json.dumps(stats))
    assert "secret-listener" not in text
    assert not any(str(h) in text for h in listener_hashes(frame["listener_id"]))


def random_frame(n_rows=240, n_listeners=30, seed=7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"listener_id": [f"L{i}" for i in rng.integers(0, n_listeners, n_rows)],
                          "item_id": [f"i{i}" for i in range(n_rows)], "candidate_source": "popular"})
    for name in NUMERIC:
        x = rng.gamma(2.0, 3.0, n_rows).astype(np.float32)
        x[rng.random(n_rows) < 0.1] = np.nan
        frame[name] = x
    for name in CATEGORICAL:
        x = rng.choice(np.array([0.0, 1.0, 2.0, 3.0], dtype=np.float32), n_rows, p=[0.6, 0.3, 0.08, 0.02])
        x[rng.random(n_rows) < 0.05] = np.nan
        frame[name] = x
    frame.loc[frame["listener_id"] == "L0", "src_popular"] = np.float32(9.0)  # one listener only
    return frame


@pytest.mark.parametrize("min_listeners,cap", [(5, 64), (0, 64), (3, 3)])
def test_merge_of_parts_equals_whole(min_listeners, cap):
    frame = random_frame()
    edges = fit_edges_from_frame(frame, SHELF)
    whole = finalize(accumulate(frame, SHELF, edges, listener_cap=cap), SHELF, min_listeners)
    cuts = [0, 50, 170, len(frame)]  # listeners are spread over the parts
    parts = [accumulate(frame.iloc[a:b], SHELF, edges, listener_cap=cap) for a, b in zip(cuts[:-1], cuts[1:])]
    assert finalize(merge(parts), SHELF, min_listeners) == whole
    assert finalize(merge([merge(parts[2:]), merge(parts[:2])]), SHELF, min_listeners) == whole
    assert whole["n_rows"] == 240 and whole["n_listeners"] == frame["listener_id"].nunique()
    if min_listeners == 5:
        assert "9" not in whole["features"]["src_popular"]["values"]
        assert all(len(b) == 4 for b in whole["features"]["pop_market_log"]["bins"])


def test_listener_sketches_are_the_bottom_k_distinct_hashes_of_each_cell():
    """Frames added one at a time (the threshold pre-filter skips most rows once a sketch is full)
    give, per bin and per categorical value, exactly the ``cap`` smallest distinct listener hashes
    of the rows in that cell, computed here by brute force over the whole frame."""
    frame, cap = random_frame(), 3
    edges = fit_edges_from_frame(frame, SHELF)
    acc = accumulate(frame.iloc[:60], SHELF, edges, listener_cap=cap)
    for a, b in [(60, 61), (61, 130), (130, len(frame))]:
        add_frame(acc, frame.iloc[a:b])
    h = listener_hashes(frame["listener_id"])
    for name in NUMERIC:
        x = frame[name].to_numpy(dtype=np.float64)
        cell = np.searchsorted(np.asarray(edges[name]), x, side="right")
        for i, got in enumerate(acc.numeric[name].listeners):
            want = np.unique(h[~np.isnan(x) & (cell == i)])[:cap]
            assert np.array_equal(got, want), (name, i)
    for name in CATEGORICAL:
        x = frame[name].to_numpy(dtype=np.float64)
        for v in np.unique(x[~np.isnan(x)]):
            want = np.unique(h[x == v])[:cap]
            assert np.array_equal(acc.categorical[name].listeners[value_label(v)], want), (name, v)


def test_errors():
    with pytest.raises(KeyError):
        accumulate(tiny(), "no_such_shelf", EDGES)
    with pytest.raises(ValueError, match="trend"):
        accumulate(tiny().drop(columns=["trend"]), SHELF, EDGES)
    with pytest.raises(ValueError, match="listener_id"):
        accumulate(tiny().drop(columns=["listener_id"]), SHELF, EDGES)
    with pytest.raises(ValueError):
        accumulate(tiny(), SHELF, {"trend": [1.0]})  # edges for other numeric features missing
    with pytest.raises(ValueError):
        accumulate(tiny(), SHELF, {**EDGES, "trend": [2.0, 1.0]})
    with pytest.raises(ValueError):
        merge([accumulate(tiny(), SHELF, EDGES), accumulate(tiny(), SHELF, {**EDGES, "trend": [0.0]})])
    with pytest.raises(ValueError):
        finalize(accumulate(tiny(), SHELF, EDGES, listener_cap=3), SHELF, min_listeners=5)
    with pytest.raises(ValueError):
        finalize(accumulate(tiny(), SHELF, EDGES), "podcasts")


def test_align_bins_on_common_coarsening():
    a = [{"lo": None, "hi": 2.0, "count": 3, "freq": 0.5}, {"lo": 2.0, "hi": None, "count": 3, "freq": 0.5}]
    b = [{"lo": None, "hi": 1.0, "count": 1, "freq": 0.25}, {"lo": 1.0, "hi": 2.0, "count": 1, "freq": 0.25},
         {"lo": 2.0, "hi": None, "count": 2, "freq": 0.5}]
    assert align_bins(a, b) == ([(None, 2.0), (2.0, None)], [0.5, 0.5], [0.5, 0.5])
    assert align_bins(a, [{"lo": None, "hi": None, "count": 0, "freq": None}]) == ([(None, None)], [], [])


def test_beam_combinefn_equals_pure_path(tmp_path):
    import pyarrow as pa

    frame = random_frame()
    edges = fit_edges_from_frame(frame, SHELF)
    chunks = [frame.iloc[i:i + 37] for i in range(0, len(frame), 37)]
    expected = finalize(accumulate(frame, SHELF, edges), SHELF)
    expected_fitted = finalize(accumulate(frame, SHELF, None), SHELF)  # training: edges fitted on all rows
    with beam.Pipeline(runner=FnApiRunner()) as p:
        frames = p | beam.Create(chunks, reshuffle=False)
        stats = frames | "Serving" >> beam.CombineGlobally(FeatureStatsCombineFn(SHELF, edges))
        fitted = frames | "Training" >> ComputeFeatureStats(SHELF)
        # Arrow tables, spilled between the two passes: the same statistics
        spilled = (frames | "Arrow" >> beam.Map(lambda f: pa.Table.from_pandas(f, preserve_index=False))
                   | "Spilled" >> ComputeFeatureStats(SHELF, spill_dir=str(tmp_path / "spill")))
        assert_that(stats, equal_to([expected]), label="serving")
        assert_that(fitted, equal_to([expected_fitted]), label="training")
        assert_that(spilled, equal_to([expected_fitted]), label="spilled")
    assert len(list((tmp_path / "spill").rglob("*.pkl"))) == len(chunks)


def test_beam_empty_input_gives_empty_statistics():
    with beam.Pipeline(runner=FnApiRunner()) as p:
        empty = p | beam.Create([], reshuffle=False).with_output_types(object)
        stats = empty | ComputeFeatureStats(SHELF) | beam.Map(
            lambda s: (s["n_rows"], s["n_listeners"], s["bin_edges"]["trend"], s["features"]["trend"]["bins"]))
        assert_that(stats, equal_to([(0, 0, [], [{"lo": None, "hi": None, "count": 0, "freq": None}])]))
