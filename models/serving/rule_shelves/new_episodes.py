"""Rule shelf ``new_episodes``, "New episodes of your shows": per listener, the recently released
episodes of the shows they follow (``models.serving.rules.followed_keys``) that they have not played,
newest first (ties by item id), at most ``max_per_parent`` per show. Shelf keys: ``max_age_days``
(release window), ``followed_min_plays``, ``max_per_parent``, ``block_explicit_for_minors``."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from models.candidates.candidates import Ranked
from models.serving.rule_shelves.base import RuleInput
from models.serving.rules import MS_PER_DAY, cap_per_parent, explicit_allowed, followed_keys
from transforms.config.config_schema import RuleShelf

log = logging.getLogger(__name__)

# the default of the shelf key ``max_age_days`` (written once, in the schema)
NEW_EPISODES_MAX_AGE_DAYS: float = RuleShelf.model_fields["max_age_days"].default
_warned: set = set()


def recent_episodes(ids: np.ndarray, item_types: np.ndarray, parents: np.ndarray, release_ms: np.ndarray,
                    as_of_ms: int, max_age_days: float = NEW_EPISODES_MAX_AGE_DAYS) -> pd.DataFrame:
    """The catalog's episodes released in ``[as_of - max_age_days, as_of)`` (an episode released
    at or after as_of is not out yet), with a known show. Columns item_id, show_id, release_ms
    (int64), newest first, ties by item id. Computed once per batch, shared by its listeners."""
    release = np.asarray(release_ms, dtype=np.float64)
    parents = np.asarray(parents, dtype=object)
    ok = ((np.asarray(item_types, dtype=object) == "episode") & pd.notna(parents) & ~np.isnan(release)
          & (release >= as_of_ms - float(max_age_days) * MS_PER_DAY) & (release < as_of_ms))
    frame = pd.DataFrame({"item_id": np.asarray(ids, dtype=object)[ok], "show_id": parents[ok],
                          "release_ms": release[ok].astype(np.int64)})
    return frame.sort_values(["release_ms", "item_id"], ascending=[False, True], kind="stable",
                             ignore_index=True)


def new_episodes(show: np.ndarray, item: np.ndarray, followed: np.ndarray, played_items: np.ndarray, span: int,
                 size: int | None, max_per_show: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rule shelf "New episodes of your shows" for a batch of listeners.

    ``show``/``item``: int64 codes of the :func:`recent_episodes` rows (newest first; the release
    window is applied there); ``followed``: keys ``listener * span + show`` of followed shows
    (``models.serving.rules.followed_shows``); ``played_items``: keys ``listener * span + item`` of
    items played before as_of. Keeps, per listener, episodes of followed shows not yet played, newest
    first (ties by item id), at most ``max_per_show`` per show and at most ``size`` (None: all).
    Returns (listener, row of ``recent``) int64 arrays, by listener then rank.
    """
    show = np.asarray(show, dtype=np.int64)
    followed = np.asarray(followed, dtype=np.int64)
    if not len(show) or not len(followed):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    by_show = np.argsort(show, kind="stable")  # each show's episodes, newest first
    shows_sorted = show[by_show]
    f_show = followed % span
    lo, hi = np.searchsorted(shows_sorted, f_show, "left"), np.searchsorted(shows_sorted, f_show, "right")
    n = hi - lo
    who = np.repeat(followed // span, n)
    row = by_show[np.repeat(lo, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)]
    fresh = ~np.isin(who * span + np.asarray(item, dtype=np.int64)[row], played_items)
    who, row = who[fresh], row[fresh]
    order = np.lexsort((row, who))
    who, row = who[order], row[order]
    keep = cap_per_parent(show[row], max_per_show, who)
    who, row = who[keep], row[keep]
    if size is None:
        return who, row
    start = np.searchsorted(who, who, side="left")
    keep = np.arange(len(who)) - start < int(size)
    return who[keep], row[keep]


def _episodes(inp: RuleInput) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(episodes in the release window, the same without explicit ones), once per worker and shelf;
    columns item_id, show_id, release_ms, item (code), show (code)."""
    ctx, shelf = inp.ctx, inp.shelf
    key = ("recent_episodes", shelf)
    if key not in ctx.cache:
        frame = ctx.catalog.frame
        if "release_date" not in frame.columns:
            if shelf not in _warned:
                _warned.add(shelf)
                log.warning("shelf %s: the catalog has no release_date column, so the rule serves nothing", shelf)
            recent = recent_episodes([], [], [], [], ctx.as_of_ms)
        else:
            ts = pd.to_datetime(frame["release_date"], utc=True, errors="coerce")
            release = ((ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(milliseconds=1)).to_numpy(dtype=np.float64)
            recent = recent_episodes(frame.index.to_numpy(dtype=object), frame["item_type"].to_numpy(dtype=object),
                                     frame["parent_id"].to_numpy(dtype=object), release, ctx.as_of_ms,
                                     float(inp.cfg["max_age_days"]))
        cb = ctx.codebook
        recent = recent.assign(item=cb.encode_known(recent["item_id"].to_numpy(dtype=object)),
                               show=cb.encode_known(recent["show_id"].to_numpy(dtype=object)))
        clean = recent[explicit_allowed(ctx.catalog.lookup(recent["item_id"], "explicit"), True)].reset_index(drop=True)
        ctx.cache[key] = (recent, clean)
    return ctx.cache[key]


def rule(inp: RuleInput) -> Ranked:
    """The ``new_episodes`` rule over a batch (see the module docstring): blocked minors pick among
    the episodes that are not explicit. Returns each served listener's episodes, newest first."""
    hist = inp.hist
    span = hist.batch.span
    followed = followed_keys(hist, int(inp.cfg["followed_min_plays"]))
    followed = followed[inp.served[followed // span]]
    played = hist.who * span + hist.item
    who, code = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for is_blocked, episodes in zip((False, True), _episodes(inp)):
        mine = followed[inp.blocked[followed // span] == is_blocked]
        w, row = new_episodes(episodes["show"].to_numpy(np.int64), episodes["item"].to_numpy(np.int64), mine, played,
                              span, inp.depth, inp.cfg.get("max_per_parent"))
        who.append(w)
        code.append(episodes["item"].to_numpy(np.int64)[row])
    who, code = np.concatenate(who), np.concatenate(code)
    order = np.argsort(who, kind="stable")   # a listener is in one of the two groups: ranks stay in order
    return Ranked(who[order], code[order])
