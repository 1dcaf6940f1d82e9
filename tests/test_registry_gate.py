"""Model registry, the evaluation gate and serving that follows the production alias (issue 6)."""
from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest

from jobs.cli import main
from models.lifecycle.gate import decide
from models.lifecycle.lifecycle import gate_register_promote
from models.ranking.ranker import save_model, train
from models.lifecycle.registry import Registry, RegistryError
from tests.test_daily_pipeline import broken  # noqa: F401  (fixture: a tiny dataset)
from tests.test_ranker import planted_examples

GATE = {"metric": "ndcg@10", "threshold": 0.3, "tolerance": 0.01}


def test_gate_decisions_by_hand():
    assert decide(0.5, None, GATE)["promote"] is True
    first = decide(0.5, None, GATE)["checks"]["no_regression"]
    assert first["status"] == "skipped" and "no model in production" in first["reason"]
    low = decide(0.2, None, GATE)
    assert not low["promote"] and "below the threshold 0.3000" in low["reasons"][0]
    assert decide(0.495, 0.5, GATE)["promote"] is True  # within the 0.01 tolerance
    worse = decide(0.45, 0.5, GATE)
    assert not worse["promote"] and worse["checks"]["no_regression"]["floor"] == pytest.approx(0.49)
    assert not decide(float("nan"), None, GATE)["promote"]


@pytest.fixture(scope="module")
def models(tmp_path_factory, request):
    """A good model (planted signal) and a bad one (labels shuffled within each query)."""
    from transforms.config.config import load_config

    config = load_config()
    root = tmp_path_factory.mktemp("models")
    good_ex = planted_examples(n_listeners=40)
    bad_ex = good_ex.copy()
    rng = np.random.default_rng(9)
    bad_ex["label"] = bad_ex.groupby(["as_of", "listener_id"])["label"].transform(
        lambda s: rng.permutation(s.to_numpy()))
    for name, ex in (("good", good_ex), ("bad", bad_ex)):
        booster, meta = train(ex, "shortcuts", config)
        save_model(booster, meta, str(root / name))
    eval_ex = planted_examples(n_listeners=40, dates=("2025-01-05", "2025-01-06"), seed=4)
    # the registry flow below, without the baseline check: on these examples the heuristic baseline
    # (frecency_7d) is the planted rule itself, which no model beats (see the next test)
    cfg = {**config, "gate": {**config["gate"], "thresholds": {"shortcuts": 0.3}, "tolerance": 0.01,
                              "baseline_margin": None}}
    return root, eval_ex, cfg


def test_a_model_that_does_not_beat_the_best_baseline_is_refused_with_nothing_in_production(models, tmp_path):
    root, eval_ex, cfg = models
    reg = Registry(str(tmp_path / "reg"))
    with_baseline = {**cfg, "gate": {**cfg["gate"], "baseline_margin": 0.0}}
    report = gate_register_promote(reg, "shortcuts", str(root / "good"), eval_ex, with_baseline)
    check = report["gate"]["checks"]["beats_best_baseline"]
    assert check["status"] == "failed" and check["baseline"] == "baseline_heuristic"
    assert report["gate"]["checks"]["absolute"]["status"] == "passed"   # good enough, but not better than the rule
    low, high = check["interval"]
    assert low <= 0.0 and low <= high and "does not beat the best baseline baseline_heuristic" in report["gate"]["reasons"][0]
    assert not report["promoted"] and reg.alias("shortcuts", "production") is None
    # with nothing in production, the shelf serves the baseline the model failed to beat (issue 14.6)
    assert reg.best_baseline("shortcuts")["baseline"] == "baseline_heuristic"
    assert reg.best_baseline("shortcuts")["version"] == report["version"]


def test_a_two_stump_model_is_refused_by_the_baseline_condition_with_nothing_in_production(models, tmp_path):
    root, eval_ex, cfg = models
    stumps = {**cfg, "ranker": {**cfg["ranker"], "num_boost_round": 2, "early_stopping_rounds": 2,
                                "params": {**cfg["ranker"]["params"], "max_depth": 1}},
              "gate": {**cfg["gate"], "baseline_margin": 0.0}}
    booster, meta = train(planted_examples(n_listeners=40), "shortcuts", stumps)
    assert booster.num_boosted_rounds() == 2
    save_model(booster, meta, str(tmp_path / "stumps"))
    reg = Registry(str(tmp_path / "reg"))
    report = gate_register_promote(reg, "shortcuts", str(tmp_path / "stumps"), eval_ex, stumps)
    checks = report["gate"]["checks"]
    assert checks["no_regression"]["status"] == "skipped"   # nothing in production
    versus = checks["beats_best_baseline"]
    assert versus["status"] == "failed" and versus["interval"][1] < 0   # clearly worse than the planted rule
    assert not report["promoted"] and any("does not beat the best baseline" in r for r in report["gate"]["reasons"])


def test_a_shelf_without_production_serves_its_recorded_best_baseline(tmp_path, broken):  # noqa: F811
    reg = Registry(str(tmp_path / "reg"))
    reg.record_best_baseline("shortcuts", {"baseline": "baseline_recency", "metric": "ndcg@10", "value": 0.5,
                                           "version": "v1", "model_value": 0.4})
    out = tmp_path / "out"
    assert main(["daily", "--date", "2025-01-01", "--input", str(broken), "--output", str(out),
                 "--models", reg.root]) == 0
    shelves = json.loads((out / "_manifests" / "dt=2025-01-01" / "manifest.json").read_text())["shelves"]
    assert shelves["shortcuts"]["ranking"] == "baseline_recency" and shelves["shortcuts"]["fallback"] is True
    assert shelves["shortcuts"]["best_baseline"]["version"] == "v1"
    assert shelves["podcasts"]["ranking"] == "heuristic" and shelves["podcasts"]["best_baseline"] is None
    recs = pd.read_parquet(out / "recommendations" / "dt=2025-01-01" / "shelf=shortcuts")
    assert len(recs) == 4 and set(recs["source"]) == {"baseline"}
    # recency: score = -days since the last play, so each listener's first position is its latest play
    for _, rows in recs.groupby("listener_id"):
        assert rows.sort_values("position")["score"].is_monotonic_decreasing


def test_baseline_scorer_by_hand():
    from models.ranking.baselines import BaselineScorer
    from transforms.features.feature_spec import feature_names

    names = feature_names("shortcuts")
    X = np.zeros((3, len(names)), dtype=np.float32)
    X[:, names.index("last_play_days")] = [2.0, np.nan, 0.5]
    scorer = BaselineScorer("shortcuts", "baseline_recency")
    # -days; the missing one ranks one below the lowest present score (-2 - 1)
    np.testing.assert_array_equal(scorer.score(X), [-2.0, -3.0, -0.5])
    with pytest.raises(Exception, match="cannot rank shelf 'shortcuts'"):
        BaselineScorer("shortcuts", "baseline_colisten")


def test_gate_baseline_check_by_hand():
    from models.lifecycle.gate import paired_bootstrap

    assert paired_bootstrap(np.full(50, 0.1)) == pytest.approx((0.1, 0.1))   # every query better by 0.1
    low, high = paired_bootstrap(np.r_[np.full(50, 0.2), np.full(50, -0.2)])   # as often better as worse
    assert low < 0.0 < high
    cfg = {**GATE, "baseline_margin": 0.0}
    beats = decide(0.5, None, cfg, {"name": "baseline_recency", "value": 0.4, "interval": [0.02, 0.18]})
    assert beats["promote"] and beats["checks"]["beats_best_baseline"]["status"] == "passed"
    ties = decide(0.5, None, cfg, {"name": "baseline_recency", "value": 0.49, "interval": [-0.03, 0.05]})
    assert not ties["promote"] and "[-0.0300, +0.0500] is not above the margin +0.0000" in ties["reasons"][0]
    assert decide(0.5, None, GATE)["checks"]["beats_best_baseline"]["status"] == "skipped"


def test_first_good_model_promoted_then_worse_refused_then_better_promoted(models, tmp_path):
    root, eval_ex, cfg = models
    reg = Registry(str(tmp_path / "reg"))
    first = gate_register_promote(reg, "shortcuts", str(root / "good"), eval_ex, cfg)
    assert first["promoted"] and first["gate"]["checks"]["no_regression"]["status"] == "skipped"
    assert reg.alias("shortcuts", "production") == first["version"] and reg.alias("shortcuts", "previous") is None

    worse = gate_register_promote(reg, "shortcuts", str(root / "bad"), eval_ex, cfg)
    assert not worse["promoted"] and worse["gate"]["checks"]["no_regression"]["status"] == "failed"
    assert worse["production_metric"] > worse["model"]["metrics"]["ndcg@10"] + 0.01
    assert reg.alias("shortcuts", "production") == first["version"]  # unchanged
    assert worse["version"] in reg.versions("shortcuts")  # registered all the same

    # a model at least as good (the same good model, retrained) is promoted; previous keeps the old one
    better = gate_register_promote(reg, "shortcuts", str(root / "good"), eval_ex, cfg)
    assert better["promoted"] and better["version"] != first["version"]
    assert reg.alias("shortcuts", "previous") == first["version"]
    moves = [(h["alias"], h["version"]) for h in reg.history("shortcuts")]
    assert moves == [("production", first["version"]), ("previous", first["version"]),
                     ("production", better["version"])]


def _registry_with_two(models, tmp_path):
    root, eval_ex, cfg = models
    reg = Registry(str(tmp_path / "reg"))
    a = reg.register("shortcuts", str(root / "good"))
    b = reg.register("shortcuts", str(root / "bad"))
    reg.promote("shortcuts", a)
    reg.promote("shortcuts", b)
    return reg, a, b


def test_rollback_and_the_next_daily_run_serves_it(models, tmp_path, broken):  # noqa: F811
    reg, a, b = _registry_with_two(models, tmp_path)
    assert (reg.alias("shortcuts", "production"), reg.alias("shortcuts", "previous")) == (b, a)
    assert main(["models", "rollback", "--shelf", "shortcuts", "--models", reg.root]) == 0
    assert (reg.alias("shortcuts", "production"), reg.alias("shortcuts", "previous")) == (a, b)
    out = tmp_path / "out"
    assert main(["daily", "--date", "2025-01-01", "--input", str(broken), "--output", str(out),
                 "--models", reg.root]) == 0
    manifest = json.loads((out / "_manifests" / "dt=2025-01-01" / "manifest.json").read_text())
    assert manifest["shelves"]["shortcuts"]["model_version"] == a
    assert manifest["shelves"]["shortcuts"]["ranking"] == "model"
    assert manifest["shelves"]["podcasts"]["fallback"] is True  # no podcasts model registered
    recs = pd.read_parquet(out / "recommendations" / "dt=2025-01-01" / "shelf=shortcuts")
    assert set(recs["model_version"]) == {a} and set(recs["source"]) == {"model"}


def test_corrupt_production_model_is_served_by_the_fallback(models, tmp_path, broken):  # noqa: F811
    reg, a, b = _registry_with_two(models, tmp_path)
    model = tmp_path / "reg" / "models" / "shortcuts" / "versions" / b / "model.json"
    model.write_bytes(model.read_bytes().replace(b'"', b"'", 3))
    with pytest.raises(RegistryError, match="checksum mismatch"):
        reg.verify("shortcuts", b)
    out = tmp_path / "out"
    assert main(["daily", "--date", "2025-01-01", "--input", str(broken), "--output", str(out),
                 "--models", reg.root]) == 0
    shelf = json.loads((out / "_manifests" / "dt=2025-01-01" / "manifest.json").read_text())["shelves"]["shortcuts"]
    assert shelf["fallback"] is True and "checksum mismatch" in shelf["fallback_reason"]
    recs = pd.read_parquet(out / "recommendations" / "dt=2025-01-01" / "shelf=shortcuts")
    # the Home page is not empty: al, x (a) and pl, y (b), as in test_daily_pipeline
    assert len(recs) == 4 and set(recs["source"]) == {"fallback"}


def test_concurrent_promotions_never_expose_a_half_written_alias(models, tmp_path):
    reg, a, b = _registry_with_two(models, tmp_path)
    alias_file = tmp_path / "reg" / "models" / "shortcuts" / "aliases" / "production.json"
    seen, errors, stop = set(), [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                seen.add(json.loads(alias_file.read_text())["version"])
            except Exception as err:  # a torn or half-written file would land here
                errors.append(repr(err))

    def promoter(version):
        for _ in range(60):
            Registry(reg.root).promote("shortcuts", version, reason="race")
            Registry(reg.root).promote("shortcuts", a if version == b else b, reason="race")

    threads = [threading.Thread(target=reader)] + [threading.Thread(target=promoter, args=(v,)) for v in (a, b)]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join()
    stop.set()
    threads[0].join()
    assert errors == [] and seen <= {a, b} and seen
    assert reg.alias("shortcuts", "production") in {a, b}
    assert not list(alias_file.parent.glob("*.tmp-*"))  # no temp files left behind


def test_provenance_names_the_commit_from_the_environment_or_the_checkout(monkeypatch):
    import subprocess

    from transforms.io import provenance

    provenance.git_commit.cache_clear()
    monkeypatch.setenv("HOME_RECS_GIT_COMMIT", "abc123")
    assert provenance.git_commit() == "abc123"
    provenance.git_commit.cache_clear()
    monkeypatch.delenv("HOME_RECS_GIT_COMMIT")
    repo = provenance.__file__.rsplit("/", 2)[0]
    here = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=repo)
    assert provenance.git_commit() == (here.stdout.strip() if here.returncode == 0 else None)
    provenance.git_commit.cache_clear()


def test_a_challenger_passes_the_gate_serves_an_experiment_then_is_promoted_on_its_verdict(models, tmp_path, capsys):
    from jobs.cli import main

    root, eval_ex, cfg = models
    reg = Registry(str(tmp_path / "reg"))
    good = gate_register_promote(reg, "shortcuts", str(root / "good"), eval_ex, cfg, target="challenger")
    # the gate passed: challenger moves, production does not
    assert good["promoted"] and good["target"] == "challenger"
    assert reg.alias("shortcuts", "challenger") == good["version"] and reg.alias("shortcuts", "production") is None
    # a variant can name it (models.serving.experiments resolves aliases in the registry)
    from models.serving.experiments import _resolve

    assert _resolve(str(tmp_path / "reg"), {"shortcuts": "challenger"}, "test")["shortcuts"][1] == good["version"]
    # ... or a version by its id
    assert _resolve(str(tmp_path / "reg"), {"shortcuts": good["version"]}, "test")["shortcuts"][1] == good["version"]
    # promoting from the alias checks the recorded gate verdict: passed -> production
    args = ["models", "promote", "--models", str(tmp_path / "reg"), "--shelf", "shortcuts"]
    assert main(args + ["--from-alias", "challenger"]) == 0
    assert reg.alias("shortcuts", "production") == good["version"]
    # a challenger whose verdict failed is not promoted (exit 3), and production stays
    bad = gate_register_promote(reg, "shortcuts", str(root / "bad"), eval_ex, cfg, target="challenger")
    assert not bad["promoted"] and reg.alias("shortcuts", "challenger") == good["version"]
    reg.set_challenger("shortcuts", bad["version"], reason="test: forced")
    capsys.readouterr()
    assert main(args + ["--from-alias", "challenger"]) == 3
    failed = [k for k, c in bad["gate"]["checks"].items() if c["status"] == "failed"]
    assert f"NOT promoted: its gate verdict failed ({', '.join(failed)})" in capsys.readouterr().out
    assert reg.alias("shortcuts", "production") == good["version"]
    assert main(args) == 2   # neither --version nor --from-alias
