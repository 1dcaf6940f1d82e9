"""Population aggregates every listener's features and candidates need: popularity per market
and co-listening neighbours, computed from events before ``as_of`` only.

Each function is a pure step of a map/combine: :func:`partial_aggregates` maps a batch of
listeners to partial counts, :func:`merge_partials` sums them (associative, so Beam can combine
in any order), and :func:`build_side_tables` turns the sums into lookup tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
import numpy as np
import pandas as pd

from transforms.listeners.catalog import Catalog, resolve_entities
from transforms.listeners.history import MS_PER_DAY, ListenerColumns, ListenerState

GLOBAL_MARKET = "*"


@dataclass
class Counts:
    """Integer sums keyed by tuples of ids, dictionary-encoded so partial counts merge as arrays.

    ``names``: the key columns; ``vocabs[j]``: object (V_j,) distinct ids of key column j;
    ``codes[j]``: integer (n,) rows' codes into ``vocabs[j]``; ``values``: integer
    (n, len(fields)) sums named ``fields`` (int32 after a merge when they fit, else int64).
    After :meth:`merge` every key is unique, vocabularies are sorted, so code order is id order,
    and rows are sorted by their codes: the result does not depend on the order in which Beam
    combines the parts.
    """

    names: tuple
    fields: tuple
    vocabs: list
    codes: list
    values: np.ndarray

    @classmethod
    def empty(cls, names, fields) -> "Counts":
        return cls(tuple(names), tuple(fields), [np.zeros(0, object) for _ in names],
                   [np.zeros(0, np.int64) for _ in names], np.zeros((0, len(fields)), np.int64))

    def __len__(self) -> int:
        return len(self.values)

    @staticmethod
    def merge(parts: list["Counts"]) -> "Counts":
        """Sum rows with equal keys over ``parts`` (same names and fields). Cost: one factorize per
        key column over the parts' vocabularies (distinct ids, not rows) and one sort of int64 keys."""
        first = parts[0]
        vocabs, codes, sizes = [], [], []
        for j in range(len(first.names)):
            inverse, vocab = pd.factorize(np.concatenate([p.vocabs[j] for p in parts]), sort=True)
            offsets = np.cumsum([0] + [len(p.vocabs[j]) for p in parts])
            codes.append(np.concatenate([inverse[offsets[i]:offsets[i + 1]][p.codes[j]]
                                         for i, p in enumerate(parts)]).astype(np.int64))
            vocabs.append(np.asarray(vocab, dtype=object))
            sizes.append(max(len(vocab), 1))
        if float(np.prod(np.asarray(sizes, dtype=np.float64))) >= 2.0 ** 62:
            raise OverflowError(f"Counts keys {first.names} exceed int64 ({sizes})")
        key = np.zeros(sum(len(p) for p in parts), np.int64)
        for c, size in zip(codes, sizes):
            key = key * size + c
        values = np.concatenate([p.values for p in parts]).astype(np.int64) if len(key) \
            else np.zeros((0, len(first.fields)), np.int64)
        # merged parts are sorted runs (sorted vocabularies keep codes in order under the union),
        # which a stable sort (timsort) merges in O(n log parts)
        order = np.argsort(key, kind="stable")
        key = key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
        uniq = key[starts]
        sums = np.add.reduceat(values[order], starts, axis=0) if len(starts) else values[:0]
        out_codes = []
        for size in reversed(sizes):
            out_codes.append(_narrow(uniq % size))
            uniq = uniq // size
        # int32 where it fits: merged counts are what the combine holds per as_of and shuffles
        return Counts(first.names, first.fields, vocabs, out_codes[::-1], _narrow(sums))

    def column(self, name: str) -> np.ndarray:
        """Decoded ids (object) of key column ``name``, or the int64 sums of field ``name``."""
        if name in self.fields:
            return self.values[:, self.fields.index(name)]
        j = self.names.index(name)
        return self.vocabs[j][self.codes[j]]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({n: self.column(n) for n in self.names + self.fields})


def _narrow(values: np.ndarray) -> np.ndarray:
    """``values`` as int32 when every value fits, else int64."""
    if not len(values) or (values.min() >= -2**31 and values.max() < 2**31):
        return values.astype(np.int32)
    return values.astype(np.int64)


POP_KEYS, PAIR_KEYS, SINGLE_KEYS = ("shelf", "market", "entity", "entity_type"), ("shelf", "a", "b"), ("shelf", "a")


@dataclass
class Partials:
    """Partial sums, as :class:`Counts`. ``pop``: keys POP_KEYS, fields n_window, n_trend
    (distinct-listener counts); ``pairs``: keys PAIR_KEYS, field n (listeners who played both a and
    b, a < b); ``singles``: keys SINGLE_KEYS, field n (listeners who played a, counted on the same
    capped sets as pairs)."""

    pop: Counts = field(default_factory=lambda: Counts.empty(POP_KEYS, ("n_window", "n_trend")))
    pairs: Counts = field(default_factory=lambda: Counts.empty(PAIR_KEYS, ("n",)))
    singles: Counts = field(default_factory=lambda: Counts.empty(SINGLE_KEYS, ("n",)))

    def __len__(self) -> int:
        """Rows over the three tables (sizes spilled blocks and merge schedules)."""
        return len(self.pop) + len(self.pairs) + len(self.singles)


def beam_colisten_shelves(config: dict, have_neighbour_table: bool) -> list[str]:
    """Shelves whose co-listening pairs are counted in Beam: those listing the ``colisten`` source
    and named in ``colisten.beam_shelves``, and none when the Spark neighbour table is given."""
    if have_neighbour_table:
        return []
    allowed = set(config["colisten"].get("beam_shelves") or [])
    return [s for s, c in config["shelves"].items() if "colisten" in (c.get("sources") or {}) and s in allowed]


def cohorts(who: np.ndarray, genre: np.ndarray, n_listeners: int) -> np.ndarray:
    """Taste cohort per listener: ``genre:<code>`` of the primary genre they played most (ties: the
    lowest code), ``genre:none`` without genre data. ``who`` (int, listener index) and ``genre``
    (int64 primary genre code per play, -1 unknown) are aligned; returns an object array
    (n_listeners,). Popularity is also counted per cohort, so "popular with listeners like me"
    is a feature (cf. cohort popularity in DESIGN.md's candidate sources)."""
    out = np.full(n_listeners, "genre:none", dtype=object)
    known = genre >= 0
    if known.any():
        counts = pd.DataFrame({"who": who[known], "g": genre[known]}).value_counts().reset_index(name="n")
        top = counts.sort_values(["who", "n", "g"], ascending=[True, False, True]).drop_duplicates("who")
        out[top["who"].to_numpy()] = ["genre:%d" % g for g in top["g"].to_numpy()]
    return out


def partial_aggregates(states: list[ListenerState], as_of_ms: int, shelf_types: dict[str, list[str]],
                       colisten_shelves: list[str], catalog: Catalog, config: dict) -> Partials:
    """Counts contributed by a batch of listeners at ``as_of_ms`` (epoch ms UTC).

    Popularity: per shelf, each listener adds 1 to every distinct entity they played in
    ``[as_of - popularity.window_days, as_of)`` (``n_window``) and in the last
    ``popularity.trend_days`` (``n_trend``), under their market, under ``*`` and under their taste
    cohort (``genre:<code>``, see :func:`cohorts`).
    Co-listening: per shelf in ``colisten_shelves``, each listener's distinct entities played before
    ``as_of`` (the ``colisten.max_items_per_listener`` most recent) add 1 to every pair.
    """
    return partial_aggregates_multi(states, [as_of_ms], shelf_types, colisten_shelves, catalog, config)[as_of_ms]


def partial_aggregates_multi(states: "list[ListenerState] | ListenerColumns", as_ofs: list[int],
                             shelf_types: dict[str, list[str]], colisten_shelves: list[str], catalog: Catalog,
                             config: dict) -> dict[int, Partials]:
    """:func:`partial_aggregates` for several as_of instants at once. Plays are mapped to shelf
    entities and entity ids encoded to integer codes once for the batch; each as_of then cuts the
    coded arrays and counts with array operations. Returns as_of -> Partials (unique keys)."""
    window_ms = int(config["popularity"]["window_days"] * MS_PER_DAY)
    trend_ms = int(config["popularity"]["trend_days"] * MS_PER_DAY)
    cap = int(config["colisten"]["max_items_per_listener"])
    batch = states.stacked() if isinstance(states, ListenerColumns) else ListenerColumns.from_states(states).stacked()
    n_listeners = states.size if isinstance(states, ListenerColumns) else len(states)
    who, ts = np.asarray(batch["who"], dtype=np.int64), np.asarray(batch["ts_ms"], dtype=np.int64)
    genre = catalog.primary_genre_of(batch["item_id"]) if len(who) else np.zeros(0, np.int64)
    market_code, market_vocab = pd.factorize(np.asarray(batch["market"], dtype=object), sort=True)
    coded = {}
    for shelf, types in shelf_types.items():
        ent, etype = resolve_entities(batch["item_id"], batch["item_type"], batch["context_id"], catalog, types)
        ok = ent != None  # noqa: E711
        # sorted vocabularies: code order is id order, as the pairs' a < b needs
        ent_code, ent_vocab = pd.factorize(ent[ok], sort=True)
        type_code, type_vocab = pd.factorize(etype[ok], sort=True)
        coded[shelf] = (np.flatnonzero(ok), ent_code.astype(np.int64), np.asarray(ent_vocab, dtype=object),
                        type_code.astype(np.int64), np.asarray(type_vocab, dtype=object))
    out = {}
    for as_of_ms in as_ofs:
        before = ts < as_of_ms
        cohort = cohorts(who[before], genre[before], n_listeners)
        pops, pairs, singles = [], [], []
        for shelf, (rows, ent, ent_vocab, etype, type_vocab) in coded.items():
            cut = ts[rows] < as_of_ms
            if not cut.any():
                continue
            pops.append(_popularity(shelf, who[rows], ent, etype, ts[rows], as_of_ms, window_ms, trend_ms,
                                    (market_code[rows], np.asarray(market_vocab, dtype=object)), cohort,
                                    ent_vocab, type_vocab))
            if shelf in colisten_shelves:
                p, s = _co_listening(shelf, who[rows][cut], ent[cut], ts[rows][cut], ent_vocab, cap)
                pairs.append(p)
                singles.append(s)
        empty = Partials()
        out[as_of_ms] = Partials(Counts.merge(pops) if pops else empty.pop,
                                 Counts.merge(pairs) if pairs else empty.pairs,
                                 Counts.merge(singles) if singles else empty.singles)
    return out


def _popularity(shelf, who, ent, etype, ts, as_of_ms, window_ms, trend_ms, markets, cohort, ent_vocab,
                type_vocab) -> Counts:
    """One count per listener and entity played in the window (n_trend: also in the trend days),
    under the listener's market, under ``*`` and under their taste cohort."""
    recent = (ts >= as_of_ms - window_ms) & (ts < as_of_ms)
    n_ent, n_type = max(len(ent_vocab), 1), max(len(type_vocab), 1)
    key = (who[recent] * n_ent + ent[recent]) * n_type + etype[recent]
    uniq, inverse = np.unique(key, return_inverse=True)
    in_trend = np.bincount(inverse, weights=ts[recent] >= as_of_ms - trend_ms, minlength=len(uniq)) > 0
    listener, etype_u = uniq // (n_ent * n_type), uniq % n_type
    ent_u = uniq // n_type % n_ent
    first = np.unique(inverse, return_index=True)[1]
    market_code, market_vocab = markets
    cohort_code, cohort_vocab = pd.factorize(cohort[listener], sort=True)
    # group vocabulary: the listener markets, then "*", then the cohorts (merge re-sorts it)
    group_vocab = np.concatenate([market_vocab, np.asarray([GLOBAL_MARKET], dtype=object),
                                  np.asarray(cohort_vocab, dtype=object)])
    n = len(uniq)
    group = np.concatenate([market_code[recent][first], np.full(n, len(market_vocab)),
                            len(market_vocab) + 1 + cohort_code]).astype(np.int64)
    values = np.stack([np.ones(n, np.int64), in_trend.astype(np.int64)], axis=1)
    counts = Counts(POP_KEYS, ("n_window", "n_trend"),
                    [np.asarray([shelf], dtype=object), group_vocab, ent_vocab, type_vocab],
                    [np.zeros(3 * n, np.int64), group, np.tile(ent_u, 3), np.tile(etype_u, 3)],
                    np.tile(values, (3, 1)))
    return Counts.merge([counts])


def _co_listening(shelf, who, ent, ts, ent_vocab, cap) -> tuple[Counts, Counts]:
    """Pairs and singles of each listener's ``cap`` most recently played distinct entities.

    ``who``/``ent``/``ts``: plays before as_of (int64 listener, entity code, epoch ms). Entity codes
    follow id order, so a pair (a, b) has a < b as ids. Ties in the last play time at the cap are
    cut by the order of a stable sort on (listener, last play) over plays sorted by time.
    """
    frame = pd.DataFrame({"who": who, "entity": ent, "ts": ts})
    last = frame.sort_values("ts").drop_duplicates(["who", "entity"], keep="last")
    last = last.sort_values(["who", "ts"], ascending=[True, False]).groupby("who", sort=False).head(cap)
    w, e = last["who"].to_numpy(np.int64), last["entity"].to_numpy(np.int64)
    order = np.lexsort((e, w))
    w, e = w[order], e[order]
    # every i < j inside a listener's run: element i pairs with the rest of its run
    run_end = np.repeat(*_runs(w))
    partners = run_end - np.arange(len(w)) - 1
    left = np.repeat(np.arange(len(w)), partners)
    right = left + 1 + np.arange(len(left)) - np.repeat(np.cumsum(partners) - partners, partners)
    shelf_vocab = np.asarray([shelf], dtype=object)
    pairs = Counts(PAIR_KEYS, ("n",), [shelf_vocab, ent_vocab, ent_vocab],
                   [np.zeros(len(left), np.int64), e[left], e[right]], np.ones((len(left), 1), np.int64))
    singles = Counts(SINGLE_KEYS, ("n",), [shelf_vocab, ent_vocab], [np.zeros(len(e), np.int64), e],
                     np.ones((len(e), 1), np.int64))
    return Counts.merge([pairs]), Counts.merge([singles])


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(end index, length) of each run of equal values in ``sorted_keys``."""
    if not len(sorted_keys):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(sorted_keys)]
    return ends, ends - starts


def merge_partials(parts) -> Partials:
    """Sum any number of :class:`Partials` (associative and commutative; the result is the same
    whatever the order of ``parts``)."""
    parts = list(parts) or [Partials()]
    return Partials(Counts.merge([p.pop for p in parts]), Counts.merge([p.pairs for p in parts]),
                    Counts.merge([p.singles for p in parts]))


@dataclass
class SideTables:
    """Lookups for one ``as_of``.

    - ``popularity[shelf][market]``: (entity Index, n_window float64, n_trend float64), aligned.
    - ``top[shelf][market]``: entity ids (object array) by n_window desc, ties by id.
    - ``neighbours[shelf]``: DataFrame with a, b, sim (cosine, float64), both directions, top-N per a.
    - ``entity_types[shelf]``: Series entity -> item type.
    - ``als``: DataFrame a, b, sim of ALS item-factor neighbours (Spark item-neighbours job), or None.
    """

    as_of_ms: int
    popularity: dict
    top: dict
    neighbours: dict
    entity_types: dict
    als: pd.DataFrame | None = None

    def with_item_neighbours(self, table, shelves) -> "SideTables":
        """A copy that uses the Spark neighbour table (``item_id, neighbour_id, score, method``, or
        its :func:`split_item_neighbours` pair): its ``cooccurrence`` rows replace the in-Beam
        co-listening of ``shelves`` (same cosine measure, computed at scale), its ``als`` rows feed
        the ALS source. ``None`` returns self. The frames are shared, not copied."""
        if table is None:
            return self
        cooc, als = table if isinstance(table, tuple) else split_item_neighbours(table)
        return replace(self, neighbours={**self.neighbours, **{shelf: cooc for shelf in shelves}}, als=als)

    def pop_lookup(self, shelf: str, market: str, entities) -> tuple[np.ndarray, np.ndarray]:
        """(n_window, n_trend) float64 arrays for ``entities`` in ``market`` (0 where unseen)."""
        n = len(entities)
        found = self.popularity.get(shelf, {}).get(market)
        if found is None or n == 0:
            return np.zeros(n), np.zeros(n)
        index, n_window, n_trend = found
        pos = index.get_indexer(np.asarray(entities, dtype=object))
        hit = pos >= 0
        return np.where(hit, n_window[pos], 0.0), np.where(hit, n_trend[pos], 0.0)


def split_item_neighbours(table: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The Spark neighbour table as (cooccurrence, als) frames of a, b, sim (None stays None)."""
    if table is None:
        return None
    renamed = table.rename(columns={"item_id": "a", "neighbour_id": "b", "score": "sim"})
    return tuple(renamed[renamed["method"] == method][["a", "b", "sim"]].reset_index(drop=True)
                 for method in ("cooccurrence", "als"))


def build_side_tables(total: Partials, as_of_ms: int, config: dict) -> SideTables:
    """Turn summed partials into :class:`SideTables` (top lists and cosine neighbours).

    Cosine co-listening: ``sim(a, b) = n_ab / sqrt(n_a * n_b)`` (item-based CF, Sarwar et al.,
    WWW 2001), which damps popular items relative to raw co-occurrence counts. Works on the codes
    of :class:`Counts` (sorted vocabularies, so code order is id order) and decodes ids at the end.
    """
    top_n = int(config["popularity"]["top_n_per_market"])
    k = int(config["colisten"]["top_n_neighbours"])
    pop = total.pop if len(total.pop) else Partials().pop
    shelf_v, group_v, ent_v, type_v = pop.vocabs
    popularity, top, neighbours, entity_types = {}, {}, {}, {}
    for s_code in np.unique(pop.codes[0]):
        sel = np.flatnonzero(pop.codes[0] == s_code)   # rows sorted by (group, entity, type)
        group, ent, etype = pop.codes[1][sel], pop.codes[2][sel], pop.codes[3][sel]
        n_window, n_trend = pop.values[sel, 0].astype(np.float64), pop.values[sel, 1].astype(np.float64)
        ends, lengths = _runs(group)
        shelf = shelf_v[s_code]
        popularity[shelf] = {group_v[group[e - 1]]: (pd.Index(ent_v[ent[e - n:e]], dtype=object), n_window[e - n:e],
                                                     n_trend[e - n:e]) for e, n in zip(ends, lengths)}
        first = np.unique(ent, return_index=True)[1]
        entity_types[shelf] = pd.Series(type_v[etype[first]], index=pd.Index(ent_v[ent[first]], dtype=object),
                                        dtype=object, name="entity_type")
        ranked = np.lexsort((ent, -n_window, group))   # per market: most listeners first, ties by id
        g_sorted = group[ranked]
        rank = np.arange(len(ranked)) - np.repeat(*_runs_start(g_sorted))
        keep = ranked[rank < top_n]
        top[shelf] = {group_v[g]: ent_v[ent[keep[group[keep] == g]]] for g in np.unique(group[keep])}
    for s_code in np.unique(total.pairs.codes[0]):
        neighbours[total.pairs.vocabs[0][s_code]] = _cosine_neighbours(total.pairs, total.singles, s_code, k)
    return SideTables(as_of_ms, popularity, top, neighbours, entity_types)


def _runs_start(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start index, length) of each run of equal values in ``sorted_keys``."""
    ends, lengths = _runs(sorted_keys)
    return ends - lengths, lengths


def _cosine_neighbours(pairs: Counts, singles: Counts, s_code: int, k: int) -> pd.DataFrame:
    """Top-``k`` cosine neighbours per entity (both directions of each pair), as ids: a, b, sim."""
    shelf = pairs.vocabs[0][s_code]
    sel = pairs.codes[0] == s_code
    vocab = pairs.vocabs[1]
    a, n = pairs.codes[1][sel], pairs.values[sel, 0]
    # both columns share one vocabulary by construction; remap b if a caller built them apart
    b = pairs.codes[2][sel] if pairs.vocabs[2] is vocab or np.array_equal(pairs.vocabs[2], vocab) \
        else pd.Index(vocab).get_indexer(pairs.vocabs[2][pairs.codes[2][sel]])
    counts = np.full(len(vocab), np.nan)
    if len(singles):
        mine = singles.vocabs[0][singles.codes[0]] == shelf
        counts[pd.Index(vocab).get_indexer(singles.vocabs[1][singles.codes[1][mine]])] = singles.values[mine, 0]
    src, dst, both_n = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([n, n])
    sim = both_n / np.sqrt(counts[src] * counts[dst])
    # by a, then sim descending, ties by b: three sorts, each stable on the last (faster than lexsort)
    order = np.argsort(src.astype(np.int64) * len(vocab) + dst)
    order = order[np.argsort(-sim[order], kind="stable")]
    order = order[np.argsort(src[order], kind="stable")]
    rank = np.arange(len(order)) - np.repeat(*_runs_start(src[order]))
    keep = order[rank < k]
    return pd.DataFrame({"a": vocab[src[keep]], "b": vocab[dst[keep]], "sim": sim[keep]})
