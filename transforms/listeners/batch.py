"""Columnar batches of listeners: integer codes for ids, stacked events, histories at ``as_of``.

Stage 1 (candidates) and stage 2 (features, scoring, rules) work on thousands of listeners at once.
Everything they join on is an integer:

- :class:`Codebook` (built once per worker and per ``as_of``) gives every id the job looks up -
  catalog items, creators, parents, and the entities of the side tables - an int64 code, and holds
  the catalog's attributes and the side tables as arrays indexed by that code.
- :class:`ListenerBatch` stacks the events of many listeners (``who`` = row of the listener in
  the batch) with item and context ids encoded once.
- :class:`History` is a batch cut at ``as_of``: the plays before it, each mapped once to the
  entities of a shelf's item types (:meth:`History.entities`) and shared by every source,
  feature, rule and label.

Ids the codebook does not know (an event item missing from the catalog) get batch-local codes
past the end of the vocabulary; attribute look-ups treat them as unknown. Ties "by item id" are
broken with :meth:`ListenerBatch.id_rank`, the rank of the id string among the codes at hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from transforms.io import contract
from transforms.listeners.aggregates import GLOBAL_MARKET, SideTables
from transforms.listeners.catalog import Catalog
from transforms.listeners.history import MS_PER_DAY, ListenerColumns, ListenerState
from transforms.io.packing import factorize

TYPE_CODES = {t: i for i, t in enumerate(contract.ITEM_TYPES)}
ARTIST = TYPE_CODES["artist"]
NO_CODE = -1


def type_codes(types) -> np.ndarray:
    """Item type strings to int8 codes of :data:`TYPE_CODES` (-1 for None or unknown)."""
    s = pd.Series(np.asarray(types, dtype=object), dtype=object)
    return s.map(TYPE_CODES).fillna(-1).to_numpy(dtype=np.int8)


def take(values: np.ndarray, codes: np.ndarray, fill):
    """``values[codes]`` where ``0 <= codes < len(values)``, else ``fill`` (batch-local codes and
    -1 have no attributes)."""
    codes = np.asarray(codes, dtype=np.int64)
    ok = (codes >= 0) & (codes < len(values))
    out = np.full(len(codes), fill, dtype=values.dtype)
    out[ok] = values[codes[ok]]
    return out


@dataclass
class Csr:
    """Rows of variable length: the values of row ``r`` are ``values[ptr[r]:ptr[r + 1]]``."""

    ptr: np.ndarray     # int64 (n_rows + 1,)
    values: np.ndarray  # (ptr[-1],)

    @classmethod
    def from_groups(cls, group: np.ndarray, values: np.ndarray, n_rows: int) -> "Csr":
        """Rows from (group, value) pairs; ``group`` must be sorted ascending (stable order kept)."""
        counts = np.bincount(np.asarray(group, dtype=np.int64), minlength=n_rows)
        return cls(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), np.asarray(values))

    def lengths(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        ok = (rows >= 0) & (rows < len(self.ptr) - 1)
        out = np.zeros(len(rows), dtype=np.int64)
        out[ok] = self.ptr[rows[ok] + 1] - self.ptr[rows[ok]]
        return out

    def expand(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each requested row, its values: returns (index into ``rows`` per value, position in
        ``values``), in request order then row order."""
        rows = np.asarray(rows, dtype=np.int64)
        n = self.lengths(rows)
        owner = np.repeat(np.arange(len(rows)), n)
        if not len(owner):
            return owner, np.zeros(0, dtype=np.int64)
        starts = np.repeat(np.where(n > 0, self.ptr[np.clip(rows, 0, len(self.ptr) - 2)], 0), n)
        offset = np.arange(len(owner)) - np.repeat(np.cumsum(n) - n, n)
        return owner, starts + offset


@dataclass
class Neighbours:
    """A neighbour table (a -> b, sim) by code: ``csr`` rows are codes of ``a``, values the table
    rows (original order kept within an ``a``); ``row`` keeps each entry's position in the
    original table, so sums over several ``a`` run in the table's order (as a filter would)."""

    csr: Csr
    b: np.ndarray      # int64 code per entry
    sim: np.ndarray    # float64 per entry
    row: np.ndarray    # int64 original row per entry


class Codebook:
    """Integer codes for one worker and one ``as_of``, and everything the batch code looks up.

    Attributes (arrays indexed by code, length ``n``): ``item_type`` (int8, -1 not in the
    catalog), ``parent``, ``creator`` (int64 codes, -1 none), ``explicit``, ``duration_ms``
    (float64, NaN unknown), ``primary_genre`` (int64, -1 none), ``genres`` (:class:`Csr` of int32
    genre codes of the catalog's ``genre_vocab``). Side tables by shelf: ``pop_keys``/``pop_window``/
    ``pop_trend`` (sorted ``group * n + code`` keys, where a group is a market, ``*`` or a taste
    cohort of ``pop_groups``), ``neighbours`` and ``als`` (:class:`Neighbours`), ``fill_type``
    (type code of an entity outside the catalog, e.g. an artist).
    """

    def __init__(self, catalog: Catalog, side: SideTables):
        frame = catalog.frame
        parts = [frame.index.to_numpy(dtype=object), frame["creator_id"].to_numpy(dtype=object),
                 frame["parent_id"].to_numpy(dtype=object)]
        for by_market in side.popularity.values():
            parts += [index.to_numpy(dtype=object) for index, _, _ in by_market.values()]
        for table in list(side.neighbours.values()) + [side.als]:
            if table is not None and len(table):
                parts += [table["a"].to_numpy(dtype=object), table["b"].to_numpy(dtype=object)]
        allids = pd.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=object)
        allids = allids[pd.notna(allids)]
        self.vocab = pd.Index(allids, dtype=object)
        self.n = n = len(self.vocab)
        self.catalog = catalog
        pos = frame.index.get_indexer(self.vocab)
        self._cat_pos = pos
        hit = pos >= 0

        def per_code(values, fill, dtype):
            out = np.full(n, fill, dtype=dtype)
            out[hit] = np.asarray(values)[pos[hit]]
            return out

        self.item_type = per_code(type_codes(frame["item_type"].to_numpy(dtype=object)), -1, np.int8)
        self.parent = per_code(self.encode_known(frame["parent_id"].to_numpy(dtype=object)), -1, np.int64)
        self.creator = per_code(self.encode_known(frame["creator_id"].to_numpy(dtype=object)), -1, np.int64)
        self.explicit = per_code(frame["explicit"].to_numpy(dtype=np.float64), np.nan, np.float64)
        self.duration_ms = per_code(frame["duration_ms"].to_numpy(dtype=np.float64), np.nan, np.float64)
        self.primary_genre = per_code(catalog.primary_genre, -1, np.int64)
        lengths = np.zeros(n, dtype=np.int64)
        cat_lengths = np.fromiter((len(c) for c in catalog.genre_codes), dtype=np.int64, count=len(catalog.genre_codes))
        lengths[hit] = cat_lengths[pos[hit]]
        order = pos[hit]
        flat = (np.concatenate([catalog.genre_codes[p] for p in order] + [np.zeros(0, np.int32)])
                .astype(np.int32))
        # codes whose rows are laid out in code order: the flat list follows the codes with a catalog row
        self.genres = Csr(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), flat)
        self.n_genres = len(catalog.genre_vocab)
        self.pop_groups: dict[str, dict[str, int]] = {}
        self.pop_keys, self.pop_window, self.pop_trend = {}, {}, {}
        for shelf, by_market in side.popularity.items():
            groups = {m: g for g, m in enumerate(by_market)}
            keys, win, trend = [], [], []
            for m, (index, n_window, n_trend) in by_market.items():
                keys.append(groups[m] * n + self.encode_known(index.to_numpy(dtype=object)))
                win.append(n_window)
                trend.append(n_trend)
            keys, win, trend = np.concatenate(keys), np.concatenate(win), np.concatenate(trend)
            order = np.argsort(keys, kind="stable")
            self.pop_groups[shelf] = groups
            self.pop_keys[shelf], self.pop_window[shelf], self.pop_trend[shelf] = keys[order], win[order], trend[order]
        self.top = {shelf: {m: self.encode_known(ids) for m, ids in by_market.items()}
                    for shelf, by_market in side.top.items()}
        self._top_lists: dict = {}
        self.neighbours = {shelf: self._neighbours(t) for shelf, t in side.neighbours.items()}
        self.als = self._neighbours(side.als)
        self.fill_type = {}
        for shelf, types in side.entity_types.items():
            fill = np.full(n, -1, dtype=np.int8)
            codes = self.encode_known(types.index.to_numpy(dtype=object))
            fill[codes[codes >= 0]] = type_codes(types.to_numpy(dtype=object))[codes >= 0]
            self.fill_type[shelf] = fill

    def encode_known(self, ids) -> np.ndarray:
        """Codes of ``ids`` (int64; -1 for None or an id outside the vocabulary)."""
        return self.vocab.get_indexer(np.asarray(ids, dtype=object)).astype(np.int64)

    def _neighbours(self, table: pd.DataFrame | None) -> Neighbours | None:
        if table is None or table.empty:
            return None
        a = self.encode_known(table["a"].to_numpy(dtype=object))
        order = np.argsort(a, kind="stable")
        return Neighbours(Csr.from_groups(a[order], order, self.n), self.encode_known(table["b"].to_numpy(dtype=object))[order],
                          table["sim"].to_numpy(dtype=np.float64)[order], order.astype(np.int64))

    def pop_lookup(self, shelf: str, group: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n_window, n_trend) float64 per (group index, code) pair; 0 where unseen or group < 0."""
        keys = self.pop_keys.get(shelf)
        n = len(codes)
        if keys is None or not len(keys) or n == 0:
            return np.zeros(n), np.zeros(n)
        want = np.asarray(group, dtype=np.int64) * self.n + np.asarray(codes, dtype=np.int64)
        at = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        hit = (keys[at] == want) & (np.asarray(group) >= 0) & (np.asarray(codes) >= 0) & (np.asarray(codes) < self.n)
        return np.where(hit, self.pop_window[shelf][at], 0.0), np.where(hit, self.pop_trend[shelf][at], 0.0)

    def group_index(self, shelf: str, names) -> np.ndarray:
        """Popularity group index per market or cohort name (-1 when the shelf has no such group)."""
        groups = self.pop_groups.get(shelf, {})
        return pd.Series(np.asarray(names, dtype=object), dtype=object).map(groups).fillna(-1).to_numpy(np.int64)

    def top_list(self, shelf: str, market: str) -> np.ndarray:
        """The market's most popular entities, then the other markets' (``*``), unique: int64 codes."""
        key = (shelf, market)
        if key not in self._top_lists:
            tops = self.top.get(shelf, {})
            both = np.concatenate([tops.get(market, np.zeros(0, np.int64)), tops.get(GLOBAL_MARKET, np.zeros(0, np.int64))])
            self._top_lists[key] = pd.unique(both).astype(np.int64)
        return self._top_lists[key]


@dataclass
class ListenerBatch:
    """Many listeners as columns. Listener arrays have length B; event arrays length E, sorted by
    (who, ts, item id) - each listener's events in time order, as in :class:`ListenerState`.

    ``extra`` holds the ids of batch-local codes (``codebook.n + i``)."""

    codebook: Codebook
    listener_id: np.ndarray   # object (B,)
    market: np.ndarray        # object (B,)
    registered_ms: np.ndarray  # int64 (B,)
    birth_year: np.ndarray    # float64 (B,), NaN unknown
    onboarding: Csr           # int32 genre codes per listener, sorted unique
    who: np.ndarray           # int64 (E,)
    item: np.ndarray          # int64 (E,) codes
    item_type: np.ndarray     # int8 (E,)
    context: np.ndarray       # int64 (E,) codes, -1 none or unknown
    ts_ms: np.ndarray         # int64 (E,) epoch ms UTC
    ms_played: np.ndarray     # float64 (E,), NaN unknown
    extra: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))

    @property
    def size(self) -> int:
        return len(self.listener_id)

    @classmethod
    def from_states(cls, states: list[ListenerState], codebook: Codebook) -> "ListenerBatch":
        """Stack per-listener states (tests and in-memory tools); see :meth:`from_columns`."""
        return cls.from_columns(ListenerColumns.from_states(states), codebook)

    @classmethod
    def from_columns(cls, cols: ListenerColumns, codebook: Codebook) -> "ListenerBatch":
        """Encode a :class:`ListenerColumns` (ids once for the whole batch)."""
        ev = cols.events
        item_ids = np.asarray(ev["item_id"], dtype=object)
        item = codebook.encode_known(item_ids)
        extra = np.zeros(0, dtype=object)
        missing = item < 0
        if missing.any():
            local, extra = factorize(item_ids[missing])
            item[missing] = codebook.n + local
            extra = np.asarray(extra, dtype=object)
        vocab = codebook.catalog.genre_vocab
        onboarding = [sorted({vocab[g] for g in genres if g in vocab}) for genres in cols.onboarding]
        lens = np.fromiter((len(o) for o in onboarding), dtype=np.int64, count=len(onboarding))
        return cls(codebook, cols.listener_id, cols.market, cols.registered_ms, cols.birth_year,
                   Csr(np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
                       np.asarray([g for o in onboarding for g in o], dtype=np.int32)),
                   cols.who, item, type_codes(ev["item_type"]), codebook.encode_known(ev["context_id"]),
                   np.asarray(ev["ts_ms"], dtype=np.int64), np.asarray(ev["ms_played"], dtype=np.float64), extra)

    @property
    def span(self) -> int:
        """Multiplier that makes ``who * span + code`` a unique (listener, id) key in this batch."""
        return self.codebook.n + 1 + len(self.extra)

    def encode(self, ids) -> np.ndarray:
        """Codes of id strings, batch-local ones included (int64; -1 when unknown to both)."""
        codes = self.codebook.encode_known(ids)
        missing = codes < 0
        if missing.any() and len(self.extra):
            local = pd.Index(self.extra).get_indexer(np.asarray(ids, dtype=object)[missing])
            codes[missing] = np.where(local >= 0, self.codebook.n + local, -1)
        return codes

    def ids(self, codes: np.ndarray) -> np.ndarray:
        """Id strings of codes (object array)."""
        codes = np.asarray(codes, dtype=np.int64)
        n = self.codebook.n
        out = np.empty(len(codes), dtype=object)
        known = codes < n
        out[known] = self.codebook.vocab.to_numpy(dtype=object)[codes[known]]
        out[~known] = self.extra[codes[~known] - n]
        return out

    def id_rank(self, codes: np.ndarray) -> np.ndarray:
        """Rank of each code's id string among the distinct codes given (int64): sorting by it
        sorts by item id, as Python compares strings."""
        uniq, inverse = np.unique(np.asarray(codes, dtype=np.int64), return_inverse=True)
        strings = self.ids(uniq)
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[np.argsort(strings, kind="stable")] = np.arange(len(uniq))
        return rank[inverse]

    def type_of(self, codes: np.ndarray) -> np.ndarray:
        return take(self.codebook.item_type, codes, -1)

    def registered_before(self, as_of_ms: int) -> np.ndarray:
        return self.registered_ms < as_of_ms

    def tenure_days(self, as_of_ms: int) -> np.ndarray:
        return (as_of_ms - self.registered_ms) / MS_PER_DAY

    def window(self, start_ms: int, end_ms: int) -> "History":
        """Events with ``start <= ts < end`` (labels use ``[as_of, as_of + horizon)``)."""
        return History(self, (self.ts_ms >= start_ms) & (self.ts_ms < end_ms), end_ms)

    def before(self, as_of_ms: int) -> "History":
        """Events with ``ts < as_of`` (the only ones any feature may use)."""
        return History(self, self.ts_ms < as_of_ms, as_of_ms)


class History:
    """Some events of a batch (a mask over its events), with entity mappings memoised per set of
    item types. ``as_of_ms`` is the end of the cut (exclusive)."""

    def __init__(self, batch: ListenerBatch, mask: np.ndarray, as_of_ms: int):
        self.batch, self.as_of_ms = batch, as_of_ms
        self.who = batch.who[mask]
        self.item = batch.item[mask]
        self.item_type = batch.item_type[mask]
        self.context = batch.context[mask]
        self.ts_ms = batch.ts_ms[mask]
        self.ms_played = batch.ms_played[mask]
        self._entities: dict = {}
        self._memo: dict = {}

    def __len__(self) -> int:
        return len(self.who)

    def entities(self, types) -> tuple[np.ndarray, np.ndarray]:
        """Each play's entity among ``types`` and its type code (int64 / int8; -1 where none).

        Priority (as in ``transforms.listeners.catalog.resolve_entities``): the played item itself, then the
        play's context, then the item's parent, then its creator (as an artist)."""
        key = tuple(sorted(types))
        if key not in self._entities:
            self._entities[key] = resolve_codes(self.batch.codebook, self.item, self.item_type, self.context, key)
        return self._entities[key]

    def entity_pairs(self, types, all_levels: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The entities each play counts toward: (play index, entity code), int64 (m,) each, in
        play order.

        ``all_levels`` False: at most one entity per play, that of :meth:`entities`. True (a
        ``familiar`` shelf): every level among ``types`` - the played item, its context, its
        parent, its creator (as an artist) - each entity once per play, in that order. A play of
        a track of album A by artist R from playlist P then counts toward P, A and R alike."""
        key = ("entity_pairs", tuple(sorted(types)), bool(all_levels))
        if key not in self._memo:
            if all_levels:
                levels = level_codes(self.batch.codebook, self.item, self.item_type, self.context, key[1])
                idx, col = np.nonzero(levels >= 0)   # row-major: play order, then level order
                self._memo[key] = (idx.astype(np.int64), levels[idx, col])
            else:
                ent, _ = self.entities(types)
                idx = np.flatnonzero(ent >= 0)
                self._memo[key] = (idx.astype(np.int64), ent[idx])
        return self._memo[key]

    def memo(self, key, fn):
        """Per-history memo for listener-level facts shared by shelves (genres, cohorts...)."""
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]


def resolve_codes(cb: Codebook, item, item_type, context, targets) -> tuple[np.ndarray, np.ndarray]:
    """:func:`transforms.listeners.catalog.resolve_entities` on codes: (entity code, type code) per play."""
    n = len(item)
    ent = np.full(n, NO_CODE, dtype=np.int64)
    etype = np.full(n, -1, dtype=np.int8)
    wanted = np.asarray([TYPE_CODES[t] for t in targets if t in TYPE_CODES], dtype=np.int8)
    if n == 0 or not len(wanted):
        return ent, etype

    def fill(mask, ids, types):
        mask = mask & (ent == NO_CODE)
        ent[mask] = ids[mask]
        etype[mask] = types[mask]

    fill(np.isin(item_type, wanted), item, item_type)
    ctx_type = take(cb.item_type, context, -1)
    fill(np.isin(ctx_type, wanted) & (context >= 0), context, ctx_type)
    parent = take(cb.parent, item, -1)
    parent_type = take(cb.item_type, parent, -1)
    fill(np.isin(parent_type, wanted) & (parent >= 0), parent, parent_type)
    if ARTIST in wanted:
        creator = take(cb.creator, item, -1)
        fill(creator >= 0, creator, np.full(n, ARTIST, dtype=np.int8))
    return ent, etype


def level_codes(cb: Codebook, item, item_type, context, targets) -> np.ndarray:
    """int64 (n, 4): per play, the entity code at each level among ``targets`` - item, context,
    parent, creator (as an artist) - or -1 where the level is absent, not of a target type, or
    repeats an earlier level of the same play (an album that is both context and parent)."""
    n = len(item)
    out = np.full((n, 4), NO_CODE, dtype=np.int64)
    wanted = np.asarray([TYPE_CODES[t] for t in targets if t in TYPE_CODES], dtype=np.int8)
    if n == 0 or not len(wanted):
        return out
    out[:, 0] = np.where(np.isin(item_type, wanted), item, NO_CODE)
    ctx_type = take(cb.item_type, context, -1)
    out[:, 1] = np.where(np.isin(ctx_type, wanted) & (context >= 0), context, NO_CODE)
    parent = take(cb.parent, item, -1)
    out[:, 2] = np.where(np.isin(take(cb.item_type, parent, -1), wanted) & (parent >= 0), parent, NO_CODE)
    if ARTIST in wanted:
        out[:, 3] = take(cb.creator, item, -1)
    for j in range(1, 4):
        for i in range(j):
            out[:, j] = np.where(out[:, j] == out[:, i], NO_CODE, out[:, j])
    return out
