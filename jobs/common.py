"""Beam wiring shared by the daily job and the training-example job: read and validate the four
inputs and join events with listener rows into per-listener states (:class:`ReadInputs`), and
build the population side tables for one or more ``as_of`` instants (:class:`BuildSideTables`).
Same wiring, same histories, same features. Plumbing, not a job."""
from __future__ import annotations

import os
import tempfile
from typing import NamedTuple

import apache_beam as beam
import numpy as np
import pandas as pd

from models.serving.heuristic import HeuristicScorer
from transforms.io import contract, storage
from transforms.listeners.aggregates import (beam_colisten_shelves, build_side_tables, partial_aggregates_multi,
                                   split_item_neighbours)
from transforms.io.beam_io import (ReadTable, SideValue, SumPartialsFn, count_late_rejections, counter, cpu_timer,
                                progress, rejected_to_arrow, split_by_shard, split_frame_by_shard,
                                sum_spilled_partials, tune_allocator)
from transforms.listeners.catalog import Catalog, shelf_item_types
from transforms.io.counts import CpuClock, file_counts, late_rejection_counts
from transforms.listeners.curation import check_curation
from transforms.errors import InputError
from transforms.features.feature_spec import FEATURE_SPECS
from transforms.listeners.history import build_listeners
from transforms.listeners.item_types import FirstTypesCombineFn, first_types, split_mismatched
from transforms.io.neighbours_table import load_neighbours
from transforms.io.read import estimate_rows, find_table_files, read_chunks
from transforms.io.spill import batches_of, load_block, spill, spill_block
from transforms.io.validate import reject_duplicate_keys, rejected_frame, validate_frame


class Inputs(NamedTuple):
    """What :class:`ReadInputs` returns (a named tuple: Beam accepts it as a composite's output)."""
    listeners: beam.PCollection   # one per listener shard: ListenerColumns, or a SpilledShard handle
    catalog: beam.PCollection     # one Catalog
    curation: beam.PCollection    # one DataFrame or None
    rejected: beam.PCollection    # rejected-rows DataFrames
    counts: beam.PCollection      # {counter name: int} dicts of the rows read, accepted and rejected (transforms.io.counts)


def check_inputs(input_dir: str) -> dict[str, list[str]]:
    """Find each table's files and check their headers now, so a missing file or column stops
    the job before any worker starts. Raises InputError naming the file and column, or naming
    a local ``input_dir`` that is not an existing folder."""
    if not input_dir.startswith("gs://") and not os.path.isdir(input_dir):
        what = "is a file, not a folder" if os.path.exists(input_dir) else "folder does not exist"
        raise InputError(f"--input {input_dir}: {what}")
    files = {t: find_table_files(input_dir, t) for t in contract.TABLE_NAMES}
    now = pd.Timestamp.now(tz="UTC")
    for table, paths in files.items():
        for path in paths:
            # the first rows are validated too: a whole-column problem (a ts column in epoch
            # milliseconds) then stops here with one line, not inside Beam with its traceback
            first = next(iter(read_chunks(path, contract.TABLES[table], chunk_rows=1000)), None)
            if first is not None and len(first.raw):
                validate_frame(first.raw, contract.TABLES[table], now=now, source_file=path)
    return files


def check_output(output: str) -> None:
    """Check ``--output`` before any input is read. A local one must be a folder (or not exist yet)
    that this process can create files in. A ``gs://`` one must take (and drop) an empty object, so
    that a missing bucket or permission stops the job with one line, not with a traceback from
    inside the pipeline after the input was read. Raises InputError naming the path."""
    if output.startswith("gs://"):
        problem = storage.gcs_write_problem(output)
        if problem:
            raise InputError(f"--output {output}: cannot write there ({problem})")
        return
    path = os.path.abspath(output)
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f"--output {output}: exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as err:
        raise InputError(f"--output {output}: cannot write there ({err.strerror or err})") from err


def check_registry(models: str | None) -> None:
    """Check ``--models`` before any input is read: a model registry is a folder (or a gs:// prefix),
    so an existing local file, or a gs:// object at that exact path, is refused. A path that does
    not exist yet is fine (a first retrain creates it). Raises InputError naming the path."""
    if not models:
        return
    is_file = storage.exists(models) if models.startswith("gs://") else os.path.isfile(models)
    if is_file:
        raise InputError(f"--models {models}: is a file; a model registry is a folder (e.g. gs://BUCKET/registry)")


def shard_count(files: dict, config: dict) -> int:
    """Listener shards for a run: about ``run.events_per_shard`` events each (at least one)."""
    return max(1, -(-estimate_rows(files["events"]) // int(config["run"]["events_per_shard"])))


class BuildListenersFn(beam.DoFn):
    """One shard's event blocks and ``listeners`` rows -> one :class:`ListenerColumns` (or, with
    ``spill_dir``, the :class:`SpilledShard` handle of its file); duplicate listener rows, and
    events whose item type breaks the one-type-per-item rule (:mod:`transforms.listeners.item_types`), go
    to the ``rejected`` output; the shard's listener counts go to the ``counts`` output as a dict
    (``listeners.with_events``, ``listeners.without_events``, ``listeners.derived_profile``,
    ``cpu_ms.build_listeners``), so the job can write them itself (:mod:`transforms.io.counts`)."""

    def __init__(self, default_market: str, spill_dir: str | None = None):
        self.default_market, self.spill_dir = default_market, spill_dir

    def setup(self):
        tune_allocator()  # on remote workers too (the launcher's setting does not travel)
        self.c_with = counter("listeners.with_events")
        self.c_without = counter("listeners.without_events")
        self.c_derived = counter("listeners.derived_profile")
        self.c_dups = counter("listeners.duplicates_rejected")
        self.c_mismatch = counter("events.item_type_mismatch_rejected")

    def process(self, kv, catalog, first_seen):
        shard, grouped = kv
        frames = [load_block(f) for f in grouped["profiles"]]
        profiles = pd.concat(frames, ignore_index=True) if frames else None
        clock = CpuClock()
        with cpu_timer("build_listeners"), clock:
            blocks, mismatched = [], []
            for handle in grouped["events"]:   # one type per item (transforms.listeners.item_types)
                block, rejected = split_mismatched(load_block(handle), catalog, first_seen)
                blocks.append(block)
                if len(rejected):
                    mismatched.append(rejected)
            cols, rejected = build_listeners(blocks, profiles, self.default_market)
            del blocks
        for frame in mismatched:
            self.c_mismatch.inc(len(frame))
            count_late_rejections("events", frame)
            yield beam.pvalue.TaggedOutput("rejected", frame)
        if len(rejected):
            self.c_dups.inc(len(rejected))
            count_late_rejections("listeners", rejected)
            yield beam.pvalue.TaggedOutput("rejected", rejected)
        with_events = int((np.bincount(cols.who, minlength=cols.size) > 0).sum())
        self.c_with.inc(with_events)
        self.c_without.inc(cols.size - with_events)
        self.c_derived.inc(int(cols.derived.sum()))
        yield beam.pvalue.TaggedOutput("counts", {
            "listeners.with_events": with_events, "listeners.without_events": cols.size - with_events,
            "listeners.derived_profile": int(cols.derived.sum()), "cpu_ms.build_listeners": clock.ms})
        progress("listener shards", cols.size, "listeners")
        if cols.size:
            yield spill(cols, self.spill_dir, shard) if self.spill_dir else cols


def build_catalog(frames: list[pd.DataFrame]):
    """Accepted item chunks -> (Catalog, rejected duplicate rows); the first row per id wins."""
    items = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(contract.ITEMS.column_names))
    if len(items):
        items = items.sort_values(["_source_file", "_row_number"], kind="stable")
    kept, rejected = reject_duplicate_keys(items, contract.ITEMS)
    counter("items.duplicates_rejected").inc(len(rejected))
    count_late_rejections("items", rejected)
    return Catalog.from_items(kept[list(contract.ITEMS.column_names)]), rejected


def checked_curation(frames: list[pd.DataFrame], catalog, shelves: dict):
    """Accepted curation chunks -> (one frame or None, rejected rows) after the checks against the
    catalog and the shelves (:mod:`transforms.listeners.curation`); the rows refused are counted as
    ``curation.catalog_rejected`` and on their files."""
    kept, rejected = check_curation(pd.concat(frames, ignore_index=True) if frames else None, catalog, shelves)
    counter("curation.catalog_rejected").inc(len(rejected))
    count_late_rejections("curation", rejected)
    return kept, rejected


class ReadInputs(beam.PTransform):
    """Read and validate the four tables and join each listener shard (applied to the pipeline).
    With ``stage`` (the run's staging folder) and ``run.spill_listeners``, event blocks and
    ``listeners`` rows are written under ``stage/_events`` and ``stage/_profiles``, shards under
    ``stage/_listeners``, and all travel as handles (see :mod:`transforms.io.spill`). Returns
    :class:`Inputs`."""

    def __init__(self, files: dict, now: pd.Timestamp, config: dict, stage: str | None = None):
        super().__init__()
        self.files, self.now, self.config, self.stage = files, now, config, stage

    def expand(self, p) -> Inputs:
        files, now, config, stage = self.files, self.now, self.config, self.stage
        chunk_rows = int(config["run"]["event_chunk_rows"])
        events = p | "Events" >> ReadTable(contract.EVENTS, files["events"], now, chunk_rows,
                                           emit_rows=int(config["run"]["events_per_block"]))
        listeners = p | "Listeners" >> ReadTable(contract.LISTENERS, files["listeners"], now, chunk_rows)
        items = p | "Items" >> ReadTable(contract.ITEMS, files["items"], now, chunk_rows)
        curation = p | "Curation" >> ReadTable(contract.CURATION, files["curation"], now, chunk_rows)

        catalog_and_rej = items.main | "AllItems" >> beam.combiners.ToList() | "Catalog" >> beam.Map(build_catalog)
        catalog = catalog_and_rej | "CatalogOnly" >> beam.Map(lambda cr: cr[0])
        item_dups = catalog_and_rej | "ItemDups" >> beam.Map(lambda cr: cr[1])
        checked = (curation.main | "AllCuration" >> beam.combiners.ToList()
                   | "CheckCuration" >> beam.Map(checked_curation, catalog=beam.pvalue.AsSingleton(catalog),
                                                 shelves=config["shelves"]))
        cur = checked | "CurationKept" >> beam.Map(lambda kr: kr[0])
        cur_rejected = checked | "CurationRejected" >> beam.Map(lambda kr: kr[1])
        shards = shard_count(files, config)
        spill_dir = spill_folder(stage, config, "_listeners")
        blocks = events.main | "EventsByShard" >> beam.FlatMap(split_by_shard, n_shards=shards)
        profiles = listeners.main | "ProfilesByShard" >> beam.FlatMap(split_frame_by_shard, n_shards=shards)
        if spill_dir:  # only handles go through the grouping (see transforms/io/spill.py)
            events_dir, profiles_dir = storage.join(stage, "_events"), storage.join(stage, "_profiles")
            blocks = blocks | "SpillEvents" >> beam.MapTuple(lambda s, b: (s, spill_block(b, events_dir, s)))
            profiles = profiles | "SpillProfiles" >> beam.MapTuple(lambda s, f: (s, spill_block(f, profiles_dir, s)))
        first_seen = (events.main | "FirstTypes" >> beam.Map(first_types, catalog=beam.pvalue.AsSingleton(catalog))
                      | "TypeConflicts" >> beam.CombineGlobally(FirstTypesCombineFn()))
        joined = ({"events": blocks, "profiles": profiles} | "Join" >> beam.CoGroupByKey()
                  | "BuildListeners" >> beam.ParDo(BuildListenersFn(config["listeners"]["default_market"], spill_dir),
                                                   catalog=beam.pvalue.AsSingleton(catalog),
                                                   first_seen=beam.pvalue.AsSingleton(first_seen))
                  .with_outputs("rejected", "counts", main="listeners"))
        rejected = ((events.rejected, listeners.rejected, items.rejected, curation.rejected, joined.rejected, item_dups,
                     cur_rejected)
                    | "AllRejected" >> beam.Flatten() | "NonEmpty" >> beam.Filter(lambda f: len(f) > 0))
        # the same numbers as the reading DoFn's counters, as data (transforms/io/counts.py): one small dict per frame
        counts = [joined.counts]
        for name, table in (("Events", events), ("Listeners", listeners), ("Items", items), ("Curation", curation)):
            counts += [table.main | f"Count{name}Accepted" >> beam.Map(file_counts, name.lower(), "accepted",
                                                                        "_source_file"),
                       table.rejected | f"Count{name}Rejected" >> beam.Map(file_counts, name.lower(), "rejected",
                                                                            "source_file")]
        counts += [(joined.rejected, item_dups, cur_rejected) | "LateRejected" >> beam.Flatten()
                   | "CountLateRejected" >> beam.Map(late_rejection_counts)]
        return Inputs(joined.listeners, catalog, cur, rejected, counts | "AllInputCounts" >> beam.Flatten())


def spill_folder(stage: str | None, config: dict, name: str) -> str | None:
    """``stage/name`` when the run spills (``run.spill_listeners``, a staging folder), else None."""
    return storage.join(stage, name) if stage and config["run"]["spill_listeners"] else None


def batch_size(config: dict) -> int:
    """Listeners per batch (``run.listener_batch_size``): consumers cut each shard with
    :func:`transforms.io.spill.batches_of`."""
    return int(config["run"]["listener_batch_size"])


def add_neighbours_as_of(parser) -> None:
    """The ``--neighbours-as-of`` flag of every job that takes ``--neighbours`` (one text for all)."""
    parser.add_argument("--neighbours-as-of", metavar="YYYY-MM-DD",
                        help="as_of of a --neighbours table that has no summary.json (one copied without it); "
                             "without summary or this flag the table is refused")


def check_neighbours_flags(args) -> None:
    """``--neighbours-as-of`` (or ``--neighbours-missing-ok``) without ``--neighbours`` is a flag
    that would do nothing: most likely ``--neighbours`` was forgotten. Raises InputError."""
    for flag in ("neighbours_as_of", "neighbours_missing_ok"):
        if getattr(args, flag, None) and not getattr(args, "neighbours", None):
            raise InputError(f"--{flag.replace('_', '-')} is given without --neighbours: pass the table with "
                             f"--neighbours PATH, or drop the flag")


def item_neighbours(pipeline, path: str | None, label: str = "Neighbours"):
    """The Spark item-neighbours table at ``path``, split by method once (see
    :func:`transforms.listeners.aggregates.split_item_neighbours`), as a singleton PCollection; None without a path."""
    return (pipeline | f"{label}Path" >> beam.Create([path])
            | f"Load{label}" >> beam.Map(lambda p: split_item_neighbours(load_neighbours(p)) if p else None))


class BuildSideTables(beam.PTransform):
    """``(listener shards, catalog)`` -> ``(as_of_ms, SideValue(SideTables))``, one per as_of
    (:class:`transforms.io.beam_io.SideValue`: consumers read ``.value``).

    With ``neighbours_path`` (the Spark item-neighbours output), co-listening comes from that table,
    read on a worker as a side input, and the in-Beam pair counting is skipped. With
    ``attach_neighbours`` False the table is not attached: the consumer attaches
    :func:`item_neighbours` itself (build-examples: attached here, each as_of's tables carried their
    own copy of it through the side input, 7.4 GB at 50 dates of 30Music).
    With ``spill_dir`` and several as_of dates, each batch's counts are written there and only
    handles are grouped by date (see :func:`transforms.io.beam_io.sum_spilled_partials`).
    """

    def __init__(self, as_ofs: list[int], config: dict, neighbours_path: str | None = None,
                 spill_dir: str | None = None, attach_neighbours: bool = True):
        super().__init__()
        self.as_ofs, self.config, self.neighbours_path = as_ofs, config, neighbours_path
        self.spill_dir, self.attach_neighbours = spill_dir, attach_neighbours

    def expand(self, shards_and_catalog):
        shards, catalog = shards_and_catalog
        as_ofs, config, neighbours_path = self.as_ofs, self.config, self.neighbours_path
        shelves = config["shelves"]
        beam_colisten = beam_colisten_shelves(config, bool(neighbours_path))
        # one date: the combine keeps one running total per bundle. Many dates (build-examples): it kept
        # every date's totals and the local runner shuffled them all at once (8.7 GB at 50 dates of 30Music)
        spill = self.spill_dir if len(as_ofs) > 1 else None

        def partials(shard, cat):
            types = {s: shelf_item_types(c, cat) for s, c in shelves.items() if s in FEATURE_SPECS}
            for batch in batches_of(shard, batch_size(config)):
                with cpu_timer("aggregates"):
                    parts = partial_aggregates_multi(batch, as_ofs, types, beam_colisten, cat, config)
                progress("side tables", batch.size, "listeners")
                for i, (as_of_ms, part) in enumerate(parts.items()):
                    yield as_of_ms, (spill_block(part, spill, i) if spill else part)

        nb = item_neighbours(shards.pipeline, neighbours_path if self.attach_neighbours else None)
        parts = shards | "Partials" >> beam.FlatMap(partials, cat=beam.pvalue.AsSingleton(catalog))
        if spill:
            totals = (parts | "GroupPartials" >> beam.GroupByKey()
                      | "SumPartials" >> beam.MapTuple(lambda as_of_ms, handles: (as_of_ms,
                                                                                  sum_spilled_partials(handles))))
        else:
            totals = parts | "SumPartials" >> beam.CombinePerKey(SumPartialsFn())
        return totals | "SideTables" >> beam.Map(
            lambda kv, table: (kv[0], SideValue(build_side_tables(kv[1], kv[0], config).with_item_neighbours(
                table, [s for s in shelves if s in FEATURE_SPECS]))),
            table=beam.pvalue.AsSingleton(nb))


def heuristic_scorers(config: dict) -> dict:
    """shelf -> :class:`models.serving.heuristic.HeuristicScorer` with its configured weights, per model shelf."""
    return {s: HeuristicScorer(s, c.get("heuristic_weights", {}))
            for s, c in config["shelves"].items() if s in FEATURE_SPECS}


# Parquet outputs are zstd-compressed: recommendations repeat ids and run ids row after row, and
# readers (pyarrow, DuckDB, BigQuery) decode zstd natively
PARQUET_CODEC = "zstd"


def write_rejected(rejected, folder: str):
    """Write the rejected rows (frames of REJECTED_COLUMNS) as ``folder/part-*.parquet``."""
    schema = rejected_to_arrow(rejected_frame("x", "", [], [], [], [])).schema
    return (rejected | "RejectedArrow" >> beam.Map(rejected_to_arrow)
            | "WriteRejected" >> beam.io.WriteToParquetBatched(
                storage.join(folder, "part"), schema=schema, file_name_suffix=".parquet", codec=PARQUET_CODEC))


def of_shelf(tagged, shelf: str, label: str, values: str):
    """The tables of ``shelf`` in a PCollection of (shelf, table) pairs."""
    return (tagged | f"{label}_{shelf}" >> beam.Filter(lambda kv, s=shelf: kv[0] == s)
            | f"{values}_{shelf}" >> beam.Values())
