"""Row-level validation of contract tables: every row is either accepted (typed) or rejected with a reason.

Pure pandas, vectorised per chunk, engine-agnostic: the Beam reader calls it on each chunk and
unit tests call it directly. The first failing check (in column order, then the order below) is
the row's reason, so each rejected row carries exactly one reason code.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from transforms.io import contract
from transforms.io.contract import Reason
from transforms.io.packing import factorize

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")   # C0 (but tab, LF, CR), DEL, C1
# Only these timestamps must not lie in the future; release dates and curation windows may.
_NOT_FUTURE = {("events", "ts"), ("listeners", "registered_at")}
_TEXT_KINDS = ("id", "str", "item_type", "genres")
REJECTED_COLUMNS = ["table", "source_file", "row_number", "reason", "column", "raw"]


def check_header(columns, spec: contract.TableSpec, source_file: str) -> None:
    """Raise InputError naming ``source_file`` and the first required column missing from ``columns``."""
    from transforms.errors import InputError

    present = set(columns)
    for name in spec.required_columns:
        if name not in present:
            raise InputError(
                f"{source_file}: required column {name!r} of table {spec.name!r} is missing "
                f"(found columns: {', '.join(map(str, columns)) or 'none'})"
            )


def rejected_frame(table: str, source_file: str, row_numbers, reasons, columns, raw_json) -> pd.DataFrame:
    """Build a rejected-rows frame with :data:`REJECTED_COLUMNS` (row_number int64, others str)."""
    return pd.DataFrame({
        "table": table, "source_file": source_file,
        "row_number": np.asarray(row_numbers, dtype=np.int64),
        "reason": list(reasons), "column": list(columns), "raw": list(raw_json),
    }, columns=REJECTED_COLUMNS)


def raw_json(frame: pd.DataFrame) -> list[str]:
    """Each row of ``frame`` as a JSON object (the ``raw`` column of a rejected row)."""
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [json.dumps(r, default=str, ensure_ascii=True) for r in records]


_TS_MIN, _TS_MAX = pd.Timestamp(contract.TS_MIN, tz="UTC"), pd.Timestamp(contract.TS_MAX, tz="UTC")
# An integer timestamp of 1e11 or more is the year 5138 in seconds: no real epoch-seconds value,
# but the size of epoch milli- (1e11-1e14), micro- (1e14-1e17) and nanoseconds (1e17-).
_SECONDS_LIMIT = 1e11
_UNIT_SHARE = 0.9   # "almost all": the share of a chunk's numbers that must look like another unit


def _parse_ts(values: pd.Series, where: tuple[str, str, str]) -> pd.Series:
    """Timestamps to ``datetime64[ns, UTC]``; numbers (or digit strings) are epoch seconds. NaT
    when unparseable or outside ``[contract.TS_MIN, contract.TS_MAX)``.

    ``where`` = (source file, table, column), for the error. Raises InputError when almost all
    numbers of the chunk are too large to be epoch seconds: the column is in another unit."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)   # Parquet: may be ms/us units, beyond ns range
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        parsed = _from_epoch_seconds(values, where)
    else:
        text = values.astype("string").str.strip()
        parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
        # ASCII digits only: \d also matches other scripts' digits, which to_numeric cannot read
        digits = text.str.fullmatch(r"-?[0-9]+(\.[0-9]+)?").fillna(False).astype(bool)
        if digits.any():
            parsed[digits] = _from_epoch_seconds(text[digits], where)
        rest = ~digits & text.notna() & (text != "")
        # pandas reads a naive ISO string in the offset of an earlier string of the same call, so
        # strings with and without an offset are parsed apart: a naive one is UTC, whatever its neighbours
        offset = text.str.contains(r"(?:Z|[+-][0-9]{2}:?[0-9]{2})$", regex=True).fillna(False).astype(bool)
        for part in (rest & offset, rest & ~offset):
            if part.any():
                parsed[part] = pd.to_datetime(text[part], utc=True, errors="coerce", format="ISO8601")
    in_range = ((parsed >= _TS_MIN) & (parsed < _TS_MAX)).fillna(False)
    return parsed.where(in_range).astype("datetime64[ns, UTC]")


def _from_epoch_seconds(numbers: pd.Series, where: tuple[str, str, str]) -> pd.Series:
    seconds = pd.to_numeric(numbers, errors="coerce").astype("float64")   # beyond 64 bits: inf, not an error
    present = seconds.notna() & np.isfinite(seconds)     # infinity is a bad value, not another unit
    large = (seconds.abs() >= _SECONDS_LIMIT) & present
    if present.any() and large.sum() >= _UNIT_SHARE * present.sum():
        _wrong_unit(seconds[large], where)
    ok = present & (seconds >= _TS_MIN.value / 1e9) & (seconds < _TS_MAX.value / 1e9)
    if not ok.all():
        seconds = seconds.where(ok)   # out of range -> NaN before the conversion, which would overflow
    return pd.to_datetime(seconds, unit="s", utc=True, errors="coerce")


def _wrong_unit(large: pd.Series, where: tuple[str, str, str]) -> None:
    from transforms.errors import InputError

    source_file, table, column = where
    median = float(large.abs().median())
    unit, factor = (("milliseconds", "1,000") if median < 1e14 else ("microseconds", "1,000,000")
                    if median < 1e17 else ("nanoseconds", "1,000,000,000"))
    raise InputError(
        f"{source_file}: column {column!r} of table {table!r} looks like epoch {unit} (e.g. "
        f"{int(large.iloc[0])}), but integer timestamps are read as epoch seconds: divide the column by "
        f"{factor} or write ISO-8601 timestamps")


def _is_text_dtype(values: pd.Series) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values.dtype)


def _blank(values: pd.Series) -> np.ndarray:
    """bool per row: the value is missing or only whitespace. Typed (non-text) columns are never
    blank where present, so they skip the conversion to text, which costs more than the checks."""
    if not _is_text_dtype(values):
        return values.isna().to_numpy(dtype=bool)
    return (values.astype("string").str.strip() == "").fillna(True).to_numpy(dtype=bool)


def _as_text(value, kind: str):
    """One value as str or None; list values (Parquet/JSON genres) are ``|``-joined."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        return contract.GENRE_SEPARATOR.join(str(x) for x in value) if kind == "genres" else json.dumps(
            list(map(str, value)))
    return str(value)


def _distinct(values: pd.Series) -> tuple[np.ndarray, list]:
    """``(codes int64 (n,), distinct values)`` with ``values[i] == distinct[codes[i]]``.

    Text checks run once per distinct value: ids repeat (a listener plays an item many times),
    so this does a chunk's string work in time proportional to its distinct values. Only pure
    string columns are factorised: in a mixed column ``1``, ``1.0`` and ``True`` compare equal
    but print differently, so each row keeps its own value there."""
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        try:
            codes, uniques = factorize(values.to_numpy(dtype=object))
        except UnicodeEncodeError:   # a lone surrogate (JSON "\ud800"): checked row by row below
            return np.arange(len(values)), list(values)
        distinct = list(uniques) + [None]   # code -1 (missing) -> the trailing None
        return np.where(codes < 0, len(distinct) - 1, codes), distinct
    return np.arange(len(values)), list(values)


_INTEGER_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*")


def _exact_ints(values: pd.Series, missing: np.ndarray) -> list:
    """Per row of an object column: the exact Python int of an int or integer text, else None.
    ``to_numeric`` goes through float64 as soon as a chunk holds a blank or a non-number, and
    float64 rounds integers beyond 2**53."""
    out = []
    for v, skip in zip(values.tolist(), missing):
        if skip or isinstance(v, bool):
            out.append(None)
        elif isinstance(v, (int, np.integer)):
            out.append(int(v))
        elif isinstance(v, str) and _INTEGER_TEXT.fullmatch(v):
            out.append(int(v))
        else:
            out.append(None)
    return out


def _int64_array(column: pd.Series) -> pd.arrays.IntegerArray:
    """Exact ints (or missing values) of an object column as nullable Int64, without floats."""
    ints = [None if pd.isna(v) else int(v) for v in column]
    mask = np.array([v is None for v in ints], dtype=bool)
    return pd.arrays.IntegerArray(np.array([0 if v is None else v for v in ints], dtype=np.int64), mask)


def _utf8(text: str) -> bool:
    """False for text that UTF-8 cannot hold (lone surrogates): no output file could store it."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _text_checks(values: pd.Series, kind: str) -> dict[str, np.ndarray]:
    """Per row: ``text`` (object, str or None: stripped, lower-cased for item types, None when
    empty), ``control``/``empty`` (bool), ``stripped`` (object, for the repeated-header check)."""
    codes, distinct = _distinct(values)
    text = [_as_text(v, kind) for v in distinct]
    control = np.array([t is not None and (_CONTROL.search(t) is not None or not _utf8(t)) for t in text],
                       dtype=bool)
    stripped = _objects([t.strip() if t is not None else None for t in text])
    empty = np.array([t is None or t == "" for t in stripped], dtype=bool)
    if kind == "item_type":
        kept = _objects([t.lower() if t is not None else None for t in stripped])
    elif kind == "id":
        kept = stripped
    else:
        kept = np.where(empty, None, stripped)
    return {"text": kept[codes], "control": control[codes], "empty": empty[codes], "stripped": stripped[codes]}


def validate_frame(raw: pd.DataFrame, spec: contract.TableSpec, *, now: pd.Timestamp,
                   source_file: str, first_row_number: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split one chunk into accepted rows and rejected rows.

    Args:
      raw: one chunk as read (CSV/JSON: strings; Parquet: typed). Extra columns are ignored.
        Required columns must be present (see :func:`check_header`).
      spec: the table's contract.
      now: the run's cut-off instant (UTC); ``events.ts`` and ``listeners.registered_at`` at or
        after it are rejected as ``future_timestamp``.
      source_file: path recorded in each rejected row.
      first_row_number: 1-based data-row number (header excluded) of ``raw``'s first row.

    Returns:
      ``(accepted, rejected)``: ``accepted`` has exactly the contract columns, typed per
      :mod:`transforms.io.contract` (ts ``datetime64[ns, UTC]``, ints ``Int64``, text object), and a
      fresh RangeIndex; ``rejected`` has :data:`REJECTED_COLUMNS` with the original values as JSON
      in ``raw``. ``len(accepted) + len(rejected) == len(raw)`` always.

    Duplicate keys are not checked here (they span chunks); see :func:`reject_duplicate_keys`.
    """
    n = len(raw)
    reason = np.full(n, None, dtype=object)
    bad_col = np.full(n, None, dtype=object)
    out: dict[str, pd.Series] = {}
    raw = raw.reset_index(drop=True)

    def fail(mask, code: str, column: str) -> None:
        mask = np.asarray(mask, dtype=bool) & (reason == None)  # noqa: E711 (elementwise)
        reason[mask] = code
        bad_col[mask] = column

    # A repeated header line (e.g. concatenated CSVs) is malformed, whatever its columns parse as.
    names = [c.name for c in spec.columns if c.name in raw.columns]
    texts = {c.name: _text_checks(raw[c.name], c.kind) for c in spec.columns
             if c.kind in _TEXT_KINDS and c.name in raw.columns}
    # a typed column (Parquet timestamps, numbers) cannot hold a header line: no row can match all
    if names and all(_is_text_dtype(raw[name]) for name in names):
        header_like = np.ones(n, dtype=bool)
        for name in names:
            stripped = texts[name]["stripped"] if name in texts else raw[name].astype("string").str.strip()
            header_like &= pd.Series(stripped == name).fillna(False).to_numpy(dtype=bool)
        fail(header_like, Reason.MALFORMED_ROW, "*")

    for col in spec.columns:
        values = raw[col.name] if col.name in raw.columns else pd.Series([None] * n, dtype=object)
        present = values.notna().to_numpy()
        if col.kind in _TEXT_KINDS:
            checks = texts.get(col.name) or _text_checks(values, col.kind)
            fail(checks["control"], Reason.CONTROL_CHARS, col.name)
            empty = checks["empty"]
            if col.kind == "id":
                fail(empty, Reason.EMPTY_ID, col.name)
            elif col.kind == "item_type":
                fail(empty, Reason.MISSING_VALUE, col.name)
                fail(~np.isin(checks["text"], list(contract.ITEM_TYPES)) & ~empty, Reason.UNKNOWN_ITEM_TYPE,
                     col.name)
            out[col.name] = pd.Series(checks["text"], dtype=object)
        elif col.kind == "ts":
            parsed = _parse_ts(values, (source_file, spec.name, col.name))
            missing = ~present | _blank(values)
            if col.required:
                fail(missing, Reason.BAD_TIMESTAMP, col.name)
            fail(parsed.isna().to_numpy() & ~missing, Reason.BAD_TIMESTAMP, col.name)
            if (spec.name, col.name) in _NOT_FUTURE:
                fail((parsed >= now).fillna(False).to_numpy(dtype=bool), Reason.FUTURE_TIMESTAMP, col.name)
            out[col.name] = parsed
        elif col.kind == "int":
            missing = ~present | _blank(values)
            if pd.api.types.is_bool_dtype(values):
                values = values.astype("Int64")
            num = pd.to_numeric(values.where(~pd.Series(missing), None), errors="coerce")
            exact = _exact_ints(values, missing) if num.dtype != np.int64 and values.dtype == object else None
            not_number = num.isna().to_numpy() & ~missing
            not_integer = (num.notna() & (num != np.floor(num.fillna(0)))).to_numpy()
            # beyond int64 (to_numeric then made the column float64 or uint64): such a value would
            # fail the Int64 cast of the whole chunk, so it is rejected here, alone
            if pd.api.types.is_unsigned_integer_dtype(num.dtype):
                too_big = (num > contract.INT64_MAX).to_numpy()
            elif pd.api.types.is_float_dtype(num.dtype):
                too_big = ((num < contract.INT64_MIN) | (num >= 2.0 ** 63)).fillna(False).to_numpy()
            else:   # int64 (or empty): fits by construction
                too_big = np.zeros(n, dtype=bool)
            not_integer |= too_big
            if exact is not None:   # integer text and ints read exactly, not through float64
                whole = np.array([v is not None for v in exact], dtype=bool)
                fits = np.array([v is not None and contract.INT64_MIN <= v <= contract.INT64_MAX for v in exact])
                not_integer = np.where(whole, ~fits, not_integer)
                num = pd.Series(np.where(whole & fits, _objects(exact), num.astype(object)), dtype=object)
                num = num.where(~(whole & ~fits), None)
            fail(not_number | not_integer, Reason.BAD_NUMBER, col.name)
            if col.required:
                fail(missing, Reason.MISSING_VALUE, col.name)
            if col.minimum is not None:
                below = np.array([v is not None and not pd.isna(v) and v < col.minimum for v in num], dtype=bool) \
                    if num.dtype == object else (num < col.minimum).fillna(False).to_numpy(dtype=bool)
                fail(below, Reason.NEGATIVE_VALUE if col.minimum == 0 else Reason.BAD_NUMBER, col.name)
            out[col.name] = num.where(num.notna() & ~pd.Series(not_integer, index=num.index), None)
        else:  # pragma: no cover - contract declares only the kinds above
            raise AssertionError(col.kind)

    if spec.name == "curation" and "valid_from" in out and "valid_to" in out:
        inverted = (out["valid_to"] < out["valid_from"]).fillna(False).to_numpy(dtype=bool)
        fail(inverted, Reason.BAD_DATE_RANGE, "valid_to")

    ok = reason == None  # noqa: E711
    accepted = pd.DataFrame({name: series[ok].reset_index(drop=True) for name, series in out.items()},
                            columns=list(spec.column_names))
    for col in spec.columns:
        if col.kind == "int":
            column = accepted[col.name]
            # an object column (exact ints beside None) is built value by value: astype goes through float
            accepted[col.name] = _int64_array(column) if column.dtype == object else column.astype("Int64")
    bad = ~ok
    rows = np.arange(first_row_number, first_row_number + n)[bad]
    rejected = rejected_frame(spec.name, source_file, rows, reason[bad], bad_col[bad], raw_json(raw.loc[bad]))
    return accepted, rejected


def reject_duplicate_keys(accepted: pd.DataFrame, spec: contract.TableSpec, order: pd.Series | None = None
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the first row per ``spec.key`` (in ``order``, default frame order); reject the others.

    Returns ``(kept, rejected)`` where rejected rows carry reason ``duplicate_key``; source_file
    and row_number come from the ``_source_file``/``_row_number`` columns when present.
    """
    if not spec.key or accepted.empty:
        return accepted, rejected_frame(spec.name, "", [], [], [], [])
    frame = accepted if order is None else accepted.iloc[np.argsort(order.to_numpy(), kind="stable")]
    dup = frame.duplicated(list(spec.key), keep="first").to_numpy()
    kept, dups = frame[~dup], frame[dup]
    src = dups["_source_file"].astype(str).tolist() if "_source_file" in dups else [""] * len(dups)
    rows = dups["_row_number"].to_numpy() if "_row_number" in dups else np.zeros(len(dups))
    payload = dups[[c for c in dups.columns if not c.startswith("_")]]
    rej = rejected_frame(spec.name, "", rows, [Reason.DUPLICATE_KEY] * len(dups), [",".join(spec.key)] * len(dups),
                         raw_json(payload))
    rej["source_file"] = src
    return kept.reset_index(drop=True), rej
