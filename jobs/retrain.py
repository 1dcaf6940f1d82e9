"""``home-recs retrain``: build-examples -> train -> evaluate -> gate -> register -> promote.

Exit codes (for Airflow): 0 promoted, 3 registered but not promoted (the gate refused), 2 input
error, 1 any other error.
"""
from __future__ import annotations

import argparse

from jobs.common import add_neighbours_as_of
from jobs.pipelines.examples import print_examples
from jobs.pipelines.retrain import RetrainRequest, run_retrain
from jobs.plumbing import request_from
from transforms.features.feature_spec import FEATURE_SPECS

EXIT_PROMOTED, EXIT_NOT_PROMOTED = 0, 3


def register(sub) -> None:
    p = sub.add_parser(
        "retrain", help="build examples, train, evaluate, gate, register and (maybe) promote a shelf's model",
        description="Training examples at as_of dates [AS_OF - train_days, AS_OF), evaluation examples at "
                    "[AS_OF, AS_OF + eval_days) (a later window; labels need events up to the last date + horizon). "
                    "The candidate is always registered; it becomes production only if the gate passes: the metric "
                    "is at or above the shelf's threshold AND does not regress against production on the same "
                    "window (skipped when nothing is in production) AND beats the best baseline on the same "
                    "candidates: the paired bootstrap interval of (model - best baseline) lies above "
                    "gate.baseline_margin. An evaluation window with fewer than gate.min_queries queries with a "
                    "positive stops the run (exit 2). Exit codes: 0 promoted, 3 not promoted, 2 input error, "
                    "1 other error.")
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


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    request = request_from(RetrainRequest, args)
    report, gcfg = run_retrain(request, beam_args, on_examples=print_examples)
    print_decision(request.shelf, report["version"], report, gcfg)
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
