"""Business rules applied after ranking: the filters' array functions, diversity caps and editorial slots.

Everything is declared in config (per shelf in ``shelves:``, see ``docs/CONFIG.md``)
and in the ``curation`` table, so a product change needs no code change. Each rule is a small pure
function over ranked lists (numpy arrays in rank order, one listener's or a whole batch's keys); the
registries wire them: :data:`models.serving.filters.FILTERS` (post-ranking filters),
:data:`models.serving.rule_shelves.RULES` (rule shelves) and
:data:`models.serving.shelf_kinds.SHELF_KINDS` (shelf kinds). Positions are 1-based everywhere; timestamps
are epoch milliseconds UTC.

Definitions the data contract does not give directly:

- **Minor.** The contract holds ``birth_year`` only, so a listener's age at ``as_of`` is
  ``as_of.year - birth_year - 1`` or ``as_of.year - birth_year``. A listener counts as a minor
  while they *may* be under :data:`MINOR_AGE`: ``as_of.year - birth_year <= MINOR_AGE`` (born in
  2008: a minor through all of 2026, an adult from 2027-01-01). An unknown ``birth_year`` is not a
  minor. Minors never get items with catalog ``explicit == 1`` (unknown ``explicit`` is kept).
- **Followed show.** The contract has no follows table: a listener follows a show when they
  played it at least ``followed_min_plays`` times (default :data:`FOLLOWED_MIN_PLAYS` = 2) before
  ``as_of``. A play counts toward a show through ``transforms.listeners.catalog.resolve_entities`` (the
  played item itself, its ``context_id``, or the episode's ``parent_id``); a play is one event,
  whatever its length. One trial play is not a follow; a second visit is.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.config.config_schema import RuleShelf
from transforms.io.packing import factorize
from transforms.listeners.batch import History

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
MINOR_AGE = 18                   # listeners who may be younger than this never get explicit items
# the default of the shelf key ``followed_min_plays`` (written once, in the schema)
FOLLOWED_MIN_PLAYS: int = RuleShelf.model_fields["followed_min_plays"].default


def rank_order(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Indices by score descending; ties broken by item id ascending so runs are reproducible."""
    return np.lexsort((np.asarray(ids, dtype=str), -np.asarray(scores, dtype=np.float64)))


# ---------------------------------------------------------------------------------------------
# diversity


def cap_per_key(keys: np.ndarray, limit: int | None, groups: np.ndarray | None = None) -> np.ndarray:
    """Bool mask keeping at most ``limit`` items per key (per key and group when ``groups``, e.g.
    the listener of each row, is given), in the given (ranked) order. Items with an unknown key
    (None/NaN, or a negative integer code) are never capped. ``limit`` None or <= 0 keeps all."""
    keys = np.asarray(keys)
    if not limit or limit <= 0 or len(keys) == 0:
        return np.ones(len(keys), dtype=bool)
    if keys.dtype == object:
        codes, _ = factorize(keys)  # None/NaN -> -1
    else:
        codes = keys.astype(np.int64)
    known = codes >= 0
    group = np.zeros(len(codes), dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    rank_within = pd.Series(codes).groupby([group, codes], sort=False).cumcount().to_numpy()
    return ~known | (rank_within < limit)


def cap_per_creator(creators: np.ndarray, limit: int | None, groups: np.ndarray | None = None) -> np.ndarray:
    """At most ``limit`` items per creator (artist, publisher...): :func:`cap_per_key`."""
    return cap_per_key(creators, limit, groups)


def cap_per_parent(parents: np.ndarray, limit: int | None, groups: np.ndarray | None = None) -> np.ndarray:
    """At most ``limit`` items per parent (a track's album, an episode's show): :func:`cap_per_key`."""
    return cap_per_key(parents, limit, groups)


def diversify(creators: np.ndarray, parents: np.ndarray, max_per_creator: int | None,
              max_per_parent: int | None, groups: np.ndarray | None = None) -> np.ndarray:
    """Both caps, one after the other: the creator cap first, then the parent cap on the items the
    creator cap kept (an item dropped by one cap does not use up a slot of the other)."""
    keep = cap_per_creator(creators, max_per_creator, groups)
    idx = np.flatnonzero(keep)
    keep[idx] = cap_per_parent(np.asarray(parents)[idx], max_per_parent,
                               None if groups is None else np.asarray(groups)[idx])
    return keep


# ---------------------------------------------------------------------------------------------
# filters


def market_allowed(market: str | None, markets) -> bool:
    """Shelf key ``markets``: a whitelist of listener markets (None or absent: every market)."""
    return markets is None or market in set(markets)


def is_minor(birth_year, as_of_ms: int, minor_age: int = MINOR_AGE):
    """True when the listener may be younger than ``minor_age`` at ``as_of`` (module docstring).
    ``birth_year``: a number or None, or a float64 array (NaN unknown) -> bool array."""
    year = pd.Timestamp(as_of_ms, unit="ms", tz="UTC").year
    if np.ndim(birth_year):
        by = np.asarray(birth_year, dtype=np.float64)
        return ~np.isnan(by) & (year - by <= minor_age)
    if birth_year is None or pd.isna(birth_year):
        return False
    return year - int(birth_year) <= minor_age


def explicit_allowed(explicit: np.ndarray, minor) -> np.ndarray:
    """Keep mask: for a minor, drop items whose catalog ``explicit`` is 1 (NaN = unknown is kept).
    ``minor``: one bool, or a bool per item (the minor flag of each row's listener)."""
    explicit = np.asarray(explicit, dtype=np.float64)
    return ~((explicit == 1.0) & np.asarray(minor, dtype=bool))


def not_played_within(ids: np.ndarray, played: np.ndarray, played_ts_ms: np.ndarray, as_of_ms: int,
                      hours: float | None) -> np.ndarray:
    """Keep mask for shelf key ``exclude_played_within_hours``: drop the items (shelf entities) the
    listener played in ``[as_of - hours, as_of)``. ``played``/``played_ts_ms`` are the listener's
    plays mapped to the shelf's entities. ``hours`` None keeps everything. Ids may be strings of
    one listener, or integer ``(listener, entity)`` keys of a whole batch."""
    if hours is None or len(ids) == 0 or len(played) == 0:
        return np.ones(len(ids), dtype=bool)
    ts = np.asarray(played_ts_ms, dtype=np.int64)
    recent = np.asarray(played)[(ts >= as_of_ms - float(hours) * MS_PER_HOUR) & (ts < as_of_ms)]
    return ~pd.Index(np.asarray(ids)).isin(recent)


def followed_shows(show_per_play: np.ndarray, min_plays: int = FOLLOWED_MIN_PLAYS) -> np.ndarray:
    """Shows the listener follows: those with at least ``min_plays`` plays. ``show_per_play`` is
    the show each play before as_of counts toward (None when none; or integer ``(listener, show)``
    keys, negative when none). Sorted array of the same dtype."""
    shows = np.asarray(show_per_play)
    shows = shows[pd.notna(shows)] if shows.dtype == object else shows[shows >= 0]
    if len(shows) == 0:
        return np.zeros(0, dtype=shows.dtype)
    counts = pd.Series(shows).value_counts()
    return np.sort(counts.index[counts.to_numpy() >= int(min_plays)].to_numpy(dtype=shows.dtype))


def followed_keys(hist: History, min_plays: int) -> np.ndarray:
    """Sorted int64 keys ``listener * span + show`` (``span``: ``hist.batch.span``) of the shows each
    listener of the batch follows (:func:`followed_shows` over the plays before as_of, a play counting
    toward its show through ``History.entities``). Built once per batch and ``min_plays``."""
    def build():
        show, _ = hist.entities(["show"])
        return followed_shows(np.where(show >= 0, hist.who * hist.batch.span + show, -1), int(min_plays))
    return hist.memo(("followed", int(min_plays)), build)


def not_followed(ids: np.ndarray, followed: np.ndarray) -> np.ndarray:
    """Keep mask for shelf key ``exclude_followed_shows``: drop shows the listener follows."""
    return ~pd.Index(np.asarray(ids)).isin(np.asarray(followed))


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
    c = c[live & ((mk == market) | (mk == "*"))]
    # from the filtered rows: assigning the unfiltered Series to an empty frame would add its rows back
    c = c.assign(_specific=c["market"].fillna("*").to_numpy() != "*")
    c = c.sort_values(["position", "_specific", "item_id"], ascending=[True, False, True])
    c = c.drop_duplicates("position", keep="first").drop_duplicates("item_id", keep="first")
    return c[["position", "item_id"]].astype({"position": np.int64}).reset_index(drop=True)


def insert_editorial(ranked_ids: list, slots: pd.DataFrame, size: int) -> list[tuple[object, bool]]:
    """Place editorial items at their positions among ``ranked_ids`` and cut to ``size``.

    Returns ``[(item_id, is_editorial), ...]``; an item both ranked and curated appears once, at
    its editorial position. Slots are inserted in position order, each at index
    ``min(max(position - 1, 0), current length)``: a position beyond the list's end appends the
    item, and positions 0 and 1 both mean "first" (the contract allows 0).
    """
    editorial = dict(zip(slots["item_id"], slots["position"]))
    rest = [i for i in ranked_ids if i not in editorial]
    out: list[tuple[object, bool]] = [(i, False) for i in rest]
    for item, position in sorted(editorial.items(), key=lambda kv: kv[1]):
        out.insert(min(max(int(position) - 1, 0), len(out)), (item, True))
    return out[:size]


def editorial_layout(positions: np.ndarray, n_rest: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`insert_editorial` for many listeners that share one slot set, as index tables.

    ``positions``: the slot set's positions (K,), as :func:`editorial_slots` orders them;
    ``n_rest``: per listener (L,), how many ranked items remain once curated items are removed.
    Returns ``rest_index`` (L, size) int64, the 0-based final index of the listener's ranked item
    j < size (-1 where the listener has no such item), and ``ed_index`` (L, K), the final index
    of each editorial item. Indices >= ``size`` are cut. The layout depends on a listener only
    through ``min(n_rest, size)``, so :func:`insert_editorial` runs once per distinct value.
    """
    positions = np.asarray(positions, dtype=np.int64)
    k = len(positions)
    capped = np.minimum(np.asarray(n_rest, dtype=np.int64), size)
    rest_index = np.full((len(capped), size), -1, dtype=np.int64)
    ed_index = np.zeros((len(capped), k), dtype=np.int64)
    slots = pd.DataFrame({"item_id": [-1 - i for i in range(k)], "position": positions})
    for c in np.unique(capped):
        placed = insert_editorial(list(range(c)), slots, c + k)
        final = {item: at for at, (item, _) in enumerate(placed)}
        rows = capped == c
        rest_index[np.ix_(rows, np.arange(c))] = [final[j] for j in range(c)]
        ed_index[rows] = [final[-1 - i] for i in range(k)]
    return rest_index, ed_index
