"""Importers: turn real public datasets (and any interaction file) into the data contract.

One module per source, each with one pure function that reads the source files and returns
``{table name: pandas.DataFrame}`` in the contract's logical types (see :mod:`transforms.io.contract`):
ids as ``str``, timestamps ``datetime64[ns, UTC]`` (whole milliseconds, the on-disk resolution),
ints ``int64`` (``Int64`` where nullable), genres as ``|``-joined ``str``. Writing is left to the
caller (``jobs/importers.py`` hands the frames to :func:`transforms.io.datasets.write_dataset`).

- :mod:`transforms.data.importers.thirtymusic`: ``import_30music`` (per-play events, 30Music sample)
- :mod:`transforms.data.importers.hetrec`: ``import_hetrec_lastfm`` (HetRec 2011 Last.fm 2K)
- :mod:`transforms.data.importers.apple_podcasts`: ``import_apple_podcasts`` (show catalogue)
- :mod:`transforms.data.importers.generic`: ``import_events`` (any CSV/Parquet/JSONL of plays)

The public datasets are read in place (``../shared/data`` or any local/``gs://`` path); nothing
here copies them. This module holds the small reading helpers the importers share: every file is
read with pandas/pyarrow through :func:`transforms.io.storage.open_read`, and a missing file or
column raises :class:`transforms.errors.InputError` naming it.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from transforms.io import contract, storage
from transforms.errors import InputError

_INT64_MIN, _INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


def require_file(path: str) -> str:
    """Return ``path``; raise InputError naming it when no file exists there."""
    if not storage.exists(path):
        raise InputError(f"{path}: file not found")
    return path


def format_of(path: str) -> str:
    """The file format (``csv``, ``parquet``, ``jsonl``) implied by ``path``'s extension."""
    lower = path.lower()
    for ext in sorted(contract.FILE_FORMATS, key=len, reverse=True):
        if lower.endswith(ext):
            return contract.FILE_FORMATS[ext]
    raise InputError(f"{path}: cannot tell the format from the extension "
                     f"(known: {', '.join(sorted(contract.FILE_FORMATS))}); pass --format")


def read_frame(path: str, fmt: str, **csv_options) -> pd.DataFrame:
    """Read one whole file with pandas/pyarrow through :func:`storage.open_read`.

    ``fmt`` is ``csv`` (``csv_options`` go to :func:`pandas.read_csv`), ``parquet``, ``jsonl``
    (one JSON object per line) or ``json`` (one JSON array of objects). ``.gz`` files are decompressed by ``open_read``. Raises InputError
    naming the file when it is missing or cannot be parsed as ``fmt``.
    """
    require_file(path)
    try:
        with storage.open_read(path) as handle:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                return pq.read_table(handle).to_pandas()
            if fmt == "csv":
                return pd.read_csv(handle, **csv_options)
            if fmt == "jsonl":
                return pd.read_json(handle, lines=True, dtype=False, convert_dates=False,
                                    dtype_backend="numpy_nullable")
            if fmt == "json":
                return pd.read_json(handle, orient="records", dtype=False, convert_dates=False)
    except InputError:
        raise
    except Exception as err:  # pandas/pyarrow parser errors: a whole-file problem
        raise InputError(f"{path}: cannot be read as {fmt}: {err}") from err
    raise InputError(f"{path}: unknown format {fmt!r} (use csv, parquet or jsonl)")


def require_columns(frame: pd.DataFrame, columns: Iterable[str], path: str) -> None:
    """Raise InputError naming ``path`` and every column of ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(repr(c) for c in missing)} (found: {', '.join(map(str, frame.columns))})")


def to_id(values: pd.Series) -> pd.Series:
    """Ids as ``str`` (object dtype); nulls stay ``None``; ``12.0`` (an int read as float) -> ``"12"``.

    Strings are kept verbatim (no stripping), so an empty or blank id reaches the validator.
    """
    def one(v):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        if isinstance(v, bytes):
            return v.decode("utf-8", errors="replace")
        return str(v)

    return pd.Series([one(v) for v in values], index=values.index, dtype=object)


def to_text(values: pd.Series, nulls: Iterable[str] = ("",)) -> pd.Series:
    """Optional text as ``str`` or ``None``; values in ``nulls`` (e.g. ``""``, ``"NA"``) become ``None``."""
    out = to_id(values)
    null_set = set(nulls)
    return out.where(~out.isin(null_set), None)


def to_int64(values: pd.Series) -> pd.Series:
    """Nullable ``Int64``: numbers (or numeric strings) rounded to whole numbers; anything else null."""
    nums = pd.to_numeric(values, errors="coerce").astype("float64")
    nums = nums.where((nums >= _INT64_MIN) & (nums <= _INT64_MAX))
    return nums.round().astype("Int64")


def epoch_to_utc(values: pd.Series, unit: str = "s") -> pd.Series:
    """Epoch numbers in ``unit`` (``s`` or ``ms``) -> UTC timestamps; non-numbers -> NaT."""
    nums = pd.to_numeric(values, errors="coerce")
    return pd.to_datetime(nums, unit=unit, utc=True, errors="coerce")


def _null_column(kind: str, n: int, index) -> pd.Series:
    if kind == "ts":
        return pd.Series(pd.NaT, index=index, dtype="datetime64[ns, UTC]")
    if kind == "int":
        return pd.Series(pd.NA, index=index, dtype="Int64")
    return pd.Series([None] * n, index=index, dtype=object)


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """``frame`` with exactly the columns of contract table ``table``, in contract order.

    Absent contract columns are added as all-null; timestamps are converted to UTC and floored to
    whole milliseconds (the on-disk resolution); non-contract columns are dropped.
    """
    spec = contract.TABLES[table]
    out = {}
    for col in spec.columns:
        if col.name not in frame.columns:
            out[col.name] = _null_column(col.kind, len(frame), frame.index)
            continue
        values = frame[col.name]
        if col.kind == "ts":
            values = pd.to_datetime(values, utc=True).dt.floor("ms")
        out[col.name] = values
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def file_fingerprints(paths: Iterable[str]) -> dict[str, int]:
    """``{path: size in bytes}`` for provenance."""
    return {p: storage.size(p) for p in paths}
