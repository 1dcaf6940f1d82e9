"""``home-recs publish``: publish a day that ``home-recs daily --no-publish`` / ``--submit-only`` staged.

Idempotent and resumable, so an orchestrator can run it after the pipeline and simply retry it:
- the day's ``_SUCCESS`` already holds this run id: nothing to do (says so, exit 0);
- the run's staging is complete (``_request.json`` written at submit, ``_counts.json`` written by the
  pipeline after its last write): the manifest is built from the two, the tables are swapped in
  (a publish killed half-way is finished, see :func:`transforms.io.publish.publish_day`), then
  ``_SUCCESS``;
- anything else (no staging, the pipeline still running or failed, another date): exit 2, one line.
"""
from __future__ import annotations

import argparse

from jobs.pipelines.publish import PublishRequest, print_and_check_drift, publish_staged
from jobs.plumbing import request_from
from transforms.io import publish

HELP = "publish a day staged by `daily --no-publish` or `--submit-only` (idempotent: safe to re-run)"


def register(sub) -> None:
    p = sub.add_parser(
        "publish", help=HELP,
        description="Swaps OUTPUT/_staging/RUN_ID/<table>/dt=DATE/ into OUTPUT/<table>/dt=DATE/, writes the "
                    "manifest (from the run's own _request.json and _counts.json) and _SUCCESS last. Run it "
                    "after the pipeline of `home-recs daily --no-publish` (or --submit-only) has finished. "
                    "Re-running is safe: a day already published by RUN_ID is left as is (exit 0), a publish "
                    "that was killed half-way is completed. A run without complete staging is refused (exit 2).")
    p.add_argument("--output", required=True, help="output root given to daily (local path or gs://bucket/prefix)")
    p.add_argument("--date", required=True, help="the day the run served, YYYY-MM-DD")
    p.add_argument("--run-id", required=True, help="the --run-id given to daily (printed by daily --no-publish)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, _beam_args: list[str]) -> int:
    published = publish_staged(request_from(PublishRequest, args))
    if published.already:
        print(f"home-recs publish {published.date}: already published by run {published.run_id} "
              f"({publish.success_path(args.output, published.date)}); nothing to do")
        return 0
    print_and_check_drift(args.output, published, command="publish")
    return 0
