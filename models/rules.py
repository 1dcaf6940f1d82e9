"""Business rules applied after ranking: filters, diversity caps, editorial slots and rule shelves.

Everything is declared in config (per shelf in ``shelves:``, see ``transforms/default_config.yaml``)
and in the ``curation`` table, so a product change needs no code change. Each rule is a small pure
function over one listener's ranked list (numpy arrays in rank order); :mod:`models.home` wires
them. Positions are 1-based everywhere; timestamps are epoch milliseconds UTC.

Definitions the data contract does not give directly:

- **Minor.** The contract holds ``birth_year`` only, so a listener's age at ``as_of`` is
  ``as_of.year - birth_year - 1`` or ``as_of.year - birth_year``. A listener counts as a minor
  while they *may* be under :data:`MINOR_AGE`: ``as_of.year - birth_year <= MINOR_AGE`` (born in
  2008: a minor through all of 2026, an adult from 2027-01-01). An unknown ``birth_year`` is not a
  minor. Minors never get items with catalog ``explicit == 1`` (unknown ``explicit`` is kept).
- **Followed show.** The contract has no follows table: a listener follows a show when they
  played it at least ``followed_min_plays`` times (default :data:`FOLLOWED_MIN_PLAYS` = 2) before
  ``as_of``. A play counts toward a show through ``transforms.catalog.resolve_entities`` (the
  played item itself, its ``context_id``, or the episode's ``parent_id``); a play is one event,
  whatever its length. One trial play is not a follow; a second visit is.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
MINOR_AGE = 18                   # listeners who may be younger than this never get explicit items
FOLLOWED_MIN_PLAYS = 2           # default of the shelf key ``followed_min_plays``
NEW_EPISODES_MAX_AGE_DAYS = 7    # default of the ``new_episodes`` rule's ``max_age_days``


def rank_order(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Indices by score descending; ties broken by item id ascending so runs are reproducible."""
    return np.lexsort((np.asarray(ids, dtype=str), -np.asarray(scores, dtype=np.float64)))


# ---------------------------------------------------------------------------------------------
# diversity


def cap_per_key(keys: np.ndarray, limit: int | None) -> np.ndarray:
    """Bool mask keeping at most ``limit`` items per key, in the given (ranked) order.
    Items with an unknown key (None/NaN) are never capped. ``limit`` None or <= 0 keeps all."""
    keys = np.asarray(keys, dtype=object)
    if not limit or limit <= 0 or len(keys) == 0:
        return np.ones(len(keys), dtype=bool)
    known = pd.notna(keys)
    filled = np.where(known, keys, "")
    rank_within = pd.Series(filled).groupby(filled).cumcount().to_numpy()
    return ~known | (rank_within < limit)


def cap_per_creator(creators: np.ndarray, limit: int | None) -> np.ndarray:
    """At most ``limit`` items per creator (artist, publisher...): :func:`cap_per_key`."""
    return cap_per_key(creators, limit)


def cap_per_parent(parents: np.ndarray, limit: int | None) -> np.ndarray:
    """At most ``limit`` items per parent (a track's album, an episode's show): :func:`cap_per_key`."""
    return cap_per_key(parents, limit)


def diversify(creators: np.ndarray, parents: np.ndarray, max_per_creator: int | None,
              max_per_parent: int | None) -> np.ndarray:
    """Both caps, one after the other: the creator cap first, then the parent cap on the items the
    creator cap kept (an item dropped by one cap does not use up a slot of the other)."""
    keep = cap_per_creator(creators, max_per_creator)
    idx = np.flatnonzero(keep)
    keep[idx] = cap_per_parent(np.asarray(parents, dtype=object)[idx], max_per_parent)
    return keep


# ---------------------------------------------------------------------------------------------
# filters


def market_allowed(market: str | None, markets) -> bool:
    """Shelf key ``markets``: a whitelist of listener markets (None or absent: every market)."""
    return markets is None or market in set(markets)


def is_minor(birth_year: int | None, as_of_ms: int, minor_age: int = MINOR_AGE) -> bool:
    """True when the listener may be younger than ``minor_age`` at ``as_of`` (module docstring)."""
    if birth_year is None or pd.isna(birth_year):
        return False
    year = pd.Timestamp(as_of_ms, unit="ms", tz="UTC").year
    return year - int(birth_year) <= minor_age


def explicit_allowed(explicit: np.ndarray, minor: bool) -> np.ndarray:
    """Keep mask: for a minor, drop items whose catalog ``explicit`` is 1 (NaN = unknown is kept)."""
    explicit = np.asarray(explicit, dtype=np.float64)
    if not minor:
        return np.ones(len(explicit), dtype=bool)
    return ~(explicit == 1.0)


def not_played_within(ids: np.ndarray, played: np.ndarray, played_ts_ms: np.ndarray, as_of_ms: int,
                      hours: float | None) -> np.ndarray:
    """Keep mask for shelf key ``exclude_played_within_hours``: drop the items (shelf entities) the
    listener played in ``[as_of - hours, as_of)``. ``played``/``played_ts_ms`` are the listener's
    plays mapped to the shelf's entities. ``hours`` None keeps everything."""
    ids = np.asarray(ids, dtype=object)
    if hours is None or len(ids) == 0 or len(played) == 0:
        return np.ones(len(ids), dtype=bool)
    ts = np.asarray(played_ts_ms, dtype=np.int64)
    recent = np.asarray(played, dtype=object)[(ts >= as_of_ms - float(hours) * MS_PER_HOUR) & (ts < as_of_ms)]
    return ~pd.Index(ids).isin(recent)


def followed_shows(show_per_play: np.ndarray, min_plays: int = FOLLOWED_MIN_PLAYS) -> np.ndarray:
    """Shows the listener follows: those with at least ``min_plays`` plays. ``show_per_play`` is
    the show each play before as_of counts toward (None when none). Sorted object array."""
    shows = np.asarray(show_per_play, dtype=object)
    shows = shows[pd.notna(shows)]
    if len(shows) == 0:
        return np.zeros(0, dtype=object)
    counts = pd.Series(shows).value_counts()
    return np.sort(counts.index[counts.to_numpy() >= int(min_plays)].to_numpy(dtype=object))


def not_followed(ids: np.ndarray, followed: np.ndarray) -> np.ndarray:
    """Keep mask for shelf key ``exclude_followed_shows``: drop shows the listener follows."""
    return ~pd.Index(np.asarray(ids, dtype=object)).isin(np.asarray(followed, dtype=object))


# ---------------------------------------------------------------------------------------------
# editorial


def editorial_slots(curation: pd.DataFrame, shelf: str, market: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """Curation rows for ``shelf`` live at ``as_of`` (valid_from <= as_of < valid_to, open ends
    allowed) in ``market`` or ``*``; one row per position (a market-specific row beats ``*``,
    then the lower item id). Returns columns position (int), item_id, sorted by position."""
    if curation is None or curation.empty:
        return pd.DataFrame({"position": pd.Series(dtype=np.int64), "item_id": pd.Series(dtype=object)})
    c = curation[curation["shelf"] == shelf]
    live = (c["valid_from"].isna() | (c["valid_from"] <= as_of)) & (c["valid_to"].isna() | (c["valid_to"] > as_of))
    mk = c["market"].fillna("*")
    c = c[live & ((mk == market) | (mk == "*"))].assign(_specific=(mk != "*"))
    c = c.sort_values(["position", "_specific", "item_id"], ascending=[True, False, True])
    c = c.drop_duplicates("position", keep="first").drop_duplicates("item_id", keep="first")
    return c[["position", "item_id"]].astype({"position": np.int64}).reset_index(drop=True)


def insert_editorial(ranked_ids: list, slots: pd.DataFrame, size: int) -> list[tuple[object, bool]]:
    """Place editorial items at their positions among ``ranked_ids`` and cut to ``size``.

    Returns ``[(item_id, is_editorial), ...]``; an item both ranked and curated appears once, at
    its editorial position. A position beyond the list's end appends the item.
    """
    editorial = dict(zip(slots["item_id"], slots["position"]))
    rest = [i for i in ranked_ids if i not in editorial]
    out: list[tuple[object, bool]] = [(i, False) for i in rest]
    for item, position in sorted(editorial.items(), key=lambda kv: kv[1]):
        out.insert(min(max(int(position) - 1, 0), len(out)), (item, True))
    return out[:size]


# ---------------------------------------------------------------------------------------------
# rule shelves (no model, no features)


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


def new_episodes(recent: pd.DataFrame, followed: np.ndarray, played_items: np.ndarray, size: int,
                 max_per_show: int | None = None) -> pd.DataFrame:
    """Rule shelf "New episodes of your shows" for one listener.

    ``recent``: :func:`recent_episodes` (the release window is applied there); ``followed``: the
    listener's followed shows (:func:`followed_shows`); ``played_items``: item ids the listener
    played before as_of. Keeps episodes of followed shows not yet played, newest first (ties by
    item id), at most ``max_per_show`` per show, at most ``size``. Returns the rows of ``recent``.
    """
    if recent.empty or len(followed) == 0:
        return recent.iloc[:0]
    mine = recent[recent["show_id"].isin(np.asarray(followed, dtype=object))
                  & ~recent["item_id"].isin(np.asarray(played_items, dtype=object))]
    mine = mine[cap_per_parent(mine["show_id"].to_numpy(dtype=object), max_per_show)]
    return mine.head(int(size)).reset_index(drop=True)


RULES = ("new_episodes",)
