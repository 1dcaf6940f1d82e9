"""Write a dataset in the canonical on-disk form of the data contract.

Importers and the synthetic generator both end here, so every dataset the project produces has
the same layout: ``OUTPUT/<table>.parquet`` per table (see :mod:`transforms.io.contract`), plus
``OUTPUT/_dataset.json`` describing where it came from.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Mapping

import pandas as pd
import pyarrow as pa

from transforms.io import contract, storage


def to_arrow(frame: pd.DataFrame, spec: contract.TableSpec, extra_columns: bool = False) -> pa.Table:
    """Cast ``frame`` to the canonical Arrow schema of ``spec``.

    Contract columns missing from ``frame`` are written as all-null; non-contract columns are
    dropped unless ``extra_columns`` (e.g. an importer's provenance columns).
    Raises ValueError naming the column when a value cannot be cast.
    """
    arrays, names = [], []
    for col in spec.columns:
        arrow_type = _arrow_type(contract.ARROW_TYPES[col.kind])
        values = frame[col.name] if col.name in frame.columns else pd.Series([None] * len(frame), dtype=object)
        try:
            if col.kind == "ts":
                values = pd.to_datetime(values, utc=True)
            arrays.append(pa.array(values, type=arrow_type, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as err:
            raise ValueError(f"table {spec.name!r}: column {col.name!r} cannot be written as {arrow_type}: {err}") from err
        names.append(col.name)
    if extra_columns:
        for name in frame.columns:
            if name not in names:
                arrays.append(pa.array(frame[name], from_pandas=True))
                names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def _arrow_type(name: str) -> pa.DataType:
    return {"string": pa.string(), "int64": pa.int64(), "timestamp[ms, tz=UTC]": pa.timestamp("ms", tz="UTC")}[name]


def write_dataset(frames: Mapping[str, pd.DataFrame], output: str, provenance: Mapping[str, Any] | None = None) -> dict:
    """Write contract tables ``frames`` (name -> DataFrame) under ``output`` and return a summary.

    Tables named in :data:`transforms.io.contract.TABLES` are cast to the canonical schema; any other
    table (e.g. ``friends``) is written as-is. The summary ``{"tables": {name: rows}, ...}`` is also
    written to ``output/_dataset.json``.
    """
    return write_dataset_parts([frames], output, provenance)


def write_dataset_parts(parts: Iterable[Mapping[str, pd.DataFrame]], output: str,
                        provenance: Mapping[str, Any] | None = None, folder_tables: Iterable[str] = ()) -> dict:
    """Write a dataset that arrives in parts (dicts of name -> DataFrame), one part in memory at a time.

    A table named in ``folder_tables`` is written as ``output/<name>/part-NNNNN.parquet``, one file
    per part that holds it; any other table as ``output/<name>.parquet`` (it must come in one part).
    Files of an earlier dataset in the other layout of a written table are deleted first, so the
    readers never see both. Returns and writes the summary like :func:`write_dataset`, with rows
    summed over parts. Raises ValueError for a table outside ``folder_tables`` that comes twice.
    """
    folders = set(folder_tables)
    summary: dict[str, Any] = {"tables": {}, "written_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    if provenance:
        summary["provenance"] = dict(provenance)
    files: dict[str, int] = {}
    for frames in parts:
        for name, frame in frames.items():
            if name not in files:  # first part of this table: clear both layouts of an older dataset
                storage.delete_tree(storage.join(output, name))
                storage.delete_file(storage.join(output, f"{name}.parquet"))
            elif name not in folders:
                raise ValueError(f"table {name!r} came in several parts; name it in folder_tables")
            spec = contract.TABLES.get(name)
            table = to_arrow(frame, spec) if spec else pa.Table.from_pandas(frame, preserve_index=False)
            path = (storage.join(output, name, f"part-{files.get(name, 0):05d}.parquet") if name in folders
                    else storage.join(output, f"{name}.parquet"))
            storage.write_parquet(path, table)
            files[name] = files.get(name, 0) + 1
            summary["tables"][name] = summary["tables"].get(name, 0) + int(len(frame))
    storage.write_json(storage.join(output, "_dataset.json"), summary)
    return summary
