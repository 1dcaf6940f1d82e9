"""Find a contract table's files and read them in chunks, keeping every row accounted for.

Formats: Parquet (pyarrow), CSV (pyarrow.csv, every column as text so a bad value cannot fail the
whole file) and JSON Lines, optionally gzipped, local or ``gs://`` (Beam FileSystems handles).
Rows the parser itself cannot shape (wrong field count, a line that is not a JSON object) come
back as pre-rejected rows with reason ``malformed_row``; everything else goes to
:func:`transforms.io.validate.validate_frame`.
"""
from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from transforms.io import contract, storage
from transforms.io.contract import Reason
from transforms.errors import InputError
from transforms.io.validate import check_header, rejected_frame

log = logging.getLogger("home_recs.read")


@dataclass
class Chunk:
    """One chunk of one file: ``raw`` rows as read, numbered from ``first_row_number`` (1-based,
    header excluded) in ``row_numbers`` (int64, same length), plus rows the parser rejected."""

    source_file: str
    raw: pd.DataFrame
    row_numbers: np.ndarray
    parse_rejected: pd.DataFrame


def file_format(path: str) -> str:
    """``parquet``, ``csv`` or ``jsonl`` from the file name. Raises InputError for other extensions."""
    lower = path.lower()
    for ext in sorted(contract.FILE_FORMATS, key=len, reverse=True):
        if lower.endswith(ext):
            return contract.FILE_FORMATS[ext]
    raise InputError(f"{path}: unsupported file type (use one of {', '.join(contract.FILE_FORMATS)})")


def find_table_files(input_dir: str, table: str) -> list[str]:
    """Files of ``table`` under ``input_dir``: ``<table>.<ext>`` or ``<table>/*.<ext>``.

    Returns [] for a missing optional table (curation). Raises InputError naming the expected
    paths when a required table has no file, and when it is given twice, as two top-level files
    (``events.parquet`` and ``events.csv``) or as a file and a folder (its rows would count twice).
    """
    spec = contract.TABLES[table]
    files: list[str] = []
    parts: list[str] = []
    for ext in contract.FILE_FORMATS:
        files += storage.glob(storage.join(input_dir, f"{table}{ext}"))
        parts += [p for p in storage.glob(storage.join(input_dir, table, f"*{ext}"))
                  if not p.rsplit("/", 1)[-1].startswith(("_", "."))]
    if len(set(files)) > 1:   # events.parquet beside events.csv: two exports of one table, rows counted twice
        raise InputError(f"{input_dir}: table {table!r} is given twice, as {' and '.join(sorted(set(files)))}; "
                         f"keep one of them")
    if files and parts:  # the same rows twice is the likely story (an export left beside its parts)
        raise InputError(f"{input_dir}: table {table!r} is given twice, as {', '.join(sorted(set(files)))} and as "
                         f"{len(set(parts))} file(s) under {storage.join(input_dir, table)}/; keep one of them")
    found = sorted(set(files + parts))
    skipped = [p for p in storage.glob(storage.join(input_dir, table, "*"))
               if p not in found and not p.rsplit("/", 1)[-1].startswith(("_", "."))]
    if skipped:  # a mistyped extension (.parq, .csv.bz2) would otherwise drop its rows without a word
        log.warning("%s/: %d file(s) not read (not %s): %s", storage.join(input_dir, table), len(skipped),
                    ", ".join(contract.FILE_FORMATS), ", ".join(sorted(skipped)[:5]))
    if not found and not spec.optional_file:
        raise InputError(f"no file for table {table!r} under {input_dir}: expected {table}.parquet, "
                         f"{table}.csv[.gz], {table}.jsonl[.gz] or a folder {table}/ of such files")
    return found


def file_splits(path: str) -> list[tuple[str, int | None]]:
    """The independently readable parts of one file: ``(path, row_group)`` for each row group of a
    Parquet file, so workers can read and validate one file in parallel; ``(path, None)`` (the
    whole file) for text formats and for a Parquet file with at most one row group."""
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            with storage.open_read(path) as handle:
                groups = pq.ParquetFile(handle).metadata.num_row_groups
        except Exception as err:  # a corrupt footer is a whole-file problem: stop and name it
            raise InputError(f"{path}: cannot be read as parquet: {type(err).__name__}: {err}") from err
        if groups > 1:
            return [(path, g) for g in range(groups)]
    return [(path, None)]


def read_chunks(path: str, spec: contract.TableSpec, chunk_rows: int = 50_000,
                row_group: int | None = None) -> Iterator[Chunk]:
    """Yield the chunks of one file, or of one Parquet ``row_group`` of it (row numbers stay those
    of the whole file). Raises InputError naming the file (and column) when the file is missing,
    unreadable as its format, or lacks a required column."""
    fmt = file_format(path)
    if not storage.exists(path):
        raise InputError(f"{path}: file not found")
    try:
        if fmt == "parquet":
            yield from _parquet_chunks(path, spec, chunk_rows, row_group)
        elif fmt == "csv":
            yield from _csv_chunks(path, spec)
        else:
            yield from _jsonl_chunks(path, spec, chunk_rows)
    except InputError:
        raise
    except Exception as err:  # a corrupt file is a whole-file problem: stop and name it
        raise InputError(f"{path}: cannot be read as {fmt}: {type(err).__name__}: {err}") from err


BYTES_PER_TEXT_ROW = 60  # a row of a CSV or JSON Lines events file, measured on the importers' output


def estimate_rows(paths: list[str]) -> int:
    """Rows in a table's files: exact for Parquet (footer metadata), estimated from the size for
    text formats (gzip assumed to shrink 4x). Used to size listener shards before the run."""
    import pyarrow.parquet as pq

    total = 0
    for path in paths:
        if file_format(path) == "parquet":
            with storage.open_read(path) as handle:
                total += pq.ParquetFile(handle).metadata.num_rows
        else:
            total += storage.size(path) * (4 if path.lower().endswith(".gz") else 1) // BYTES_PER_TEXT_ROW
    return int(total)


def _no_rejects(spec) -> pd.DataFrame:
    return rejected_frame(spec.name, "", [], [], [], [])


def _parquet_chunks(path, spec, chunk_rows, row_group=None):
    import pyarrow.parquet as pq

    with storage.open_read(path) as handle:
        pf = pq.ParquetFile(handle)
        names = pf.schema_arrow.names
        repeated = sorted({n for n in names if names.count(n) > 1} & set(spec.column_names))
        if repeated:
            raise InputError(f"{path}: column {repeated[0]!r} of table {spec.name!r} appears more than once")
        check_header(names, spec, path)
        wanted = [c for c in spec.column_names if c in names]
        groups = None if row_group is None else [row_group]
        # 1-based row number of the first row read: rows of the earlier row groups come first
        start = 1 + sum(pf.metadata.row_group(g).num_rows for g in range(row_group or 0))
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=wanted, row_groups=groups):
            # integer columns with nulls as Python ints, not float64 (which rounds beyond 2**53)
            frame = _text_from_binary(batch.to_pandas(timestamp_as_object=False, integer_object_nulls=True))
            yield Chunk(path, frame, np.arange(start, start + len(frame)), _no_rejects(spec))
            start += len(frame)


def _text_from_binary(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet BYTE_ARRAY columns without the UTF8 annotation arrive as ``bytes``: decode them as
    UTF-8 text (invalid bytes become U+FFFD, so such a value fails its checks as text instead of
    stopping the chunk)."""
    for name in frame.columns:
        col = frame[name]
        if col.dtype == object and len(col) and any(isinstance(v, bytes) for v in col.head(100)):
            frame[name] = [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v for v in col]
    return frame


def _csv_chunks(path, spec):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    bad: list[tuple[int, str]] = []

    def on_invalid(row) -> str:
        bad.append((int(row.number) if row.number is not None else -1, row.text))
        return "skip"

    with storage.open_read(path) as handle:  # the header alone, so a bad first row cannot hide it
        first = handle.readline().decode("utf-8-sig", errors="replace").rstrip("\r\n")
    gz = path.lower().endswith(".gz")
    header = next(csv.reader([first])) if first else []
    check_header(header, spec, path)
    types = {name: pa.string() for name in header}
    with storage.open_raw(path) as raw:
        # pyarrow decompresses itself: it needs a file object that Beam's gzip wrapper is not
        source = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "gzip") if gz else pa.PythonFile(raw, mode="r")
        reader = pcsv.open_csv(
            source,
            read_options=pcsv.ReadOptions(block_size=4 << 20, use_threads=False, column_names=header, skip_rows=1),
            parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid, newlines_in_values=False),
            convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                include_columns=[c for c in spec.column_names if c in header]),
        )
        next_row = 1  # data rows, header excluded; pyarrow numbers file rows including the header
        for batch in reader:
            frame = batch.to_pandas()
            # Valid rows take the data-row numbers that the skipped rows did not.
            skipped = {n - 1 for n, _ in bad}
            numbers = []
            while len(numbers) < len(frame):
                if next_row not in skipped:
                    numbers.append(next_row)
                next_row += 1
            rej = rejected_frame(spec.name, path, [n - 1 for n, _ in bad], [Reason.MALFORMED_ROW] * len(bad),
                                 ["*"] * len(bad), [json.dumps({"line": t}, ensure_ascii=True) for _, t in bad])
            bad.clear()
            yield Chunk(path, frame, np.asarray(numbers, dtype=np.int64), rej)
        if bad:  # invalid rows after the last valid one
            rej = rejected_frame(spec.name, path, [n - 1 for n, _ in bad], [Reason.MALFORMED_ROW] * len(bad),
                                 ["*"] * len(bad), [json.dumps({"line": t}, ensure_ascii=True) for _, t in bad])
            yield Chunk(path, pd.DataFrame(columns=header), np.zeros(0, dtype=np.int64), rej)


def _jsonl_chunks(path, spec, chunk_rows):
    records, numbers, bad_rows, bad_text = [], [], [], []
    checked = False

    def flush():
        nonlocal checked
        frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
        if not checked and records:
            check_header(list(frame.columns), spec, path)
            checked = True
        for name in spec.column_names:
            if name not in frame.columns:
                frame[name] = None
        rej = rejected_frame(spec.name, path, bad_rows, [Reason.MALFORMED_ROW] * len(bad_rows),
                             ["*"] * len(bad_rows), [json.dumps({"line": t}, ensure_ascii=True) for t in bad_text])
        return Chunk(path, frame[list(spec.column_names)], np.asarray(numbers, dtype=np.int64), rej)

    row = 0
    for line in storage.iter_lines(path):
        if row == 0 and not records and not bad_rows:
            line = line.removeprefix(b"\xef\xbb\xbf")   # a UTF-8 byte-order mark is not data
        if not line.strip():
            continue
        row += 1
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
            records.append(obj)
            numbers.append(row)
        except (ValueError, UnicodeDecodeError):
            bad_rows.append(row)
            bad_text.append(line.decode("utf-8", errors="replace"))
        if len(records) + len(bad_rows) >= chunk_rows:
            yield flush()
            records, numbers, bad_rows, bad_text = [], [], [], []
    if records or bad_rows or row == 0:
        yield flush()


def read_accepted(input_dir: str, table: str, now: pd.Timestamp) -> pd.DataFrame:
    """Every row of ``table`` under ``input_dir`` that passes the contract's row checks
    (:func:`transforms.io.validate.validate_frame`), typed, in one pandas frame; for offline reports
    on a small window, not for the daily job (which reads in Beam and writes what it rejects).
    Raises InputError as :func:`find_table_files` and :func:`read_chunks` do."""
    from transforms.io.validate import validate_frame

    spec = contract.TABLES[table]
    frames = []
    for path in find_table_files(input_dir, table):
        for chunk in read_chunks(path, spec):
            accepted, _ = validate_frame(chunk.raw, spec, now=now, source_file=path)
            frames.append(accepted)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(spec.column_names))


def read_plays(input_dir: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(accepted events, accepted items) under ``input_dir``, read once for an offline report that
    then cuts as many windows as it needs (:func:`plays_in_window`)."""
    now = pd.Timestamp.now(tz="UTC")
    return read_accepted(input_dir, "events", now=now), read_accepted(input_dir, "items", now=now)


def plays_in_window(events: pd.DataFrame, items: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                    source: str = "input") -> pd.DataFrame:
    """Plays of ``events`` with ``start <= ts < end`` (UTC Timestamps): listener_id, item_id,
    context_id, ts, and the catalog's parent_id and creator_id of the item (None when ``items``
    lacks it). Raises InputError naming ``source`` and the window when it holds no play; warns when
    the data stops inside the window."""
    plays = events[(events["ts"] >= start) & (events["ts"] < end)]
    if not len(plays):
        span = f"{events['ts'].min()} .. {events['ts'].max()}" if len(events) else "no accepted event"
        raise InputError(f"{source}: no play in [{start.date()}, {end.date()}): the label window is empty "
                         f"(events span {span})")
    if end > events["ts"].max() + pd.Timedelta(minutes=1):
        log.warning("%s: the label window [%s, %s) runs past the last play (%s): it is partial", source,
                    start.date(), end.date(), events["ts"].max())
    return plays[["listener_id", "item_id", "context_id", "ts"]].merge(
        items[["item_id", "parent_id", "creator_id"]], on="item_id", how="left").reset_index(drop=True)
