"""Read the item-neighbours table written by ``home-recs item-neighbours`` (a Spark job).

The table is Parquet with ``item_id`` (str), ``neighbour_id`` (str), ``score`` (float64) and ``method``
(``cooccurrence`` | ``als``): the top N neighbours per item and method. A neighbour always has the
item type of its item (pairs are formed within one type), so a shelf filters on ``item_id`` alone.
The job writes only pairs scoring at least their method's ``neighbours.min_score`` (see
:mod:`models.neighbours`), so this reader does not filter scores again; a table written before that
setting existed still holds its weak pairs until the job runs again.
"""
from __future__ import annotations

import pandas as pd

from transforms import storage
from transforms.errors import InputError

NEIGHBOUR_COLUMNS: tuple[str, ...] = ("item_id", "neighbour_id", "score", "method")
METHODS: tuple[str, ...] = ("cooccurrence", "als")


def neighbour_files(path: str) -> list[str]:
    """Parquet files of the table at ``path``: one ``.parquet`` file, a folder of part files, or the
    job's output folder (its ``neighbours/`` sub-folder). Files named ``_*`` or ``.*`` are skipped.
    Raises InputError naming ``path`` when there is none."""
    path = path.rstrip("/")
    if path.endswith(".parquet"):
        if not storage.exists(path):
            raise InputError(f"{path}: neighbours file not found")
        return [path]
    for folder in (storage.join(path, "neighbours"), path):
        files = [f for f in storage.list_files(folder) if f.endswith(".parquet")
                 and not any(part.startswith(("_", ".")) for part in f[len(folder):].split("/") if part)]
        if files:
            return sorted(files)
    raise InputError(f"{path}: no neighbours table (expected Parquet files under {path}/neighbours/ or {path}/; "
                     f"run `home-recs item-neighbours` first)")


def load_neighbours(path: str, methods=None) -> pd.DataFrame:
    """The neighbours table at ``path`` (see :func:`neighbour_files`) as a pandas frame with columns
    ``item_id, neighbour_id`` (object str), ``score`` (float64), ``method`` (object str), optionally only
    the rows of ``methods``.

    Raises InputError naming the file and column when a column is missing, has the wrong type, holds
    nulls, or ``method`` holds an unknown value.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    frames = []
    for file in neighbour_files(path):
        try:
            with storage.open_read(file) as handle:
                table = pq.read_table(handle)
        except Exception as err:  # a corrupt file is a whole-file problem: stop and name it
            raise InputError(f"{file}: cannot be read as Parquet: {type(err).__name__}: {err}") from err
        names = table.schema.names
        for col in NEIGHBOUR_COLUMNS:
            if col not in names:
                raise InputError(f"{file}: required column {col!r} of the neighbours table is missing "
                                 f"(found columns: {', '.join(names) or 'none'})")
        for col in ("item_id", "neighbour_id", "method"):
            typ = table.schema.field(col).type
            if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
                raise InputError(f"{file}: column {col!r} of the neighbours table must be a string, got {typ}")
        typ = table.schema.field("score").type
        if not (pa.types.is_floating(typ) or pa.types.is_integer(typ)):
            raise InputError(f"{file}: column 'score' of the neighbours table must be numeric, got {typ}")
        frame = table.select(list(NEIGHBOUR_COLUMNS)).to_pandas()
        for col in NEIGHBOUR_COLUMNS:
            if frame[col].isna().any():
                raise InputError(f"{file}: column {col!r} of the neighbours table holds "
                                 f"{int(frame[col].isna().sum())} null value(s)")
        unknown = sorted(set(frame["method"].unique()) - set(METHODS))
        if unknown:
            raise InputError(f"{file}: column 'method' of the neighbours table holds unknown value(s) "
                             f"{unknown} (known: {list(METHODS)})")
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(NEIGHBOUR_COLUMNS))
    out["score"] = out["score"].astype("float64")
    out["item_id"] = out["item_id"].astype(object)
    out["neighbour_id"] = out["neighbour_id"].astype(object)
    out["method"] = out["method"].astype(object)
    if methods is not None:
        methods = [methods] if isinstance(methods, str) else list(methods)
        bad = [m for m in methods if m not in METHODS]
        if bad:
            raise InputError(f"unknown neighbour method(s) {bad} (known: {list(METHODS)})")
        out = out[out["method"].isin(methods)].reset_index(drop=True)
    return out
