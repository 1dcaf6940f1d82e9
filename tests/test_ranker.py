"""XGBoost ranker: training on a planted signal, the artifact checks, the Spark back-end's query
group layout, and batched scoring equal to one-listener-at-a-time scoring."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.evaluation.metrics import ranking_metrics
from models.ranking.ranker import ModelMismatchError, XGBoostScorer, ordered_for_ranking, save_model, train
from transforms.errors import InputError
from transforms.features.feature_spec import feature_names


def planted_examples(n_listeners=60, n_items=12, dates=("2025-01-01", "2025-01-02", "2025-01-03"), seed=0):
    """Shortcut examples whose positive is the item with the highest frecency_7d (plus noise)."""
    rng = np.random.default_rng(seed)
    names = feature_names("shortcuts")
    rows = []
    for d in dates:
        for lid in range(n_listeners):
            X = rng.random((n_items, len(names))).astype(np.float32)
            label = np.zeros(n_items, dtype=np.int8)
            label[np.argmax(X[:, names.index("frecency_7d")] + 0.1 * rng.random(n_items))] = 1
            frame = pd.DataFrame(X, columns=names)
            frame.insert(0, "listener_id", f"l{lid:03d}")
            frame.insert(1, "as_of", pd.Timestamp(d, tz="UTC"))
            frame.insert(2, "item_id", [f"i{j:02d}" for j in range(n_items)])
            frame["candidate_source"] = "history"
            frame["label"] = label
            rows.append(frame)
    return pd.concat(rows, ignore_index=True).sort_values(["as_of", "listener_id", "item_id"]).reset_index(drop=True)


def test_local_training_recovers_the_planted_signal(config, tmp_path):
    ex = planted_examples(n_listeners=120)   # enough groups for the early-stopped trees to find the one feature
    booster, meta = train(ex, "shortcuts", config)
    assert meta["training_window"] == {"from": "2025-01-01", "to": "2025-01-02", "as_of_dates": 2}
    assert meta["validation_window"] == {"from": "2025-01-03", "to": "2025-01-03", "as_of_dates": 1}
    assert meta["rows"]["training"] == 2 * 120 * 12 and meta["xgboost_config"]["learner"]["objective"]["name"] == "rank:ndcg"
    saved = save_model(booster, meta, str(tmp_path / "m"))
    scorer = XGBoostScorer(str(tmp_path / "m"), "shortcuts")
    test = planted_examples(dates=("2025-01-04",), seed=1)
    scores = scorer.score(test[feature_names("shortcuts")].to_numpy(np.float32))
    model_ndcg = ranking_metrics(test.assign(score=scores), ks=(1,))["ndcg@1"]
    random_ndcg = ranking_metrics(test.assign(score=np.random.default_rng(2).random(len(test))), ks=(1,))["ndcg@1"]
    oracle = test["frecency_7d"].to_numpy()  # the planted rule without its noise
    oracle_ndcg = ranking_metrics(test.assign(score=oracle), ks=(1,))["ndcg@1"]
    # 12 candidates: random top-1 hits about 1 in 12; the model should get close to the rule
    assert model_ndcg >= 0.85 * oracle_ndcg and random_ndcg < 0.2 < model_ndcg
    assert saved["model_sha256"] and scorer.version == "m"


def test_one_as_of_is_refused(config):
    with pytest.raises(InputError, match="two or more as_of dates"):
        train(planted_examples(dates=("2025-01-01",)), "shortcuts", config)


def test_corrupt_or_mismatched_models_are_refused(config, tmp_path):
    booster, meta = train(planted_examples(n_listeners=20), "shortcuts", config)
    save_model(booster, meta, str(tmp_path / "m"))
    with pytest.raises(ModelMismatchError, match="trained with feature spec"):
        XGBoostScorer(str(tmp_path / "m"), "podcasts")
    meta_path = tmp_path / "m" / "metadata.json"
    bad = json.loads(meta_path.read_text())
    bad["feature_spec_fingerprint"] = "0000"
    meta_path.write_text(json.dumps(bad))
    with pytest.raises(ModelMismatchError, match="retrain"):
        XGBoostScorer(str(tmp_path / "m"), "shortcuts")
    save_model(booster, meta, str(tmp_path / "m"))
    model = tmp_path / "m" / "model.json"
    model.write_bytes(model.read_bytes()[:-20] + b" " * 20)
    with pytest.raises(ModelMismatchError, match="checksum"):
        XGBoostScorer(str(tmp_path / "m"), "shortcuts")


def test_spark_layout_keeps_each_query_group_in_one_sorted_partition(spark):
    qids = [5, 1, 3, 1, 5, 2, 3, 2, 4, 4, 1, 5]
    sdf = ordered_for_ranking(spark.createDataFrame(pd.DataFrame({"qid": qids, "row": range(len(qids))})), 3)
    parts = sdf.rdd.glom().map(lambda rows: [r["qid"] for r in rows]).collect()
    seen = {}
    for p, part in enumerate(parts):
        assert part == sorted(part)
        for q in part:
            assert seen.setdefault(q, p) == p  # a group never spans two partitions
    assert sorted(q for part in parts for q in part) == sorted(qids)


def test_spark_backend_trains_a_comparable_model(config, spark, tmp_path):
    ex = planted_examples(n_listeners=60)
    booster, meta = train(ex, "shortcuts", config, backend="spark")
    save_model(booster, meta, str(tmp_path / "s"))
    scorer = XGBoostScorer(str(tmp_path / "s"), "shortcuts")
    test = planted_examples(n_listeners=30, dates=("2025-01-04",), seed=3)
    scores = scorer.score(test[feature_names("shortcuts")].to_numpy(np.float32))
    assert meta["backend"] == "spark"
    oracle_ndcg = ranking_metrics(test.assign(score=test["frecency_7d"].to_numpy()), ks=(1,))["ndcg@1"]
    assert ranking_metrics(test.assign(score=scores), ks=(1,))["ndcg@1"] >= 0.8 * oracle_ndcg


def test_batched_scoring_equals_one_listener_at_a_time(config, tmp_path):
    from models.serving.heuristic import HeuristicScorer
    from models.serving.home import ServingContext, recommend_batch
    from tests.conftest import ms
    from transforms.listeners.aggregates import build_side_tables, partial_aggregates
    from transforms.listeners.catalog import Catalog
    from transforms.listeners.history import ListenerState, Profile, event_block

    booster, meta = train(planted_examples(n_listeners=20), "shortcuts", config)
    save_model(booster, meta, str(tmp_path / "m"))
    scorer = XGBoostScorer(str(tmp_path / "m"), "shortcuts")
    rng = np.random.default_rng(5)
    items = [f"t{i}" for i in range(30)]
    cat = Catalog.from_items(pd.DataFrame({"item_id": items, "item_type": "track",
                                           "creator_id": [f"a{i % 7}" for i in range(30)],
                                           "duration_ms": 200_000}))
    states = []
    for lid in range(12):
        n = int(rng.integers(1, 25))
        ev = pd.DataFrame({"item_id": rng.choice(items, n), "item_type": "track", "context_id": None,
                           "ts": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 9 * 86400, n), "s"),
                           "ms_played": rng.integers(0, 200_000, n)}).sort_values("ts")
        states.append(ListenerState(f"L{lid}", Profile(ms("2024-06-01"), "SE"), event_block(ev)))
    as_of = ms("2025-01-10")
    cfg = {**config, "shelves": {"shortcuts": {**config["shelves"]["shortcuts"], "item_types": ["track"]}}}
    side = build_side_tables(partial_aggregates(states, as_of, {"shortcuts": ["track"]}, [], cat, cfg), as_of, cfg)
    ctx = ServingContext(as_of, cat, side, None, cfg, {"shortcuts": ["track"]}, {"shortcuts": scorer}, "r")
    calls = []
    original = scorer.score
    scorer.score = lambda X: calls.append(len(X)) or original(X)
    together = recommend_batch(states, ctx).rows
    assert len(calls) == 1 and calls[0] > len(states)  # one predict call for the whole batch
    alone = pd.concat([recommend_batch([s], ctx).rows for s in states], ignore_index=True)
    pd.testing.assert_frame_equal(together.reset_index(drop=True), alone)
    assert (together["source"] == "model").all() and set(together["model_version"]) == {"m"}
    assert not HeuristicScorer("shortcuts", {}).score(np.zeros((1, len(feature_names("shortcuts"))), np.float32)).any()


def test_the_saved_model_stops_at_its_best_validation_round(config, tmp_path):
    cfg = {**config, "ranker": {**config["ranker"], "num_boost_round": 300, "early_stopping_rounds": 10}}
    booster, meta = train(planted_examples(), "shortcuts", cfg)
    # early stopping ran 10 rounds past the best one; those trees are not kept
    assert meta["trained_rounds"] == meta["best_iteration"] + 11
    assert booster.num_boosted_rounds() == meta["best_iteration"] + 1
    save_model(booster, meta, str(tmp_path / "m"))
    assert XGBoostScorer(str(tmp_path / "m"), "shortcuts").booster.num_boosted_rounds() == meta["best_iteration"] + 1


def test_evaluate_explains_windows_it_cannot_measure_in_one_line(config, tmp_path, capsys):
    from jobs.cli import main
    from transforms.features.feature_spec import spec_fingerprint

    ex = planted_examples(n_listeners=40)
    booster, meta = train(ex, "shortcuts", config)
    save_model(booster, meta, str(tmp_path / "m"))

    def write(frame, name, fingerprint=None):
        folder = tmp_path / name / "shelf=shortcuts"
        folder.mkdir(parents=True)
        frame.to_parquet(folder / "part.parquet", index=False)
        summary = {"shelves": {"shortcuts": {"feature_spec_fingerprint": fingerprint or spec_fingerprint("shortcuts")}}}
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
        return ["evaluate", "--shelf", "shortcuts", "--model", str(tmp_path / "m"), "--examples", str(tmp_path / name),
                "--output", str(tmp_path / f"r-{name}")]

    cases = {  # examples -> the one line that explains them
        "none": (write(ex.assign(label=0), "none"), "no positive label in"),
        # 3 dates x 9 listeners = 27 queries, below gate.min_queries 30
        "few": (write(ex[ex["listener_id"] < "l009"], "few"), "27 queries with a positive in"),
        "spec": (write(ex, "spec", fingerprint="0123abcd"), "were built with feature spec 0123abcd"),
    }
    for name, (argv, message) in cases.items():
        assert main(argv) == 2, name
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (name, err)
    assert main(write(ex, "ok")) == 0   # 120 queries, this spec: measured
