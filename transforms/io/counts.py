"""Row counts computed inside a Beam graph, as data, so that a later process can read them.

Beam counters are only readable from the ``PipelineResult`` the launching process holds, and a
Flex Template or ``BeamRunPythonPipelineOperator`` launch cannot rely on that process. The daily job
therefore also emits small count dicts (``{name: int}``) as elements, sums them with
:class:`SumCounts` (PCollection semantics: a retried bundle's output is dropped with it, so every
row is counted once) and writes the total as ``_counts.json`` into its staging folder
(:func:`write_counts`). The names are those of the Beam counters (``transforms.io.beam_io.counter``)
that the manifest reads, e.g. ``events.read``, ``file|events|accepted|<path>``, ``shelf.mixes.rows``.
"""
from __future__ import annotations

import datetime as dt
import time

import apache_beam as beam
import pandas as pd

from transforms.io import storage

COUNTS_FILE = "_counts.json"
# rows rejected after validation (duplicates, item types, curation against the catalog): counter name per table
LATE_REJECTION = {"events": "events.item_type_mismatch_rejected", "listeners": "listeners.duplicates_rejected",
                  "items": "items.duplicates_rejected", "curation": "curation.catalog_rejected"}


def add_counts(total: dict, part: dict) -> dict:
    """Add ``part`` into ``total`` (both ``{name: int}``) in place and return ``total``."""
    for name, n in part.items():
        total[name] = total.get(name, 0) + int(n)
    return total


class SumCounts(beam.CombineFn):
    """Sums count dicts: ``{name: int}`` elements -> one ``{name: int}`` (empty when none)."""

    def create_accumulator(self):
        return {}

    def add_input(self, total, part):
        return add_counts(total, part)

    def merge_accumulators(self, totals):
        out: dict = {}
        for t in totals:
            add_counts(out, t)
        return out

    def extract_output(self, total):
        return total


def file_counts(frame: pd.DataFrame, table: str, kind: str, file_column: str) -> dict:
    """Rows of a validated frame of ``table`` counted per source file and in total.

    ``kind`` is ``accepted`` (a frame of accepted rows, file in ``_source_file``) or ``rejected``
    (a rejected-rows frame, file in ``source_file``). Both kinds also count as ``read``, as the
    reading DoFn's counters do (read = accepted + rejected). Returns ``{name: int}`` with
    ``{table}.{kind}``, ``{table}.read``, ``file|{table}|{kind}|{path}`` and ``file|{table}|read|{path}``.
    Raises KeyError when ``file_column`` is missing.
    """
    out = {f"{table}.{kind}": len(frame), f"{table}.read": len(frame)}
    for path, n in frame[file_column].value_counts(sort=False).items():
        out[f"file|{table}|{kind}|{path}"] = int(n)
        out[f"file|{table}|read|{path}"] = int(n)
    return out


def late_rejection_counts(frame: pd.DataFrame) -> dict:
    """A frame of rows rejected after validation (``validate.REJECTED_COLUMNS``; its ``table``
    column names the table) -> the table's late-rejection counter and ``file|t|late_rejected|path``."""
    out: dict = {}
    if not len(frame):
        return out
    for (table, path), n in frame.groupby(["table", "source_file"], sort=False).size().items():
        add_counts(out, {LATE_REJECTION[table]: n, f"file|{table}|late_rejected|{path}": n})
    return out


class CpuClock:
    """``with clock:`` adds this thread's CPU time in the block to ``clock.ms`` (int milliseconds)."""

    def __init__(self):
        self.ms = 0

    def __enter__(self):
        self._start = time.thread_time()
        return self

    def __exit__(self, *exc):
        self.ms += int(round((time.thread_time() - self._start) * 1000))
        return False


def write_counts(counts: dict, path: str, written: list | None = None) -> str:
    """Write ``{"counts": counts, "files_written": n, "finished_at": UTC ISO time}`` as JSON to
    ``path``; returns ``path``. Given the outputs of the job's writes as a side input
    (``written``), the file is written after all of them: its presence says the staging is complete."""
    storage.write_json(path, {"counts": dict(sorted(counts.items())), "files_written": len(written or []),
                              "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    return path
