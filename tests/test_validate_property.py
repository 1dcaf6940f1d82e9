"""A guard for the whole class (issue 11): random CSV, JSON Lines and Parquet files through the
reader and the row validator, exactly as the pipeline calls them (``_ReadValidateFn``).

The generators write, per file, rows that mix valid values with wrong types, numbers huge and
negative (beyond int64 too), empty and whitespace-only strings, control characters (NUL too),
unicode, extreme timestamps (year 1 and 9999, epoch seconds negative and huge, ISO strings with
and without offsets, garbage), other units (epoch milliseconds), duplicated JSON keys and
duplicated table keys. Each cell knows what the contract says about it (valid with this value,
invalid, or either), so the properties checked for every file are:

- no exception escapes except ``InputError`` (the documented whole-file stop), whose message
  names the file, and only for a cause the file was given (a missing required column, a
  timestamp column in another unit, bytes that are not UTF-8 in a CSV);
- rows read == accepted + rejected == data rows written;
- every rejected row has a row-level reason code, its file and a distinct row number in 1..n;
  malformed lines are ``malformed_row``;
- accepted rows have the contract's types and ranges, keep their written value where the cell
  pins one, and no row with an invalid cell is accepted, nor a row of valid cells rejected;
- for keyed tables, ``reject_duplicate_keys`` on the accepted rows keeps the first row per key
  and rejects the others, and kept + rejected == accepted.

Inputs that hit a bug still open are kept out of the generators (``KNOWN_BUGS``); each has a
minimal ``xfail(strict=True)`` test at the end of this file. When a bug is fixed its test passes
and fails as XPASS: remove its xfail mark (it stays as a regression test) and its name from
``KNOWN_BUGS``, and the generators produce that input again.
"""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import math
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from transforms.io import contract
from transforms.io.beam_io import _ReadValidateFn
from transforms.io.contract import Reason
from transforms.errors import InputError
from transforms.io.read import file_splits
from transforms.io.validate import reject_duplicate_keys

KNOWN_BUGS = frozenset({
})

NOW = pd.Timestamp("2026-11-28", tz="UTC")
TS_MIN = pd.Timestamp(contract.TS_MIN, tz="UTC")
TS_MAX = pd.Timestamp(contract.TS_MAX, tz="UTC")
S_MIN, S_MAX, S_NOW = TS_MIN.value // 10 ** 9, TS_MAX.value // 10 ** 9, NOW.value // 10 ** 9
INT64_MIN, INT64_MAX = contract.INT64_MIN, contract.INT64_MAX
INT_TOP = INT64_MAX if "int64_max_beside_uint64" not in KNOWN_BUGS else INT64_MAX - 1024   # largest valid int drawn
NOT_FUTURE = {("events", "ts"), ("listeners", "registered_at")}   # as validate: only these may not lie ahead
ROW_REASONS = {v for k, v in vars(Reason).items() if k.isupper()} - {Reason.DUPLICATE_KEY,
                                                                         Reason.ITEM_TYPE_MISMATCH}
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f" + ("" if "c1_controls_in_text" in KNOWN_BUGS
                                                         else "\x80-\x9f") + "]")
SETTINGS = dict(deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much, HealthCheck.large_base_example])


def allowed(bug: str) -> bool:
    return bug not in KNOWN_BUGS


# --------------------------------------------------------------------------- cells

VALID, INVALID, UNKNOWN = "valid", "invalid", "unknown"
MISSING = "<missing key>"   # JSON: the key is left out of the object
NO = object()               # no value pinned


@dataclass(frozen=True)
class Cell:
    """One written value. ``status``: VALID (the row may be accepted, and then holds ``expect``),
    INVALID (the row must be rejected) or UNKNOWN (either; if accepted, ``expect`` when pinned)."""

    value: object
    status: str = UNKNOWN
    expect: object = NO
    tag: str = ""


def missing_cell(kind: str, required: bool, value=None) -> Cell:
    """A null/blank value: ids and item types must be there; optional columns may be empty."""
    if kind in ("id", "item_type") or required:
        return Cell(value, INVALID, tag="missing")
    return Cell(value, VALID, pd.NaT if kind == "ts" else None, tag="missing")


def instant_cell(value, instant, table: str, col: str, tag: str = "") -> Cell:
    """A value meaning ``instant`` (a UTC pd.Timestamp or datetime): valid within the contract range."""
    if isinstance(instant, dt.datetime) and not isinstance(instant, pd.Timestamp):   # Parquet values
        ok = dt.datetime(1900, 1, 1) <= instant.replace(tzinfo=None) < dt.datetime(2200, 1, 1)
        instant = pd.Timestamp(instant.replace(tzinfo=None)).tz_localize("UTC") if ok else None
    ok = instant is not None and TS_MIN <= instant < TS_MAX and not (
        (table, col) in NOT_FUTURE and instant >= NOW)
    return Cell(value, VALID if ok else INVALID, instant if ok else NO, tag=tag)


def int_cell(value, number, minimum, exact: bool = True, tag: str = "") -> Cell:
    """A value meaning the integer ``number``: valid within int64 and the column's minimum."""
    lo = INT64_MIN if minimum is None else minimum
    if not lo <= number <= INT64_MAX:
        return Cell(value, INVALID, tag=tag or "int_out_of_range")
    if abs(number) > 2 ** 53 and not allowed("int_beyond_2_53_with_missing"):
        return Cell(value, UNKNOWN, tag="int_beyond_2_53")
    return Cell(value, VALID if exact else UNKNOWN, number, tag=tag)


# A rare choice is a middle value (``integers(0, 29) == 13``): Hypothesis favours 0, False and the
# first element of ``sampled_from``, so the common case comes first and a rare one is never 0.


def weighted(*pairs):
    """One of the strategies, drawn with the given integer weights."""
    return st.sampled_from([s for w, s in pairs for _ in range(w)]).flatmap(lambda s: s)


WORD = st.text(st.characters(categories=("L", "N"), codec="utf-8"), min_size=1, max_size=5)
POOL = st.sampled_from(["k1", "k2", "K1", "é", "漢字", "x y"])
PAD = st.sampled_from(["", "", "", " ", "  ", "\t", "\u3000", "\u00a0"])
BLANK = st.sampled_from(["", " ", "  ", "\t", "\u3000"])
CTRL = st.sampled_from([chr(c) for c in [*range(0x00, 0x09), 0x0b, 0x0c, *range(0x0e, 0x20), 0x7f]])
C1 = st.sampled_from(["\x80", "\x85", "\x9b", "\x9f"])
GARBAGE = st.text(st.characters(codec="utf-8"), max_size=6)
ASCII_DIGITS = re.compile(r"\s*-?[0-9]+(\.[0-9]+)?\s*")


def padded(core: str):
    return st.tuples(PAD, PAD).map(lambda p: p[0] + core + p[1])


def text_cell(kind: str, required: bool, pool: bool = False, clean: bool = False):
    """A string for a text column (id, str, item_type, genres); ``clean``: valid ones only."""
    if kind == "item_type":
        good = st.tuples(st.sampled_from(contract.ITEM_TYPES), st.sampled_from([str.lower, str.upper, str.title]),
                         PAD, PAD).map(lambda t: Cell(t[2] + t[1](t[0]) + t[3], VALID, t[0]))
        if clean:
            return good
        bad = st.sampled_from(["podcast", "tracks", "Track s", "song", "0", "track\u200b"]).map(
            lambda v: Cell(v, INVALID))
        return weighted((6, good), (1, bad), (1, BLANK.map(lambda v: missing_cell(kind, required, v))),
                        (1, st.tuples(st.sampled_from(contract.ITEM_TYPES), CTRL).map(
                            lambda t: Cell(t[0] + t[1], INVALID, tag="control"))),
                        (1, GARBAGE.map(Cell)))
    core = POOL if pool else WORD
    if kind == "genres":
        core = st.lists(WORD, min_size=1, max_size=3).map(contract.GENRE_SEPARATOR.join)
    good = core.flatmap(lambda c: padded(c).map(lambda v: Cell(v, VALID, c)))
    if clean:
        return good
    inner = st.tuples(WORD, st.sampled_from([" ", "\t", "\n", "\r", "\r\n", '"', ",", "'"]), WORD).map(
        lambda t: Cell("".join(t), VALID, "".join(t)))
    control = st.tuples(WORD, CTRL, st.sampled_from(["", "x"])).map(
        lambda t: Cell("".join(t), INVALID, tag="control"))
    c1 = st.tuples(WORD, C1, WORD).map(
        lambda t: Cell("".join(t), UNKNOWN if "c1_controls_in_text" in KNOWN_BUGS else INVALID, tag="c1"))
    return weighted((8 if pool else 5, good), (1, inner), (1, BLANK.map(lambda v: missing_cell(kind, required, v))),
                    (1, control), (1, c1), (1, GARBAGE.map(Cell)))


def iso_cell(table: str, col: str, mode: str, lo=dt.datetime(1890, 1, 1), hi=dt.datetime(2210, 12, 31)):
    """An ISO-8601 string. ``mode`` "naive": naive or Z strings; "aware": Z or offsets; "mixed": any
    (a naive string after one with an offset is misread while that bug is open, see KNOWN_BUGS)."""
    suffixes = {"naive": [("", 0), ("Z", 0)], "aware": [("Z", 0), ("+00:00", 0), ("+05:30", 330), ("-08:00", -480),
                                                        ("+14:00", 840), ("-12:00", -720), ("-00:59", -59)]}
    suffixes["mixed"] = suffixes["naive"] * 3 + suffixes["aware"]

    def build(args):
        when, fmt, (suffix, offset_min) = args
        when = when.replace(microsecond=when.microsecond // 1000 * 1000 if fmt == "frac" else 0)
        date = f"{when.year:04d}-{when.month:02d}-{when.day:02d}"
        clock = f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}"
        if fmt == "date" and not suffix:
            when, text = when.replace(hour=0, minute=0, second=0, microsecond=0), date
        elif fmt == "frac":
            text = f"{date}T{clock}.{when.microsecond // 1000:03d}{suffix}"
        else:
            text = f"{date}{' ' if fmt == ' ' else 'T'}{clock}{suffix}"
        instant = pd.Timestamp(when).tz_localize("UTC") - pd.Timedelta(minutes=offset_min)
        return instant_cell(text, instant, table, col, tag="iso")

    return st.tuples(st.datetimes(lo, hi),
                     st.sampled_from(["T", " ", "date", "frac"]), st.sampled_from(suffixes[mode])).map(build)


ISO_EXTREMES = [("0001-01-01T00:00:00Z", None), ("9999-12-31T23:59:59Z", None),
                ("1899-12-31T23:59:59Z", None), ("2200-01-01T00:00:00Z", None),
                ("1900-01-01T00:00:00Z", TS_MIN), ("2199-12-31T23:59:59Z", TS_MAX - pd.Timedelta(seconds=1)),
                ("2262-04-12T00:00:00Z", None), ("1677-09-21T00:00:00Z", None)]


def epoch_seconds(table, col, ints: bool = True):
    """Integers (or floats) of epoch seconds, from valid to other units to beyond int64."""
    def cell(s, tag=""):
        instant = pd.Timestamp(int(s), unit="s", tz="UTC") if S_MIN <= s < S_MAX else None
        return instant_cell(s, instant, table, col, tag)

    valid = st.integers(S_MIN, S_MAX - 1) | st.integers(10 ** 9, S_NOW - 1)
    edges = st.sampled_from([S_MIN - 1, S_MIN, 0, -1, S_NOW - 1, S_NOW, S_MAX - 1, S_MAX])
    out_of_range = st.integers(S_MAX, 10 ** 11 - 1) | st.integers(-(10 ** 11) + 1, S_MIN - 1)
    huge = st.integers(10 ** 11, 2 ** 63 - 1) | st.integers(-(2 ** 63), -(10 ** 11))
    if not ints:
        huge = st.integers(10 ** 11, 2 ** 63 - 1) | st.integers(2 ** 63, 2 ** 64 - 1) | st.integers(-(2 ** 63), -(10 ** 11))
    if allowed("ts_digits_beyond_64_bits"):
        huge = huge | st.integers(2 ** 64, 10 ** 30) | st.integers(-(10 ** 30), -(2 ** 63) - 1)
    return weighted((6, valid.map(cell)), (1, edges.map(cell)), (1, out_of_range.map(cell)),
                    (1, huge.map(lambda s: Cell(s, INVALID, tag="huge_ts"))))


CLEAN_LO, CLEAN_HI = dt.datetime(1900, 1, 2), dt.datetime(2026, 11, 26)   # valid in every ts column


def clean_seconds(table, col):
    return st.integers(S_MIN + 86400, S_NOW - 86400).map(
        lambda s: instant_cell(s, pd.Timestamp(s, unit="s", tz="UTC"), table, col))


def ts_text_cell(table: str, col: str, required: bool, mode: str, clean: bool = False):
    """A string for a timestamp column: epoch seconds, ISO strings, extremes, garbage."""
    if clean:
        return clean_seconds(table, col).map(lambda c: Cell(str(c.value), c.status, c.expect)) | \
            iso_cell(table, col, mode, CLEAN_LO, CLEAN_HI)
    as_text = epoch_seconds(table, col, ints=False).flatmap(
        lambda c: padded(str(c.value)).map(lambda v: Cell(v, c.status, c.expect, c.tag)))
    half = st.integers(S_MIN, S_MAX - 2).map(lambda s: instant_cell(
        f"{s}.5", pd.Timestamp(s, unit="s", tz="UTC") + pd.Timedelta(milliseconds=500 if s >= 0 else -500),
        table, col, "half"))
    extremes = st.sampled_from(ISO_EXTREMES).map(lambda e: instant_cell(e[0], e[1], table, col, "iso_extreme"))
    garbage = GARBAGE.filter(lambda t: not re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", t)
                             or (allowed("ts_unicode_digits") and ASCII_DIGITS.fullmatch(t)))
    junk = st.sampled_from(["2020-01-01\x00", "2020-13-45", "1e9", "+1400000000", "nan", "inf", "NaT", "now",
                            "today", "2020-01-01T25:00:00Z", "14000000000000000000000.5.5", "--1", "0x10"])
    unicode_digits = st.sampled_from(["１４００００００００", "١٤٠٠٠٠٠٠٠٠", "१४००००००००"])
    return weighted((8, as_text), (1, half), (6, iso_cell(table, col, mode)), (1, extremes),
                    (1, BLANK.map(lambda v: missing_cell("ts", required, v))), (1, garbage.map(Cell)),
                    (1, junk.map(Cell)),
                    *([(1, unicode_digits.map(Cell))] if allowed("ts_unicode_digits") else []))


def int_text_cell(minimum, required: bool, clean: bool = False):
    lo = INT64_MIN if minimum is None else minimum
    small = st.integers(lo, lo + 10 ** 6).map(lambda v: int_cell(str(v), v, minimum))
    big = (st.integers(2 ** 53 + 1, INT_TOP) | st.just(INT_TOP)).map(lambda v: int_cell(str(v), v, minimum))
    if clean:
        return weighted((3, small), (1, big))
    below = (st.integers(-(10 ** 6), lo - 1) if minimum is not None else st.nothing()) | st.just(INT64_MIN)
    beyond = st.integers(INT64_MAX + 1, 10 ** 30) | st.integers(-(10 ** 30), INT64_MIN - 1)
    loose = st.sampled_from([("2.0", 2), ("1e3", 1000), (" 12 ", 12), ("+7", 7), ("1900.0", 1900), ("0", 0)]).map(
        lambda p: int_cell(p[0], p[1], minimum, exact=False))
    bad = st.sampled_from(["1.5", "-0.25", "2.5e-3", "nan", "NaN", "inf", "-inf", "1e400"]).map(
        lambda v: Cell(v, INVALID, tag="bad_number"))
    return weighted((6, small), (1, big), (1, below.map(lambda v: int_cell(str(v), v, minimum))),
                    (1, beyond.map(lambda v: int_cell(str(v), v, minimum))), (1, loose), (1, bad),
                    (1, BLANK.map(lambda v: missing_cell("int", required, v))),
                    (1, GARBAGE.map(Cell)), (1, st.sampled_from(["١٢", "0x10", "12abc", "1,000"]).map(Cell)))


def string_cell(table: str, column: contract.Column, mode: str, pool: bool, clean: bool = False):
    """A cell of a column written as text (CSV, JSON strings, Parquet string columns)."""
    if column.kind == "ts":
        return ts_text_cell(table, column.name, column.required, mode, clean)
    if column.kind == "int":
        return int_text_cell(column.minimum, column.required, clean)
    return text_cell(column.kind, column.required, pool, clean)


def json_cell(table: str, column: contract.Column, mode: str, pool: bool, numeric_ids: bool, clean: bool = False):
    """A JSON value: strings as in CSV, plus numbers, booleans, nulls, lists, objects, a left-out key."""
    kind, req = column.kind, column.required
    strings = string_cell(table, column, mode, pool, clean)
    if kind in ("id", "str") and numeric_ids:   # a column of JSON numbers only (see KNOWN_BUGS)
        return st.integers(-(2 ** 31), 2 ** 31).map(lambda v: Cell(v, VALID, str(v)))
    if clean and kind == "ts":
        return strings | clean_seconds(table, column.name)
    if clean and kind == "int":
        return strings | (st.integers(column.minimum or 0, (column.minimum or 0) + 10 ** 6) |
                          st.integers(2 ** 53 + 1, INT_TOP)).map(lambda v: int_cell(v, v, column.minimum))
    if clean and kind == "genres":
        return strings | st.lists(WORD, max_size=3).map(lambda ws: Cell(ws, VALID, "|".join(ws) or None))
    if clean:
        return strings
    null = st.sampled_from([None, MISSING]).map(lambda v: missing_cell(kind, req, v))
    junk = st.sampled_from([True, False, [], [1, "a"], {"a": 1}, {}]).map(Cell)
    if allowed("lone_surrogate") and kind != "int":   # a cut emoji: "\ud83d" alone
        junk = junk | st.tuples(WORD, st.sampled_from(["\ud83d", "\udfff"])).map(lambda t: Cell("".join(t)))
    if kind == "ts":
        floats = weighted((3, st.integers(S_MIN, S_MAX - 2).map(lambda s: instant_cell(
            s + 0.5, pd.Timestamp(s, unit="s", tz="UTC") + pd.Timedelta(milliseconds=500), table, column.name))),
            (1, st.just(math.nan).map(lambda v: missing_cell(kind, req, v))),
            (1, st.sampled_from([1e300, -1e300]).map(lambda v: Cell(v, INVALID, tag="huge_ts"))),
            *([(1, st.sampled_from([math.inf, -math.inf]).map(lambda v: Cell(v, INVALID, tag="huge_ts")))]
              if allowed("ts_only_infinite_numbers") else []))
        return weighted((6, strings), (5, epoch_seconds(table, column.name)), (1, floats), (1, null), (1, junk))
    if kind == "int":
        ints = st.integers(-(10 ** 25), 10 ** 25) | st.integers(INT64_MIN - 5, INT64_MIN + 5) | \
            st.integers(INT_TOP - 5, INT_TOP) | st.integers(INT64_MAX + 1, INT64_MAX + 5) | \
            st.integers(column.minimum or 0, (column.minimum or 0) + 10 ** 6)
        floats = st.sampled_from([1.5, -0.5, 2.0, 1900.0, 1e300, -1e300, math.inf, -math.inf, math.nan]).map(
            lambda v: (missing_cell(kind, req, v) if math.isnan(v) else
                       int_cell(v, int(v), column.minimum, exact=False) if math.isfinite(v) and v == int(v)
                       else Cell(v, INVALID, tag="bad_number")))
        return weighted((4, strings), (6, ints.map(lambda v: int_cell(v, v, column.minimum))), (1, floats),
                        (1, null), (1, junk))
    if kind == "genres":
        lists = st.lists(WORD, max_size=3).map(lambda ws: Cell(ws, VALID, "|".join(ws) or None))
        return weighted((4, strings), (2, lists), (1, null), (1, junk))
    numbers = st.sampled_from([5, 0, -3, 1.5]).map(Cell) if allowed("numeric_ids_with_missing") else st.nothing()
    return weighted((8, strings), (1, null), (1, junk), (1, numbers))


# --------------------------------------------------------------------------- files

@dataclass
class Row:
    """One written data row: ``cells`` per contract column written; ``kind`` "record", "header"
    (a repeated header line), "malformed" (the parser must reject it) or "unknown"."""

    cells: dict = field(default_factory=dict)
    kind: str = "record"


@dataclass
class Plan:
    path: str
    spec: contract.TableSpec
    rows: list
    written: list        # contract columns written to the file
    chunk_rows: int
    stops: set = field(default_factory=set)     # whole-file stops the file was given: InputError allowed
    must_stop: str = ""                          # a stop that must happen
    unknown_columns: set = field(default_factory=set)
    clean_share: int = 0                         # in tenths: the share of rows of valid cells only


def draw_plan(data, fmt: str, tmp: str, scenario: str = "rows") -> Plan:
    """A file of ``fmt`` in ``tmp``. ``scenario``: "rows" (row-level trouble only), "no required
    column" or "other unit" (a timestamp column of epoch milliseconds): a whole-file stop."""
    table = data.draw(st.sampled_from(contract.TABLE_NAMES), label="table")
    spec = contract.TABLES[table]
    n = data.draw(st.integers(0, 9), label="rows")
    chunk_rows = data.draw(st.sampled_from([1, 2, 3, 3, 4, 50]), label="chunk_rows")
    columns = [c for c in spec.columns if c.required or data.draw(st.booleans())]
    stops, must_stop = set(), ""
    if scenario == "no required column":
        dropped = data.draw(st.sampled_from(spec.required_columns))
        columns = [c for c in columns if c.name != dropped]
        stops.add(f"required column {dropped!r}")
        must_stop = f"required column {dropped!r}"
    ts_cols = [c.name for c in columns if c.kind == "ts"]
    # epoch milliseconds in every row (Parquet: an int64 column; text: digit strings or JSON numbers)
    ms_col = ts_cols[0] if ts_cols and scenario == "other unit" else None
    mode = "mixed" if allowed("naive_after_offset_iso") else "naive"
    if mode == "naive" and data.draw(st.booleans()):
        mode = "aware"
    ext = {"csv": [".csv", ".csv", ".csv.gz"], "jsonl": [".jsonl", ".json"] + ([".jsonl.gz"] if allowed(
        "jsonl_gz_unreadable") else []), "parquet": [".parquet"]}
    path = os.path.join(tmp, table + data.draw(st.sampled_from(ext[fmt]), label="ext"))
    plan = Plan(path, spec, [], [c.name for c in columns], chunk_rows, stops, must_stop,
                clean_share=data.draw(st.sampled_from([8, 5, 0, 10]), label="clean share"))
    if ms_col:
        plan.stops.add("looks like epoch")
    if fmt == "csv":
        write_csv(data, plan, columns, n, mode, ms_col)
    elif fmt == "jsonl":
        write_jsonl(data, plan, columns, n, mode, ms_col)
    else:
        write_parquet(data, plan, columns, n, mode, ms_col)
    if any(c.tag == "huge_ts" for r in plan.rows for c in r.cells.values()):
        plan.stops.add("looks like epoch")
    records = [r for r in plan.rows if r.kind in ("record", "header")]
    if fmt == "jsonl" and must_stop and not records:
        plan.must_stop = ""   # JSON Lines: the columns are known from the first object read
    if ms_col and not plan.must_stop and records and all(r.kind == "record" and r.cells[ms_col].tag == "ms"
                                                    for r in records):
        plan.must_stop = "looks like epoch"
    return plan


MS = st.integers(2 * 10 ** 8, S_NOW - 1).map(lambda s: Cell(s * 1000, INVALID, tag="ms"))   # epoch milliseconds


def ms_cell(data, as_int: bool) -> Cell:
    cell = data.draw(MS)
    return cell if as_int else Cell(str(cell.value), INVALID, tag="ms")


def draw_record(data, plan: Plan, columns, mode: str, ms_col, cell_fn) -> Row:
    key = set(plan.spec.key or ())
    clean = data.draw(st.integers(0, 9)) < plan.clean_share
    cells = {}
    for c in columns:
        if c.name == ms_col:
            cells[c.name] = ms_cell(data, as_int=cell_fn is not None and data.draw(st.booleans()))
        else:
            cells[c.name] = data.draw((cell_fn or string_cell)(plan.spec.name, c, mode, c.name in key, clean))
    return Row(cells)


def write_csv(data, plan: Plan, columns, n: int, mode: str, ms_col) -> None:
    header = [c.name for c in columns]
    extra = data.draw(st.sampled_from([None, None, "extra", "ünïcode col"]))
    dup = data.draw(st.sampled_from(header)) if header and data.draw(st.integers(0, 14)) == 7 else None
    order = data.draw(st.permutations(header + ([extra] if extra else []) + ([dup] if dup else [])))
    if dup:
        plan.unknown_columns.add(dup)   # which of the two columns is read is not pinned
    lines = []
    for _ in range(n):
        shape = data.draw(st.sampled_from(["record"] * 12 + ["malformed", "header"]))
        if shape == "malformed":
            width = data.draw(st.integers(1, len(order) + 2).filter(lambda w: w != len(order)))
            plan.rows.append(Row(kind="malformed"))
            lines.append(data.draw(st.lists(WORD, min_size=width, max_size=width)))
            continue
        row = draw_record(data, plan, columns, mode, ms_col, None)
        if shape == "header":
            row = Row({name: Cell(name) for name in header}, kind="header")
        plan.rows.append(row)
        line, seen = [], set()
        for name in order:
            if name in row.cells and name not in seen:
                line.append(row.cells[name].value)
            elif name in row.cells:   # the duplicated column's other copy
                line.append(data.draw(string_cell(plan.spec.name, spec_column(plan.spec, name), mode, False)).value)
            else:
                line.append(data.draw(GARBAGE))
            seen.add(name)
        lines.append(line)
    quoting, end = data.draw(st.sampled_from([(csv.QUOTE_MINIMAL, "\r\n"), (csv.QUOTE_ALL, "\n")]))
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=quoting, lineterminator=end)
    writer.writerow(order)
    writer.writerows(lines)
    payload = buf.getvalue().encode("utf-8")
    if data.draw(st.integers(0, 9)) == 5:   # a byte-order mark
        payload = b"\xef\xbb\xbf" + payload
    if n and data.draw(st.integers(0, 24)) == 11:   # one row in another encoding: not UTF-8
        payload += ",".join(["caf\xe9"] * len(order)).encode("latin-1") + end.encode()
        plan.rows.append(Row(kind="unknown"))
        plan.stops.add("cannot be read as csv")
    write_bytes(plan.path, payload)


def spec_column(spec: contract.TableSpec, name: str) -> contract.Column:
    return next(c for c in spec.columns if c.name == name)


def json_text(pairs, ensure_ascii: bool) -> str:
    return "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=ensure_ascii)}" for k, v in pairs) + "}"


BAD_JSON_LINES = [b"not json", b"[1, 2]", b"null", b"42", b'"text"', b'{"listener_id": "a"', b"{'a': 1}",
                  b"{\xff}", b'{"a": 1}}', b"{} {}", b"\x00"]


def write_jsonl(data, plan: Plan, columns, n: int, mode: str, ms_col) -> None:
    numeric = {c.name for c in columns if c.kind in ("id", "str") and not allowed("numeric_ids_with_missing")
               and data.draw(st.integers(0, 9)) == 5}
    lines = []
    for _ in range(n):
        shape = data.draw(st.sampled_from(["record"] * 12 + ["malformed", "header", "latin1"]))
        if shape == "malformed":
            plan.rows.append(Row(kind="malformed"))
            lines.append(data.draw(st.sampled_from(BAD_JSON_LINES)))
            continue
        row = draw_record(data, plan, columns, mode, ms_col,
                          lambda t, c, m, p, clean: json_cell(t, c, m, p, c.name in numeric, clean))
        if shape == "header":
            row = Row({c.name: Cell(c.name) for c in columns}, kind="header")
        pairs = []
        for name, cell in row.cells.items():
            if cell.value is MISSING:
                if name in plan.spec.required_columns:
                    plan.stops.add(f"required column {name!r}")   # all rows of a chunk may leave it out
                continue
            if data.draw(st.integers(0, 14)) == 7:   # a duplicated key: JSON keeps the last
                pairs.append((name, data.draw(st.sampled_from(["decoy", 123, None, ""]))))
            pairs.append((name, cell.value))
        pairs = data.draw(st.permutations(pairs)) if data.draw(st.booleans()) else pairs
        seen = {}
        for k, v in pairs:   # after a shuffle the last pair of a key is the one JSON keeps
            seen[k] = v
        for k, v in seen.items():
            if k in row.cells and row.cells[k].value is not MISSING and v is not row.cells[k].value:
                row.cells[k] = Cell(v)   # the decoy won
        text = json_text(pairs, data.draw(st.booleans()))
        if re.search("[\ud800-\udfff]", text):
            text = json_text(pairs, True)   # lone surrogates exist in JSON text only as escapes
        if shape == "latin1" and any(ord(ch) > 127 for ch in text):
            plan.rows.append(Row(row.cells, kind="unknown"))   # not UTF-8: malformed, or mojibake that parses
            lines.append(text.encode("latin-1", errors="replace"))
            continue
        plan.rows.append(row)
        lines.append(text.encode("utf-8"))
    end = data.draw(st.sampled_from([b"\n", b"\r\n"]))
    payload = b"".join(line + end for line in lines)
    if (lines or allowed("jsonl_bom_only_line")) and data.draw(st.integers(0, 9)) == 5:   # a byte-order mark
        payload = b"\xef\xbb\xbf" + payload
    write_bytes(plan.path, payload)


def write_bytes(path: str, payload: bytes) -> None:
    with (gzip.open(path, "wb") if path.endswith(".gz") else open(path, "wb")) as f:
        f.write(payload)


# Parquet: one Arrow type per column; each gives (type, cell strategy)
DATETIMES = st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59)) | \
    st.datetimes(dt.datetime(1899, 1, 1), dt.datetime(2201, 1, 1)) | \
    st.sampled_from([dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59), dt.datetime(1900, 1, 1),
                     dt.datetime(2199, 12, 31, 23, 59, 59), dt.datetime(2200, 1, 1)])


def parquet_column(data, table: str, column: contract.Column, mode: str, pool: bool):
    """An Arrow type for the column, with a strategy of any cells and one of valid cells only."""
    kind, req = column.kind, column.required
    nullable = lambda s: weighted((6, s), (1, st.just(missing_cell(kind, req))))  # noqa: E731
    strings = (pa.string(), nullable(string_cell(table, column, mode, pool)), string_cell(table, column, mode, pool, True))
    options = [strings, strings, (pa.large_string(), *strings[1:]), (pa.null(), st.just(missing_cell(kind, req)), None)]
    if kind == "ts":
        def when(unit, values):
            def cell(d):
                d = d.replace(microsecond=d.microsecond // 1000 * 1000 if unit == "ms" else 0)
                return instant_cell(d, d, table, column.name)
            return values.map(cell)
        clean_dates = st.datetimes(CLEAN_LO, CLEAN_HI)
        date = st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)) | st.dates(dt.date(1899, 1, 1), dt.date(2201, 1, 1))
        as_date = lambda d: instant_cell(d, dt.datetime(d.year, d.month, d.day), table, column.name)  # noqa: E731
        half = st.integers(S_MIN, S_MAX - 2).map(lambda s: instant_cell(
            s + 0.5, pd.Timestamp(s, unit="s", tz="UTC") + pd.Timedelta(milliseconds=500), table, column.name))
        floats = weighted((4, half), (1, st.just(None).map(lambda v: missing_cell(kind, req, v))),
                          (1, st.sampled_from([1e300, -1e300]).map(lambda v: Cell(v, INVALID, tag="huge_ts"))),
                          *([(1, st.sampled_from([math.inf, -math.inf]).map(lambda v: Cell(v, INVALID, tag="huge_ts")))]
                            if allowed("ts_only_infinite_numbers") else []))
        for typ in (pa.timestamp("ms", tz="UTC"), pa.timestamp("ms", tz="UTC"), pa.timestamp("s"),
                    pa.timestamp("us", tz="+05:30")):
            options.append((typ, nullable(when(typ.unit, DATETIMES)), when(typ.unit, clean_dates)))
        options += [(pa.date32(), nullable(date.map(as_date)), st.dates(CLEAN_LO.date(), CLEAN_HI.date()).map(as_date)),
                    (pa.int64(), nullable(epoch_seconds(table, column.name)), clean_seconds(table, column.name)),
                    (pa.float64(), floats, half.filter(lambda c: c.status == VALID))]
    elif kind == "int":
        lo = column.minimum if column.minimum is not None else INT64_MIN
        small = st.integers(lo, lo + 10 ** 6)
        ints = small | st.integers(INT64_MIN, INT64_MAX) | st.sampled_from([INT64_MIN, INT64_MAX, -1, 0, lo - 1])
        uints = st.integers(0, 10 ** 6) | st.integers(INT_TOP - 2, INT_TOP) | st.integers(INT64_MAX + 1, 2 ** 64 - 1)
        floats = st.sampled_from([0.0, -0.0, 5.0, 1900.0, 2000.0, 1.5, -2.0, 1e300, math.inf, -math.inf, 2.0 ** 63,
                                  9007199254740992.0])
        as_int = lambda v: int_cell(v, v, column.minimum)  # noqa: E731
        as_float = lambda v: (int_cell(v, int(v), column.minimum, exact=False)  # noqa: E731
                              if math.isfinite(v) and v == int(v) else Cell(v, INVALID))
        options += [(pa.int64(), nullable(ints.map(as_int)), small.map(as_int)),
                    (pa.int64(), nullable(ints.map(as_int)), small.map(as_int)),
                    (pa.uint64(), nullable(uints.map(as_int)), small.filter(lambda v: v >= 0).map(as_int)),
                    (pa.float64(), nullable(floats.map(as_float)), small.map(lambda v: as_float(float(v)))),
                    (pa.bool_(), nullable(st.booleans().map(Cell)), None)]
    elif kind == "genres":
        lists = st.lists(WORD, max_size=3).map(lambda ws: Cell(ws, VALID, "|".join(ws) or None))
        options += [(pa.list_(pa.string()), nullable(lists), lists)]
    elif kind == "item_type":
        options += [(pa.dictionary(pa.int32(), pa.string()), *strings[1:])]
    if kind in ("id", "str"):
        ids = st.integers(-(2 ** 40), 2 ** 40).map(lambda v: Cell(v, VALID, str(v)))
        options += [(pa.int64(), ids if not allowed("numeric_ids_with_missing") else nullable(ids), ids)]
    if kind in ("ts", "int") or allowed("parquet_binary_text_repr"):   # UTF-8 bytes without the string type
        as_bytes = lambda c: Cell(c.value.encode("utf-8"), c.status, c.expect, c.tag)  # noqa: E731
        raw = string_cell(table, column, mode, pool).map(as_bytes)
        if allowed("parquet_binary_not_utf8"):
            raw = raw | st.just(Cell(b"\xff\xfe", INVALID if kind in ("ts", "int") else UNKNOWN))
        options += [(pa.binary(), nullable(raw), string_cell(table, column, mode, pool, True).map(as_bytes))]
    typ, dirty, clean = data.draw(st.sampled_from(options), label=f"type of {column.name}")
    return typ, dirty, dirty if clean is None else clean


def write_parquet(data, plan: Plan, columns, n: int, mode: str, ms_col) -> None:
    arrays, names = [], []
    cells = {}
    types = {c.name: (pa.int64(), MS, MS) if c.name == ms_col else
             parquet_column(data, plan.spec.name, c, mode, c.name in set(plan.spec.key or ())) for c in columns}
    clean = [data.draw(st.integers(0, 9)) < plan.clean_share for _ in range(n)]
    for c in columns:
        typ, dirty, good = types[c.name]
        cells[c.name] = [data.draw(good if ok else dirty) for ok in clean]
        values = [x.value for x in cells[c.name]]
        if pa.types.is_dictionary(typ):
            arrays.append(pa.array(values, pa.string()).dictionary_encode())
        elif pa.types.is_timestamp(typ) and typ.tz not in (None, "UTC"):
            arrays.append(pa.array(values, pa.timestamp(typ.unit, tz="UTC")).cast(typ))
        else:
            arrays.append(pa.array(values, typ))
        names.append(c.name)
    if data.draw(st.booleans()):
        arrays.append(pa.array([data.draw(GARBAGE) for _ in range(n)], pa.string()))
        names.append("extra")
    if names and data.draw(st.integers(0, 14)) == 7:   # a contract column twice: the file stops
        arrays.append(arrays[0])
        names.append(names[0])
        plan.stops.add("appears more than once")
        plan.must_stop = plan.must_stop or "appears more than once"
    order = data.draw(st.permutations(range(len(names))))
    table = pa.Table.from_arrays([arrays[i] for i in order], names=[names[i] for i in order])
    plan.rows = [Row({name: cells[name][i] for name in cells}) for i in range(n)]
    pq.write_table(table, plan.path, row_group_size=data.draw(st.integers(1, max(n, 1))))


# --------------------------------------------------------------------------- checks

def read_validate(plan: Plan, emit_rows: int):
    """The pipeline's read + validate of one file: (accepted frames, rejected frames)."""
    fn = _ReadValidateFn(plan.spec, NOW, plan.chunk_rows, emit_rows)
    accepted, rejected = [], []
    for split in file_splits(plan.path):
        for out in fn.process(split):
            if isinstance(out, beam.pvalue.TaggedOutput):
                assert out.tag == _ReadValidateFn.REJECTED
                rejected.append(out.value)
            else:
                accepted.append(out)
    return accepted, rejected


def is_missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def same(got, want) -> bool:
    if is_missing(want):
        return is_missing(got)
    if is_missing(got):
        return False
    if isinstance(want, pd.Timestamp):
        return isinstance(got, pd.Timestamp) and abs(got - want) <= pd.Timedelta(microseconds=1)
    if isinstance(want, str):
        return type(got) is str and got == want
    return int(got) == want


def all_valid(plan: Plan, row: Row) -> bool:
    """The row is a record of valid cells only: the validator must accept it."""
    return row.kind == "record" and not (set(row.cells) & plan.unknown_columns) and \
        all(c.status == VALID for c in row.cells.values())


def check_file(plan: Plan, emit_rows: int, stats: Counter) -> None:
    spec, n = plan.spec, len(plan.rows)
    note(f"{plan.path}: {n} rows, chunk_rows={plan.chunk_rows}, columns={plan.written}")
    for i, row in enumerate(plan.rows, 1):
        note(f"  row {i} {row.kind}: " + ", ".join(f"{k}={c.value!r} ({c.status})" for k, c in row.cells.items()))
    stats["files"] += 1
    try:
        accepted, rejected = read_validate(plan, emit_rows)
    except InputError as err:
        message = str(err)
        note(f"InputError: {message}")
        assert plan.path in message, "an InputError must name the file"
        assert any(stop in message for stop in plan.stops), f"stopped for a cause the file was not given: {message}"
        cause = next(s for s in plan.stops if s in message)
        event(f"InputError: {cause}")
        stats["stopped"] += 1
        stats[f"stopped: {cause}"] += 1
        stats["planned stops"] += cause == plan.must_stop
        return
    assert not plan.must_stop, f"expected an InputError ({plan.must_stop})"
    stats["validated"] += 1
    event("validated")

    rej = pd.concat(rejected, ignore_index=True) if rejected else pd.DataFrame(
        {"row_number": np.zeros(0, np.int64), "reason": [], "column": [], "source_file": [], "table": []})
    acc = pd.concat(accepted, ignore_index=True) if accepted else None
    n_acc = 0 if acc is None else len(acc)
    assert n_acc + len(rej) == n, f"read {n} rows, accepted {n_acc} + rejected {len(rej)}"

    # rejected rows: a row-level reason, this file, distinct row numbers in 1..n
    assert set(rej["reason"]) <= ROW_REASONS, set(rej["reason"]) - ROW_REASONS
    assert (rej["source_file"] == plan.path).all() and (rej["table"] == spec.name).all()
    assert set(rej["column"]) <= set(spec.column_names) | {"*"}
    numbers = rej["row_number"].tolist()
    assert len(set(numbers)) == len(numbers), "a row rejected twice"
    assert all(1 <= r <= n for r in numbers), numbers
    for r, reason, column in zip(numbers, rej["reason"], rej["column"]):
        row = plan.rows[r - 1]
        assert not all_valid(plan, row) or spec.name == "curation" and reason == Reason.BAD_DATE_RANGE, \
            f"row {r} of valid cells rejected: {reason} ({column})"
        if row.kind == "malformed":
            assert (reason, column) == (Reason.MALFORMED_ROW, "*")
        event(f"rejected: {reason}")
    accepted_rows = sorted(set(range(1, n + 1)) - set(numbers))
    for r in range(1, n + 1):
        if plan.rows[r - 1].kind in ("malformed", "header"):
            assert r not in accepted_rows, f"row {r} ({plan.rows[r - 1].kind}) accepted"
    if acc is None:
        return

    # accepted rows: the contract's columns and types, in file order
    positions = ["_source_file", "_row_number"] if spec.key or spec.name in ("events", "curation") else []
    assert list(acc.columns) == list(spec.column_names) + positions
    if positions:
        assert acc["_row_number"].tolist() == accepted_rows and (acc["_source_file"] == plan.path).all()
    for col in spec.columns:
        values = acc[col.name]
        if col.kind in ("id", "str", "item_type", "genres"):
            assert values.dtype == object
            for v in values:
                if v is None:
                    assert col.kind in ("str", "genres"), f"{col.name}: None accepted"
                    continue
                assert type(v) is str and v and v == v.strip(), f"{col.name}: {v!r}"
                assert not CONTROL.search(v), f"{col.name}: control character in {v!r}"
                v.encode("utf-8")
                if col.kind == "item_type":
                    assert v in contract.ITEM_TYPES, v
        elif col.kind == "ts":
            assert str(values.dtype) == "datetime64[ns, UTC]", values.dtype
            present = values.dropna()
            assert ((present >= TS_MIN) & (present < TS_MAX)).all(), present.tolist()
            if col.required:
                assert values.notna().all()
            if (spec.name, col.name) in NOT_FUTURE:
                assert (present < NOW).all()
        elif col.kind == "int":
            assert str(values.dtype) == "Int64", values.dtype
            present = values.dropna()
            lo = INT64_MIN if col.minimum is None else col.minimum
            assert ((present >= lo) & (present <= INT64_MAX)).all(), present.tolist()
            if col.required:
                assert values.notna().all()
    if spec.name == "curation":
        both = acc["valid_from"].notna() & acc["valid_to"].notna()
        assert (acc.loc[both, "valid_to"] >= acc.loc[both, "valid_from"]).all()

    # accepted rows keep the values their cells pin; no row with an invalid cell passes
    for i, r in enumerate(accepted_rows):
        row = plan.rows[r - 1]
        if row.kind != "record":
            continue
        for name, cell in row.cells.items():
            assert cell.status != INVALID, f"row {r}: {name}={cell.value!r} ({cell.tag or 'invalid'}) accepted"
            if cell.expect is not NO and name not in plan.unknown_columns:
                got = acc[name].iloc[i]
                assert same(got, cell.expect), f"row {r}: {name}={cell.value!r} read as {got!r}, not {cell.expect!r}"
    stats["accepted_rows"] += n_acc

    # duplicate keys (applied after validation): first row per key kept, kept + rejected = accepted
    if spec.key:
        kept, dups = reject_duplicate_keys(acc, spec)
        assert len(kept) + len(dups) == n_acc
        assert set(dups["reason"]) <= {Reason.DUPLICATE_KEY} and (dups["source_file"] == plan.path).all()
        assert not kept.duplicated(list(spec.key)).any()
        first = acc.drop_duplicates(list(spec.key))["_row_number"].tolist()
        assert kept["_row_number"].tolist() == first
        assert sorted(first + dups["row_number"].tolist()) == accepted_rows
        if len(dups):
            event("duplicate keys")


def run_examples(data, fmt: str, stats: Counter, scenario: str = "rows") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        plan = draw_plan(data, fmt, tmp, scenario)
        check_file(plan, data.draw(st.sampled_from([0, 0, 4])), stats)


def assert_mostly_validated(stats: Counter) -> None:
    print(dict(stats))   # shown with -s: how the files fared
    # Most files must reach the row checks: a generator that only produced whole-file stops
    # would test nothing. (Counts include the shrinking phase only when a property failed.)
    assert stats["files"] >= 40 and stats["validated"] >= 0.75 * stats["files"], stats
    assert stats["accepted_rows"] >= stats["files"] // 3, stats   # rows of valid cells do get through


def test_csv_files_reconcile():
    stats = Counter()

    @settings(max_examples=100, **SETTINGS)
    @given(st.data())
    def csv_files(data):
        run_examples(data, "csv", stats)

    csv_files()
    assert_mostly_validated(stats)


def test_jsonl_files_reconcile():
    stats = Counter()

    @settings(max_examples=100, **SETTINGS)
    @given(st.data())
    def jsonl_files(data):
        run_examples(data, "jsonl", stats)

    jsonl_files()
    assert_mostly_validated(stats)


def test_parquet_files_reconcile():
    stats = Counter()

    @settings(max_examples=100, **SETTINGS)
    @given(st.data())
    def parquet_files(data):
        run_examples(data, "parquet", stats)

    parquet_files()
    assert_mostly_validated(stats)


def test_whole_file_stops():
    """A file without a required column, or with a timestamp column of epoch milliseconds, stops
    with an InputError naming the file (and nothing else escapes)."""
    stats = Counter()

    @settings(max_examples=40, **SETTINGS)
    @given(st.data(), st.sampled_from(["csv", "jsonl", "parquet"]), st.sampled_from(["no required column",
                                                                                      "other unit"]))
    def stopping_files(data, fmt, scenario):
        run_examples(data, fmt, stats, scenario)

    stopping_files()
    print(dict(stats))
    assert stats["planned stops"] >= 0.6 * stats["files"], stats


# --------------------------------------------------------------------------- bugs, minimal inputs
# Each test states the contract's behaviour on one minimal file the property tests found breaking
# it. Open bugs are strict xfails; when one passes (XPASS fails the run), remove its mark and its
# name from KNOWN_BUGS.

def write(tmp, name: str, payload) -> str:
    path = os.path.join(str(tmp), name)
    if isinstance(payload, pa.Table):
        pq.write_table(payload, path)
    else:
        write_bytes(path, payload.encode("utf-8") if isinstance(payload, str) else payload)
    return path


def read_file(path: str, table: str, chunk_rows: int = 50):
    """(accepted frame, rejected frame) of one file, as the pipeline reads and validates it."""
    plan = Plan(path, contract.TABLES[table], [], [], chunk_rows)
    accepted, rejected = read_validate(plan, 0)
    acc = pd.concat(accepted, ignore_index=True) if accepted else pd.DataFrame(columns=contract.TABLES[table].column_names)
    rej = pd.concat(rejected, ignore_index=True) if rejected else pd.DataFrame(columns=["row_number", "reason"])
    return acc, rej


def reasons(rejected: pd.DataFrame) -> dict:
    return dict(zip(rejected["row_number"].tolist(), rejected["reason"].tolist()))


# Was: validate._parse_ts: pd.to_numeric on the digit strings of a text ts column raises 'Integer out of
# range' for a value beyond 64 bits (CSV text, or a JSON integer in a column that also holds strings), and
# the ValueError escapes validate_frame, stopping the job (fixed in b43d79f)
@pytest.mark.parametrize("value", ["18446744073709551616", "-9223372036854775809", "1" + "0" * 29])
def test_text_timestamp_beyond_64_bits_is_a_row_error(tmp_path, value):
    path = write(tmp_path, "listeners.csv", f"listener_id,registered_at\na,{value}\nb,1400000000\n")
    acc, rej = read_file(path, "listeners")
    assert reasons(rej) == {1: Reason.BAD_TIMESTAMP} and acc["listener_id"].tolist() == ["b"]


# Was: validate._parse_ts: the digit test r'-?\d+(\.\d+)?' matches any Unicode decimal digit, but
# pd.to_numeric cannot parse them: ValueError 'Unable to parse string' escapes validate_frame (fixed in
# b43d79f)
@pytest.mark.parametrize("value", ["\uff11\uff14\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10",   # fullwidth
                                   "\u0661\u0664\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660"])  # Arabic-Indic
def test_text_timestamp_of_non_ascii_digits_is_a_row_error(tmp_path, value):
    path = write(tmp_path, "listeners.csv", f"listener_id,registered_at\na,{value}\nb,1400000000\n")
    acc, rej = read_file(path, "listeners")
    assert len(acc) + len(rej) == 2 and acc["listener_id"].tolist()[-1:] == ["b"]


# Was: validate._from_epoch_seconds counts +-inf as 'too large for seconds', so a chunk whose numbers are
# all infinite goes to _wrong_unit, whose message does int(inf): OverflowError escapes (JSON Infinity, a
# Parquet float64 column). Infinity is a bad value, not another unit: bad_timestamp (fixed in b43d79f)
def test_infinite_epoch_seconds_are_a_row_error(tmp_path):
    path = write(tmp_path, "listeners.jsonl", '{"listener_id": "a", "registered_at": Infinity}\n')
    acc, rej = read_file(path, "listeners")
    assert reasons(rej) == {1: Reason.BAD_TIMESTAMP}


# Was: a JSON string may hold a lone surrogate escape (\ud800, e.g. a cut emoji); json.loads keeps it, and
# packing.factorize (pa.array of str) raises UnicodeEncodeError from validate_frame. The row should be
# rejected (or the text repaired), not stop the job (fixed in b43d79f)
def test_lone_surrogate_in_json_text_is_a_row_error(tmp_path):
    path = write(tmp_path, "listeners.jsonl", '{"listener_id": "a\\ud800", "registered_at": "2020-01-01"}\n'
                                              '{"listener_id": "b", "registered_at": "2020-01-01"}\n')
    acc, rej = read_file(path, "listeners")
    assert len(acc) + len(rej) == 2 and "b" in acc["listener_id"].tolist()
    for v in acc["listener_id"]:
        v.encode("utf-8")


# Was: a Parquet file with two columns of one name reaches validate_frame as a frame whose raw[name] is a
# DataFrame: pyarrow.ArrowInvalid/ValueError escapes instead of an InputError naming the file (CSV reads
# the first copy, JSON keeps the last key) (fixed in b43d79f)
def test_parquet_duplicate_column_names_stop_with_input_error(tmp_path):
    ids = pa.array(["a", "b"])
    path = write(tmp_path, "listeners.parquet", pa.Table.from_arrays(
        [ids, ids, pa.array(["2020-01-01"] * 2)], names=["listener_id", "listener_id", "registered_at"]))
    with pytest.raises(InputError, match=re.escape(path)):
        read_file(path, "listeners")


# Was: a Parquet BYTE_ARRAY column without the UTF8 annotation reads as bytes objects; astype('string') in
# the ts and int checks decodes them and UnicodeDecodeError escapes validate_frame on bytes that are not
# UTF-8 (fixed in b43d79f)
@pytest.mark.parametrize("column", ["registered_at", "birth_year"])
def test_parquet_binary_not_utf8_is_a_row_error(tmp_path, column):
    cols = {"listener_id": pa.array(["a", "b"]), "registered_at": pa.array(["2020-01-01"] * 2)}
    cols[column] = pa.array([b"\xff\xfe", b"2000" if column == "birth_year" else b"2020-01-01"], pa.binary())
    path = write(tmp_path, "listeners.parquet", pa.table(cols))
    acc, rej = read_file(path, "listeners")
    assert set(reasons(rej)) == {1} and acc["listener_id"].tolist() == ["b"]


# Was: validate._as_text does str(value): a Parquet BYTE_ARRAY id/text column (binary, no UTF8 annotation,
# as some writers emit strings) is accepted as the Python repr "b'abc'", so its ids never match (fixed in
# b43d79f)
def test_parquet_binary_ids_are_read_as_text(tmp_path):
    path = write(tmp_path, "listeners.parquet", pa.table({"listener_id": pa.array([b"abc"], pa.binary()),
                                                          "registered_at": pa.array(["2020-01-01"])}))
    acc, _ = read_file(path, "listeners")
    assert acc["listener_id"].tolist() == ["abc"]


# Was: validate._parse_ts: pd.to_datetime(format='ISO8601', utc=True) (pandas 2.3) reads a naive ISO
# string that follows one with an offset in the same chunk in that offset: '2020-01-01T00:00:00' after
# '...+05:30' becomes 2019-12-31T18:30Z, alone it is 2020-01-01T00:00Z. Silent, order-dependent (fixed in
# b43d79f)
def test_naive_iso_timestamp_is_utc_whatever_the_other_rows(tmp_path):
    path = write(tmp_path, "listeners.csv", "listener_id,registered_at\na,2020-01-01T00:00:00+05:30\n"
                                            "b,2020-01-01T00:00:00\n")
    acc, _ = read_file(path, "listeners")
    assert acc["registered_at"].tolist() == [pd.Timestamp("2019-12-31T18:30", tz="UTC"),
                                             pd.Timestamp("2020-01-01", tz="UTC")]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_int64_values_survive_a_missing_value_in_the_chunk(tmp_path, fmt):
    big = 2 ** 53 + 1
    if fmt == "csv":
        path = write(tmp_path, "items.csv", f"item_id,item_type,duration_ms\na,track,{big}\nb,track,\n")
    else:
        path = write(tmp_path, "items.parquet", pa.table({"item_id": ["a", "b"], "item_type": ["track"] * 2,
                                                          "duration_ms": pa.array([big, None], pa.int64())}))
    acc, _ = read_file(path, "items")
    assert acc["duration_ms"].tolist()[0] == big


def test_numeric_ids_do_not_depend_on_missing_ids_in_the_chunk(tmp_path):
    path = write(tmp_path, "listeners.parquet", pa.table({
        "listener_id": pa.array([5, None, 2 ** 60 + 1], pa.int64()), "registered_at": ["2020-01-01"] * 3}))
    acc, _ = read_file(path, "listeners")
    assert acc["listener_id"].tolist() == ["5", str(2 ** 60 + 1)]


# Was: contract: ids and text hold 'no control characters', but validate._CONTROL covers C0 and DEL only:
# C1 controls U+0080-U+009F (NEL, CSI, ...) are accepted. If they are meant to pass, narrow the contract's
# wording and delete this test (fixed in b43d79f)
def test_c1_control_characters_are_rejected(tmp_path):
    path = write(tmp_path, "listeners.csv", "listener_id,registered_at\na\x85b,2020-01-01\nc\x9bd,2020-01-01\n")
    acc, rej = read_file(path, "listeners")
    assert reasons(rej) == {1: Reason.CONTROL_CHARS, 2: Reason.CONTROL_CHARS}


# Was: storage.iter_lines iterates the handle of FileSystems.open, but for .gz that is Beam's
# CompressedFile, which is not iterable: every .jsonl.gz file stops with InputError 'cannot be read as
# jsonl: TypeError: 'CompressedFile' object is not iterable' (contract.FILE_FORMATS lists .jsonl.gz)
# (fixed in b43d79f)
def test_gzipped_json_lines_are_read(tmp_path):
    path = write(tmp_path, "listeners.jsonl.gz", '{"listener_id": "a", "registered_at": "2020-01-01"}\n')
    acc, rej = read_file(path, "listeners")
    assert acc["listener_id"].tolist() == ["a"] and rej.empty


# Was: read._jsonl_chunks skips blank lines, but a first line that is only a UTF-8 byte-order mark is not
# blank to bytes.strip(): a JSON Lines file holding just a BOM reads as one malformed_row (fixed in
# b43d79f)
def test_json_lines_file_of_only_a_byte_order_mark_has_no_rows(tmp_path):
    path = write(tmp_path, "listeners.jsonl", b"\xef\xbb\xbf")
    acc, rej = read_file(path, "listeners")
    assert acc.empty and rej.empty


def test_int64_max_beside_a_value_beyond_int64_is_accepted(tmp_path):
    path = write(tmp_path, "items.csv", f"item_id,item_type,duration_ms\na,track,{INT64_MAX}\n"
                                        f"b,track,{INT64_MAX + 1}\n")
    acc, rej = read_file(path, "items")
    assert acc["duration_ms"].tolist() == [INT64_MAX] and reasons(rej) == {2: Reason.BAD_NUMBER}

