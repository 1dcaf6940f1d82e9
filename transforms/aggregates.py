"""Population aggregates every listener's features and candidates need: popularity per market
and co-listening neighbours, computed from events before ``as_of`` only.

Each function is a pure step of a map/combine: :func:`partial_aggregates` maps a batch of
listeners to partial counts, :func:`merge_partials` sums them (associative, so Beam can combine
in any order), and :func:`build_side_tables` turns the sums into lookup tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from transforms.catalog import Catalog, resolve_entities
from transforms.history import MS_PER_DAY, ListenerColumns, ListenerState

GLOBAL_MARKET = "*"
POP_COLUMNS = ["shelf", "market", "entity", "entity_type", "n_window", "n_trend"]
PAIR_COLUMNS = ["shelf", "a", "b", "n"]


@dataclass
class Partials:
    """Partial sums. ``pop``: POP_COLUMNS (n_* int64 distinct-listener counts);
    ``pairs``: PAIR_COLUMNS (listeners who played both a and b, a < b);
    ``singles``: shelf, a, n (listeners who played a, counted on the same capped sets as pairs)."""

    pop: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=POP_COLUMNS))
    pairs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PAIR_COLUMNS))
    singles: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["shelf", "a", "n"]))


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


def partial_aggregates_multi(states: "list[ListenerState] | ListenerColumns", as_ofs: list[int], shelf_types: dict[str, list[str]],
                             colisten_shelves: list[str], catalog: Catalog, config: dict) -> dict[int, Partials]:
    """:func:`partial_aggregates` for several as_of instants at once: plays are mapped to shelf
    entities once for the batch, then cut at each as_of. Returns as_of -> Partials."""
    window_ms = int(config["popularity"]["window_days"] * MS_PER_DAY)
    trend_ms = int(config["popularity"]["trend_days"] * MS_PER_DAY)
    cap = int(config["colisten"]["max_items_per_listener"])
    batch = states.stacked() if isinstance(states, ListenerColumns) else ListenerColumns.from_states(states).stacked()
    n_listeners = states.size if isinstance(states, ListenerColumns) else len(states)
    genre = catalog.primary_genre_of(batch["item_id"]) if len(batch["item_id"]) else np.zeros(0, np.int64)
    resolved = {shelf: resolve_entities(batch["item_id"], batch["item_type"], batch["context_id"], catalog, types)
                for shelf, types in shelf_types.items()}
    out = {}
    for as_of_ms in as_ofs:
        before = batch["ts_ms"] < as_of_ms
        cohort = cohorts(batch["who"][before], genre[before], n_listeners)
        pop_parts, pair_rows, single_rows = [], [], []
        for shelf, (ent, etype) in resolved.items():
            ok = (ent != None) & before  # noqa: E711
            if not ok.any():
                continue
            frame = pd.DataFrame({"who": batch["who"][ok], "market": batch["market"][ok], "entity": ent[ok],
                                  "entity_type": etype[ok], "ts": batch["ts_ms"][ok]})
            recent = frame[frame["ts"] >= as_of_ms - window_ms].assign(
                in_trend=lambda f: (f["ts"] >= as_of_ms - trend_ms).astype(np.int64))
            # one count per listener and entity, then per market, globally and per taste cohort
            per = recent.groupby(["who", "market", "entity", "entity_type"], sort=False)["in_trend"].max().reset_index()
            by_cohort = pd.Series(cohort[per["who"].to_numpy()], index=per.index, dtype=object)
            for market_col in (per["market"], pd.Series(GLOBAL_MARKET, index=per.index), by_cohort):
                pop_parts.append(per.assign(market=market_col, shelf=shelf, n_window=1)
                                 .rename(columns={"in_trend": "n_trend"})[POP_COLUMNS])
            if shelf in colisten_shelves:
                # the most recent distinct entities per listener, so the cap keeps current taste
                last = frame.sort_values("ts").drop_duplicates(["who", "entity"], keep="last")
                last = last.sort_values(["who", "ts"], ascending=[True, False]).groupby("who", sort=False).head(cap)
                for _, items in last.groupby("who", sort=False)["entity"]:
                    chosen = sorted(items)
                    single_rows.extend((shelf, a) for a in chosen)
                    pair_rows.extend((shelf, a, b) for a, b in combinations(chosen, 2))
        pop = pd.concat(pop_parts, ignore_index=True) if pop_parts else pd.DataFrame(columns=POP_COLUMNS)
        pairs = pd.DataFrame(pair_rows, columns=["shelf", "a", "b"]).assign(n=1)
        singles = pd.DataFrame(single_rows, columns=["shelf", "a"]).assign(n=1)
        out[as_of_ms] = merge_partials([Partials(pop, pairs, singles)])
    return out


def merge_partials(parts) -> Partials:
    """Sum any number of :class:`Partials` (associative and commutative)."""
    parts = list(parts)
    pop = pd.concat([p.pop for p in parts], ignore_index=True)
    pairs = pd.concat([p.pairs for p in parts], ignore_index=True)
    singles = pd.concat([p.singles for p in parts], ignore_index=True)
    pop = (pop.groupby(["shelf", "market", "entity", "entity_type"], sort=False)[["n_window", "n_trend"]].sum()
           .reset_index() if len(pop) else pd.DataFrame(columns=POP_COLUMNS))
    pairs = (pairs.groupby(["shelf", "a", "b"], sort=False)["n"].sum().reset_index()
             if len(pairs) else pd.DataFrame(columns=PAIR_COLUMNS))
    singles = (singles.groupby(["shelf", "a"], sort=False)["n"].sum().reset_index()
               if len(singles) else pd.DataFrame(columns=["shelf", "a", "n"]))
    return Partials(pop, pairs, singles)


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

    def with_item_neighbours(self, table: pd.DataFrame | None, shelves) -> "SideTables":
        """Use the Spark neighbour table (``item_id, neighbour_id, score, method``): its
        ``cooccurrence`` rows replace the in-Beam co-listening of ``shelves`` (same cosine measure,
        computed at scale), its ``als`` rows feed the ALS source. ``None`` leaves everything as is."""
        if table is None:
            return self
        renamed = table.rename(columns={"item_id": "a", "neighbour_id": "b", "score": "sim"})
        cooc = renamed[renamed["method"] == "cooccurrence"][["a", "b", "sim"]].reset_index(drop=True)
        self.neighbours = {**self.neighbours, **{shelf: cooc for shelf in shelves}}
        self.als = renamed[renamed["method"] == "als"][["a", "b", "sim"]].reset_index(drop=True)
        return self

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


def build_side_tables(total: Partials, as_of_ms: int, config: dict) -> SideTables:
    """Turn summed partials into :class:`SideTables` (top lists and cosine neighbours).

    Cosine co-listening: ``sim(a, b) = n_ab / sqrt(n_a * n_b)`` (item-based CF, Sarwar et al.,
    WWW 2001), which damps popular items relative to raw co-occurrence counts.
    """
    top_n = int(config["popularity"]["top_n_per_market"])
    k = int(config["colisten"]["top_n_neighbours"])
    popularity, top, neighbours, entity_types = {}, {}, {}, {}
    for shelf, frame in total.pop.groupby("shelf", sort=False):
        popularity[shelf] = {
            m: (pd.Index(g["entity"].to_numpy(dtype=object)), g["n_window"].to_numpy(dtype=np.float64),
                g["n_trend"].to_numpy(dtype=np.float64))
            for m, g in frame.groupby("market", sort=False)}
        entity_types[shelf] = frame.drop_duplicates("entity").set_index("entity")["entity_type"]
        ranked = frame.sort_values(["market", "n_window", "entity"], ascending=[True, False, True])
        top[shelf] = {m: g["entity"].to_numpy(dtype=object)[:top_n] for m, g in ranked.groupby("market", sort=False)}
    for shelf, pairs in total.pairs.groupby("shelf", sort=False):
        counts = total.singles[total.singles["shelf"] == shelf].set_index("a")["n"]
        both = pd.concat([pairs[["a", "b", "n"]], pairs.rename(columns={"a": "b", "b": "a"})[["a", "b", "n"]]])
        both["sim"] = both["n"] / np.sqrt(counts.reindex(both["a"]).to_numpy(dtype=np.float64)
                                          * counts.reindex(both["b"]).to_numpy(dtype=np.float64))
        both = both.sort_values(["a", "sim", "b"], ascending=[True, False, True])
        neighbours[shelf] = both.groupby("a", sort=False).head(k)[["a", "b", "sim"]].reset_index(drop=True)
    return SideTables(as_of_ms, popularity, top, neighbours, entity_types)
