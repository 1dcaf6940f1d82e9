"""The input data contract (DESIGN.md "Data contract"), declared once.

Every reader, validator, importer and the synthetic generator refer to these specs, so the
column names, logical types and reason codes exist in exactly one place.

Logical types (what a validated column holds in a pandas frame):
- ``id``: non-empty ``str`` (object dtype), no control characters.
- ``str``: ``str`` or ``None``.
- ``ts``: ``datetime64[ns, UTC]`` in ``[TS_MIN, TS_MAX)``; integers are read as epoch **seconds** UTC,
  strings as ISO-8601. A column of epoch milli-, micro- or nanoseconds stops the job (see validate).
- ``int``: ``Int64`` (nullable) within int64 and the stated bounds.
- ``item_type``: one of :data:`ITEM_TYPES`.
- ``genres``: ``|``-joined ``str`` (lists in Parquet/JSON are joined on read) or ``None``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ITEM_TYPES: tuple[str, ...] = ("track", "album", "artist", "playlist", "show", "episode")
TABLE_NAMES: tuple[str, ...] = ("events", "items", "listeners", "curation")
FILE_FORMATS: dict[str, str] = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".jsonl.gz": "jsonl",
}
GENRE_SEPARATOR = "|"
# Instants outside [TS_MIN, TS_MAX) are rejected as bad_timestamp: earlier ones are sentinels or
# unit mistakes, and pandas cannot represent instants past 2262 in nanoseconds at all.
TS_MIN = "1900-01-01"
TS_MAX = "2200-01-01"
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1   # integer columns hold int64; other values are bad_number


class Reason:
    """Reason codes written to ``rejected/`` for a row that breaks the contract."""

    EMPTY_ID = "empty_id"                 # a required id is null, empty or whitespace
    CONTROL_CHARS = "control_chars"       # NUL, another C0/C1 control character or a lone surrogate in a text field
    BAD_TIMESTAMP = "bad_timestamp"       # unparseable timestamp, or outside [TS_MIN, TS_MAX)
    FUTURE_TIMESTAMP = "future_timestamp" # timestamp at or after the run's cut-off (run start, UTC)
    NEGATIVE_VALUE = "negative_value"     # ms_played / duration_ms / position below its minimum
    BAD_NUMBER = "bad_number"             # a non-number, a fraction, or an integer beyond int64 in a numeric column
    UNKNOWN_ITEM_TYPE = "unknown_item_type"
    MISSING_VALUE = "missing_value"       # a required non-id value is null
    MALFORMED_ROW = "malformed_row"       # wrong field count, bad JSON line, repeated header line
    DUPLICATE_KEY = "duplicate_key"       # second row for a key that must be unique (items, listeners)
    BAD_DATE_RANGE = "bad_date_range"     # curation valid_to before valid_from
    ITEM_TYPE_MISMATCH = "item_type_mismatch"  # an event's item_type differs from the catalog's (or, for an
    #                                            item the catalog lacks, from the first type seen)
    UNKNOWN_SHELF = "unknown_shelf"       # curation: a shelf the config does not have (transforms.listeners.curation)
    UNKNOWN_ITEM = "unknown_item"         # curation: an item_id the catalog does not know
    ITEM_TYPE_NOT_ON_SHELF = "item_type_not_on_shelf"  # curation: a type the shelf does not serve


@dataclass(frozen=True)
class Column:
    """One contract column: ``kind`` is a logical type from the module docstring."""

    name: str
    kind: str
    required: bool = True
    minimum: int | None = None


@dataclass(frozen=True)
class TableSpec:
    """The contract of one input table. ``key`` columns must be unique (None: no key)."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] | None = None
    optional_file: bool = False
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


EVENTS = TableSpec(
    "events",
    (
        Column("listener_id", "id"),
        Column("item_id", "id"),
        Column("item_type", "item_type"),
        Column("ts", "ts"),
        Column("ms_played", "int", required=False, minimum=0),
        Column("context_id", "str", required=False),
    ),
)
ITEMS = TableSpec(
    "items",
    (
        Column("item_id", "id"),
        Column("item_type", "item_type"),
        Column("name", "str", required=False),
        Column("creator_id", "str", required=False),
        Column("parent_id", "str", required=False),
        Column("genres", "genres", required=False),
        Column("language", "str", required=False),
        Column("release_date", "ts", required=False),
        Column("duration_ms", "int", required=False, minimum=0),
        Column("explicit", "int", required=False, minimum=0),
    ),
    key=("item_id",),
)
LISTENERS = TableSpec(
    "listeners",
    (
        Column("listener_id", "id"),
        Column("registered_at", "ts"),
        Column("country", "str", required=False),
        Column("product", "str", required=False),
        Column("onboarding_genres", "genres", required=False),
        Column("birth_year", "int", required=False, minimum=1900),
    ),
    key=("listener_id",),
)
CURATION = TableSpec(
    "curation",
    (
        Column("shelf", "id"),
        Column("item_id", "id"),
        Column("position", "int", minimum=1),   # 1-based, as in the output (0: bad_number)
        Column("market", "str", required=False),
        Column("valid_from", "ts", required=False),
        Column("valid_to", "ts", required=False),
    ),
    optional_file=True,
)
TABLES: dict[str, TableSpec] = {t.name: t for t in (EVENTS, ITEMS, LISTENERS, CURATION)}

# The canonical on-disk Arrow types: importers and the generator write these, readers accept them.
ARROW_TYPES: dict[str, str] = {"id": "string", "str": "string", "item_type": "string", "genres": "string",
                               "ts": "timestamp[ms, tz=UTC]", "int": "int64"}
