"""Beam PTransforms around the engine-agnostic reading and validation code.

:class:`ReadTable` reads one contract table's files chunk by chunk and splits every row into an
accepted frame or a rejected frame, counting both with Beam metrics so a long run shows progress
and the manifest can reconcile ``read == accepted + rejected`` per table.
"""
from __future__ import annotations

import contextlib
import logging
import pickle
import time

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
from apache_beam.coders import coder_impl, coders, observable
from apache_beam.metrics import Metrics
from apache_beam.runners.worker.statecache import CacheAware

from transforms.io import contract
from transforms.listeners.aggregates import Partials, merge_partials
from transforms.listeners.history import event_block
from transforms.io.packing import Columns
from transforms.io.spill import load_block
from transforms.io.read import file_splits, read_chunks
from transforms.io.validate import REJECTED_COLUMNS, validate_frame

METRICS_NAMESPACE = "home_recs"
REJECTED_SCHEMA = pa.schema([("table", pa.string()), ("source_file", pa.string()), ("row_number", pa.int64()),
                             ("reason", pa.string()), ("column", pa.string()), ("raw", pa.string())])


def approx_bytes(value, depth: int = 2) -> int:
    """In-memory size of a value in bytes, from array buffers (object arrays count 8 bytes per
    slot), without serialising it. Small or unknown leaves are pickled to measure them."""
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(index=False, deep=False).sum())
    if isinstance(value, (pa.Table, pa.RecordBatch, pa.Array, pa.ChunkedArray)):
        return int(value.nbytes)
    if isinstance(value, (np.ndarray, pd.Series, pd.Index)):
        return int(value.nbytes)
    if depth > 0 and isinstance(value, (dict, list, tuple)):
        items = value.values() if isinstance(value, dict) else value
        return sum(approx_bytes(v, depth - 1) for v in items) + 8 * len(value)
    if depth > 0 and hasattr(value, "__dict__"):
        return approx_bytes(vars(value), depth - 1)
    return len(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))


class _BatchAwareImpl(coder_impl.FastPrimitivesCoderImpl):
    """FastPrimitivesCoderImpl whose size estimate of a non-primitive value reads array sizes."""

    def get_estimated_size_and_observables(self, value, nested=False):
        if isinstance(value, _PRIMITIVES) or isinstance(value, observable.ObservableMixin):
            return super().get_estimated_size_and_observables(value, nested)
        return approx_bytes(value), []

    def estimate_size(self, value, nested=False):
        if isinstance(value, _PRIMITIVES):
            return super().estimate_size(value, nested)
        return approx_bytes(value)


_PRIMITIVES = (int, float, str, bytes, bool, type(None))


class BatchAwareCoder(coders.FastPrimitivesCoder):
    """Beam's default coder for untyped values, except that the size of a Python object (a batch
    of listeners, a DataFrame, an Arrow table) is estimated from its arrays.

    Why: Beam's counters always measure the first 10 elements of every stage, and its default
    coder measures by encoding. Our elements are batches of thousands of listeners, so nearly
    every element was pickled once more just to be measured: about half of all pickling in the
    daily job. Encoding and decoding are unchanged."""

    def _create_impl(self):
        return _BatchAwareImpl(self._fallback_coder.get_impl())


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # glibc's mallopt parameter numbers (malloc.h)
_ALLOCATOR_TUNED = False


MMAP_THRESHOLD_ENV = "HOME_RECS_MMAP_THRESHOLD"


def tune_allocator(threshold_bytes: int | None = None) -> bool:
    """Let glibc return freed blocks of ``threshold_bytes`` or more (numpy arrays, pickled
    batches) to the OS at once. Off by default: ``threshold_bytes`` None reads the environment
    variable ``HOME_RECS_MMAP_THRESHOLD`` (bytes; unset or 0 leaves glibc's own behaviour).

    Why it is off: glibc raises its mmap threshold each time a large mmapped block is freed, so
    arrays of up to 32 MB come from the heap, where freed space can stay fragmented and resident.
    A fixed 1 MB threshold helped while the job held every event in memory (100k listeners: peak
    4.30 -> 3.68 GB for +4% CPU). Since events, shards and features spill to files, it costs more
    than it saves: same run, same time, 2 cores (daily with models at 100k): 1.42 GB and 291 CPU-s
    at 1 MB against 1.61 GB and 235 CPU-s off; build-examples, 7 dates of 30Music: 2.32 GB /
    116 CPU-s against 2.50 GB / 90 CPU-s (system time 43 s against 15 s: every large array
    becomes a fresh mapping). Set the variable where memory is tighter than CPU.
    Returns True when applied; False when off or where libc is not glibc (macOS, musl).
    Idempotent and process-wide."""
    if threshold_bytes is None:
        import os

        try:
            threshold_bytes = int(os.environ.get(MMAP_THRESHOLD_ENV, "0") or 0)
        except ValueError:
            threshold_bytes = 0
    if threshold_bytes <= 0:
        return False
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, threshold_bytes) == 1 and \
            libc.mallopt(_M_TRIM_THRESHOLD, threshold_bytes) == 1
    except (OSError, AttributeError):
        return False
    _ALLOCATOR_TUNED = ok
    return ok


def use_batch_aware_coder() -> None:
    """Make :class:`BatchAwareCoder` the coder of untyped PCollections in pipelines built after
    this call (process-wide: Beam's coder registry is global)."""
    registry = beam.coders.registry
    if not getattr(registry, "_home_recs_batch_aware", False):
        registry.register_fallback_coder(BatchAwareCoder())
        registry._home_recs_batch_aware = True


def counter(name: str):
    """A Beam counter in the project's namespace (read back into the manifest after the run)."""
    return Metrics.counter(METRICS_NAMESPACE, name)


def file_counter(table: str, kind: str, path: str):
    """Counter of rows of one input file: ``kind`` is read, accepted, rejected or late_rejected
    (accepted by the row checks, rejected later: duplicate keys, item types). The manifest
    reads them back per file (``file|<table>|<kind>|<path>``)."""
    return counter(f"file|{table}|{kind}|{path}")


def count_late_rejections(table: str, rejected: pd.DataFrame) -> None:
    """Add rows rejected after validation (a rejected-rows frame) to their files' counters."""
    if len(rejected):
        for path, n in rejected["source_file"].value_counts().items():
            file_counter(table, "late_rejected", str(path)).inc(int(n))


@contextlib.contextmanager
def cpu_timer(stage: str):
    """Add this thread's CPU time in the block, in milliseconds, to counter ``cpu_ms.<stage>``
    (summed over workers; the manifest reports it as ``timings_s.cpu.<stage>``)."""
    start = time.thread_time()
    try:
        yield
    finally:
        counter(f"cpu_ms.{stage}").inc(int(round((time.thread_time() - start) * 1000)))


PROGRESS_EVERY_S = 30.0
_progress: dict[str, list] = {}   # stage -> [count, started, last logged], per process
_progress_log = logging.getLogger("home_recs.progress")


def progress(stage: str, n: int, unit: str, clock=time.monotonic) -> None:
    """Count ``n`` more ``unit`` done in ``stage`` and log the running total, at most once per
    ``PROGRESS_EVERY_S`` seconds per stage and process (the first call always logs), e.g.
    ``serve: 412,000 listeners in 3m05s``. Counts are per worker process: on Dataflow each
    worker reports its own share; on the local runner they are the job's."""
    now = clock()
    entry = _progress.setdefault(stage, [0, now, None])
    entry[0] += int(n)
    if entry[2] is None or now - entry[2] >= PROGRESS_EVERY_S:
        entry[2] = now
        minutes, seconds = divmod(int(now - entry[1]), 60)
        _progress_log.info("%s: %s %s in %dm%02ds", stage, f"{entry[0]:,}", unit, minutes, seconds)


class SumPartialsFn(beam.CombineFn):
    """Sums :class:`transforms.listeners.aggregates.Partials` as they arrive.

    A bundle then holds one running total per as_of. A plain callable given to ``CombinePerKey``
    buffers ten inputs per key before it merges them, so with many as_of dates (build-examples)
    every batch's counts of every date were held and shuffled at once.
    """

    def create_accumulator(self):
        return Partials()

    def add_input(self, total, part):
        return merge_partials([total, part])

    def add_inputs(self, total, parts):
        return merge_partials([total, *parts])

    def merge_accumulators(self, totals):
        return merge_partials(list(totals))

    def extract_output(self, total):
        return total


class SideValue(CacheAware):
    """A side input's value (``.value``) that Beam's worker cache can weigh cheaply.

    The cache weighs what it holds with objsize, which asks pandas for the deep size of every
    object column (each string, every time): with 50 dates of side tables that was 8% of
    build-examples' CPU. The weight here is :func:`approx_bytes` of the value instead.
    """

    def __init__(self, value):
        self.value = value

    def get_referents_for_cache(self) -> list:
        return []   # measured by __sizeof__ below, not by walking the value

    def __sizeof__(self) -> int:
        return object.__sizeof__(self) + approx_bytes(self.value, depth=5)


def sum_spilled_partials(handles) -> Partials:
    """Sum one date's spilled :class:`transforms.listeners.aggregates.Partials` (``SpilledBlock`` handles,
    or Partials in memory), reading one file at a time.

    Parts wait until they hold as many rows as the running total, then merge with it: memory stays
    within about twice the total, and each row is merged O(log parts) times, not once per part.
    """
    total, pending, pending_rows = Partials(), [], 0
    for handle in handles:
        part = load_block(handle)
        pending.append(part)
        pending_rows += len(part)
        if pending_rows >= len(total):
            total, pending, pending_rows = merge_partials([total, *pending]), [], 0
    return merge_partials([total, *pending]) if pending else total


class _ReadValidateFn(beam.DoFn):
    REJECTED = "rejected"

    def __init__(self, spec: contract.TableSpec, now: pd.Timestamp, chunk_rows: int, emit_rows: int = 0):
        self.spec, self.now, self.chunk_rows, self.emit_rows = spec, now, chunk_rows, emit_rows
        self.read = counter(f"{spec.name}.read")
        self.accepted = counter(f"{spec.name}.accepted")
        self.rejected = counter(f"{spec.name}.rejected")

    def process(self, split: tuple[str, int | None]):
        # Accepted chunks are joined up to emit_rows before they leave, so that the blocks cut
        # from them downstream (one per listener shard) are few and large: per-element cost, and
        # the file count of the events spill, do not grow with the number of chunks.
        held, held_rows = [], 0
        for out in self._validated(split):
            if isinstance(out, beam.pvalue.TaggedOutput):   # rejected rows leave at once
                yield out
                continue
            held.append(out)
            held_rows += len(out)
            if held_rows >= self.emit_rows:
                yield held[0] if len(held) == 1 else pd.concat(held, ignore_index=True)
                held, held_rows = [], 0
        if held:
            yield held[0] if len(held) == 1 else pd.concat(held, ignore_index=True)

    def _validated(self, split: tuple[str, int | None]):
        path, row_group = split
        for chunk in read_chunks(path, self.spec, self.chunk_rows, row_group):
            with cpu_timer("validate"):
                accepted, rejected = validate_frame(chunk.raw, self.spec, now=self.now, source_file=path)
            progress(f"read {self.spec.name}", len(chunk.raw), "rows")
            # validate_frame numbers rows from 1; map back to the file's own data-row numbers
            if len(rejected):
                rejected["row_number"] = chunk.row_numbers[rejected["row_number"].to_numpy() - 1]
            # keyed tables need positions to keep the first row per key; events and curation, to name
            # the rows rejected later (transforms.listeners.item_types, transforms.listeners.curation)
            if self.spec.key or self.spec.name in (contract.EVENTS.name, contract.CURATION.name):
                ok_rows = np.setdiff1d(chunk.row_numbers, rejected["row_number"].to_numpy(), assume_unique=True)
                accepted["_source_file"] = path
                accepted["_row_number"] = ok_rows
            rejected = pd.concat([chunk.parse_rejected, rejected], ignore_index=True) \
                if len(chunk.parse_rejected) else rejected
            self.read.inc(len(chunk.raw) + len(chunk.parse_rejected))
            self.accepted.inc(len(accepted))
            self.rejected.inc(len(rejected))
            for kind, n in (("read", len(chunk.raw) + len(chunk.parse_rejected)), ("accepted", len(accepted)),
                            ("rejected", len(rejected))):
                file_counter(self.spec.name, kind, path).inc(n)
            if len(accepted):
                yield accepted
            if len(rejected):
                yield beam.pvalue.TaggedOutput(self.REJECTED, rejected)


class ReadTable(beam.PTransform):
    """``files`` of one table -> (accepted DataFrames, rejected DataFrames) as a tagged result
    with ``main`` and ``rejected``. Files, and the row groups of a Parquet file, are spread over
    workers with a Reshuffle. Rows are validated ``chunk_rows`` at a time; accepted chunks of one
    file part are joined into frames of at least ``emit_rows`` rows (the last may be smaller)."""

    def __init__(self, spec: contract.TableSpec, files: list[str], now: pd.Timestamp, chunk_rows: int = 50_000,
                 emit_rows: int = 0):
        super().__init__()
        self.spec, self.files, self.now, self.chunk_rows, self.emit_rows = spec, files, now, chunk_rows, emit_rows

    def expand(self, pbegin):
        return (pbegin
                | "Files" >> beam.Create(self.files)
                | "Splits" >> beam.FlatMap(file_splits)   # Parquet row groups are read in parallel
                | "Spread" >> beam.Reshuffle()
                | "ReadValidate" >> beam.ParDo(_ReadValidateFn(self.spec, self.now, self.chunk_rows, self.emit_rows))
                .with_outputs(_ReadValidateFn.REJECTED, main="main"))


def listener_shard(listener_ids, n_shards: int) -> np.ndarray:
    """Shard (int64 in ``[0, n_shards)``) of each listener id: a fixed-key hash, the same in every
    process and run, so a listener's events and profile rows meet in one shard."""
    ids = pd.Series(np.asarray(listener_ids, dtype=object)).astype(str).to_numpy(dtype=object)
    return (pd.util.hash_array(ids) % np.uint64(max(int(n_shards), 1))).astype(np.int64)


def split_by_shard(frame: pd.DataFrame, n_shards: int):
    """Accepted events chunk -> ``(shard, block)`` per listener shard: the block holds the
    columns of ``history.event_block`` plus ``listener_id`` (and ``_source_file``/``_row_number``
    when the chunk has them). Many listeners travel together, so
    the cost of moving them between stages does not grow with the listener count."""
    block = {**event_block(frame), "listener_id": frame["listener_id"].to_numpy(dtype=object)}
    for position in ("_source_file", "_row_number"):   # where each row came from, for late rejections
        if position in frame:
            block[position] = frame[position].to_numpy()
    shard = listener_shard(block["listener_id"], n_shards)
    for s in np.unique(shard):
        idx = np.flatnonzero(shard == s)
        yield int(s), Columns({k: v[idx] for k, v in block.items()})


def split_frame_by_shard(frame: pd.DataFrame, n_shards: int):
    """A ``listeners`` chunk -> ``(shard, rows)`` per listener shard."""
    shard = listener_shard(frame["listener_id"], n_shards)
    for s in np.unique(shard):
        yield int(s), frame[shard == s]


def rejected_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A rejected-rows frame (``validate.REJECTED_COLUMNS``) as a table of :data:`REJECTED_SCHEMA`."""
    frame = frame[REJECTED_COLUMNS].astype({"row_number": "int64"})
    return pa.Table.from_pandas(frame, schema=REJECTED_SCHEMA, preserve_index=False)
