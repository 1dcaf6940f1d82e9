"""Publishing a day that ``home-recs daily`` staged: the work of ``home-recs publish``, and of
``daily`` itself when it publishes.

Idempotent and resumable (see :mod:`jobs.publish` for the rules): the manifest is built from the
run's own ``_request.json`` and ``_counts.json`` (:mod:`jobs.manifest`), the tables are swapped in
(:func:`transforms.io.publish.publish_day`), then ``_SUCCESS``; the day's drift follows when the
run's config asks for it (:func:`jobs.pipelines.drift.after_publish`).
"""
from __future__ import annotations

from dataclasses import dataclass

from jobs.manifest import BEAM_COUNTERS_FILE, JOB_FILE, REQUEST_FILE, build_manifest, print_summary, unusable_day
from jobs.pipelines.drift import after_publish, print_after_publish
from jobs.plumbing import parse_date
from transforms.io import publish, storage
from transforms.io.counts import COUNTS_FILE
from transforms.errors import InputError


@dataclass(frozen=True)
class PublishRequest:
    """Publish ``run_id``'s staged ``date`` (``YYYY-MM-DD``) under the daily job's ``output``."""
    output: str
    date: str
    run_id: str


@dataclass
class Published:
    """What a publish did: ``already`` True when the day was published by this run before (nothing
    done; the other fields None); else the run's ``request``, the ``manifest`` and ``paths`` (table ->
    published folder)."""
    date: str
    run_id: str
    already: bool = False
    request: dict | None = None
    manifest: dict | None = None
    paths: dict | None = None


def publish_staged(request: PublishRequest) -> Published:
    """Publish ``request``'s staged day, or do nothing when it is already published by that run
    (a staging folder a killed publish left behind is deleted). Raises InputError (one line) for a
    malformed date or a staging that is not complete (:func:`publish_run`)."""
    date = parse_date(request.date)
    if publish.published_run(request.output, date) == request.run_id:
        publish.discard_staging(request.output, request.run_id)   # a publish killed after _SUCCESS left it behind
        return Published(date, request.run_id, already=True)
    staged_request, manifest, paths = publish_run(request.output, date, request.run_id)
    return Published(date, request.run_id, request=staged_request, manifest=manifest, paths=paths)


def print_and_check_drift(output: str, published: Published, command: str = "daily") -> None:
    """Print the published run's summary (:func:`jobs.manifest.print_summary`), then run the day's
    drift when its config asks for it (:func:`jobs.pipelines.drift.after_publish`) and print its
    two lines: in that order, so the summary is out even when the drift step stops on an error."""
    print_summary(output, published.date, published.manifest, published.paths, command=command)
    print_after_publish(output, published.date, after_publish(output, published.date, published.request))


def publish_run(output: str, date: str, run_id: str) -> tuple[dict, dict, dict[str, str]]:
    """Publish ``run_id``'s staged day ``date`` under ``output``: returns (the run's request,
    manifest, table -> published path).

    Raises InputError (one line) when the staging is not complete: no ``_request.json`` (no such
    run, or it was already published and cleaned up by another run), a request for another date, or
    no ``_counts.json`` (the pipeline has not finished, or failed); and when the day is unusable
    (:func:`jobs.manifest.unusable_day`: no accepted event, or no shelf row), which keeps the day
    published before."""
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
    unusable = unusable_day(manifest)
    if unusable:
        raise InputError(f"{date}: {unusable}; not published{now}; the run's files stay under {stage}")
    return request, manifest, publish.publish_day(output, run_id, date, request["tables"], manifest)
