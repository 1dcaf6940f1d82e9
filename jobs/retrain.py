"""``home-recs retrain``: build-examples -> train -> evaluate -> gate -> register -> promote.

Exit codes (for Airflow): 0 promoted, 3 registered but not promoted (the gate refused), 2 input
error, 1 any other error.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import tempfile
import time

import pandas as pd

from jobs.common import add_neighbours_as_of, check_neighbours_flags
from jobs.pipelines.examples import ExamplesRequest, build_examples, print_examples
from jobs.plumbing import parse_date
from models.eval_report import write_report
from models.evaluation import check_evaluable
from models.gate import gate_config
from models.lifecycle import gate_register_promote
from models.ranker import save_model, train
from models.registry import Registry
from transforms import storage
from transforms.config import load_config
from transforms.errors import InputError
from transforms.examples_table import read_examples
from transforms.feature_spec import FEATURE_SPECS
from transforms.feature_stats import accumulate, finalize
from transforms.neighbours_table import missing_reason

log = logging.getLogger("home_recs.retrain")
EXIT_PROMOTED, EXIT_NOT_PROMOTED = 0, 3


def register(sub) -> None:
    p = sub.add_parser(
        "retrain", help="build examples, train, evaluate, gate, register and (maybe) promote a shelf's model",
        description="Training examples at as_of dates [AS_OF - train_days, AS_OF), evaluation examples at "
                    "[AS_OF, AS_OF + eval_days) (a later window; labels need events up to the last date + horizon). "
                    "The candidate is always registered; it becomes production only if the gate passes: the metric "
                    "is at or above the shelf's threshold AND does not regress against production on the same "
                    "window (skipped when nothing is in production). Exit codes: 0 promoted, 3 not promoted, "
                    "2 input error, 1 other error.")
    p.add_argument("--shelf", required=True, choices=sorted(FEATURE_SPECS))
    p.add_argument("--as-of", required=True, help="YYYY-MM-DD: boundary between training and evaluation windows")
    p.add_argument("--input", required=True, help="dataset folder")
    p.add_argument("--models", required=True, help="registry root (local or gs://)")
    p.add_argument("--config", help="YAML deep-merged over the defaults (ranker, gate, retrain sections)")
    p.add_argument("--examples", help="reuse examples from `build-examples` covering both windows instead of "
                   "building them (e.g. to retrain with another config on the same data)")
    p.add_argument("--work", help="scratch folder for examples and the candidate model (default: a temp dir)")
    p.add_argument("--runner", default="DirectRunner", help="Beam runner for build-examples")
    p.add_argument("--neighbours", help="output of `home-recs item-neighbours` for the candidate sources: one table "
                   "for every example date, so it must be built at or before the first training date "
                   "(AS_OF - retrain.train_days), else the job stops before building examples")
    p.add_argument("--to", choices=("production", "challenger"), default="production",
                   help="the alias a candidate that passes the gate moves: production (default), or challenger, "
                        "to serve it to an experiment's variant first (`models: {SHELF: challenger}`); "
                        "`home-recs models promote --from-alias challenger` then promotes it")
    add_neighbours_as_of(p)
    p.add_argument("--neighbours-missing-ok", action="store_true",
                   help="when the --neighbours table is absent, or its job output has no _SUCCESS (the Spark job "
                        "of that day failed, or its dt= folder was deleted), train without it (Beam counts "
                        "co-listening at each example date, as without --neighbours) and say so in the retrain "
                        "report, instead of stopping; a table built after the first training date, or of unknown "
                        "as_of, is still refused")
    p.set_defaults(func=run, accepts_beam_options=True)


def usable_neighbours(args: argparse.Namespace) -> tuple[str | None, str | None, dict | None]:
    """(--neighbours path, --neighbours-as-of, skipped) for the examples of this retrain.

    With ``--neighbours-missing-ok`` and a table that is absent or incomplete
    (:func:`transforms.neighbours_table.missing_reason`), the path and declared as_of are dropped and
    ``skipped`` = ``{"path": ..., "reason": ...}``; otherwise they are returned unchanged and
    ``skipped`` is None (a table that exists is then checked point in time by build-examples).
    Raises InputError for --neighbours-as-of or --neighbours-missing-ok without --neighbours.
    """
    check_neighbours_flags(args)
    path, declared = getattr(args, "neighbours", None), getattr(args, "neighbours_as_of", None)
    reason = missing_reason(path) if path and getattr(args, "neighbours_missing_ok", False) else None
    if reason is None:
        return path, declared, None
    # the weekly retrain must not fail because one day's Spark job did: the examples fall back to Beam
    log.warning("training without the neighbours table (--neighbours-missing-ok): %s", reason)
    return None, None, {"path": path, "reason": reason}


def windows(as_of: str, train_days: int, eval_days: int) -> tuple[list[str], list[str]]:
    """(training as_of dates, evaluation as_of dates) as YYYY-MM-DD lists. Raises InputError."""
    d = dt.date.fromisoformat(parse_date(as_of, "--as-of"))
    train = [(d - dt.timedelta(days=i)).isoformat() for i in range(train_days, 0, -1)]
    ev = [(d + dt.timedelta(days=i)).isoformat() for i in range(eval_days)]
    return train, ev


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    started = time.time()
    config = load_config(args.config)
    rc = config["retrain"]
    train_dates, eval_dates = windows(args.as_of, int(rc["train_days"]), int(rc["eval_days"]))
    neighbours, neighbours_as_of, skipped = usable_neighbours(args)
    work = args.work or tempfile.mkdtemp(prefix="home-recs-retrain-")
    ex_dir, model_dir = storage.join(work, "examples"), storage.join(work, "candidate")
    log.info("retrain %s: training %s..%s, evaluation %s..%s, work %s", args.shelf, train_dates[0], train_dates[-1],
             eval_dates[0], eval_dates[-1], work)
    if args.examples:  # examples built earlier (same feature spec is checked when they are read)
        ex_dir = args.examples
    else:
        print_examples(build_examples(ExamplesRequest(
            as_of=",".join(train_dates + eval_dates), horizon=rc["horizon"], input=args.input, output=ex_dir,
            config=args.config, runner=args.runner, neighbours=neighbours, neighbours_as_of=neighbours_as_of,
            shelf=(args.shelf,)), beam_args), ex_dir)
    examples = read_examples(ex_dir, args.shelf, train_dates[0], eval_dates[-1])
    cut = pd.Timestamp(args.as_of, tz="UTC")
    train_ex, eval_ex = examples[examples["as_of"] < cut], examples[examples["as_of"] >= cut]
    if eval_ex.empty:
        raise InputError(f"no evaluation examples at {eval_dates[0]}..{eval_dates[-1]}: does the input reach that far?")
    # before training: a window too small to measure must not promote anything (exit 2)
    check_evaluable(eval_ex, args.shelf, gate_config(config, args.shelf)["min_queries"],
                    f"the evaluation window {eval_dates[0]}..{eval_dates[-1]}")

    booster, meta = train(train_ex, args.shelf, config)
    stats = finalize(accumulate(train_ex, args.shelf), args.shelf,
                     min_listeners=int(config["feature_stats"]["min_listeners"]))
    save_model(booster, meta, model_dir, training_stats=stats)
    reg = Registry(args.models)
    report = gate_register_promote(reg, args.shelf, model_dir, eval_ex, config, target=getattr(args, "to", "production"))
    version, gcfg = report["version"], gate_config(config, args.shelf)
    report["wall_time_s"] = round(time.time() - started, 1)
    report["neighbours_skipped"] = skipped
    storage.write_json(storage.join(reg.version_dir(args.shelf, version), "retrain_report.json"), report)
    write_report(report, storage.join(work, "report"))
    print_decision(args.shelf, version, report, gcfg)
    return EXIT_PROMOTED if report["promoted"] else EXIT_NOT_PROMOTED


def print_decision(shelf: str, version: str, report: dict, gcfg: dict) -> None:
    d = report["gate"]
    print(f"home-recs retrain {shelf}: registered {version}; "
          f"{('PROMOTED to ' + report.get('target', 'production')) if d['promote'] else 'NOT promoted'} "
          f"({report['wall_time_s']:.0f} s)")
    a, r = d["checks"]["absolute"], d["checks"]["no_regression"]
    print(f"  absolute: {gcfg['metric']} {a['value']:.4f} >= {a['threshold']:.4f}: {a['status']}")
    if r["status"] == "skipped":
        print(f"  no regression: skipped ({r['reason']})")
    else:
        print(f"  no regression: {r['value']:.4f} >= production {r['production']:.4f} - {r['tolerance']:.4f}: "
              f"{r['status']}")
    b = d["checks"]["beats_best_baseline"]
    if b["status"] == "skipped":
        best = report["best_baseline_ndcg@10"]
        print(f"  beats best baseline: skipped ({b['reason']}); best baseline {best['name']} ndcg@10 {best['value']:.4f}")
    else:
        low, high = b["interval"]
        print(f"  beats best baseline: {b['baseline']} {b['baseline_value']:.4f}; model - baseline, "
              f"{gcfg['baseline_confidence']:.0%} interval [{low:+.4f}, {high:+.4f}] > {b['margin']:+.4f}: {b['status']}")
    for reason in d["reasons"]:
        print(f"  reason: {reason}")
    if report.get("neighbours_skipped"):
        print(f"  neighbours: NOT USED ({report['neighbours_skipped']['reason']})")
    key = f"ndcg@{report.get('served_size')}"
    if key != gcfg["metric"] and key in report["model"]["metrics"]:   # what the shelf shows; not gated
        base = {n: b["metrics"].get(key) for n, b in report["baselines"].items()}
        name = max(base, key=lambda n: -1.0 if base[n] is None or base[n] != base[n] else base[n])
        print(f"  at the served size (not gated): {key} model {report['model']['metrics'][key]:.4f}, "
              f"best baseline {name} {base[name]:.4f}")
