"""Import any CSV / Parquet / JSON Lines file of plays as contract ``events`` (+ derived listeners, items).

Source: one file (local or gs://), format from ``fmt`` or its extension (.csv, .csv.gz, .parquet,
.jsonl, .json, .jsonl.gz). Licence: whatever applies to the file; it is read in place, never
copied (for the public datasets under ../shared/data use their dedicated importers).

Mapping: ``--map target=COLUMN,...`` names the source column for each contract events column.
Targets: listener_id, item_id, ts (required); ms_played, item_type, context_id (optional). An
unknown target, a repeated target or a COLUMN missing from the file raises InputError naming it.

  events     listener_id, item_id = the mapped column as str (verbatim; an int read as a float,
                          e.g. 12.0, becomes "12"; nulls stay null)
             item_type   = the mapped column as str, else ``item_type`` (default "track") on every row;
                           mapping it and passing ``item_type`` together is an error
             ts          = the mapped column as UTC: ``ts_unit`` "s" / "ms" read numbers as epoch
                           seconds / milliseconds; "iso" parses ISO-8601 text (no offset = UTC).
                           Default (no unit): each value that is a number (or numeric text) is epoch
                           seconds, as in the data contract; any other text is ISO-8601. A native
                           timestamp column is used as is (naive = UTC). Sub-millisecond digits are
                           truncated.
             ms_played   = the mapped column as int64 (numeric text accepted; fractions rounded), else null
             context_id  = the mapped column as str (empty = null), else null
  listeners  one row per non-null listener_id (first-appearance order): registered_at = their first
             play (min ts); country, product = null
  items      one row per distinct non-null (item_id, item_type) pair (first-appearance order);
             every other column null

No row is validated or dropped here: the daily job validates and sends bad rows to ``rejected/``.
Values that cannot be cast become null so the row still reaches it: an unparseable ts becomes
null (missing timestamp), a non-numeric ms_played becomes null. Negative ms_played, empty ids and
unknown item types pass through unchanged. Only the whole file can fail (unreadable, or a mapped
column missing).
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from transforms.errors import InputError
from transforms.data.importers import conform, epoch_to_utc, format_of, read_frame, require_columns, to_id, to_int64, to_text

REQUIRED_TARGETS = ("listener_id", "item_id", "ts")
OPTIONAL_TARGETS = ("ms_played", "item_type", "context_id")
TARGETS = REQUIRED_TARGETS + OPTIONAL_TARGETS
TS_UNITS = ("s", "ms", "iso")
FORMATS = ("csv", "parquet", "jsonl")
DEFAULT_ITEM_TYPE = "track"


def parse_mapping(text: str) -> dict[str, str]:
    """``"listener_id=user,item_id=song,ts=time"`` -> ``{"listener_id": "user", ...}``.

    Raises InputError for a malformed pair, an unknown or repeated target, or a missing required target.
    """
    mapping: dict[str, str] = {}
    for pair in (p for p in text.split(",") if p.strip()):
        target, sep, column = pair.partition("=")
        target, column = target.strip(), column.strip()
        if not sep or not target or not column:
            raise InputError(f"--map: {pair.strip()!r} is not TARGET=COLUMN")
        if target in mapping:
            raise InputError(f"--map: target {target!r} is mapped twice")
        mapping[target] = column
    return check_mapping(mapping)


def check_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    """Return ``mapping`` as a dict after checking its targets (InputError names the bad ones)."""
    unknown = [t for t in mapping if t not in TARGETS]
    if unknown:
        raise InputError(f"--map: unknown target{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(repr(t) for t in unknown)} (known: {', '.join(TARGETS)})")
    missing = [t for t in REQUIRED_TARGETS if t not in mapping]
    if missing:
        raise InputError(f"--map: required target{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(repr(t) for t in missing)} not mapped")
    return dict(mapping)


def import_events(source: str, mapping: Mapping[str, str] | str, item_type: str | None = None,
                  ts_unit: str | None = None, fmt: str | None = None) -> dict[str, pd.DataFrame]:
    """Read ``source`` and return ``events``, ``listeners`` and ``items`` (see the module docstring)."""
    mapping = parse_mapping(mapping) if isinstance(mapping, str) else check_mapping(mapping)
    if ts_unit is not None and ts_unit not in TS_UNITS:
        raise InputError(f"--ts-unit: {ts_unit!r} is not one of {', '.join(TS_UNITS)}")
    if "item_type" in mapping and item_type is not None:
        raise InputError("give item_type either in --map or as --item-type, not both")
    fmt = fmt or format_of(source)
    if fmt not in FORMATS:
        raise InputError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")

    options = {"dtype": str, "keep_default_na": False} if fmt == "csv" else {}
    raw = read_frame(source, fmt, **options)
    require_columns(raw, list(dict.fromkeys(mapping.values())), source)

    col = {target: raw[column] for target, column in mapping.items()}
    events = pd.DataFrame({
        "listener_id": to_id(col["listener_id"]),
        "item_id": to_id(col["item_id"]),
        "item_type": to_id(col["item_type"]) if "item_type" in col else (item_type or DEFAULT_ITEM_TYPE),
        "ts": to_utc(col["ts"], ts_unit),
    }, index=raw.index)
    if "ms_played" in col:
        events["ms_played"] = to_int64(col["ms_played"])
    if "context_id" in col:
        events["context_id"] = to_text(col["context_id"])
    events = conform(events, "events")

    known = events[events["listener_id"].notna()]
    first = known.groupby("listener_id", sort=False)["ts"].min()
    listeners = pd.DataFrame({"listener_id": first.index.astype(object), "registered_at": first.to_numpy()})
    items = (events.loc[events["item_id"].notna(), ["item_id", "item_type"]]
             .drop_duplicates().reset_index(drop=True))
    return {"events": events, "listeners": conform(listeners, "listeners"), "items": conform(items, "items")}


def to_utc(values: pd.Series, unit: str | None = None) -> pd.Series:
    """Timestamps as ``datetime64[ns, UTC]``; what cannot be parsed becomes NaT (see module docstring)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=True)
    if unit in ("s", "ms"):
        return epoch_to_utc(values, unit)
    text = values.astype(object).where(values.notna(), None).map(lambda v: v if v is None else str(v))
    iso = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    if unit == "iso":
        return iso
    # No unit: each number (or numeric text) is epoch seconds, anything else ISO-8601.
    if pd.api.types.is_bool_dtype(values):
        return iso
    epoch = epoch_to_utc(values, "s")
    return epoch.where(pd.to_numeric(values, errors="coerce").notna(), iso)
