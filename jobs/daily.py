"""``home-recs daily``: precompute every listener's Home shelves for one date (Beam).

Wiring only: the flags become a :class:`~jobs.pipelines.daily.DailyRequest` for
:func:`~jobs.pipelines.daily.run_daily`, whose result is printed.
"""
from __future__ import annotations

import argparse

from jobs.common import add_neighbours_as_of
from jobs.pipelines.daily import DailyRequest, print_daily, run_daily
from jobs.plumbing import request_from


def register(sub) -> None:
    p = sub.add_parser(
        "daily", help="compute every listener's Home shelves for one date (Beam)",
        description="Reads INPUT/{events,items,listeners,curation} (Parquet, CSV or JSON Lines; local or gs://), "
                    "validates every row (bad rows go to OUTPUT/rejected/dt=DATE/ with a reason), builds each "
                    "listener's history before DATE 00:00 UTC, generates candidates, scores them and writes "
                    "OUTPUT/recommendations/dt=DATE/shelf=NAME/*.parquet plus OUTPUT/_manifests/dt=DATE/manifest.json "
                    "and _SUCCESS (last), then drift and skew alerts to OUTPUT/drift/dt=DATE/. Re-running a date "
                    "replaces that date. With --no-publish or --submit-only the day stays in OUTPUT/_staging/RUN_ID/ "
                    "for `home-recs publish`. Unknown flags go to Beam's PipelineOptions (e.g. --runner DataflowRunner "
                    "--project P --region R --temp_location gs://...; on DirectRunner, --direct_num_workers 2 "
                    "--direct_running_mode multi_processing uses both cores).")
    p.add_argument("--date", required=True, help="the day to serve, YYYY-MM-DD; as_of = its 00:00 UTC")
    p.add_argument("--input", required=True, help="dataset folder (local path or gs://bucket/prefix)")
    p.add_argument("--output", required=True, help="output root (local path or gs://bucket/prefix)")
    p.add_argument("--config", help="YAML file deep-merged over the packaged defaults")
    p.add_argument("--runner", default="DirectRunner",
                   help="Beam runner (default DirectRunner; Prism needs internet, so it is never implied)")
    p.add_argument("--run-id", "--run_id", dest="run_id",   # --run_id: the Flex Template's parameter name
                   help="id stamped on every row, and of the staging folder OUTPUT/_staging/RUN_ID/ that "
                        "`home-recs publish --run-id` publishes (default: UTC time + random suffix)")
    p.add_argument("--neighbours", help="output of `home-recs item-neighbours` (Spark): co-listening and ALS "
                   "candidate sources read it as a side input instead of counting pairs in Beam. Its as_of "
                   "(summary.json) must be at or before --date, else the job stops")
    add_neighbours_as_of(p)
    p.add_argument("--neighbours-missing-ok", action="store_true",
                   help="when the --neighbours table is absent, or its job output has no _SUCCESS (the Spark job "
                        "failed or is still writing), serve without it (Beam counts co-listening, as without "
                        "--neighbours) and say so in the manifest, instead of stopping; a table that exists but was "
                        "built after --date, or whose as_of is unknown (no summary.json), is still refused")
    p.add_argument("--models", help="model registry root: each model shelf serves its 'production' version "
                   "(checksums and feature spec verified; unusable or missing -> heuristic fallback, flagged)")
    p.add_argument("--model", action="append", default=[], metavar="SHELF=PATH",
                   help="serve SHELF with the XGBoost model folder PATH (repeatable); shelves given none serve "
                        "the heuristic (source=heuristic), an unusable one falls back to it (source=fallback)")
    p.add_argument("--training-stats", help="folder of training feature statistics (<shelf>.json, e.g. the "
                   "feature_stats/ of build-examples): serving statistics reuse their bin edges")
    p.add_argument("--log-features", action="store_true",
                   help="also write the served features to OUTPUT/served_features/dt=DATE/shelf=NAME/ (skew audits)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--no-publish", action="store_true",
                      help="run the pipeline and wait for it, but leave the day in OUTPUT/_staging/RUN_ID/ for a "
                           "separate `home-recs publish --output OUTPUT --date DATE --run-id RUN_ID` step (exit "
                           "code: the pipeline's)")
    when.add_argument("--submit-only", action="store_true",
                      help="submit the pipeline and exit without waiting or publishing (Flex Template launcher, "
                           "Airflow's Beam operator: they watch the job); then run `home-recs publish`. The run "
                           "writes what publish needs into its staging folder itself")
    p.set_defaults(func=run, accepts_beam_options=True)


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    print_daily(run_daily(request_from(DailyRequest, args), beam_args))
    return 0
