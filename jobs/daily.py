"""``home-recs daily``: precompute every listener's Home shelves for one date (Beam).

Thin wiring: each step calls a tested function from ``transforms`` or ``models``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
import uuid

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
from apache_beam.utils.shared import Shared

from jobs.beam_runner import check_pipeline_args, make_pipeline
from jobs.common import (PARQUET_CODEC, add_neighbours_as_of, batch_size, check_neighbours_flags, check_inputs,
                         check_output, read_inputs, side_tables, spill_folder, write_rejected)
from jobs.drift import drift_for_day
from jobs.manifest import BEAM_COUNTERS_FILE, JOB_FILE, REQUEST_FILE, build_request, print_summary, write_request
from transforms.drift_report import comparison_summary
from models.home import ServingContext, day_start_ms, recommend
from models.experiments import Variant, assign, build_variants
from models.config_checks import check_config
from models.serving_models import ModelChoice, ScorerSet, choose_models, production_models, recorded_baselines
from transforms import publish, storage
from transforms.batch import ListenerBatch
from transforms.beam_io import METRICS_NAMESPACE, counter, cpu_timer, progress, tune_allocator
from transforms.catalog import shelf_item_types
from transforms.config import load_config
from transforms.counts import COUNTS_FILE, CpuClock, SumCounts, write_counts
from transforms.drift import drift_config
from transforms.errors import InputError
from transforms.feature_spec import FEATURE_SPECS, feature_names
from transforms.feature_stats import ComputeFeatureStats, stats_path, write_stats
from transforms.neighbours_table import check_point_in_time, missing_reason
from transforms.spill import batches_of

log = logging.getLogger("home_recs.daily")
# `shelf` and `dt` are Hive partition keys (folder names), so they are not repeated inside the files:
# readers that discover partitions (pyarrow, pandas, Spark) would otherwise reject the duplicate.
REC_SCHEMA = pa.schema([("listener_id", pa.string()), ("position", pa.int64()),
                        ("item_id", pa.string()), ("item_type", pa.string()), ("score", pa.float64()),
                        ("source", pa.string()), ("candidate_source", pa.string()),
                        ("model_version", pa.string()), ("run_id", pa.string()),
                        # the experiment and variant that served the row (null without one: models/experiments.py)
                        ("experiment", pa.string()), ("variant", pa.string())])
# the order of each listener's shelves (models/layout.py); one row per (listener, shelf with rows)
LAYOUT_SCHEMA = pa.schema([("listener_id", pa.string()), ("shelf", pa.string()), ("shelf_rank", pa.int64()),
                           ("reason", pa.string()), ("affinity", pa.float64()), ("score", pa.float64())])
TABLES_OUT = ["recommendations", "home_layout", "rejected"]


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


def parse_date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError as err:
        raise InputError(f"--date must be YYYY-MM-DD, got {value!r}") from err


class RecommendFn(beam.DoFn):
    """One listener shard, cut into batches -> per batch, one Arrow table per shelf (scored in one
    call per shelf), the served feature rows per shelf on the ``features`` output, the order of
    each listener's shelves on the ``layout`` output and the batch's counts (``{counter name: int}``,
    the same numbers as its Beam counters) on the ``counts`` output."""

    FEATURES = "features"
    LAYOUT = "layout"
    COUNTS = "counts"

    def __init__(self, as_of_ms, config, run_id, experiment: str | None, variants: list[Variant]):
        self.as_of_ms, self.config, self.run_id = as_of_ms, config, run_id
        self.experiment, self.variants = experiment, variants
        self._shared = [Shared() for _ in variants]

    def setup(self):
        tune_allocator()
        # models are loaded once per worker process and shared by its threads (one set per variant)
        self.scorer_sets = [shared.acquire(lambda v=v: ScorerSet(v.config, v.models),
                                           tag=repr((v.name, sorted(v.models.paths.items()))))
                            for shared, v in zip(self._shared, self.variants)]

    def process(self, shard, catalog, side, curation):
        side = side.value   # jobs.common.side_tables wraps it for Beam's cache
        cache = worker_cache(self, catalog, side, curation)
        contexts = []
        for v, scorers in zip(self.variants, self.scorer_sets):
            # each variant keeps its own listener-independent work (its shelves may differ), one codebook
            own = cache.setdefault(("variant", v.name), {})
            if "codebook" in cache:
                own.setdefault("codebook", cache["codebook"])
            if "entity_types" not in own:   # once per worker: shelf_item_types scans the catalog's types
                own["entity_types"] = {s: shelf_item_types(c, catalog) for s, c in v.config["shelves"].items()}
            contexts.append(ServingContext(self.as_of_ms, catalog, side, curation, v.config, own["entity_types"],
                                           scorers.scorers, self.run_id, log_features=True, cache=own))
            cache["codebook"] = contexts[-1].codebook
        shares = {v.name: {"share": v.share} for v in self.variants}
        for listeners in batches_of(shard, batch_size(self.config)):
            if self.experiment is None:
                yield from self._batch(listeners, contexts[0], None, {})
                continue
            which = assign(listeners.listener_id, self.experiment, shares)
            registered = listeners.registered_ms < self.as_of_ms   # the listeners a page is served to
            for i, v in enumerate(self.variants):
                mine = np.flatnonzero(which == i)
                if len(mine):
                    n = {f"experiment.{v.name}.listeners": int(registered[mine].sum())}
                    counter(f"experiment.{v.name}.listeners").inc(n[f"experiment.{v.name}.listeners"])
                    yield from self._batch(listeners.take(mine), contexts[i], v.name, n)

    def _batch(self, listeners, ctx, variant: str | None, counts: dict):
        def count(name, n):   # a Beam counter (live in the runner's UI) and the counts output (the manifest)
            counter(name).inc(n)
            counts[name] = counts.get(name, 0) + int(n)

        clock = CpuClock()
        with cpu_timer("recommend"), clock:
            result = recommend(ListenerBatch.from_columns(listeners, ctx.codebook), ctx)
        counts["cpu_ms.recommend"] = clock.ms
        progress("serve", listeners.size, "listeners")
        for shelf, frame in result.features.items():
            count(f"shelf.{shelf}.candidate_rows", len(frame))
            count(f"shelf.{shelf}.listeners_scored", frame["listener_id"].nunique())
            frame.insert(2, "as_of", pd.Timestamp(self.as_of_ms, unit="ms", tz="UTC"))
            yield beam.pvalue.TaggedOutput(self.FEATURES, (shelf, pa.Table.from_pandas(
                frame, schema=served_schema(shelf), preserve_index=False)))
        count("listeners.served", listeners.size)
        if result.layout is not None and len(result.layout):
            yield beam.pvalue.TaggedOutput(self.LAYOUT, pa.Table.from_pandas(result.layout, schema=LAYOUT_SCHEMA,
                                                                             preserve_index=False))
        for shelf, n in result.dedup_removed.items():
            count(f"shelf.{shelf}.dedup_removed", n)
        rows = result.rows.assign(experiment=self.experiment, variant=variant)
        for shelf, rows in rows.groupby("shelf", sort=False):
            count(f"shelf.{shelf}.rows", len(rows))
            count(f"shelf.{shelf}.listeners", rows["listener_id"].nunique())
            yield shelf, pa.Table.from_pandas(rows[REC_SCHEMA.names], schema=REC_SCHEMA, preserve_index=False)
        yield beam.pvalue.TaggedOutput(self.COUNTS, counts)


def worker_cache(fn: beam.DoFn, *side_inputs) -> dict:
    """A dict kept on the DoFn instance for as long as the side inputs are the same objects, so
    listener-independent work (codebook, editorial slots...) is done once per worker, not per batch."""
    held = getattr(fn, "_held_cache", None)
    if held is None or len(held[0]) != len(side_inputs) or any(a is not b for a, b in zip(held[0], side_inputs)):
        held = (side_inputs, {})
        fn._held_cache = held
    return held[1]


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


def served_schema(shelf: str) -> pa.Schema:
    """listener_id, item_id, as_of (UTC ms), candidate_source, then the shelf's spec columns (float32)."""
    return pa.schema([("listener_id", pa.string()), ("item_id", pa.string()), ("as_of", pa.timestamp("ms", tz="UTC")),
                      ("candidate_source", pa.string())] + [(n, pa.float32()) for n in feature_names(shelf)])


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    started = time.time()
    date = parse_date(args.date)
    config = load_config(args.config)
    check_config(config)   # sources, rules and item types, of the config and each variant
    check_neighbours_flags(args)
    check_pipeline_args(args.runner, beam_args)
    run_id = args.run_id or dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    now = pd.Timestamp.now(tz="UTC")
    as_of_ms = day_start_ms(date)
    skipped = missing_reason(args.neighbours) if args.neighbours and getattr(args, "neighbours_missing_ok", False) \
        else None
    if skipped:   # the Home page must not wait for the Spark job (the DAG runs daily after it either way)
        log.warning("serving without the neighbours table (--neighbours-missing-ok): %s", skipped)
        skipped, args.neighbours = {"path": args.neighbours, "reason": skipped}, None
    # a table built after the served date holds plays the day has not seen yet (a backfill, a wrong path)
    nb_as_of = (check_point_in_time(args.neighbours, date, "serving", getattr(args, "neighbours_as_of", None))
                if args.neighbours else None)
    check_output(args.output)
    files = check_inputs(args.input)
    log.info("daily %s: as_of %s UTC, run %s, inputs %s", date, date, run_id,
             {t: len(f) for t, f in files.items()})
    stage = publish.staging_root(args.output, run_id)
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
    k_anon = int(config["feature_stats"]["min_listeners"])
    tables = TABLES_OUT + ["served_features", "feature_stats"]
    request = build_request(args, date, run_id, config, files, started, models, tables, (experiment, variants),
                            neighbours_as_of=nb_as_of, neighbours_skipped=skipped)
    # written before the pipeline exists: whoever publishes needs nothing from this process
    write_request(storage.join(stage, REQUEST_FILE), request)
    p = make_pipeline(args.runner, beam_args)
    inputs = read_inputs(p, files, now, config, stage)
    side = (side_tables(inputs.listeners, inputs.catalog, [as_of_ms], config, args.neighbours)
            | "OnlyDay" >> beam.Values())
    out = inputs.listeners | "Recommend" >> beam.ParDo(
        RecommendFn(as_of_ms, config, run_id, experiment, variants), catalog=beam.pvalue.AsSingleton(inputs.catalog),
        side=beam.pvalue.AsSingleton(side), curation=beam.pvalue.AsSingleton(inputs.curation)
    ).with_outputs(RecommendFn.FEATURES, RecommendFn.LAYOUT, RecommendFn.COUNTS, main="recs")
    written = [out[RecommendFn.LAYOUT] | "WriteLayout" >> beam.io.WriteToParquetBatched(
        storage.join(publish.partition(stage, "home_layout", date), "part"), schema=LAYOUT_SCHEMA,
        file_name_suffix=".parquet", codec=PARQUET_CODEC)]
    for shelf in config["shelves"]:
        written.append(
            out.recs | f"Only_{shelf}" >> beam.Filter(lambda kv, s=shelf: kv[0] == s)
            | f"Table_{shelf}" >> beam.Values()
            | f"Write_{shelf}" >> beam.io.WriteToParquetBatched(
                storage.join(publish.partition(stage, "recommendations", date), f"shelf={shelf}", "part"),
                schema=REC_SCHEMA, file_name_suffix=".parquet", codec=PARQUET_CODEC))
        if shelf not in FEATURE_SPECS:
            continue
        served = (out[RecommendFn.FEATURES] | f"Feat_{shelf}" >> beam.Filter(lambda kv, s=shelf: kv[0] == s)
                  | f"FeatTable_{shelf}" >> beam.Values())
        # serving statistics on the training bin edges when given, else on edges fitted today
        written.append(
            served | f"Stats_{shelf}" >> ComputeFeatureStats(shelf, edges.get(shelf), min_listeners=k_anon,
                                                             spill_dir=spill_folder(stage, config, "_features"))
            | f"WriteStats_{shelf}" >> beam.Map(
                lambda st: write_stats(publish.partition(stage, "feature_stats", date), st)))
        if args.log_features:
            written.append(
                served | f"WriteFeat_{shelf}" >> beam.io.WriteToParquetBatched(
                    storage.join(publish.partition(stage, "served_features", date), f"shelf={shelf}", "part"),
                    schema=served_schema(shelf), file_name_suffix=".parquet", codec=PARQUET_CODEC))
    written.append(write_rejected(inputs.rejected, publish.partition(stage, "rejected", date)))
    # the run's counts, written by the pipeline after every other write has finished (the side input
    # waits for them all): _counts.json in the staging folder means the staging is complete
    ((inputs.counts, out[RecommendFn.COUNTS]) | "AllCounts" >> beam.Flatten()
     | "SumCounts" >> beam.CombineGlobally(SumCounts())
     | "WriteCounts" >> beam.Map(write_counts, storage.join(stage, COUNTS_FILE),
                                 written=beam.pvalue.AsList(tuple(written) | "AllWritten" >> beam.Flatten())))

    result = p.run()
    job_id = getattr(result, "job_id", lambda: None)()
    if job_id:
        storage.write_json(storage.join(stage, JOB_FILE), {"job_id": job_id, "runner": args.runner})
    how = (f"home-recs publish --output {args.output} --date {date} --run-id {run_id}")
    if args.submit_only:
        print(f"home-recs daily {date}: submitted run {run_id}" + (f" (job {job_id})" if job_id else "")
              + f"; when it has finished: {how}")
        return 0
    result.wait_until_finish()
    # Beam's own counters add the stages the graph does not count itself (cpu of validate, aggregates)
    storage.write_json(storage.join(stage, BEAM_COUNTERS_FILE), read_counters(result))
    if args.no_publish:
        print(f"home-recs daily {date}: run {run_id} staged in {stage}; publish it with: {how}")
        return 0
    from jobs.publish import publish_run

    request, manifest, published = publish_run(args.output, date, run_id)
    print_summary(args.output, date, manifest, published)
    after_publish(args.output, date, request)
    return 0


def after_publish(output: str, date: str, request: dict) -> None:
    """Drift and skew of the day just published, when the run's config asks for it
    (``drift.run_after_daily``); prints two summary lines."""
    config = request["config"]
    if not drift_config(config)["run_after_daily"]:
        return
    baseline = (dt.date.fromisoformat(date) - dt.timedelta(days=1)).isoformat()
    found = drift_for_day(output, date, baseline, config=config, training_stats=request["training_stats"],
                          models=request["models"]["registry"], missing_ok=True)
    fired = [r for r in found["records"] if r.get("alert")]
    print(f"  drift/skew:      {len(fired)} alert(s) -> {storage.join(output, 'drift', f'dt={date}')}"
          f"  (run `home-recs drift` for an exit code)")
    print(f"                   {comparison_summary(found['records'])}")


def read_counters(result) -> dict[str, int]:
    """Committed Beam counter values in the project's namespace, by name."""
    from apache_beam.metrics.metric import MetricsFilter

    out: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        out[c.key.metric.name] = out.get(c.key.metric.name, 0) + int(c.committed or 0)
    return out

