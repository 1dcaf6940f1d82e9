"""Skew and drift (issue 7): hand-computed Chebyshev distances, the not-compared reasons, the
noise-based thresholds, a planted shift in synthetic data, the report and the `drift` job."""
from __future__ import annotations

import argparse
import json
import logging
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from transforms.monitoring import drift
from transforms.monitoring.drift import (DEFAULT_DRIFT_CONFIG, RECORD_FIELDS, chebyshev, compare_feature, compare_stats,
                              drift_config, feature_threshold, noise_bound)
from transforms.monitoring.drift_report import write_report
from transforms.errors import InputError
from transforms.features.feature_spec import FEATURE_SPECS, feature_names
from transforms.features.feature_stats import OTHER, accumulate, finalize, fit_edges_from_frame, write_stats


# ------------------------------------------------------------------------------ the distance

def test_chebyshev_hand_computed():
    d = chebyshev({"a": 0.5, "b": 0.5}, {"a": 0.2, "b": 0.8})
    assert (d.argmax, d.p, d.q) == ("a", 0.5, 0.2) and d.value == pytest.approx(0.3)  # tie a/b: first key
    d = chebyshev({"a": 0.6, "b": 0.4}, {"b": 0.1, "c": 0.9})  # |.6|, |.3|, |.9| over the union
    assert (d.argmax, d.p, d.q) == ("c", 0.0, 0.9) and d.value == pytest.approx(0.9)
    d = chebyshev({"x": 0.7, OTHER: 0.3}, {"x": 0.7, OTHER: 0.3})
    assert d.value == 0.0 and d.argmax == OTHER  # identical: 0, reported at the first key in sorted order


def test_chebyshev_disjoint_supports_is_one():
    d = chebyshev({"a": 1.0}, {"b": 0.25, "c": 0.75})
    assert (d.value, d.argmax, d.p, d.q) == (1.0, "a", 1.0, 0.0)


def test_chebyshev_ties_follow_the_given_order_and_empty_side_is_an_error():
    order = ["[-inf, 1.0)", "[1.0, 2.0)", "[2.0, inf)"]
    p = dict(zip(order, [0.2, 0.5, 0.3]))
    q = dict(zip(order, [0.3, 0.5, 0.2]))  # |.1| at the first and the last bin
    assert chebyshev(p, q, order).argmax == "[-inf, 1.0)"
    assert chebyshev(p, q, list(reversed(order))).argmax == "[2.0, inf)"
    with pytest.raises(ValueError):
        chebyshev({}, {"a": 1.0})
    with pytest.raises(ValueError):
        chebyshev({"a": 1.0}, {})


# -------------------------------------------------------------------------- compare_feature

def numeric_stats(bins, edges=(1.0, 2.0), n_rows=None, n_listeners=100, feature="trend", missing=0):
    """Playlists statistics holding one numeric feature with the given (lo, hi, count) bins."""
    count = sum(c for _, _, c in bins)
    n_rows = count + missing if n_rows is None else n_rows
    return {"shelf": "playlists", "n_rows": n_rows, "n_listeners": n_listeners, "bin_edges": {feature: list(edges)},
            "features": {feature: {"kind": "numeric", "count": count, "missing": missing,
                                   "missing_rate": missing / n_rows if n_rows else 0.0,
                                   "bins": [{"lo": lo, "hi": hi, "count": c, "freq": c / count if count else None}
                                            for lo, hi, c in bins]}}}


def categorical_stats(values: dict, other: float, count=100, feature="src_popular", missing=0, n_listeners=100):
    return {"shelf": "playlists", "n_rows": count + missing, "n_listeners": n_listeners, "bin_edges": {},
            "features": {feature: {"kind": "categorical", "count": count, "missing": missing,
                                   "missing_rate": missing / (count + missing) if count + missing else 0.0,
                                   "values": values if count else {}, "other": other if count else None}}}


TRAIN = numeric_stats([(None, 1.0, 2), (1.0, 2.0, 5), (2.0, None, 3)])  # p = .2 / .5 / .3


def test_numeric_feature_on_training_bins_folded_differently():
    # serving folded its first two bins (privacy): common support = (-inf, 2), [2, inf)
    serving = numeric_stats([(None, 2.0, 4), (2.0, None, 6)])
    r = compare_feature(TRAIN, serving, "trend", "skew", 0.25)
    assert list(r) == list(RECORD_FIELDS)
    assert r["value"] == pytest.approx(0.3) and r["argmax"] == "[-inf, 2.0)"  # p .7 vs q .4 (tie with [2, inf))
    assert (r["p"], r["q"], r["n_p"], r["n_q"]) == (pytest.approx(0.7), pytest.approx(0.4), 10, 10)
    assert (r["shelf"], r["comparison"], r["metric"], r["status"], r["reason"]) == (
        "playlists", "skew", "linf", "compared", None)
    assert r["alert"] is True and r["threshold"] == 0.25
    assert compare_feature(TRAIN, serving, "trend", "skew", 0.35)["alert"] is False


def test_categorical_feature_top_values_plus_other():
    a = categorical_stats({"0": 0.7, "1": 0.3}, 0.0)
    b = categorical_stats({"0": 0.4, "2": 0.35}, 0.25)  # "1" folded into other, "2" new
    r = compare_feature(a, b, "src_popular", "drift", 0.1)
    # union support: 0: .3, 1: .3, 2: .35, other: .25 -> max at "2"
    assert (r["argmax"], r["p"], r["q"]) == ("2", 0.0, 0.35) and r["value"] == pytest.approx(0.35) and r["alert"]


@pytest.mark.parametrize("make_b, reason", [
    (lambda: {**TRAIN, "features": {}}, "missing_on_one_side"),
    (lambda: numeric_stats([(None, 1.0, 0), (1.0, 2.0, 0), (2.0, None, 0)], n_rows=5, missing=5), "no_data"),
    (lambda: categorical_stats({"1": 1.0}, 0.0, feature="trend"), "kind_changed"),
    (lambda: numeric_stats([(None, 1.5, 5), (1.5, None, 5)], edges=(1.5,)), "edges_differ"),
    (lambda: numeric_stats([(None, None, 10)]), "single_bin"),  # privacy folded every bin into one
])
def test_not_compared_is_never_zero(make_b, reason):
    for a, b in ((TRAIN, make_b()), (make_b(), TRAIN)):
        r = compare_feature(a, b, "trend", "skew", 0.1)
        assert (r["status"], r["reason"], r["value"], r["alert"]) == ("not_compared", reason, None, False)
        assert r["reason"] in drift.REASONS and list(r) == list(RECORD_FIELDS)


def test_no_data_when_one_side_is_an_empty_day():
    edges = {f.name: [1.0] for f in FEATURE_SPECS["playlists"] if f.kind == "numeric"}
    frame = pd.DataFrame({c: pd.Series([], dtype=object if c == "listener_id" else "float32")
                          for c in ["listener_id", *feature_names("playlists")]})
    empty = finalize(accumulate(frame, "playlists", edges), "playlists")
    recs = compare_stats(empty, empty, "drift")
    linf = [r for r in recs if r["metric"] == "linf"]
    assert len(linf) == len(FEATURE_SPECS["playlists"])
    assert {r["reason"] for r in linf} == {"no_data"} and all(r["value"] is None for r in recs)
    count = next(r for r in recs if r["metric"] == "example_count_change")
    assert (count["feature"], count["reason"], count["value"]) == ("__dataset__", "no_data", None)


def test_dataset_level_anomalies():
    base = numeric_stats([(None, 1.0, 20), (1.0, 2.0, 50), (2.0, None, 30)], missing=0)
    cur = numeric_stats([(None, 1.0, 26), (1.0, 2.0, 64), (2.0, None, 40)], missing=30)  # 160 rows, 30 missing
    recs = compare_stats(base, cur, "drift", {"drift": {"noise_alpha": None}})
    assert all(list(r) == list(RECORD_FIELDS) for r in recs)
    # the other spec features of the shelf are absent from both (hand-built) statistics
    assert {r["reason"] for r in recs if r["feature"] not in ("trend", "__dataset__")} == {"missing_on_one_side"}
    by_metric = {r["metric"]: r for r in recs if r["feature"] in ("trend", "__dataset__")}
    count = by_metric["example_count_change"]
    assert (count["feature"], count["n_p"], count["n_q"]) == ("__dataset__", 100, 160)
    assert count["value"] == pytest.approx(0.6) and count["alert"] and count["threshold"] == 0.5
    miss = by_metric["missing_rate_increase"]
    assert (miss["feature"], miss["p"], miss["q"]) == ("trend", 0.0, pytest.approx(30 / 160))
    assert miss["value"] == pytest.approx(30 / 160) and miss["alert"]
    assert by_metric["linf"]["alert"] is False  # the distribution itself did not move
    # skew has no row-count check (a training set may span several as_of dates)
    assert [r["metric"] for r in compare_stats(base, cur, "skew") if r["feature"] == "trend"] == [
        "linf", "missing_rate_increase"]
    assert not [r for r in compare_stats(base, cur, "skew") if r["metric"] == "example_count_change"]


def test_thresholds_from_config_per_feature_with_defaults_per_kind():
    cfg = drift_config({"drift": {"thresholds": {"default_categorical": 0.2,
                                                 "features": {"trend": 0.05, "shortcuts.trend": 0.3}}}})
    assert cfg["thresholds"]["default_numeric"] == DEFAULT_DRIFT_CONFIG["thresholds"]["default_numeric"]
    assert cfg["fail_on_alert"] is True and cfg["max_count_change"] == 0.5
    assert feature_threshold(cfg, "playlists", "trend", "numeric") == 0.05
    assert feature_threshold(cfg, "shortcuts", "trend", "numeric") == 0.3
    assert feature_threshold(cfg, "playlists", "src_popular", "categorical") == 0.2
    assert feature_threshold(cfg, "playlists", "tenure_days", "numeric") == 0.1
    assert drift_config(None) == DEFAULT_DRIFT_CONFIG and drift_config({"shelves": {}}) == DEFAULT_DRIFT_CONFIG


def test_threshold_is_raised_to_the_noise_bound_for_small_samples():
    small_a = {**TRAIN, "n_listeners": 10}
    serving = numeric_stats([(None, 1.0, 3), (1.0, 2.0, 5), (2.0, None, 2)], n_listeners=10)
    r = compare_feature(small_a, serving, "trend", "drift", 0.05, noise_alpha=0.001)
    assert r["threshold"] == pytest.approx(noise_bound(10, 10, 3, 0.001)) and r["threshold"] > 0.5
    assert r["value"] == pytest.approx(0.1) and not r["alert"]
    assert compare_feature(small_a, serving, "trend", "drift", 0.05)["alert"]  # no floor: fires


# ---------------------------------------------------------------------- sampling noise

def test_noise_bound_formula():
    assert noise_bound(1000, 1000, 10, 0.001) == pytest.approx(np.sqrt(np.log(2e4) / 1000))
    assert noise_bound(1000, 1000, 10, 0.001) < 0.1 < noise_bound(800, 800, 10, 0.001)
    assert noise_bound(0, 5, 3, 0.01) == np.inf


def listener_sizes(rng, n):
    """Rows per listener shaped like 30Music's shortcuts shelf (min 3, median ~12, mean ~18, cap 200)."""
    return np.minimum(3 + rng.negative_binomial(1, 1 / 16, n), 200)


def test_noise_bound_holds_by_monte_carlo_on_listener_clustered_samples():
    """Worst case for clustering: a listener-level feature (every row of a listener in one cell)."""
    rng = np.random.default_rng(11)
    K, n, alpha, reps = 10, 1000, 0.01, 400
    cells = np.full(K, 1 / K)
    bound = noise_bound(n, n, K, alpha)

    def sample():
        m = listener_sizes(rng, n)
        c = rng.choice(K, n, p=cells)
        counts = np.bincount(c, weights=m, minlength=K)
        return counts / counts.sum()

    d = np.array([np.abs(sample() - sample()).max() for _ in range(reps)])
    assert (d > bound).mean() <= alpha
    assert np.quantile(d, 0.99) < bound


def realistic_frame(rng, n_listeners: int, prefix: str, tod_shift: float = 0.0) -> pd.DataFrame:
    """A shortcuts features frame of ``n_listeners`` listeners drawn from one fixed law:
    listener-level features repeat on all their rows, item-level ones vary per row."""
    m = listener_sizes(rng, n_listeners)
    lid = np.repeat([f"{prefix}{i}" for i in range(n_listeners)], m)
    n = int(m.sum())
    per_listener = lambda x: np.repeat(x, m)  # noqa: E731
    f = pd.DataFrame({"listener_id": lid})
    f["plays_7d"] = rng.poisson(0.4, n)
    f["plays_28d"] = f["plays_7d"] + rng.poisson(1.0, n)
    f["plays_all"] = f["plays_28d"] + rng.poisson(2.0, n)
    f["frecency_7d"] = rng.gamma(0.7, 0.5, n)
    f["actr_activation"] = rng.gamma(0.8, 0.6, n)
    f["last_play_days"] = rng.exponential(40, n)
    f["completion_ratio"] = np.where(rng.random(n) < 0.2, np.nan, rng.beta(4, 2, n))
    f["skip_rate"] = rng.beta(1, 4, n)
    f["tod_affinity"] = np.clip(rng.beta(3, 2, n) + tod_shift, 0, 1)
    f["dow_affinity"] = rng.beta(1, 6, n)
    f["pop_market_log"] = np.log1p(rng.zipf(1.8, n).clip(max=10_000))
    f["trend"] = rng.beta(2, 3, n)
    f["genre_match"] = rng.beta(2, 5, n)
    f["tenure_days"] = per_listener(rng.gamma(2, 120, n_listeners))
    f["listener_plays_28d"] = per_listener(rng.negative_binomial(2, 0.05, n_listeners))
    f["listener_active_days_28d"] = per_listener(rng.integers(0, 29, n_listeners))
    f["src_history"] = 1.0
    return f[["listener_id", *feature_names("shortcuts")]].astype({c: "float32" for c in feature_names("shortcuts")})


def test_no_alert_on_two_independent_samples_of_realistic_size():
    """5,000 listeners a side (~90,000 rows; 30Music's shortcuts shelf has ~10,000 listeners a day),
    bins fitted on a third, training sample. No alert even without the noise floor: the default
    thresholds alone sit above the sampling noise at this size."""
    rng = np.random.default_rng(3)
    edges = fit_edges_from_frame(realistic_frame(rng, 5000, "t"), "shortcuts")
    a = finalize(accumulate(realistic_frame(rng, 5000, "a"), "shortcuts", edges), "shortcuts")
    b = finalize(accumulate(realistic_frame(rng, 5000, "b"), "shortcuts", edges), "shortcuts")
    for cfg in ({}, {"noise_alpha": None}):
        recs = compare_stats(a, b, "drift", {"drift": cfg})
        assert drift.alerts(recs) == []
    linf = [r for r in compare_stats(a, b, "drift") if r["metric"] == "linf"]
    assert all(r["status"] == "compared" for r in linf)
    assert max(r["value"] for r in linf) < 0.5 * DEFAULT_DRIFT_CONFIG["thresholds"]["default_numeric"]
    # ... and a real shift of one feature in the same setting does fire, for it only
    c = finalize(accumulate(realistic_frame(rng, 5000, "c", tod_shift=0.15), "shortcuts", edges), "shortcuts")
    assert [r["feature"] for r in drift.alerts(compare_stats(a, c, "drift"))] == ["tod_affinity"]


# ------------------------------------------------------------ planted shift, synthetic data

def synthetic_features(frames: dict, as_of: str, config: dict) -> dict[str, pd.DataFrame]:
    """The daily job's candidates and features for every listener, in process (no Beam):
    the same functions ``RecommendFn`` calls, on one batch list."""
    from models.serving.heuristic import HeuristicScorer
    from models.serving.home import ServingContext, day_start_ms, recommend_batch
    from transforms.io import contract
    from transforms.listeners.aggregates import build_side_tables, partial_aggregates
    from transforms.listeners.catalog import Catalog, shelf_item_types
    from transforms.listeners.history import build_state, event_block

    cat = Catalog.from_items(frames["items"][list(contract.ITEMS.column_names)])
    ev = frames["events"]
    block, idx = event_block(ev), ev.groupby("listener_id", sort=False).indices
    states = []
    for row in frames["listeners"].sort_values("listener_id").to_dict("records"):
        lid = row["listener_id"]
        blocks = [{k: v[idx[lid]] for k, v in block.items()}] if lid in idx else []
        st, _ = build_state(lid, blocks, [row], config["listeners"]["default_market"])
        if st is not None:
            states.append(st)
    as_of_ms = day_start_ms(as_of)
    shelves = config["shelves"]
    types = {s: shelf_item_types(c, cat) for s, c in shelves.items() if s in FEATURE_SPECS}
    from transforms.listeners.aggregates import beam_colisten_shelves

    colisten = beam_colisten_shelves(config, False)  # the daily job's rule, without a neighbour table
    side = build_side_tables(partial_aggregates(states, as_of_ms, types, colisten, cat, config), as_of_ms, config)
    ctx = ServingContext(as_of_ms, cat, side, frames.get("curation"), config,
                         {s: shelf_item_types(c, cat) for s, c in shelves.items()},
                         {s: HeuristicScorer(s, c.get("heuristic_weights", {})) for s, c in shelves.items()
                          if s in FEATURE_SPECS}, "test", log_features=True)
    out: dict[str, list] = {}
    for i in range(0, len(states), 256):
        for shelf, frame in recommend_batch(states[i:i + 256], ctx).features.items():
            out.setdefault(shelf, []).append(frame)
    return {s: pd.concat(v, ignore_index=True) for s, v in out.items()}


SYN_END = "2026-11-28"


@pytest.fixture(scope="module")
def planted():
    """1,200 synthetic listeners x 28 days; then 30% of them change their time-of-day habit: every
    play of theirs moves to a random time in 18:00-24:00 UTC of the same day (one 6-hour daypart,
    e.g. evening-only listening). Only the shortcuts shelf (the one with time-of-day features)."""
    from transforms.config.config import load_config
    from transforms.data.synthetic import generate

    config = load_config(overrides={"shelves": {"podcasts": None, "playlists": None, "editors_picks": None}})
    frames = generate(1200, 28, seed=5, end=SYN_END)
    base = synthetic_features(frames, SYN_END, config)["shortcuts"]
    rng = np.random.default_rng(1)
    ids = frames["listeners"]["listener_id"].to_numpy()
    moved = set(rng.choice(ids, int(0.3 * len(ids)), replace=False).tolist())
    ev = frames["events"].copy()
    m = ev["listener_id"].isin(moved).to_numpy()
    ev.loc[m, "ts"] = ev.loc[m, "ts"].dt.floor("D") + pd.to_timedelta(rng.integers(18 * 3600, 86400, m.sum()), "s")
    shifted = synthetic_features({**frames, "events": ev.sort_values("ts", kind="stable")}, SYN_END, config)
    edges = fit_edges_from_frame(base, "shortcuts")  # training edges fitted on the unshifted data
    return base, shifted["shortcuts"], edges


def test_planted_time_of_day_shift_fires_for_tod_affinity_only(planted):
    base, shifted, edges = planted
    a = finalize(accumulate(base, "shortcuts", edges), "shortcuts")
    b = finalize(accumulate(shifted, "shortcuts", edges), "shortcuts")
    recs = compare_stats(a, b, "drift")
    fired = drift.alerts(recs)
    assert [(r["feature"], r["metric"]) for r in fired] == [("tod_affinity", "linf")]
    tod = fired[0]
    assert tod["value"] > 1.3 * tod["threshold"] and tod["q"] > tod["p"]  # mass moved to tod_affinity = 1
    assert tod["argmax"].startswith("[1.0,")
    others = [r["value"] for r in recs if r["metric"] == "linf" and r["feature"] != "tod_affinity" and r["value"]]
    assert max(others) < 0.05


def test_no_alert_between_two_halves_of_the_synthetic_listeners(planted):
    base, _, edges = planted
    half = base["listener_id"].str[-1].isin(list("02468"))  # listeners split by their id's last digit
    a = finalize(accumulate(base[half], "shortcuts", edges), "shortcuts")
    b = finalize(accumulate(base[~half], "shortcuts", edges), "shortcuts")
    assert a["n_listeners"] > 400 and b["n_listeners"] > 400
    assert drift.alerts(compare_stats(a, b, "drift")) == []


# -------------------------------------------------------------------------------- the report

class _Checker(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.imgs = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def test_report_json_html_and_charts(tmp_path):
    a = categorical_stats({"0": 0.7, "1": 0.3}, 0.0)
    b = categorical_stats({"0": 0.4, "1": 0.6}, 0.0)
    no_floor = {"drift": {"noise_alpha": None}}
    recs = (compare_stats(TRAIN, numeric_stats([(None, 2.0, 4), (2.0, None, 6)]), "skew", no_floor)
            + compare_stats(a, b, "drift", no_floor)
            + drift.not_compared_records(None, "shortcuts", "skew", "no_training_stats"))
    pairs = {("playlists", "drift"): (a, b)}  # no pair for the skew alert: it gets no chart
    paths = write_report(str(tmp_path / "dt=2025-01-10"), recs,
                         {"date": "2025-01-10", "baseline_date": "2025-01-09", "thresholds": drift_config(None)}, pairs)
    doc = json.loads((tmp_path / "dt=2025-01-10" / "anomalies.json").read_text(),
                     parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert (doc["date"], doc["baseline_date"], doc["n_records"]) == ("2025-01-10", "2025-01-09", len(recs))
    assert doc["thresholds"]["thresholds"]["default_numeric"] == 0.1
    assert doc["n_alerts"] == 2 and all(list(r) == list(RECORD_FIELDS) for r in doc["records"])
    chart = tmp_path / "dt=2025-01-10" / "charts" / "playlists__src_popular__drift.png"
    assert paths["charts"] == [str(chart)] and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html_text = (tmp_path / "dt=2025-01-10" / "report.html").read_text()
    checker = _Checker()
    checker.feed(html_text)
    assert html_text.startswith("<!DOCTYPE html>") and checker.errors == [] and checker.stack == []
    assert len(checker.imgs) == 1 and checker.imgs[0]["src"].startswith("data:image/png;base64,")
    assert "no_training_stats" in html_text and "not compared" in html_text
    # compared: the skew on trend and the drift on src_popular; not compared: the shortcuts spec's 17
    # features without training statistics, and the features each one-feature statistics file lacks
    n = len(feature_names("shortcuts"))
    assert n == 17
    missing = sum(r["reason"] == "missing_on_one_side" for r in recs)
    assert missing > 0 and len([r for r in recs if r["metric"] == "linf"]) == 2 + n + missing
    assert (f"2 of {2 + n + missing} feature distances compared; not compared: missing_on_one_side {missing}, "
            f"no_training_stats {n}") in html_text

    # sorted by distance: the src_popular row (0.3 drift) comes before the trend row (0.3 skew tie) and
    # every not-compared row comes after every compared one
    rows = html_text.split("Feature distances")[1].split("</table>")[0]
    assert rows.index("src_popular") < rows.index("no_training_stats")

def test_a_report_with_nothing_compared_is_not_green():
    from transforms.monitoring.drift_report import _verdict_badge, comparison_summary

    recs = (drift.not_compared_records(None, "shortcuts", "skew", "no_training_stats")
            + drift.not_compared_records(None, "podcasts", "drift", "missing_on_one_side"))
    assert comparison_summary(recs) == ("0 of 30 feature distances compared; not compared: "
                                        "no_training_stats 17, missing_on_one_side 13")
    assert "nothing compared" in _verdict_badge(recs, []) and "no alert" not in _verdict_badge(recs, [])


# ----------------------------------------------------------------------------------- the job

def _write_day(output, date, stats_by_shelf):
    for stats in stats_by_shelf.values():
        write_stats(str(output / "feature_stats" / f"dt={date}"), stats)


def _day_stats(rng, n, prefix, tod_shift=0.0, edges=None):
    frame = realistic_frame(rng, n, prefix, tod_shift)
    edges = edges or fit_edges_from_frame(frame, "shortcuts")
    return finalize(accumulate(frame, "shortcuts", edges), "shortcuts"), edges


def _args(output, date="2025-01-10", **kw):
    base = dict(date=date, output=str(output), baseline_date=None, training_stats=None, models=None, input=None,
                config=None, runner="DirectRunner")
    return argparse.Namespace(**{**base, **kw})


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    """OUTPUT with shortcuts statistics for 2025-01-08..10 (10 shifts tod_affinity) and training statistics."""
    from jobs import drift as job  # noqa: F401  (import check)

    root = tmp_path_factory.mktemp("driftjob")
    rng = np.random.default_rng(5)
    train, edges = _day_stats(rng, 3000, "t")
    write_stats(str(root / "train"), train)
    for date, shift in (("2025-01-08", 0.0), ("2025-01-09", 0.0), ("2025-01-10", 0.15)):
        _write_day(root / "out", date, {"shortcuts": _day_stats(rng, 3000, date, shift, edges)[0]})
    return root


def test_job_writes_anomalies_logs_alerts_and_exits_1(days, caplog):
    from jobs import drift as job

    with caplog.at_level(logging.WARNING, logger="home_recs.drift"):
        rc = job.run(_args(days / "out", training_stats=str(days / "train")), [])
    assert rc == 1
    doc = json.loads((days / "out" / "drift" / "dt=2025-01-10" / "anomalies.json").read_text())
    assert doc["baseline_date"] == "2025-01-09" and doc["date"] == "2025-01-10"
    fired = [(r["comparison"], r["feature"]) for r in doc["records"] if r["alert"]]
    assert sorted(fired) == [("drift", "tod_affinity"), ("skew", "tod_affinity")]
    alert_lines = [r for r in caplog.records if r.levelno == logging.WARNING and "ALERT" in r.getMessage()]
    assert len(alert_lines) == 2
    assert (days / "out" / "drift" / "dt=2025-01-10" / "report.html").exists()
    assert not (days / "out" / "_staging").exists()
    # shelves without statistics on either side are reported, not compared
    pl = [r for r in doc["records"] if r["shelf"] == "playlists" and r["metric"] == "linf"]
    assert pl and {r["reason"] for r in pl} <= {"no_training_stats", "missing_on_one_side"}


def test_job_quiet_day_exits_0_and_fail_on_alert_can_be_turned_off(days, tmp_path):
    from jobs import drift as job

    assert job.run(_args(days / "out", date="2025-01-09", training_stats=str(days / "train")), []) == 0
    cfg = tmp_path / "c.yaml"
    cfg.write_text("drift:\n  fail_on_alert: false\n")
    assert job.run(_args(days / "out", training_stats=str(days / "train"), config=str(cfg)), []) == 0


def test_job_without_training_stats_reports_skew_not_compared(days, tmp_path):
    from jobs import drift as job

    rc = job.run(_args(days / "out", baseline_date="2025-01-08", models=str(tmp_path / "no-registry")), [])
    assert rc == 1  # drift still fires
    doc = json.loads((days / "out" / "drift" / "dt=2025-01-10" / "anomalies.json").read_text())
    skew = [r for r in doc["records"] if r["comparison"] == "skew"]
    assert skew and all(r["reason"] == "no_training_stats" and r["value"] is None for r in skew)
    assert doc["baseline_date"] == "2025-01-08"
    assert "no_training_stats" in doc["sources"]["training"]["shortcuts"]


def test_after_the_daily_job_a_missing_baseline_is_reported_not_raised(days):
    from jobs.pipelines.drift import drift_for_day

    out = drift_for_day(str(days / "out"), "2025-01-08", "2025-01-07", training_stats=str(days / "train"),
                            missing_ok=True)
    sc = [r for r in out["records"] if r["shelf"] == "shortcuts"]
    assert {r["reason"] for r in sc if r["comparison"] == "drift"} == {"missing_on_one_side"}
    assert all(r["value"] is None for r in sc if r["comparison"] == "drift")
    assert any(r["status"] == "compared" for r in sc if r["comparison"] == "skew")
    with pytest.raises(InputError):
        drift_for_day(str(days / "out"), "2025-01-08", "2025-01-07", training_stats=str(days / "train"))


def test_job_input_errors_exit_2(days, tmp_path, monkeypatch):
    import jobs.cli as cli
    from jobs import drift as job

    with pytest.raises(InputError, match="no serving statistics for 2025-01-20"):
        job.run(_args(days / "out", date="2025-01-21"), [])
    with pytest.raises(InputError, match="--training-stats"):
        job.run(_args(days / "out", training_stats=str(tmp_path / "nothing")), [])
    with pytest.raises(InputError, match="--date"):
        job.run(_args(days / "out", date="10/01/2025"), [])
    assert cli.main(["drift", "--date", "2025-01-21", "--output", str(days / "out")]) == 2
    assert cli.main(["drift", "--date", "2025-01-10", "--output", str(days / "out"),
                     "--training-stats", str(days / "train")]) == 1


def test_job_computes_missing_days_with_the_daily_job(tmp_path):
    """One pipeline run per date: a small synthetic dataset, no statistics yet; `drift --input`
    runs the daily job for both dates (the later one on the earlier one's bin edges)."""
    from jobs import drift as job
    from transforms.io.datasets import write_dataset
    from transforms.data.synthetic import generate

    write_dataset(generate(120, 14, seed=3, end="2026-11-28"), str(tmp_path / "data"))
    rc = job.run(_args(tmp_path / "out", date="2026-11-27", input=str(tmp_path / "data")), [])
    assert rc in (0, 1)
    doc = json.loads((tmp_path / "out" / "drift" / "dt=2026-11-27" / "anomalies.json").read_text())
    assert doc["sources"]["computed_by_this_run"] == ["2026-11-26", "2026-11-27"]
    for day in ("2026-11-26", "2026-11-27"):
        assert (tmp_path / "out" / "feature_stats" / f"dt={day}" / "shortcuts.json").exists()
        assert (tmp_path / "out" / "_manifests" / f"dt={day}" / "_SUCCESS").exists()
    drift_linf = [r for r in doc["records"] if r["comparison"] == "drift" and r["metric"] == "linf"]
    assert not any(r["reason"] == "edges_differ" for r in drift_linf)  # both days on the same edges
    assert any(r["status"] == "compared" for r in drift_linf)
