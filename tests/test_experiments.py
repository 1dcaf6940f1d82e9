"""Experiments (models/serving/experiments.py): stable, independent assignment by salted hash, variant
configs, the config checks, and the variant columns of a daily run."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from jobs.cli import main
from models.serving.experiments import assign, build_variants, variant_config
from models.serving.serving_models import ModelChoice
from transforms.config.config import load_config
from transforms.errors import InputError

SHARES = {"control": {"share": 0.9}, "challenger": {"share": 0.1}}
IDS = np.array([f"L{i:07d}" for i in range(100_000)], dtype=object)


def test_assignment_matches_the_shares_within_sampling_error_and_is_stable():
    which = assign(IDS, "exp_a", SHARES)
    n, p = len(IDS), 0.1
    # binomial count of the challenger: within 4 standard deviations (a false alarm about 1 in 16,000)
    assert abs(int((which == 1).sum()) - n * p) <= 4 * math.sqrt(n * p * (1 - p))
    # stable: the same listener gets the same variant whatever the order or the company it comes in
    order = np.random.default_rng(0).permutation(n)
    assert np.array_equal(assign(IDS[order], "exp_a", SHARES), which[order])
    assert np.array_equal(assign(IDS[:10], "exp_a", SHARES), which[:10])


def test_two_experiments_assign_independently():
    a = assign(IDS, "exp_a", SHARES) == 1
    b = assign(IDS, "exp_b", SHARES) == 1
    n = len(IDS)
    expected = n * a.mean() * b.mean()      # independent: P(a and b) = P(a) P(b), about 1,000
    assert abs(int((a & b).sum()) - expected) <= 4 * math.sqrt(expected)
    assert (a != b).any()


def test_variant_config_merges_like_a_config_file(config):
    got = variant_config(config, {"shelves": {"podcasts": {"size": 12, "sources": {"colisten": 300}}}})
    assert got["shelves"]["podcasts"]["size"] == 12
    # key by key, as a --config file merges: the other quotas stay
    assert got["shelves"]["podcasts"]["sources"] == {"colisten": 300, "popular": 100, "onboarding": 50}
    assert got["shelves"]["podcasts"]["max_per_creator"] == config["shelves"]["podcasts"]["max_per_creator"]
    assert config["shelves"]["podcasts"]["size"] == 10                    # the base config is untouched


@pytest.mark.parametrize("text, message", [
    ("experiments: {e: {variants: {a: {share: 0.5}, b: {share: 0.4}}}}", "variant shares sum to 0.9, not 1"),
    ("experiments: {e: {variants: {a: {share: 1}}}, f: {variants: {a: {share: 1}}}}", "one experiment at a time"),
    ("experiments: {e: {variants: {a: {share: 1, modles: {}}}}}", "keys are ['share', 'shelves', 'models']"),
    ("experiments: {e: {variants: {a: {share: 1, shelves: {podcasts: {sise: 3}}}}}}",
     "`shelves.podcasts.sise`: unknown key; did you mean `size`?"),
    ("experiments: {e: {variants: {a: {share: 1, models: {editors_picks: v1}}}}}", "'editors_picks' is not a model shelf"),
    ("experiments: {e: {variants: {a: {share: 0}}}}", "share must be a number in (0, 1], got 0"),
    ("experiments: [e]", "`experiments` must be a mapping of names to experiments"),
    ("experiments: {e: {variants: {a: {share: 1, shelves: {shortcuts: {sources: {colisten: 50}}}}}}}",
     "variants.a: config: shelves.shortcuts is familiar (familiar: true), so only the history source"),
])
def test_a_malformed_experiment_is_refused_when_the_config_loads(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text + "\n")
    with pytest.raises(InputError) as err:
        load_config(str(path))
    assert message in str(err.value)


def test_variant_models_need_a_registry(config):
    cfg = {**config, "experiments": {"e": {"variants": {"a": {"share": 0.5},
                                                        "b": {"share": 0.5, "models": {"podcasts": "challenger"}}}}}}
    assert build_variants(config, ModelChoice(), None)[0] is None
    with pytest.raises(InputError, match="names models {'podcasts': 'challenger'} but no --models registry"):
        build_variants(cfg, ModelChoice(), None)


def test_daily_rows_carry_the_experiment_and_the_variant_and_the_manifest_counts_them(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    # every listener played a track of album al0 and one of al1
    (data / "events.csv").write_text("listener_id,item_id,item_type,ts,ms_played\n" + "".join(
        f"u{i},t0,track,2024-12-{10 + i % 5}T10:00:00Z,200000\nu{i},t1,track,2024-12-20T10:00:00Z,200000\n"
        for i in range(40)))
    (data / "items.csv").write_text("item_id,item_type,parent_id\nt0,track,al0\nt1,track,al1\nt2,track,al0\n"
                                    "al0,album,\nal1,album,\n")
    (data / "listeners.csv").write_text("listener_id,registered_at,country\n" + "".join(
        f"u{i},2024-01-01,SE\n" for i in range(40)))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("experiments: {shortcuts_size: {variants: {control: {share: 0.5}, short: {share: 0.5, "
                   "shelves: {shortcuts: {size: 1}}}}}}\n")
    out = tmp_path / "out"
    assert main(["daily", "--date", "2025-01-01", "--input", str(data), "--output", str(out), "--config", str(cfg)]) == 0
    recs = pd.read_parquet(out / "recommendations" / "dt=2025-01-01")
    sc = recs[recs["shelf"] == "shortcuts"]
    assert set(recs["experiment"]) == {"shortcuts_size"}
    expected = dict(zip([f"u{i}" for i in range(40)],
                        np.array(["control", "short"])[assign(np.array([f"u{i}" for i in range(40)], dtype=object),
                                                              "shortcuts_size", {"control": {"share": 0.5},
                                                                                 "short": {"share": 0.5}})]))
    assert dict(zip(sc["listener_id"], sc["variant"])) == expected
    # the `short` variant serves one shortcut, control both albums
    sizes = sc.groupby("listener_id").size().to_dict()
    assert sizes == {lid: 1 if v == "short" else 2 for lid, v in expected.items()}
    manifest = json.loads((out / "_manifests" / "dt=2025-01-01" / "manifest.json").read_text())
    variants = manifest["experiment"]["variants"]
    assert {v: c["listeners"] for v, c in variants.items()} == {
        v: sum(1 for x in expected.values() if x == v) for v in ("control", "short")}
