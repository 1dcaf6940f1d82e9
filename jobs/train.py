"""``home-recs train``: fit one shelf's XGBoost ranker on training examples."""
from __future__ import annotations

import argparse
import logging
import time

from models.ranking.ranker import save_model, train
from transforms.io import storage
from transforms.config.config import load_config
from transforms.io.examples_table import read_examples
from transforms.features.feature_spec import FEATURE_SPECS
from transforms.features.feature_stats import stats_path

log = logging.getLogger("home_recs.train")


def register(sub) -> None:
    p = sub.add_parser(
        "train", help="train a shelf's XGBoost ranker on examples from build-examples",
        description="Learning-to-rank with (as_of, listener) query groups. The latest --validation-days as_of "
                    "dates of the examples are the validation window for early stopping (never a random split). "
                    "Writes OUTPUT/model.json, OUTPUT/metadata.json (effective parameters, feature spec fingerprint, "
                    "windows, row counts, xgboost version, checksum) and OUTPUT/training_stats.json.")
    p.add_argument("--shelf", required=True, choices=sorted(FEATURE_SPECS))
    p.add_argument("--examples", required=True, help="output folder of `home-recs build-examples`")
    p.add_argument("--output", required=True, help="model folder to write (local or gs://)")
    p.add_argument("--from", dest="date_from", help="only examples with as_of on or after this date (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", help="only examples with as_of on or before this date (YYYY-MM-DD)")
    p.add_argument("--config", help="YAML deep-merged over the defaults (ranker: objective, params, ...)")
    p.add_argument("--backend", choices=["local", "spark"], help="override ranker.backend")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, _unknown: list[str]) -> int:
    started = time.time()
    config = load_config(args.config)
    examples = read_examples(args.examples, args.shelf, args.date_from, args.date_to)
    booster, meta = train(examples, args.shelf, config, args.backend)
    stats_file = stats_path(storage.join(args.examples, "feature_stats"), args.shelf)
    training_stats = storage.read_json(stats_file) if storage.exists(stats_file) else None
    meta["examples"] = args.examples
    meta["wall_time_s"] = round(time.time() - started, 1)
    meta = save_model(booster, meta, args.output, training_stats)
    print(f"home-recs train {args.shelf}: {meta['backend']} backend, {meta['rows']['training_used']:,} training rows "
          f"({meta['training_window']['from']}..{meta['training_window']['to']}), validation "
          f"{meta['validation_window']['from']}..{meta['validation_window']['to']}, best iteration "
          f"{meta['best_iteration']}, {meta['wall_time_s']:.1f} s -> {args.output}")
    return 0
