"""Read the item-neighbours table written by ``home-recs item-neighbours`` (a Spark job).

The table is Parquet with ``item_id`` (str), ``neighbour_id`` (str), ``score`` (float64) and ``method``
(``cooccurrence`` | ``als``): the top N neighbours per item and method. A neighbour always has the
item type of its item (pairs are formed within one type), so a shelf filters on ``item_id`` alone.
The job writes only pairs scoring at least their method's ``neighbours.min_score`` (see
:mod:`models.candidates.neighbours`), so this reader does not filter scores again; a table written before that
setting existed still holds its weak pairs until the job runs again.

Point in time: the table holds co-plays before its ``as_of`` (00:00 UTC), which the job records in
``OUTPUT/summary.json``. :func:`table_as_of` finds it and :func:`check_point_in_time` refuses a table
built after the first date it would be used for (an example date or the served date): such a table
counts plays of that date's label window, i.e. leaks the labels into the candidates and features.
"""
from __future__ import annotations

import datetime as dt
import posixpath

import pandas as pd

from transforms.io import storage
from transforms.errors import InputError

NEIGHBOUR_COLUMNS: tuple[str, ...] = ("item_id", "neighbour_id", "score", "method")
METHODS: tuple[str, ...] = ("cooccurrence", "als")
SUMMARY, SUCCESS = "summary.json", "_SUCCESS"
JOB = "item-neighbours"


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


def summary_folders(path: str) -> list[str]:
    """Folders where the ``summary.json`` of the table at ``path`` can be, nearest first: the output
    folder itself, or, for its ``neighbours/`` sub-folder or a .parquet file in it, that folder and
    the output folder above it. Only a folder named ``neighbours`` is climbed out of, so an unrelated
    summary.json further up (build-examples writes one too) is never taken for the table's."""
    path = path.rstrip("/")
    folder = posixpath.dirname(path) if path.endswith(".parquet") else path
    out = [folder]
    if posixpath.basename(folder) == "neighbours":
        out.append(posixpath.dirname(folder))
    return out


def table_as_of(path: str) -> tuple[str | None, str | None]:
    """``(as_of, summary_path)`` of the neighbours table at ``path`` (output folder, its
    ``neighbours/`` sub-folder or one .parquet file): ``as_of`` is the ``YYYY-MM-DD`` that
    ``home-recs item-neighbours --as-of`` recorded in its summary.json (the table holds plays
    before 00:00 UTC of that day). ``(None, None)`` when no summary.json is found (see
    :func:`summary_folders`).

    Raises InputError naming the file when the summary is not JSON, was written by another job,
    holds no valid ``as_of``, or when the folder has no ``_SUCCESS`` or one of another run: the job
    removes ``_SUCCESS`` before it replaces the tables and writes summary then ``_SUCCESS`` last, so
    without the pair the tables may be newer than the summary's as_of.
    """
    for folder in summary_folders(path):
        summary_path = storage.join(folder, SUMMARY)
        if not storage.exists(summary_path):
            continue
        try:
            summary = storage.read_json(summary_path)
        except (ValueError, UnicodeDecodeError) as err:
            raise InputError(f"{summary_path}: not valid JSON ({err})") from err
        if not isinstance(summary, dict) or summary.get("job") != JOB:
            job = summary.get("job") if isinstance(summary, dict) else None
            raise InputError(f"{summary_path}: not a summary of `home-recs {JOB}` (job: {job!r}); "
                             f"--neighbours must be an item-neighbours output")
        as_of = summary.get("as_of")
        try:
            as_of = dt.date.fromisoformat(str(as_of)).isoformat()
        except ValueError as err:
            raise InputError(f"{summary_path}: 'as_of' must be a date YYYY-MM-DD, got {as_of!r}") from err
        success = storage.join(folder, SUCCESS)
        if not storage.exists(success):
            raise InputError(f"{folder}: has {SUMMARY} but no {SUCCESS}: `home-recs {JOB}` is still writing this "
                             f"table or failed while replacing it, so its tables may not be those of as_of {as_of}; "
                             f"wait for it or run it again")
        marker = storage.read_bytes(success).decode("utf-8", errors="replace").strip()
        if marker and summary.get("run_id") and marker != summary["run_id"]:
            raise InputError(f"{success}: run {marker!r} does not match run_id {summary['run_id']!r} of {summary_path}; "
                             f"run `home-recs {JOB}` again")
        return as_of, summary_path
    return None, None


def missing_reason(path: str) -> str | None:
    """Why the table at ``path`` cannot be used yet, or None when it is there and complete: no
    Parquet table (the Spark job failed or has not run), or a job output folder without its
    ``_SUCCESS`` (a run still writing, or one that died half way). For ``--neighbours-missing-ok``:
    only these are skipped; a table that exists but breaks a rule (built after the served date,
    unknown as_of) is still refused by :func:`check_point_in_time`."""
    try:
        neighbour_files(path)
    except InputError as err:
        return str(err)
    folder = path.rstrip("/")
    if folder.endswith(".parquet"):
        return None
    if folder.endswith("/neighbours"):
        folder = folder[: -len("/neighbours")]
    if storage.exists(storage.join(folder, "summary.json")) and not storage.exists(storage.join(folder, "_SUCCESS")):
        return f"{folder}: no _SUCCESS (the item-neighbours run is incomplete)"
    return None


def check_point_in_time(path: str, first_date: str, used_for: str = "examples",
                        declared_as_of: str | None = None) -> str:
    """The as_of (``YYYY-MM-DD``) of the neighbours table at ``path``, after checking that it is
    not later than ``first_date`` (``YYYY-MM-DD``): the earliest example date when ``used_for`` is
    ``"examples"``, the served date when it is ``"serving"``. A table at as_of T holds the co-plays
    before T; used at an earlier date D it would hold those of [D, T): for examples their labels.
    Cheap (one JSON file): call it before a pipeline reads any input.

    ``declared_as_of`` (``--neighbours-as-of``) is the as_of of a table without summary.json, e.g.
    one copied without it. Without either, the table is refused: its as_of is unknown, and a table
    of unknown age silently leaks whenever it is newer than the data it is joined to, which no
    later metric shows (an offline gain that vanishes in production). Refusing costs one flag.

    Raises InputError (one line, naming ``path``, the table's as_of and ``first_date``, and the
    fix) when there is no table at ``path`` (:func:`neighbour_files`), when it is later than
    ``first_date``, when its as_of is unknown, when the declared as_of contradicts the summary, or
    for the summary problems of :func:`table_as_of`.
    """
    try:
        first_date = dt.date.fromisoformat(str(first_date).strip()).isoformat()
    except ValueError as err:
        raise InputError(f"as_of must be a date YYYY-MM-DD, got {first_date!r}") from err
    neighbour_files(path)  # a missing table is named as such, and before the pipeline rather than on a worker
    found, summary_path = table_as_of(path)
    if declared_as_of is not None:
        try:
            declared_as_of = dt.date.fromisoformat(declared_as_of.strip()).isoformat()
        except ValueError as err:
            raise InputError(f"--neighbours-as-of must be a date YYYY-MM-DD, got {declared_as_of!r}") from err
        if found is not None and found != declared_as_of:
            raise InputError(f"--neighbours-as-of {declared_as_of} contradicts as_of {found} in {summary_path}; "
                             f"drop the flag (it is only for a table without summary.json)")
    as_of = found or declared_as_of
    if as_of is None:
        raise InputError(f"--neighbours {path}: no {SUMMARY} of `home-recs {JOB}` in "
                         f"{' or '.join(summary_folders(path))}, so the table's as_of is unknown and it may hold "
                         f"plays on or after {first_date}; build it with `home-recs {JOB} --as-of {first_date}` or, "
                         f"if you know the as_of it was built at, pass --neighbours-as-of YYYY-MM-DD")
    if as_of > first_date:  # ISO dates compare as strings
        if used_for == "serving":
            raise InputError(f"--neighbours {path}: table built at as_of {as_of}, after the served date {first_date}: "
                             f"it holds plays from days after it; use a table built at or before {first_date} "
                             f"(`home-recs {JOB} --as-of {first_date}`)")
        raise InputError(f"--neighbours {path}: table built at as_of {as_of}, after the earliest example date "
                         f"{first_date}: its co-plays include the label days of the examples before {as_of} (leakage); "
                         f"build the table at or before the window's first as_of "
                         f"(`home-recs {JOB} --as-of {first_date}`)")
    return as_of
