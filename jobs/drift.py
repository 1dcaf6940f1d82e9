"""``home-recs drift``: skew and drift of one day's serving feature statistics (issue 7).

* skew: each shelf's training statistics (``--training-stats DIR/<shelf>.json``, or the
  ``production`` model's in ``--models REGISTRY``) against ``OUTPUT/feature_stats/dt=D/<shelf>.json``;
* drift: ``OUTPUT/feature_stats/dt=D0/`` (``--baseline-date``, default D-1) against day D.

Serving statistics missing for D or D0 are computed first by running the daily job for that date
into OUTPUT (needs ``--input``), binned on the training edges when there are training statistics,
else the later day on the earlier day's edges, so the two days are comparable.

Writes ``OUTPUT/drift/dt=D/anomalies.json``, ``report.html`` and ``charts/*.png``
(:mod:`transforms.monitoring.drift_report`), staged then swapped in. Logs one WARNING per alert.
Exit code: 1 when an alert fires (unless ``drift.fail_on_alert`` is false), 0 otherwise, 2 on an
input error.
"""
from __future__ import annotations

import argparse

from jobs.pipelines.daily import DailyRequest, print_daily, run_daily
from jobs.pipelines.drift import DriftRequest, check_drift, print_summary
from jobs.plumbing import request_from


def register(sub) -> None:
    p = sub.add_parser(
        "drift", help="skew (training vs serving) and drift (day vs baseline day) of the feature statistics",
        description="Compares OUTPUT/feature_stats/dt=DATE/<shelf>.json with each shelf's training statistics "
                    "(skew) and with the statistics of --baseline-date (drift, default the day before) using the "
                    "Chebyshev (L-infinity) distance, plus dataset-level checks (row count change, missing-rate "
                    "rise). Statistics missing for a date are computed by running the daily job (needs --input). "
                    "Writes OUTPUT/drift/dt=DATE/anomalies.json and report.html (with charts). Exits 1 when an "
                    "alert fires (config drift.fail_on_alert: false turns that off), 2 on input errors. Unknown "
                    "flags go to Beam when the daily job has to run.")
    p.add_argument("--date", required=True, help="the day D to check, YYYY-MM-DD")
    p.add_argument("--output", required=True, help="output root of the daily job (local or gs://)")
    p.add_argument("--baseline-date", help="drift baseline D0, YYYY-MM-DD (default: D - 1 day)")
    p.add_argument("--training-stats", help="folder of training statistics <shelf>.json (e.g. build-examples' "
                   "feature_stats/); takes precedence over --models")
    p.add_argument("--models", help="model registry: training statistics of each shelf's production model")
    p.add_argument("--input", help="dataset folder, to compute missing serving statistics with the daily job")
    p.add_argument("--config", help="YAML file deep-merged over the packaged defaults (section drift:)")
    p.add_argument("--runner", default="DirectRunner", help="Beam runner for the daily job (default DirectRunner)")
    p.set_defaults(func=run, accepts_beam_options=True)


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    request = request_from(DriftRequest, args)
    result = check_drift(request, compute_missing=daily_into(request, beam_args) if request.input else None)
    print_summary(result, result["date"], result["baseline"])
    return 1 if result["fail"] else 0


def daily_into(request: DriftRequest, beam_args: list[str]):
    """The ``compute_missing(day, edges_dir)`` of :func:`jobs.pipelines.drift.drift_for_day`: run the
    daily pipeline for ``day`` from ``request.input`` into ``request.output`` (it publishes the whole
    day, statistics included), binned on ``edges_dir`` when given, and print what daily prints."""
    def compute(day: str, edges_dir: str | None) -> None:
        print_daily(run_daily(DailyRequest(date=day, input=request.input, output=request.output,
                                           config=request.config, runner=request.runner,
                                           training_stats=edges_dir), list(beam_args)))
    return compute
