"""One type per item id, so that every table keyed by item agrees (popularity, co-listening, features).

Events carry their own ``item_type``, and nothing stops a file from playing ``I1`` once as a track
and once as a show. The rule:

- the catalog's type wins: an event of an item in ``items`` with another type is rejected;
- for an item the catalog lacks, the first type seen wins, "first" meaning the lowest
  (source file, row number) over all event files; its events of other types are rejected.

Rejected rows carry the reason ``item_type_mismatch``. The first-seen types need every event file,
so they are gathered in one pass (:class:`FirstTypesCombineFn`, over the items the catalog lacks
only) and applied when events join their listener shard (:func:`split_mismatched`).
"""
from __future__ import annotations

import json

import apache_beam as beam
import numpy as np
import pandas as pd

from transforms.listeners.catalog import Catalog
from transforms.io.contract import Reason
from transforms.io.validate import rejected_frame

_KEYS = ["item_id", "item_type"]


def first_types(events: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """Accepted events (with ``_source_file`` and ``_row_number``) -> the distinct (item_id,
    item_type) pairs of items missing from ``catalog``, each with its first (``_source_file``,
    ``_row_number``). Empty in the common case of a complete catalog."""
    unknown = catalog.frame.index.get_indexer(events["item_id"].to_numpy(dtype=object)) < 0
    pairs = events.loc[unknown, _KEYS + ["_source_file", "_row_number"]]
    return _first(pairs)


def _first(pairs: pd.DataFrame) -> pd.DataFrame:
    return (pairs.sort_values(["_source_file", "_row_number"], kind="stable")
            .drop_duplicates(_KEYS, keep="first").reset_index(drop=True))


class FirstTypesCombineFn(beam.CombineFn):
    """Frames of :func:`first_types` -> ``{item_id: winning item_type}`` for the items the catalog
    lacks that came with more than one type (items with one type need no rule). The accumulator
    holds one row per distinct (item, type) pair of such items."""

    def create_accumulator(self):
        return _first(pd.DataFrame(columns=_KEYS + ["_source_file", "_row_number"]))

    def add_input(self, acc, frame):
        return _first(pd.concat([acc, frame], ignore_index=True)) if len(frame) else acc

    def merge_accumulators(self, accs):
        accs = [a for a in accs if len(a)]
        return _first(pd.concat(accs, ignore_index=True)) if accs else self.create_accumulator()

    def extract_output(self, acc):
        several = acc[acc.groupby("item_id")["item_type"].transform("nunique") > 1]
        first = several.drop_duplicates("item_id", keep="first")   # acc is in (file, row) order
        return dict(zip(first["item_id"], first["item_type"]))


def expected_types(item_ids: np.ndarray, catalog: Catalog, first_seen: dict) -> np.ndarray:
    """The type each event's item must have (object array, None where any type goes): the
    catalog's, else the first-seen type of an item that came with several."""
    expected = catalog.lookup(item_ids, "item_type")
    if first_seen:
        unknown = pd.isna(expected)
        expected[unknown] = pd.Series(first_seen, dtype=object).reindex(item_ids[unknown]).to_numpy(dtype=object)
    return expected


def split_mismatched(block: dict, catalog: Catalog, first_seen: dict) -> tuple[dict, pd.DataFrame]:
    """An event block (``history.event_block`` arrays plus ``listener_id``, ``_source_file``,
    ``_row_number``) -> (the block without its mismatched rows, those rows as rejected rows with
    reason ``item_type_mismatch`` and the row's values as JSON in ``raw``)."""
    expected = expected_types(block["item_id"], catalog, first_seen)
    bad = ~pd.isna(expected) & (expected != block["item_type"])
    if not bad.any():
        return block, rejected_frame("events", "", [], [], [], [])
    idx = np.flatnonzero(bad)
    raw = [json.dumps({"listener_id": block["listener_id"][i], "item_id": block["item_id"][i],
                       "item_type": block["item_type"][i],
                       "ts": pd.Timestamp(int(block["ts_ms"][i]), unit="ms", tz="UTC").isoformat(),
                       "ms_played": None if np.isnan(block["ms_played"][i]) else int(block["ms_played"][i]),
                       "context_id": block["context_id"][i], "expected_item_type": expected[i]},
                      default=str, ensure_ascii=True) for i in idx]
    rejected = rejected_frame("events", "", block["_row_number"][idx], [Reason.ITEM_TYPE_MISMATCH] * len(idx),
                              ["item_type"] * len(idx), raw)
    rejected["source_file"] = block["_source_file"][idx]
    keep = np.flatnonzero(~bad)
    return {k: v[keep] for k, v in block.items()}, rejected
