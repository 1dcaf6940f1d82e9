"""Curation rows checked against the catalog and the config, once per run.

The row checks of :mod:`transforms.io.validate` see one row at a time; these need the whole catalog
and the shelves, so they run after both are built. A curated row that fails goes to ``rejected``
with its reason instead of reaching every listener's Home:

- ``unknown_shelf``: ``shelf`` is not a shelf of the config (it would never be shown);
- ``unknown_item``: ``item_id`` is neither an item of the catalog nor a creator or parent id it
  names (an artist or album without its own row), so its type is unknown and the explicit
  filter for minors cannot check it;
- ``item_type_not_on_shelf``: the item's catalog type is not among the item types the shelf
  draws from (:func:`transforms.listeners.catalog.shelf_item_types`; shelves that declare none, such as
  editorial ones, take any type).
"""
from __future__ import annotations

import difflib
import logging

import numpy as np
import pandas as pd

from transforms.listeners.catalog import Catalog, shelf_item_types
from transforms.io.contract import Reason
from transforms.io.validate import raw_json, rejected_frame

log = logging.getLogger("home_recs.curation")
UNKNOWN_SHELF, UNKNOWN_ITEM, TYPE_NOT_ON_SHELF = Reason.UNKNOWN_SHELF, Reason.UNKNOWN_ITEM, Reason.ITEM_TYPE_NOT_ON_SHELF


def check_curation(curation: pd.DataFrame | None, catalog: Catalog, shelves: dict
                   ) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Split accepted curation rows (contract columns plus ``_source_file``, ``_row_number``, as
    :class:`transforms.io.beam_io.ReadTable` emits them) into the rows kept and a rejected-rows frame
    (:data:`transforms.io.validate.REJECTED_COLUMNS`). ``shelves``: the config's shelves. Returns
    (None or an empty frame as given, empty rejected) for no curation."""
    empty = rejected_frame("curation", "", [], [], [], [])
    if curation is None or not len(curation):
        return curation, empty
    ids = curation["item_id"].to_numpy(dtype=object)
    types = catalog.lookup(ids, "item_type")
    frame = catalog.frame
    named = set(frame["creator_id"].dropna()) | set(frame["parent_id"].dropna())
    known = pd.notna(types) | np.isin(ids, list(named))
    shelf = curation["shelf"].to_numpy(dtype=object)
    reason = np.full(len(curation), None, dtype=object)
    column = np.full(len(curation), None, dtype=object)
    for name in pd.unique(shelf):
        mine = shelf == name
        if name not in shelves:
            reason[mine], column[mine] = UNKNOWN_SHELF, "shelf"
            close = difflib.get_close_matches(str(name), list(shelves), n=1, cutoff=0.6)
            log.warning("curation: %d row(s) for shelf %r, which the config does not have%s: rejected",
                        int(mine.sum()), name, f" (did you mean {close[0]!r}?)" if close else "")
            continue
        allowed = shelf_item_types(shelves[name], catalog) if shelves[name].get("item_types") else None
        if allowed is not None:
            wrong = mine & pd.notna(types) & ~np.isin(types.astype(str), allowed)
            reason[wrong], column[wrong] = TYPE_NOT_ON_SHELF, "item_id"
    unknown = (reason == None) & ~known  # noqa: E711 (elementwise)
    reason[unknown], column[unknown] = UNKNOWN_ITEM, "item_id"
    bad = reason != None  # noqa: E711
    if not bad.any():
        return curation, empty
    rows = curation[bad]
    # raw: the row as read, plus the catalog's type of the item (why a type was refused)
    raw = rows.drop(columns=[c for c in rows.columns if c.startswith("_")]).assign(catalog_item_type=types[bad])
    rejected = rejected_frame("curation", rows["_source_file"].to_numpy(dtype=object),
                              rows["_row_number"].to_numpy(np.int64), reason[bad], column[bad], raw_json(raw))
    return curation[~bad].reset_index(drop=True), rejected


__all__ = ["check_curation", "UNKNOWN_SHELF", "UNKNOWN_ITEM", "TYPE_NOT_ON_SHELF"]
