"""The training-example pipeline behind ``home-recs build-examples`` (and ``retrain``):
:func:`build_examples` takes an :class:`ExamplesRequest`.

Same inputs, same histories, same candidates and the same feature function as the daily job
(see :mod:`jobs.common` and :mod:`models.ranking.examples`), plus labels from ``[as_of, as_of + horizon)``.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import apache_beam as beam
import pandas as pd
import pyarrow as pa

from jobs.beam_runner import check_pipeline_args, make_pipeline, read_counters
from jobs.common import (PARQUET_CODEC, BuildSideTables, ReadInputs, batch_size, check_inputs, check_neighbours_flags,
                         check_output, heuristic_scorers, item_neighbours, of_shelf, spill_folder, write_rejected)
from jobs.plumbing import finish_staging, move_in, parse_dates, staging
from models.config_checks import check_config
from models.ranking.examples import examples_for_batch, merge_recall
from models.serving.home import ServingContext, day_start_ms
from transforms.io import storage
from transforms.io.beam_io import counter, progress
from transforms.listeners.catalog import shelf_item_types
from transforms.config.config import fingerprint, load_config
from transforms.errors import InputError
from transforms.features.feature_spec import FEATURE_SPECS, feature_names, spec_fingerprint
from transforms.features.feature_stats import ComputeFeatureStats, write_stats
from transforms.io.neighbours_table import check_point_in_time
from transforms.io.spill import batches_of

log = logging.getLogger("home_recs.examples")


@dataclass(frozen=True)
class ExamplesRequest:
    """Examples to build, as ``home-recs build-examples`` parses them: ``as_of`` comma-separated
    ``YYYY-MM-DD`` dates, the label ``horizon`` (``Nd`` or ``Nh``), ``input`` and ``output`` folders,
    an optional config file, the Beam ``runner``, the Spark ``neighbours`` table and its declared
    as_of, and ``shelf`` (only these model shelves; empty: every model shelf)."""
    as_of: str
    input: str
    output: str
    horizon: str = "1d"
    config: str | None = None
    runner: str = "DirectRunner"
    neighbours: str | None = None
    neighbours_as_of: str | None = None
    shelf: tuple[str, ...] = ()


def parse_horizon(text: str) -> int:
    """``7d`` / ``12h`` to milliseconds. Raises InputError otherwise."""
    m = re.fullmatch(r"(\d+)([dh])", text.strip())
    if not m or int(m.group(1)) == 0:
        raise InputError(f"--horizon must look like 1d, 7d or 12h, got {text!r}")
    return int(m.group(1)) * (86_400_000 if m.group(2) == "d" else 3_600_000)


def stats_sample_rate(config: dict) -> float:
    """``feature_stats.training_sample_rate`` (in [0, 1], checked by the config schema): the share of
    served listeners whose features make the training statistics (0 = the examples themselves)."""
    return float(config["feature_stats"]["training_sample_rate"])


def example_schema(shelf: str) -> pa.Schema:
    """listener_id, as_of (UTC ms), item_id, candidate_source, the shelf's spec columns (float32), label (int8)."""
    return pa.schema([("listener_id", pa.string()), ("as_of", pa.timestamp("ms", tz="UTC")),
                      ("item_id", pa.string()), ("candidate_source", pa.string())]
                     + [(n, pa.float32()) for n in feature_names(shelf)] + [("label", pa.int8())])


class ExamplesFn(beam.DoFn):
    """One listener shard, cut into batches -> per batch and as_of date, ``(shelf, Arrow table of
    example_schema)`` on the main output, the batch's candidate recall counts ``(as_of_ms, {shelf:
    counts})`` on ``recall`` and the training-statistics sample ``(shelf, frame)`` on ``stats``."""

    RECALL = "recall"
    STATS = "stats"   # (shelf, features of the training-statistics sample): models.ranking.examples.examples_for_batch

    def __init__(self, config, horizon_ms):
        self.config, self.horizon_ms = config, horizon_ms

    def process(self, shard, catalog, sides, curation, neighbours):
        for batch in batches_of(shard, batch_size(self.config)):
            yield from self._batch(batch, catalog, sides, curation, neighbours)

    def _batch(self, batch, catalog, sides, curation, neighbours):
        entity_types = {s: shelf_item_types(c, catalog) for s, c in self.config["shelves"].items()}
        caches = getattr(self, "_caches", None)
        if caches is None or caches[0] is not catalog or caches[1] is not curation or caches[2] is not neighbours:
            caches = self._caches = (catalog, curation, neighbours, {})
        model_shelves = [s for s in self.config["shelves"] if s in FEATURE_SPECS]
        scorers = heuristic_scorers(self.config)   # once per batch, not once per as_of
        for as_of_ms, wrapped in sides.items():
            side = wrapped.value   # jobs.common.BuildSideTables wraps it for Beam's cache
            held = caches[3].get(as_of_ms)
            if held is None or held[0] is not side:
                # the neighbour table joins each date's tables here, on the worker, so every date
                # shares one copy of it (see jobs.common.BuildSideTables)
                held = caches[3][as_of_ms] = (side, side.with_item_neighbours(neighbours, model_shelves), {})
            ctx = ServingContext(as_of_ms, catalog, held[1], curation, self.config, entity_types,
                                 scorers, "examples", cache=held[2])
            frames, recall, stats = examples_for_batch(batch, ctx, self.horizon_ms, stats_sample_rate(self.config))
            progress("examples", batch.size, "listener-dates")
            yield beam.pvalue.TaggedOutput(self.RECALL, (as_of_ms, recall))
            for shelf, frame in stats.items():
                yield beam.pvalue.TaggedOutput(self.STATS, (shelf, frame))
            for shelf, frame in frames.items():
                counter(f"examples.{shelf}").inc(len(frame))
                counter(f"positives.{shelf}").inc(int(frame["label"].sum()))
                yield shelf, pa.Table.from_pandas(frame, schema=example_schema(shelf), preserve_index=False)


def build_examples(request: ExamplesRequest, beam_args: list[str]) -> dict:
    """Build ``request``'s examples with the Beam flags ``beam_args`` into a staging folder, then
    replace the previous examples under ``request.output`` with them. Returns the run's summary
    (also written as ``OUTPUT/summary.json``). Raises InputError (one line) for a bad flag,
    config, input or output, before any input is read."""
    args = request
    started = time.time()
    dates = parse_dates(args.as_of)
    horizon_ms = parse_horizon(args.horizon)
    config = only_shelves(load_config(args.config), list(args.shelf))
    check_config(config)
    check_neighbours_flags(args)
    check_pipeline_args(args.runner, beam_args)
    as_ofs = [day_start_ms(d) for d in dates]
    neighbours_path = getattr(args, "neighbours", None)
    # one table serves every date, so it must predate the first: checked before any input is read
    nb_as_of = (check_point_in_time(neighbours_path, dates[0], "examples", getattr(args, "neighbours_as_of", None))
                if neighbours_path else None)
    check_output(args.output)
    files = check_inputs(args.input)
    run_id, stage = staging(args.output)
    log.info("build-examples: as_of %s, horizon %s, run %s", dates, args.horizon, run_id)

    p = make_pipeline(args.runner, beam_args)
    # labels need events up to the last as_of + horizon; "now" only guards against future timestamps
    inputs = p | "ReadInputs" >> ReadInputs(files, pd.Timestamp.now(tz="UTC"), config, stage)
    sides = (inputs.listeners, inputs.catalog) | "BuildSideTables" >> BuildSideTables(
        as_ofs, config, neighbours_path, spill_folder(stage, config, "_partials"), attach_neighbours=False)
    neighbours = item_neighbours(p, neighbours_path, "ExampleNeighbours")
    out = inputs.listeners | "BuildExamples" >> BuildExamples(
        ExamplesFn(config, horizon_ms), inputs.catalog, sides, inputs.curation, neighbours)
    {**out, "rejected": inputs.rejected} | "WriteExamples" >> WriteExamples(stage, config)
    result = p.run()
    result.wait_until_finish()
    # spilled shards, event blocks, features and partial counts (transforms.io.spill)
    for spilled in ("_listeners", "_events", "_profiles", "_features", "_partials"):
        storage.delete_tree(storage.join(stage, spilled))
    counts = read_counters(result)
    recall = storage.read_json(storage.join(stage, "candidate_recall.json"))
    summary = {"as_of": dates, "horizon": args.horizon, "run_id": run_id, "input": args.input,
               "neighbours": {"path": neighbours_path, "as_of": nb_as_of} if neighbours_path else None,
               "config_fingerprint": fingerprint(config), "wall_time_s": round(time.time() - started, 1),
               "inputs": {t: {k: counts.get(f"{t}.{k}", 0) for k in ("read", "accepted", "rejected")}
                          for t in ("events", "items", "listeners", "curation")},
               "shelves": {}}
    for shelf in [s for s in config["shelves"] if s in FEATURE_SPECS]:
        n, pos = counts.get(f"examples.{shelf}", 0), counts.get(f"positives.{shelf}", 0)
        summary["shelves"][shelf] = {"examples": n, "positives": pos, "positive_rate": pos / n if n else None,
                                     "candidate_recall": recall["overall"].get(shelf, {}).get("recall"),
                                     "feature_spec_fingerprint": spec_fingerprint(shelf)}
    storage.write_json(storage.join(stage, "summary.json"), summary)
    move_in(stage, args.output, ["shelf=*", "*.json", "rejected", "feature_stats"])
    finish_staging(args.output, run_id)
    return summary


def print_examples(summary: dict, output: str) -> None:
    """What ``home-recs build-examples`` prints: dates, horizon, time, then per shelf its examples,
    positives, positive rate and candidate recall."""
    dates = summary["as_of"]
    print(f"home-recs build-examples: {len(dates)} as_of date(s), horizon {summary['horizon']}, "
          f"{summary['wall_time_s']:.1f} s -> {output}")
    print(f"  {'shelf':<10} {'examples':>10} {'positives':>10} {'pos.rate':>9} {'cand.recall':>12}")
    for shelf, c in summary["shelves"].items():
        rate = f"{c['positive_rate']:.4f}" if c["positive_rate"] is not None else "-"
        rec = f"{c['candidate_recall']:.4f}" if c["candidate_recall"] is not None else "-"
        print(f"  {shelf:<10} {c['examples']:>10,} {c['positives']:>10,} {rate:>9} {rec:>12}")


def only_shelves(config: dict, shelves: list[str]) -> dict:
    """``config`` with only the model shelves ``shelves`` (all of them when empty). Raises InputError
    for a shelf the config does not declare as a model shelf."""
    if not shelves:
        return config
    unknown = [s for s in shelves if s not in config["shelves"] or config["shelves"][s].get("kind") != "model"]
    if unknown:
        raise InputError(f"--shelf {unknown}: not a model shelf of the config "
                         f"({[s for s, c in config['shelves'].items() if c.get('kind') == 'model']})")
    return {**config, "shelves": {s: c for s, c in config["shelves"].items() if s in shelves}}


class BuildExamples(beam.PTransform):
    """Listener shards -> ``{"examples": (shelf, table), "recall": (as_of_ms, counts), "stats":
    (shelf, frame)}`` (the outputs of :class:`ExamplesFn`); ``catalog``, ``sides`` (as_of_ms ->
    SideTables), ``curation`` and ``neighbours`` are PCollections read as side inputs."""

    def __init__(self, fn: ExamplesFn, catalog, sides, curation, neighbours):
        super().__init__()
        self.fn, self.catalog, self.sides, self.curation, self.neighbours = fn, catalog, sides, curation, neighbours

    def expand(self, shards):
        out = shards | "Examples" >> beam.ParDo(
            self.fn, catalog=beam.pvalue.AsSingleton(self.catalog), sides=beam.pvalue.AsDict(self.sides),
            curation=beam.pvalue.AsSingleton(self.curation), neighbours=beam.pvalue.AsSingleton(self.neighbours)
        ).with_outputs(ExamplesFn.RECALL, ExamplesFn.STATS, main="examples")
        return {"examples": out.examples, "recall": out[ExamplesFn.RECALL], "stats": out[ExamplesFn.STATS]}


class WriteExamples(beam.PTransform):
    """Write :class:`BuildExamples`' outputs plus ``rejected`` (frames) into the run's staging folder
    ``stage``: ``shelf=NAME/`` examples per model shelf, ``feature_stats/<shelf>.json`` (training
    statistics: bin edges fitted on a sample of the served population when
    ``feature_stats.training_sample_rate`` > 0, else on the examples), ``candidate_recall.json`` and
    ``rejected/``."""

    def __init__(self, stage: str, config: dict):
        super().__init__()
        self.stage, self.config = stage, config

    def expand(self, out):
        stage, config = self.stage, self.config
        k_anon = int(config["feature_stats"]["min_listeners"])
        stats_dir = storage.join(stage, "feature_stats")
        for shelf in [s for s in config["shelves"] if s in FEATURE_SPECS]:
            tables = of_shelf(out["examples"], shelf, "Only", "Table")
            tables | f"Write_{shelf}" >> beam.io.WriteToParquetBatched(
                storage.join(stage, f"shelf={shelf}", "part"), schema=example_schema(shelf),
                file_name_suffix=".parquet", codec=PARQUET_CODEC)
            sampled = of_shelf(out["stats"], shelf, "OnlySample", "Sample")
            ((sampled if stats_sample_rate(config) > 0 else tables)
             | f"Stats_{shelf}" >> ComputeFeatureStats(shelf, None, min_listeners=k_anon,
                                                       spill_dir=spill_folder(stage, config, "_features"))
             | f"WriteStats_{shelf}" >> beam.Map(lambda st, folder: write_stats(folder, st), stats_dir))
        recall_path = storage.join(stage, "candidate_recall.json")
        (out["recall"] | "CandidateRecall" >> CandidateRecall()
         | "WriteRecall" >> beam.Map(lambda report, path: storage.write_json(path, report), recall_path))
        return write_rejected(out["rejected"], storage.join(stage, "rejected"))


class CandidateRecall(beam.PTransform):
    """``(as_of_ms, {shelf: {"positives", "found", "listeners"}})`` partial counts, one per batch ->
    one :func:`recall_report` dict (per as_of date and overall, with ``recall = found / positives``)."""

    def expand(self, partials):
        return (partials | "RecallByDate" >> beam.GroupByKey()
                | "SumRecall" >> beam.MapTuple(lambda a, parts: (a, merge_recall(parts)))
                | "AllRecall" >> beam.combiners.ToList()
                | "Report" >> beam.Map(recall_report))


def recall_report(rows) -> dict:
    """Per as_of and overall candidate recall per shelf (found / positives)."""
    by_date = {pd.Timestamp(a, unit="ms", tz="UTC").date().isoformat(): r for a, r in sorted(rows)}
    return {"by_as_of": by_date, "overall": merge_recall(list(by_date.values()))}
