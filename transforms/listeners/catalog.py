"""The item catalog as lookup arrays, and the mapping of plays to shelf entities.

A shelf shows entities of some item types (albums, playlists, shows...), while events are plays of
tracks and episodes. :func:`resolve_entities` is the one place that decides which entity a play
counts toward, so candidates, features and labels all agree.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.io import contract
from transforms.io.packing import factorize, pack, unpack


def _unpack_catalog(index, index_name, columns) -> "Catalog":
    frame = pd.DataFrame({c: pd.Series(unpack(v), dtype=dtype) for c, (v, dtype) in columns.items()})
    frame.index = pd.Index(unpack(index), dtype=object, name=index_name)
    return Catalog(frame)


@dataclass
class Catalog:
    """Validated, de-duplicated ``items`` table indexed by ``item_id``.

    ``frame`` columns: item_type, creator_id, parent_id, genres (``|``-joined or None),
    language, duration_ms (float64, NaN unknown), explicit (float64 0/1, NaN unknown), name,
    release_date (datetime64[ns, UTC] or NaT).
    """

    frame: pd.DataFrame

    @classmethod
    def from_items(cls, items: pd.DataFrame) -> "Catalog":
        """Build from accepted ``items`` rows (contract columns). Later duplicates are ignored."""
        frame = items.drop_duplicates("item_id", keep="first").set_index("item_id")
        frame = frame.reindex(columns=["item_type", "creator_id", "parent_id", "genres", "language",
                                       "duration_ms", "explicit", "name", "release_date"])
        frame["duration_ms"] = pd.to_numeric(frame["duration_ms"], errors="coerce").astype("float64")
        frame["explicit"] = pd.to_numeric(frame["explicit"], errors="coerce").astype("float64")
        return cls(frame)

    def __reduce__(self):
        # Beam ships the catalog to every worker: object columns travel as codes (transforms.io.packing);
        # the genre codes are rebuilt on arrival by __post_init__
        f = self.frame
        columns = {c: (pack(f[c].to_numpy()), str(f[c].dtype)) for c in f.columns}
        return _unpack_catalog, (pack(f.index.to_numpy(dtype=object)), f.index.name, columns)

    def __post_init__(self) -> None:
        # Genres as integer codes once, so genre matching is array work rather than set work per item.
        # Computed once per distinct genre string (items share a few hundred combinations); codes
        # are numbered in order of first appearance, as a per-item pass would number them.
        at, distinct = factorize(self.frame["genres"].to_numpy(dtype=object))
        vocab: dict[str, int] = {}
        codes = np.empty(len(distinct) + 1, dtype=object)
        codes[:] = [np.asarray([vocab.setdefault(g, len(vocab)) for g in sorted(gs)], dtype=np.int32)
                    for gs in genre_sets(distinct)] + [np.zeros(0, dtype=np.int32)]
        primary = np.asarray([vocab[g.split(contract.GENRE_SEPARATOR)[0]] if isinstance(g, str) and g else -1
                              for g in distinct] + [-1], dtype=np.int64)
        self.genre_vocab = vocab
        self.genre_codes = codes[at]        # -1 (no genres) takes the trailing empty array
        # the first genre as listed is the item's primary genre (-1: none)
        self.primary_genre = primary[at]

    def primary_genre_of(self, ids) -> np.ndarray:
        """Primary genre code per id (int64; -1 when unknown or without genres)."""
        pos = self.frame.index.get_indexer(np.asarray(ids, dtype=object))
        return np.where(pos >= 0, self.primary_genre[np.maximum(pos, 0)] if len(self.primary_genre) else -1, -1)

    def genre_codes_of(self, ids) -> list[np.ndarray]:
        """Genre codes (int32 arrays, possibly empty) for each id; unknown ids get none."""
        pos = self.frame.index.get_indexer(np.asarray(ids, dtype=object))
        empty = np.zeros(0, dtype=np.int32)
        return [self.genre_codes[p] if p >= 0 else empty for p in pos]

    def __len__(self) -> int:
        return len(self.frame)

    def positions(self, ids) -> np.ndarray:
        """Row of each id in ``frame`` (int64 (n,), -1 where unknown): one hash lookup per id, to
        share between several :meth:`lookup_at` calls on the same ids."""
        return self.frame.index.get_indexer(np.asarray(ids, dtype=object))

    def lookup(self, ids, column: str) -> np.ndarray:
        """``column`` for each id in ``ids`` (object array; None/NaN where the id is unknown)."""
        return self.lookup_at(self.positions(ids), column)

    @functools.cached_property
    def parent_positions(self) -> np.ndarray:
        """Row of each item's parent in ``frame`` (int64 (items,), -1: none or not in the
        catalog), computed once so plays reach their parent's columns without a second hash lookup."""
        return self.positions(self.frame["parent_id"].to_numpy(dtype=object))

    def lookup_at(self, pos: np.ndarray, column: str) -> np.ndarray:
        """``column`` at rows ``pos`` of :meth:`positions` (None/NaN where ``pos`` is -1)."""
        values = self.frame[column].to_numpy(dtype=object if self.frame[column].dtype == object else "float64")
        out = np.empty(len(pos), dtype=values.dtype)
        found = pos >= 0
        out[found] = values[pos[found]]
        out[~found] = None if values.dtype == object else np.nan
        return out

    def types_present(self) -> set[str]:
        return set(self.frame["item_type"].dropna().unique())

    def ids_of_type(self, item_type: str) -> np.ndarray:
        return self.frame.index[self.frame["item_type"].to_numpy() == item_type].to_numpy(dtype=object)


def shelf_item_types(shelf_config: dict, catalog: Catalog) -> list[str]:
    """The item types a shelf draws from: ``item_types`` if the catalog holds any of them, else
    ``fallback_item_types`` (e.g. tracks on 30Music, which has no playlists)."""
    present = catalog.types_present()
    primary = [t for t in shelf_config.get("item_types", []) if t in contract.ITEM_TYPES]
    if any(t in present for t in primary):
        return primary
    return [t for t in shelf_config.get("fallback_item_types", []) if t in contract.ITEM_TYPES]


def resolve_entities(item_ids, item_types, context_ids, catalog: Catalog, targets) -> tuple[np.ndarray, np.ndarray]:
    """Map each play to the entity of a target type it counts toward.

    Priority: the played item itself, then the play's context (the album/playlist/show it was
    played from), then the item's parent (track -> album, episode -> show), then its creator
    (artist). Arrays are object dtype, length n; ``None`` where no target entity exists.
    """
    targets = set(targets)
    item_ids = np.asarray(item_ids, dtype=object)
    n = len(item_ids)
    ent = np.full(n, None, dtype=object)
    etype = np.full(n, None, dtype=object)
    if n == 0 or not targets:
        return ent, etype
    # Levels are matched on catalog row positions (one hash lookup per id), and object arrays
    # are written once per level for the rows that take it: object-array masks and lookups per
    # level were most of this function's cost in the side-table aggregates.
    types = catalog.frame["item_type"].to_numpy(dtype=object)
    is_target = np.append(np.isin(types, list(targets)), False)   # [-1] (unknown) -> False
    free = np.ones(n, dtype=bool)

    def take(mask, ids, level_types):
        mask &= free
        ent[mask] = ids[mask]
        etype[mask] = level_types[mask]
        free[mask] = False

    def take_rows(mask, rows):
        """The level whose entity is the catalog item at ``rows`` (its id and catalog type)."""
        mask &= free
        ent[mask] = catalog_ids[rows[mask]]
        etype[mask] = types[rows[mask]]
        free[mask] = False

    catalog_ids = catalog.frame.index.to_numpy(dtype=object)
    own_types = np.asarray(item_types, dtype=object)
    take(np.isin(own_types, list(targets)), item_ids, own_types)
    ctx = np.asarray(context_ids, dtype=object)
    if (ctx != None).any():  # noqa: E711
        ctx_at = catalog.positions(ctx)
        take_rows(is_target[ctx_at], ctx_at)
    at = catalog.positions(item_ids)  # one hash lookup of the played items serves parent and creator
    if len(catalog):
        parent_at = np.where(at >= 0, catalog.parent_positions[np.maximum(at, 0)], -1)
        take_rows(is_target[parent_at], parent_at)
    if "artist" in targets:
        creators = catalog.lookup_at(at, "creator_id")
        take(creators != None, creators, np.full(n, "artist", dtype=object))  # noqa: E711
    return ent, etype


def genre_sets(genres) -> list[frozenset]:
    """``|``-joined genre strings (or None) to frozensets."""
    return [frozenset(g.split(contract.GENRE_SEPARATOR)) if isinstance(g, str) and g else frozenset() for g in genres]
