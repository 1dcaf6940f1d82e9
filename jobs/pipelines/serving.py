"""The daily job's Beam stages after the inputs are read: RecommendShelves (score every listener
shard) and WriteOutputs (the staged tables, statistics and the run's counts), as composite transforms."""
from __future__ import annotations

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
from apache_beam.utils.shared import Shared

from jobs.common import PARQUET_CODEC, batch_size, of_shelf, spill_folder, write_rejected
from models.serving.experiments import Variant, assign
from models.serving.home import ServingContext, recommend
from models.serving.serving_models import ScorerSet
from transforms.io import publish, storage
from transforms.listeners.batch import ListenerBatch
from transforms.io.beam_io import counter, cpu_timer, progress, tune_allocator
from transforms.listeners.catalog import shelf_item_types
from transforms.io.counts import COUNTS_FILE, CpuClock, SumCounts, write_counts
from transforms.features.feature_spec import FEATURE_SPECS, feature_names
from transforms.features.feature_stats import ComputeFeatureStats, write_stats
from transforms.io.spill import batches_of

# `shelf` and `dt` are Hive partition keys (folder names), so they are not repeated inside the files:
# readers that discover partitions (pyarrow, pandas, Spark) would otherwise reject the duplicate.
REC_SCHEMA = pa.schema([("listener_id", pa.string()), ("position", pa.int64()),
                        ("item_id", pa.string()), ("item_type", pa.string()), ("score", pa.float64()),
                        ("source", pa.string()), ("candidate_source", pa.string()),
                        ("model_version", pa.string()), ("run_id", pa.string()),
                        # the experiment and variant that served the row (null without one: models/serving/experiments.py)
                        ("experiment", pa.string()), ("variant", pa.string())])
# the order of each listener's shelves (models/serving/layout.py); one row per (listener, shelf with rows)
LAYOUT_SCHEMA = pa.schema([("listener_id", pa.string()), ("shelf", pa.string()), ("shelf_rank", pa.int64()),
                           ("reason", pa.string()), ("affinity", pa.float64()), ("score", pa.float64())])
TABLES_OUT = ["recommendations", "home_layout", "rejected"]


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
        side = side.value   # jobs.common.BuildSideTables wraps it for Beam's cache
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


def served_schema(shelf: str) -> pa.Schema:
    """listener_id, item_id, as_of (UTC ms), candidate_source, then the shelf's spec columns (float32)."""
    return pa.schema([("listener_id", pa.string()), ("item_id", pa.string()), ("as_of", pa.timestamp("ms", tz="UTC")),
                      ("candidate_source", pa.string())] + [(n, pa.float32()) for n in feature_names(shelf)])


class RecommendShelves(beam.PTransform):
    """Listener shards -> ``{"recs": (shelf, Arrow table of REC_SCHEMA), "features": (shelf, served
    feature table), "layout": LAYOUT_SCHEMA tables, "counts": {counter: int}}`` (the outputs of
    :class:`RecommendFn`); ``catalog``, ``side`` (the day's SideTables) and ``curation`` are
    singleton PCollections read as side inputs."""

    def __init__(self, fn: RecommendFn, catalog, side, curation):
        super().__init__()
        self.fn, self.catalog, self.side, self.curation = fn, catalog, side, curation

    def expand(self, shards):
        out = shards | "Recommend" >> beam.ParDo(
            self.fn, catalog=beam.pvalue.AsSingleton(self.catalog), side=beam.pvalue.AsSingleton(self.side),
            curation=beam.pvalue.AsSingleton(self.curation)
        ).with_outputs(RecommendFn.FEATURES, RecommendFn.LAYOUT, RecommendFn.COUNTS, main="recs")
        return {"recs": out.recs, "features": out[RecommendFn.FEATURES], "layout": out[RecommendFn.LAYOUT],
                "counts": out[RecommendFn.COUNTS]}


def write_stats_to(stats: dict, folder: str) -> str:
    """:func:`transforms.features.feature_stats.write_stats` with the folder second (``beam.Map``'s order)."""
    return write_stats(folder, stats)


class WriteOutputs(beam.PTransform):
    """Write the day into the run's staging folder ``stage``: per shelf its recommendations, for a
    model shelf its serving feature statistics (on ``edges[shelf]`` when given) and, with
    ``log_features``, its served features; the shelf order, the rejected rows, then ``_counts.json``
    (the input counts and the recommend counts summed) once every other write has finished, so that
    file marks the staging complete. Input: ``RecommendShelves``' dict plus ``rejected`` (frames)
    and ``input_counts`` (count dicts). Returns the PCollection of the counts file's path."""

    def __init__(self, stage: str, date: str, config: dict, edges: dict, log_features: bool):
        super().__init__()
        self.stage, self.date, self.config, self.edges, self.log_features = stage, date, config, edges, log_features

    def _parquet(self, table: str, *sub: str) -> str:
        return storage.join(publish.partition(self.stage, table, self.date), *sub, "part")

    def expand(self, out):
        k_anon = int(self.config["feature_stats"]["min_listeners"])
        stats_dir = publish.partition(self.stage, "feature_stats", self.date)
        written = [out["layout"] | "WriteLayout" >> beam.io.WriteToParquetBatched(
            self._parquet("home_layout"), schema=LAYOUT_SCHEMA, file_name_suffix=".parquet", codec=PARQUET_CODEC)]
        for shelf in self.config["shelves"]:
            written.append(of_shelf(out["recs"], shelf, "Only", "Table")
                           | f"Write_{shelf}" >> beam.io.WriteToParquetBatched(
                               self._parquet("recommendations", f"shelf={shelf}"), schema=REC_SCHEMA,
                               file_name_suffix=".parquet", codec=PARQUET_CODEC))
            if shelf not in FEATURE_SPECS:
                continue
            served = of_shelf(out["features"], shelf, "Feat", "FeatTable")
            # serving statistics on the training bin edges when given, else on edges fitted today
            written.append(
                served | f"Stats_{shelf}" >> ComputeFeatureStats(
                    shelf, self.edges.get(shelf), min_listeners=k_anon,
                    spill_dir=spill_folder(self.stage, self.config, "_features"))
                | f"WriteStats_{shelf}" >> beam.Map(write_stats_to, stats_dir))
            if self.log_features:
                written.append(served | f"WriteFeat_{shelf}" >> beam.io.WriteToParquetBatched(
                    self._parquet("served_features", f"shelf={shelf}"), schema=served_schema(shelf),
                    file_name_suffix=".parquet", codec=PARQUET_CODEC))
        written.append(write_rejected(out["rejected"], publish.partition(self.stage, "rejected", self.date)))
        # the run's counts, written by the pipeline after every other write has finished (the side input
        # waits for them all): _counts.json in the staging folder means the staging is complete
        all_written = tuple(written) | "AllWritten" >> beam.Flatten()
        return ((out["input_counts"], out["counts"]) | "AllCounts" >> beam.Flatten()
                | "SumCounts" >> beam.CombineGlobally(SumCounts())
                | "WriteCounts" >> beam.Map(write_counts, storage.join(self.stage, COUNTS_FILE),
                                            written=beam.pvalue.AsList(all_written)))
