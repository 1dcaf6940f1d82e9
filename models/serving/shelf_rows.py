"""The tail every shelf kind shares: editorial slots per listener, the page's claims, placing the slots
among ranked or rule rows, the cut to ``size`` and the output rows of DESIGN.md "Outputs".

Rows are columns over a whole :class:`transforms.listeners.batch.ListenerBatch`: ``who`` (int64, the
listener's index in the batch) and ``code`` (int64, the item's code in the batch's codebook), each
listener's rows contiguous and in rank order. A shelf's editorial *slotting* is the triple built by
``models.serving.home`` for each shelf: (set index per listener (B,), slot frames after the page's
first claiming round, the same before it).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from models.serving.context import ServingContext
from models.serving.page import drop_claimed
from models.serving.rules import editorial_layout, editorial_slots, explicit_allowed
from transforms.io import contract
from transforms.listeners.batch import ARTIST, ListenerBatch, take

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ["listener_id", "shelf", "position", "item_id", "item_type", "score", "source",
                  "candidate_source", "model_version", "run_id"]
_TYPE_NAMES = np.asarray(list(contract.ITEM_TYPES) + [None], dtype=object)  # index -1 -> None
_warned: set = set()


def empty_rows() -> pd.DataFrame:
    """An OUTPUT_COLUMNS frame without rows (a shelf that serves nobody in the batch)."""
    return pd.DataFrame(columns=OUTPUT_COLUMNS)


def blocked(cfg: dict, minor: np.ndarray) -> np.ndarray:
    """bool (B,): shelf key ``block_explicit_for_minors`` (its default, in the schema, is true: fail safe)
    and the listener a minor (``minor`` bool (B,))."""
    return minor & bool(cfg["block_explicit_for_minors"])


def slot_sets(shelf: str, cfg: dict, ctx: ServingContext, batch: ListenerBatch, is_blocked: np.ndarray):
    """Editorial slots per (market, blocked minor) of the batch's listeners: returns (set index
    per listener (B,) int64, list of slot frames with position, item_id, code). Built once per worker."""
    as_of = pd.Timestamp(ctx.as_of_ms, unit="ms", tz="UTC")
    keys = list(zip(batch.market.tolist(), is_blocked.tolist()))
    distinct = list(dict.fromkeys(keys))
    sets = []
    for market, minor in distinct:
        cache_key = ("slots", shelf, market, minor)
        if cache_key not in ctx.cache:
            slots = editorial_slots(ctx.curation, shelf, market, as_of)
            if cfg.get("familiar") and len(slots):
                # a curated item is not one the listener played: a familiar shelf shows none
                if ("familiar_curation", shelf) not in _warned:
                    _warned.add(("familiar_curation", shelf))
                    log.warning("shelf %s is familiar: its %d curation row(s) are not served", shelf, len(slots))
                slots = slots.iloc[:0]
            if len(slots) and minor:
                slots = slots[explicit_allowed(ctx.catalog.lookup(slots["item_id"], "explicit"), True)]
            ctx.cache[cache_key] = slots.reset_index(drop=True)
        slots = ctx.cache[cache_key].copy()
        slots["code"] = batch.encode(slots["item_id"].to_numpy(dtype=object))
        sets.append(slots)
    index = {k: i for i, k in enumerate(distinct)}
    return np.asarray([index[k] for k in keys], dtype=np.int64), sets


def _ranked_shown(slotting, size: int, who: np.ndarray) -> np.ndarray:
    """int64 (n,): how many ranked rows each row's listener would see on the shelf, before any
    claim: ``size`` less their slots (at most ``size`` slots can show: models.serving.rules.editorial_layout)."""
    set_of, sets = slotting[2]
    n_slots = np.asarray([min(len(s), size) for s in sets] + [0], dtype=np.int64)
    return size - n_slots[set_of[who]]


def _own_slots(batch: ListenerBatch, slotting, who: np.ndarray, code: np.ndarray) -> np.ndarray:
    """bool (n,): rows whose item is one of the listener's editorial slots on this shelf (``slotting``:
    set per listener and slot frames)."""
    set_of, sets = slotting[:2]
    span = batch.span
    slot_keys = np.concatenate([i * span + s["code"].to_numpy(np.int64)[s["code"].to_numpy() >= 0]
                                for i, s in enumerate(sets)] + [np.zeros(0, np.int64)])
    return np.isin(set_of[who] * span + code, slot_keys)


def place(batch: ListenerBatch, slotting, listeners: np.ndarray, who: np.ndarray, code: np.ndarray,
          claimed: np.ndarray, size: int, columns: dict) -> tuple[pd.DataFrame, int]:
    """Drop the rows whose item an earlier shelf claimed (:func:`models.serving.page.drop_claimed`),
    then place the editorial slots and cut to ``size`` (:func:`with_editorial`). ``who``/``code``
    and ``columns`` (name -> array (n,)) are the shelf's rows after its filters and caps, in rank
    order; ``listeners``: those who get a list. Returns the placed frame and how many rows the
    claims removed."""
    keep, removed = drop_claimed(who, code, claimed, batch.span, _ranked_shown(slotting, size, who),
                                 exempt=_own_slots(batch, slotting, who, code),
                                 uncounted=_own_slots(batch, slotting[2], who, code))
    placed = with_editorial(batch, slotting, listeners, who[keep], code[keep],
                            {k: v[keep] for k, v in columns.items()}, size)
    return placed, removed


def with_editorial(batch: ListenerBatch, slotting, listeners: np.ndarray, who: np.ndarray, code: np.ndarray,
                   columns: dict, size: int) -> pd.DataFrame:
    """Place each listener's editorial slots (``slotting``: set per listener and slot frames)
    among their ranked rows (``who``, ``code`` and ``columns`` per row, in rank order) and cut to
    ``size``; ``listeners`` are those who get a list.
    Returns who, code, item_id, editorial (bool), position (1-based) and ``columns``."""
    set_of, sets = slotting[:2]
    rest = ~_own_slots(batch, slotting, who, code)
    who, code = who[rest], code[rest]
    columns = {k: v[rest] for k, v in columns.items()}
    rank = np.arange(len(who)) - np.searchsorted(who, who, side="left")
    n_rest = np.bincount(who, minlength=batch.size)
    final = rank.copy()
    parts = []
    row_of = np.full(batch.size, -1, dtype=np.int64)
    for i, slots in enumerate(sets):
        if not len(slots):
            continue
        ls = listeners[set_of[listeners] == i]
        rest_at, ed_at = editorial_layout(slots["position"].to_numpy(), n_rest[ls], size)
        row_of[ls] = np.arange(len(ls))
        mine = np.flatnonzero((set_of[who] == i) & (rank < size))
        final[mine] = rest_at[row_of[who[mine]], rank[mine]]
        final[(set_of[who] == i) & (rank >= size)] = size  # beyond the cut either way
        parts.append(pd.DataFrame({"who": np.repeat(ls, len(slots)), "code": np.tile(slots["code"].to_numpy(), len(ls)),
                                   "item_id": np.tile(slots["item_id"].to_numpy(dtype=object), len(ls)),
                                   "editorial": True, "final": ed_at.ravel()}))
    ranked = pd.DataFrame({"who": who, "code": code, "item_id": batch.ids(code), "editorial": False, "final": final,
                           **columns})
    out = pd.concat([ranked] + parts, ignore_index=True) if parts else ranked
    out = out[out["final"].to_numpy() < size].sort_values(["who", "final"], kind="stable", ignore_index=True)
    out["position"] = out["final"].to_numpy(np.int64) + 1
    return out


def _type_names(batch: ListenerBatch, code: np.ndarray, shelf: str) -> np.ndarray:
    """Item type per code: the catalog's, else the side tables' (e.g. an artist), else None."""
    cb = batch.codebook
    types = take(cb.item_type, code, -1).astype(np.int64)
    fill = cb.fill_type.get(shelf)
    if fill is not None:
        types = np.where(types < 0, take(fill, code, -1), types)
    # a creator outside the catalog (a familiar shelf's artist level) is an artist, as in resolve_codes
    types = np.where((types < 0) & np.isin(code, cb.creator[cb.creator >= 0]), ARTIST, types)
    return _TYPE_NAMES[types]


def output_rows(batch: ListenerBatch, shelf: str, placed: pd.DataFrame, ctx: ServingContext,
                **columns) -> pd.DataFrame:
    """OUTPUT_COLUMNS rows of ``placed`` (who, code, item_id, position) with ``columns`` (score,
    source, candidate_source, model_version: arrays (n,)), plus ``_key`` = ``who * span + code``
    (int64), the (listener, item) key the page's claims use; it is not an output column."""
    n = len(placed)
    who, code = placed["who"].to_numpy(np.int64), placed["code"].to_numpy(np.int64)
    return pd.DataFrame({
        "listener_id": batch.listener_id[who], "shelf": np.full(n, shelf, dtype=object),
        "position": placed["position"].to_numpy(np.int64), "item_id": placed["item_id"].to_numpy(dtype=object),
        "item_type": _type_names(batch, code, shelf),
        **{k: np.asarray(v, dtype=np.float64 if k == "score" else object) for k, v in columns.items()},
        "run_id": np.full(n, ctx.run_id, dtype=object),
        "_key": who * batch.span + code})


__all__ = ["OUTPUT_COLUMNS", "empty_rows", "blocked", "slot_sets", "place", "with_editorial", "output_rows"]
