"""``home-recs publish``: publish a day that ``home-recs daily --no-publish`` / ``--submit-only`` staged.

Idempotent and resumable, so an orchestrator can run it after the pipeline and simply retry it:
- the day's ``_SUCCESS`` already holds this run id: nothing to do (says so, exit 0);
- the run's staging is complete (``_request.json`` written at submit, ``_counts.json`` written by the
  pipeline after its last write): the manifest is built from the two, the tables are swapped in
  (a publish killed half-way is finished, see :func:`transforms.publish.publish_day`), then
  ``_SUCCESS``;
- anything else (no staging, the pipeline still running or failed, another date): exit 2, one line.
"""
from __future__ import annotations

import argparse

from jobs.manifest import BEAM_COUNTERS_FILE, JOB_FILE, REQUEST_FILE, build_manifest, print_summary
from transforms import publish, storage
from transforms.counts import COUNTS_FILE
from transforms.errors import InputError

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
    from jobs.daily import after_publish, parse_date

    date = parse_date(args.date)
    if publish.published_run(args.output, date) == args.run_id:
        publish.discard_staging(args.output, args.run_id)   # a publish killed after _SUCCESS left it behind
        print(f"home-recs publish {date}: already published by run {args.run_id} "
              f"({publish.success_path(args.output, date)}); nothing to do")
        return 0
    request, manifest, published = publish_run(args.output, date, args.run_id)
    print_summary(args.output, date, manifest, published, command="publish")
    after_publish(args.output, date, request)
    return 0


def publish_run(output: str, date: str, run_id: str) -> tuple[dict, dict, dict[str, str]]:
    """Publish ``run_id``'s staged day ``date`` under ``output``: returns (the run's request,
    manifest, table -> published path).

    Raises InputError (one line) when the staging is not complete: no ``_request.json`` (no such
    run, or it was already published and cleaned up by another run), a request for another date, or
    no ``_counts.json`` (the pipeline has not finished, or failed)."""
    stage = publish.staging_root(output, run_id)
    request_path, counts_path = storage.join(stage, REQUEST_FILE), storage.join(stage, COUNTS_FILE)
    current = publish.published_run(output, date)
    now = f"; the day is published by run {current}" if current else "; the day is not published"
    if not storage.exists(request_path):
        raise InputError(f"run {run_id}: nothing staged at {stage} (no {REQUEST_FILE}){now}")
    request = storage.read_json(request_path)
    if request["date"] != date:
        raise InputError(f"run {run_id} staged {request['date']}, not --date {date}")
    if not storage.exists(counts_path):
        raise InputError(f"run {run_id}: staging at {stage} is not complete (no {COUNTS_FILE}: the pipeline has "
                         f"not finished, or failed){now}; nothing published")
    written = storage.read_json(counts_path)
    counts = dict(written["counts"])
    beam_path = storage.join(stage, BEAM_COUNTERS_FILE)
    if storage.exists(beam_path):   # stages the graph does not count itself (cpu of validate, aggregates)
        counts = {**storage.read_json(beam_path), **counts}
    job_path = storage.join(stage, JOB_FILE)
    job_id = storage.read_json(job_path).get("job_id") if storage.exists(job_path) else None
    manifest = build_manifest(request, counts, written["finished_at"], job_id=job_id)
    return request, manifest, publish.publish_day(output, run_id, date, request["tables"], manifest)
