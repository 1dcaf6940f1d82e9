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
from transforms.drift_report import comparison_summary
from transforms.provenance import code_version, git_commit
from models.home import ServingContext, day_start_ms, recommend
from models.experiments import Variant, assign, build_variants
from models.config_checks import check_config
from models.serving_models import ModelChoice, ScorerSet, choose_models, production_models, recorded_baselines
from transforms import contract, publish, storage
from transforms.batch import ListenerBatch
from transforms.beam_io import METRICS_NAMESPACE, counter, cpu_timer, progress, tune_allocator
from transforms.catalog import shelf_item_types
from transforms.config import fingerprint, load_config
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
                    "replaces that date. Unknown flags go to Beam's PipelineOptions (e.g. --runner DataflowRunner "
                    "--project P --region R --temp_location gs://...; on DirectRunner, --direct_num_workers 2 "
                    "--direct_running_mode multi_processing uses both cores).")
    p.add_argument("--date", required=True, help="the day to serve, YYYY-MM-DD; as_of = its 00:00 UTC")
    p.add_argument("--input", required=True, help="dataset folder (local path or gs://bucket/prefix)")
    p.add_argument("--output", required=True, help="output root (local path or gs://bucket/prefix)")
    p.add_argument("--config", help="YAML file deep-merged over the packaged defaults")
    p.add_argument("--runner", default="DirectRunner",
                   help="Beam runner (default DirectRunner; Prism needs internet, so it is never implied)")
    p.add_argument("--run-id", help="id stamped on every row (default: UTC time + random suffix)")
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
    p.set_defaults(func=run, accepts_beam_options=True)


def parse_date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError as err:
        raise InputError(f"--date must be YYYY-MM-DD, got {value!r}") from err


class RecommendFn(beam.DoFn):
    """One listener shard, cut into batches -> per batch, one Arrow table per shelf (scored in one
    call per shelf), the served feature rows per shelf on the ``features`` output and the order of
    each listener's shelves on the ``layout`` output."""

    FEATURES = "features"
    LAYOUT = "layout"

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
                yield from self._batch(listeners, contexts[0], None)
                continue
            which = assign(listeners.listener_id, self.experiment, shares)
            registered = listeners.registered_ms < self.as_of_ms   # the listeners a page is served to
            for i, v in enumerate(self.variants):
                mine = np.flatnonzero(which == i)
                if len(mine):
                    counter(f"experiment.{v.name}.listeners").inc(int(registered[mine].sum()))
                    yield from self._batch(listeners.take(mine), contexts[i], v.name)

    def _batch(self, listeners, ctx, variant: str | None):
        with cpu_timer("recommend"):
            result = recommend(ListenerBatch.from_columns(listeners, ctx.codebook), ctx)
        progress("serve", listeners.size, "listeners")
        for shelf, frame in result.features.items():
            counter(f"shelf.{shelf}.candidate_rows").inc(len(frame))
            counter(f"shelf.{shelf}.listeners_scored").inc(frame["listener_id"].nunique())
            frame.insert(2, "as_of", pd.Timestamp(self.as_of_ms, unit="ms", tz="UTC"))
            yield beam.pvalue.TaggedOutput(self.FEATURES, (shelf, pa.Table.from_pandas(
                frame, schema=served_schema(shelf), preserve_index=False)))
        counter("listeners.served").inc(listeners.size)
        if result.layout is not None and len(result.layout):
            yield beam.pvalue.TaggedOutput(self.LAYOUT, pa.Table.from_pandas(result.layout, schema=LAYOUT_SCHEMA,
                                                                             preserve_index=False))
        for shelf, n in result.dedup_removed.items():
            counter(f"shelf.{shelf}.dedup_removed").inc(n)
        rows = result.rows.assign(experiment=self.experiment, variant=variant)
        for shelf, rows in rows.groupby("shelf", sort=False):
            counter(f"shelf.{shelf}.rows").inc(len(rows))
            counter(f"shelf.{shelf}.listeners").inc(rows["listener_id"].nunique())
            yield shelf, pa.Table.from_pandas(rows[REC_SCHEMA.names], schema=REC_SCHEMA, preserve_index=False)


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
    p = make_pipeline(args.runner, beam_args)
    inputs = read_inputs(p, files, now, config, stage)
    side = (side_tables(inputs.listeners, inputs.catalog, [as_of_ms], config, args.neighbours)
            | "OnlyDay" >> beam.Values())
    out = inputs.listeners | "Recommend" >> beam.ParDo(
        RecommendFn(as_of_ms, config, run_id, experiment, variants), catalog=beam.pvalue.AsSingleton(inputs.catalog),
        side=beam.pvalue.AsSingleton(side), curation=beam.pvalue.AsSingleton(inputs.curation)
    ).with_outputs(RecommendFn.FEATURES, RecommendFn.LAYOUT, main="recs")
    out[RecommendFn.LAYOUT] | "WriteLayout" >> beam.io.WriteToParquetBatched(
        storage.join(publish.partition(stage, "home_layout", date), "part"), schema=LAYOUT_SCHEMA,
        file_name_suffix=".parquet", codec=PARQUET_CODEC)
    for shelf in config["shelves"]:
        (out.recs | f"Only_{shelf}" >> beam.Filter(lambda kv, s=shelf: kv[0] == s) | f"Table_{shelf}" >> beam.Values()
         | f"Write_{shelf}" >> beam.io.WriteToParquetBatched(
             storage.join(publish.partition(stage, "recommendations", date), f"shelf={shelf}", "part"),
             schema=REC_SCHEMA, file_name_suffix=".parquet", codec=PARQUET_CODEC))
        if shelf not in FEATURE_SPECS:
            continue
        served = (out[RecommendFn.FEATURES] | f"Feat_{shelf}" >> beam.Filter(lambda kv, s=shelf: kv[0] == s)
                  | f"FeatTable_{shelf}" >> beam.Values())
        # serving statistics on the training bin edges when given, else on edges fitted today
        (served | f"Stats_{shelf}" >> ComputeFeatureStats(shelf, edges.get(shelf), min_listeners=k_anon,
                                                          spill_dir=spill_folder(stage, config, "_features"))
         | f"WriteStats_{shelf}" >> beam.Map(
             lambda st: write_stats(publish.partition(stage, "feature_stats", date), st)))
        if args.log_features:
            (served | f"WriteFeat_{shelf}" >> beam.io.WriteToParquetBatched(
                 storage.join(publish.partition(stage, "served_features", date), f"shelf={shelf}", "part"),
                 schema=served_schema(shelf), file_name_suffix=".parquet", codec=PARQUET_CODEC))
    write_rejected(inputs.rejected, publish.partition(stage, "rejected", date))

    result = p.run()
    result.wait_until_finish()
    counts = read_counters(result)
    manifest = build_manifest(args, date, run_id, config, files, counts, started, models, (experiment, variants),
                              job_id=getattr(result, "job_id", lambda: None)(), neighbours_as_of=nb_as_of,
                              neighbours_skipped=skipped)
    published = publish.publish_day(args.output, run_id, date, TABLES_OUT + ["served_features", "feature_stats"], manifest)
    print_summary(args.output, date, manifest, published)
    if drift_config(config)["run_after_daily"]:
        baseline = (dt.date.fromisoformat(date) - dt.timedelta(days=1)).isoformat()
        found = drift_for_day(args.output, date, baseline, config=config, training_stats=args.training_stats,
                              models=args.models, missing_ok=True)
        fired = [r for r in found["records"] if r.get("alert")]
        print(f"  drift/skew:      {len(fired)} alert(s) -> {storage.join(args.output, 'drift', f'dt={date}')}"
              f"  (run `home-recs drift` for an exit code)")
        print(f"                   {comparison_summary(found['records'])}")
    return 0


def read_counters(result) -> dict[str, int]:
    """Committed Beam counter values in the project's namespace, by name."""
    from apache_beam.metrics.metric import MetricsFilter

    out: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        out[c.key.metric.name] = out.get(c.key.metric.name, 0) + int(c.committed or 0)
    return out


def file_counts(counts: dict, table: str, path: str) -> dict:
    """read / accepted / rejected rows of one input file (0 for a file without rows), rows rejected
    after validation (duplicates, item types) moved from accepted to rejected, and whether they
    reconcile (read == accepted + rejected)."""
    read, acc, rej, late = (counts.get(f"file|{table}|{k}|{path}", 0)
                            for k in ("read", "accepted", "rejected", "late_rejected"))
    return {"read": read, "accepted": acc - late, "rejected": rej + late, "reconciles": read == acc + rej}


def _fingerprint(path: str) -> dict:
    from apache_beam.io.filesystems import FileSystems

    meta = FileSystems.match([path])[0].metadata_list[0]
    return {"path": path, "size_bytes": meta.size_in_bytes, "last_updated": meta.last_updated_in_seconds}


def build_manifest(args, date, run_id, config, files, counts, started, models: ModelChoice, experiment=(None, []),
                   job_id: str | None = None, neighbours_as_of: str | None = None,
                   neighbours_skipped: dict | None = None) -> dict:
    tables = {}
    for t in contract.TABLE_NAMES:
        read, acc, rej = (counts.get(f"{t}.{k}", 0) for k in ("read", "accepted", "rejected"))
        # accepted by the row checks, then rejected as duplicates, for their item type or (curation)
        # against the catalog and the shelves
        dups = (counts.get(f"{t}.duplicates_rejected", 0) + counts.get(f"{t}.item_type_mismatch_rejected", 0)
                + counts.get(f"{t}.catalog_rejected", 0))
        acc, rej = acc - dups, rej + dups
        tables[t] = {"read": read, "accepted": acc, "rejected": rej, "reconciles": read == acc + rej,
                     "files": [{**_fingerprint(f), **file_counts(counts, t, f)} for f in files[t]]}
    # dedup_removed: items the shelf would have shown that an earlier shelf claimed (models.page)
    shelves = {s: {"rows": counts.get(f"shelf.{s}.rows", 0), "listeners": counts.get(f"shelf.{s}.listeners", 0),
                   "dedup_removed": counts.get(f"shelf.{s}.dedup_removed", 0),
                   **({"candidate_rows": counts.get(f"shelf.{s}.candidate_rows", 0),
                       "listeners_scored": counts.get(f"shelf.{s}.listeners_scored", 0),
                       "features_per_row": len(feature_names(s))} if s in FEATURE_SPECS else {}),
                   "kind": c["kind"], "model_version": models.versions.get(s),
                   "ranking": _ranking(s, c, models),
                   "fallback": s in models.fallbacks, "fallback_reason": models.fallbacks.get(s),
                   "best_baseline": models.baselines.get(s)}
               for s, c in config["shelves"].items()}
    return {
        "date": date, "as_of": f"{date}T00:00:00Z", "run_id": run_id, "runner": args.runner,
        # which code ran, and where: the runner's job id (Dataflow's), when it has one
        "code": {"version": code_version(), "git_commit": git_commit(), "runner_job_id": job_id},
        "input": args.input, "output": args.output, "config_fingerprint": fingerprint(config),
        "neighbours": args.neighbours, "neighbours_as_of": neighbours_as_of,
        "neighbours_skipped": neighbours_skipped,
        "models": {"registry": args.models, "versions": models.versions, "fallbacks": models.fallbacks},
        "inputs": tables, "shelves": shelves, "experiment": _experiment_summary(experiment, counts),
        "listeners": {k.split(".", 1)[1]: v for k, v in counts.items()
                      if k.startswith("listeners.") and k != "listeners.duplicates_rejected"},
        # cpu: CPU seconds summed over workers, per stage (Beam's own work and I/O are not in them)
        "timings_s": {"total": round(time.time() - started, 2),
                      "cpu": {k.split(".", 1)[1]: round(v / 1000, 2) for k, v in sorted(counts.items())
                              if k.startswith("cpu_ms.")}},
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _ranking(shelf: str, cfg: dict, models: ModelChoice) -> str:
    """What ranked the shelf: ``model``, a best baseline's name (e.g. ``baseline_actr``), ``heuristic``,
    or the shelf's kind (rule, editorial)."""
    if cfg["kind"] != "model":
        return cfg["kind"]
    if shelf in models.paths:
        return "model"
    return models.baselines[shelf]["baseline"] if shelf in models.baselines else "heuristic"


def _experiment_summary(experiment, counts: dict) -> dict | None:
    """name, and per variant its configured share, the listeners it served and its models."""
    name, variants = experiment
    if name is None:
        return None
    return {"name": name, "order": [v.name for v in variants],   # config order: the first is the control
            "variants": {v.name: {"share": v.share, "listeners": counts.get(f"experiment.{v.name}.listeners", 0),
                                  "models": v.model_refs, "model_versions": v.models.versions,
                                  "shelves_changed": sorted(set(v.overrides) | set(v.model_refs))}
                         for v in variants}}


def print_summary(output, date, manifest, published) -> None:
    print(f"home-recs daily {date}: run {manifest['run_id']} in {manifest['timings_s']['total']:.1f} s")
    for t, c in manifest["inputs"].items():
        print(f"  input {t:<10} read {c['read']:>9,}  accepted {c['accepted']:>9,}  rejected {c['rejected']:>7,}")
    print(f"  {'shelf':<14} {'listeners':>10} {'rows':>10} {'scored':>11}  ranking")
    for s, c in manifest["shelves"].items():
        how = c["ranking"] + (f" {c['model_version']}" if c["model_version"] else "")
        if c.get("best_baseline"):
            how += f" (no usable model: best baseline of {c['best_baseline']['version']}, see manifest)"
        elif c.get("fallback"):
            how += " (FALLBACK: no usable model, see manifest)"
        scored = f"{c['candidate_rows']:>11,}" if "candidate_rows" in c else f"{'-':>11}"
        print(f"  {s:<14} {c['listeners']:>10,} {c['rows']:>10,} {scored}  {how}")
    if manifest.get("neighbours_skipped"):
        print(f"  neighbours:      NOT USED ({manifest['neighbours_skipped']['reason']}); Beam counted co-listening")
    exp = manifest.get("experiment")
    if exp:
        total = sum(v["listeners"] for v in exp["variants"].values()) or 1
        print(f"  experiment {exp['name']}: " + ", ".join(
            f"{v} {c['listeners']:,} listeners ({c['listeners'] / total:.1%}, share {c['share']:g})"
            + "".join(f", {s} model {m}" for s, m in c["model_versions"].items() if s in c["models"])
            for v, c in ((v, exp["variants"][v]) for v in exp["order"])))
    lost = {s: c["dedup_removed"] for s, c in manifest["shelves"].items() if c.get("dedup_removed")}
    if lost:
        print("  one item per page: items given up to an earlier shelf: "
              + ", ".join(f"{s} {n:,}" for s, n in lost.items()))
    cpu = manifest["timings_s"].get("cpu") or {}
    if cpu:
        print("  cpu by stage:    " + ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items()))
    print(f"  recommendations: {published.get('recommendations', '(none)')}")
    print(f"  shelf order:     {published.get('home_layout', '(none)')}")
    print(f"  rejected rows:   {published.get('rejected', '(none)')}")
    print(f"  feature stats:   {published.get('feature_stats', '(none)')}")
    print(f"  manifest:        {storage.join(output, publish.MANIFESTS, f'dt={date}', 'manifest.json')}")
