"""The daily pipeline behind ``home-recs daily``: :func:`run_daily` takes a :class:`DailyRequest`.

Checks everything it can before any input is read, writes the run's request into its staging
folder, builds the Beam graph (ReadInputs -> BuildSideTables -> RecommendShelves -> WriteOutputs),
runs it and, unless asked not to, publishes the day (:mod:`jobs.pipelines.publish`).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

import apache_beam as beam
import pandas as pd

from jobs.beam_runner import check_pipeline_args, make_pipeline, read_counters
from jobs.common import (BuildSideTables, ReadInputs, check_inputs, check_neighbours_flags, check_output,
                         check_registry)
from jobs.manifest import BEAM_COUNTERS_FILE, JOB_FILE, REQUEST_FILE, build_request, write_request
from jobs.pipelines.publish import Published, print_and_check_drift, publish_run
from jobs.pipelines.serving import TABLES_OUT, RecommendFn, RecommendShelves, WriteOutputs
from jobs.plumbing import parse_date, production_models, staging
from models.config_checks import check_config
from models.serving.experiments import build_variants
from models.serving.home import day_start_ms
from models.serving.serving_models import ModelChoice, choose_models, recorded_baselines
from transforms.io import publish, storage
from transforms.config.config import load_config
from transforms.errors import InputError
from transforms.features.feature_spec import FEATURE_SPECS
from transforms.features.feature_stats import stats_path
from transforms.io.neighbours_table import check_point_in_time, missing_reason

log = logging.getLogger("home_recs.daily")


@dataclass(frozen=True)
class DailyRequest:
    """One day to serve, as ``home-recs daily`` parses it (see its --help for each flag): ``date``
    ``YYYY-MM-DD``, ``input`` and ``output`` folders (local or gs://), an optional config file,
    the Beam ``runner``, a ``run_id`` (None: a new one), the Spark ``neighbours`` table with its
    declared as_of and missing-ok switch, a model registry (``models``) and explicit ``model``
    flags ``SHELF=PATH``, a training statistics folder, ``log_features``, and ``no_publish`` /
    ``submit_only`` (stop after the pipeline / after submitting it)."""
    date: str
    input: str
    output: str
    config: str | None = None
    runner: str = "DirectRunner"
    run_id: str | None = None
    neighbours: str | None = None
    neighbours_as_of: str | None = None
    neighbours_missing_ok: bool = False
    models: str | None = None
    model: tuple[str, ...] = ()
    training_stats: str | None = None
    log_features: bool = False
    no_publish: bool = False
    submit_only: bool = False


@dataclass
class DailyResult:
    """What :func:`run_daily` did: ``status`` ``submitted`` (the runner has the job; ``job_id`` when
    it gave one), ``staged`` (finished, left in ``stage`` for ``home-recs publish``) or
    ``published`` (``published`` holds the manifest and paths); ``publish_command`` is the command
    that publishes the staged run."""
    status: str
    date: str
    run_id: str
    output: str
    stage: str
    publish_command: str
    job_id: str | None = None
    published: Published | None = None


def run_daily(request: DailyRequest, beam_args: list[str]) -> DailyResult:
    """Serve ``request``'s day with the Beam flags ``beam_args`` (see the module docstring).
    Raises InputError (one line) for any bad flag, config, input or output, before any input is
    read; a reused run id is refused."""
    args = request
    started = time.time()
    date = parse_date(args.date)
    config = load_config(args.config)
    check_config(config)   # sources, rules and item types, of the config and each variant
    check_neighbours_flags(args)
    check_pipeline_args(args.runner, beam_args)
    run_id, stage = staging(args.output, args.run_id)
    now = pd.Timestamp.now(tz="UTC")
    as_of_ms = day_start_ms(date)
    skipped = missing_reason(args.neighbours) if args.neighbours and getattr(args, "neighbours_missing_ok", False) \
        else None
    if skipped:   # the Home page must not wait for the Spark job (the DAG runs daily after it either way)
        log.warning("serving without the neighbours table (--neighbours-missing-ok): %s", skipped)
        skipped, args = {"path": args.neighbours, "reason": skipped}, dataclasses.replace(args, neighbours=None)
    # a table built after the served date holds plays the day has not seen yet (a backfill, a wrong path)
    nb_as_of = (check_point_in_time(args.neighbours, date, "serving", getattr(args, "neighbours_as_of", None))
                if args.neighbours else None)
    check_output(args.output)
    check_registry(args.models)
    files = check_inputs(args.input)
    log.info("daily %s: as_of %s UTC, run %s, inputs %s", date, date, run_id,
             {t: len(f) for t, f in files.items()})
    # every run writes its request first (a folder is not an object on GCS: test the file)
    if storage.exists(storage.join(stage, REQUEST_FILE)) or publish.published_run(args.output, date) == run_id:
        raise InputError(f"--run-id {run_id} was already used for {args.output} (staged or published): "
                         f"give each run its own id")
    requested, registry_fallbacks = ({}, {}) if not args.models else production_models(
        args.models, [s for s, c in config["shelves"].items() if s in FEATURE_SPECS and c["kind"] == "model"])
    requested.update(parse_model_flags(args.model))  # an explicit --model wins over the registry
    models = choose_models(requested)
    for shelf, reason in registry_fallbacks.items():
        if shelf not in models.paths:
            models.fallbacks.setdefault(shelf, reason)
    if args.models:   # a shelf without a usable production model serves its measured best baseline
        models.baselines = recorded_baselines(args.models, [s for s in models.fallbacks if s not in models.paths])
    experiment, variants = build_variants(config, models, args.models)
    edges = training_edges(args.training_stats) if args.training_stats else registry_edges(models)
    tables = TABLES_OUT + ["served_features", "feature_stats"]
    asked = build_request(args, date, run_id, config, files, started, models, tables, (experiment, variants),
                          neighbours_as_of=nb_as_of, neighbours_skipped=skipped)
    # written before the pipeline exists: whoever publishes needs nothing from this process
    write_request(storage.join(stage, REQUEST_FILE), asked)
    p = make_pipeline(args.runner, beam_args)
    inputs = p | "ReadInputs" >> ReadInputs(files, now, config, stage)
    side = ((inputs.listeners, inputs.catalog)
            | "BuildSideTables" >> BuildSideTables([as_of_ms], config, args.neighbours) | "OnlyDay" >> beam.Values())
    out = inputs.listeners | "RecommendShelves" >> RecommendShelves(
        RecommendFn(as_of_ms, config, run_id, experiment, variants), inputs.catalog, side, inputs.curation)
    ({**out, "rejected": inputs.rejected, "input_counts": inputs.counts}
     | "WriteOutputs" >> WriteOutputs(stage, date, config, edges, args.log_features))

    result = p.run()
    job_id = getattr(result, "job_id", lambda: None)()
    if job_id:
        storage.write_json(storage.join(stage, JOB_FILE), {"job_id": job_id, "runner": args.runner})
    how = (f"home-recs publish --output {args.output} --date {date} --run-id {run_id}")
    done = DailyResult("submitted", date, run_id, args.output, stage, how, job_id)
    if args.submit_only:
        return done
    result.wait_until_finish()
    # Beam's own counters add the stages the graph does not count itself (cpu of validate, aggregates)
    storage.write_json(storage.join(stage, BEAM_COUNTERS_FILE), read_counters(result))
    if args.no_publish:
        return dataclasses.replace(done, status="staged")
    staged_request, manifest, paths = publish_run(args.output, date, run_id)
    return dataclasses.replace(done, status="published", published=Published(
        date, run_id, request=staged_request, manifest=manifest, paths=paths))


def print_daily(result: DailyResult) -> None:
    """What ``home-recs daily`` prints for ``result``: one line for a submitted or staged run; for a
    published one its summary, then the day's drift (:func:`print_and_check_drift`)."""
    if result.status == "submitted":
        print(f"home-recs daily {result.date}: submitted run {result.run_id}"
                + (f" (job {result.job_id})" if result.job_id else "")
              + f"; when it has finished: {result.publish_command}")
    elif result.status == "staged":
        print(f"home-recs daily {result.date}: run {result.run_id} staged in {result.stage}; publish it with: "
              f"{result.publish_command}")
    else:
        print_and_check_drift(result.output, result.published)


def parse_model_flags(flags: list[str]) -> dict[str, tuple[str, None]]:
    """``["shelf=path", ...]`` -> {shelf: (path, None)}. Raises InputError on a malformed flag."""
    out = {}
    for flag in flags:
        shelf, sep, path = flag.partition("=")
        if not sep or not shelf or not path:
            raise InputError(f"--model expects SHELF=PATH, got {flag!r}")
        out[shelf.strip()] = (path.strip(), None)
    return out


def registry_edges(models: ModelChoice) -> dict:
    """shelf -> bin edges of the training statistics stored with each served model (if any), so
    serving statistics are binned exactly like training ones (skew needs a common support)."""
    edges = {}
    for shelf, path in models.paths.items():
        stats = storage.join(path, "training_stats.json")
        if storage.exists(stats):
            edges[shelf] = storage.read_json(stats)["bin_edges"]
    return edges


def training_edges(folder: str | None) -> dict:
    """shelf -> stored training bin edges from ``folder/<shelf>.json`` (empty without a folder).
    Raises InputError naming the file when a statistics file is unreadable."""
    if not folder:
        return {}
    edges = {}
    for shelf in FEATURE_SPECS:
        path = stats_path(folder, shelf)
        if storage.exists(path):
            try:
                edges[shelf] = storage.read_json(path)["bin_edges"]
            except (ValueError, KeyError) as err:
                raise InputError(f"{path}: not a feature statistics file ({err})") from err
    return edges
