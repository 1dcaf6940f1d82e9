"""The one feature code path: a listener's candidates -> a float32 feature matrix in spec order.

The daily job and the training-example job both call :func:`compute_features`; nothing else
computes features. It only reads events with ``ts < as_of`` (through ``ListenerState.before``),
so an event at or after ``as_of`` cannot leak into a feature.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.aggregates import GLOBAL_MARKET, SideTables
from transforms.catalog import Catalog, resolve_entities
from transforms.feature_spec import FEATURE_SPECS
from transforms.history import MS_PER_DAY, ListenerState

SKIP_MS = 30_000
SOURCES = ("history", "colisten", "popular", "onboarding")
TOP_GENRES = 5


def weekday(ts_ms):
    """Weekday (Monday=0) of epoch-ms timestamps, UTC. 1970-01-01 was a Thursday (3)."""
    return (np.asarray(ts_ms, dtype=np.int64) // MS_PER_DAY + 3) % 7


def listener_genres(state: ListenerState, hist: dict, catalog: Catalog) -> np.ndarray:
    """Genre codes of a listener: onboarding genres plus the TOP_GENRES most played genres
    (of the played items, or of the context they were played from). int32 array, sorted, unique."""
    codes = [catalog.genre_vocab[g] for g in state.profile.onboarding_genres if g in catalog.genre_vocab]
    if len(hist["item_id"]):
        played = catalog.genre_codes_of(hist["item_id"])
        ctx = catalog.genre_codes_of(hist["context_id"])
        flat = np.concatenate([p if len(p) else c for p, c in zip(played, ctx)] + [np.zeros(0, np.int32)])
        if len(flat):
            counts = np.bincount(flat)
            top = np.argsort(-counts, kind="stable")[:TOP_GENRES]
            codes += [int(c) for c in top if counts[c] > 0]
    return np.unique(np.asarray(codes, dtype=np.int32))


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


def cohort_of(hist: dict, catalog: Catalog) -> str:
    """The taste cohort (see :func:`cohorts`) of one listener's history."""
    genre = catalog.primary_genre_of(hist["item_id"]) if len(hist["item_id"]) else np.zeros(0, np.int64)
    return cohorts(np.zeros(len(genre), dtype=np.int64), genre, 1)[0]


def _intersections(candidate_codes: list[np.ndarray], listener_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(|candidate genres ∩ listener genres|, |candidate genres|) per candidate, float64 and int64,
    computed on one flat array (codes are unique within a candidate)."""
    n = len(candidate_codes)
    lengths = np.fromiter((len(c) for c in candidate_codes), dtype=np.int64, count=n)
    flat = np.concatenate(list(candidate_codes) + [np.zeros(0, np.int32)])
    hits = np.isin(flat, listener_codes).astype(np.int64)
    inter = np.zeros(n)
    nonempty = lengths > 0
    if nonempty.any():
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        inter[nonempty] = np.add.reduceat(hits, starts[nonempty])
    return inter, lengths


def overlap_share(candidate_codes: list[np.ndarray], listener_codes: np.ndarray) -> np.ndarray:
    """Share of each candidate's genres found in ``listener_codes`` (0 for a candidate without genres)."""
    inter, lengths = _intersections(candidate_codes, listener_codes)
    return np.divide(inter, lengths, out=np.zeros(len(inter)), where=lengths > 0)


def jaccard_to(candidate_codes: list[np.ndarray], listener_codes: np.ndarray) -> np.ndarray:
    """Jaccard similarity of each candidate's genre set to the listener's (0 when both are empty)."""
    inter, lengths = _intersections(candidate_codes, listener_codes)
    union = lengths + len(listener_codes) - inter
    return np.divide(inter, union, out=np.zeros(len(inter)), where=union > 0)


def compute_features(shelf: str, state: ListenerState, as_of_ms: int, candidates, sources: dict,
                     catalog: Catalog, side: SideTables, entity_types: list[str]) -> np.ndarray:
    """Feature matrix of one listener's candidates on one shelf.

    Args:
      shelf: a shelf with a spec in :data:`transforms.feature_spec.FEATURE_SPECS`.
      state: the listener (all events; only those before ``as_of_ms`` are read).
      as_of_ms: cut-off, epoch milliseconds UTC.
      candidates: n candidate entity ids (object array).
      sources: source name -> bool array (n,), which candidate source produced each candidate.
      catalog, side: the item table and the population aggregates at ``as_of``.
      entity_types: the item types this shelf draws from (plays are mapped to them).

    Returns:
      float32 array (n, len(spec)), columns in spec order; NaN where a value is missing
      (e.g. ``last_play_days`` of a never-played item).

    Raises KeyError when ``shelf`` has no feature spec.
    """
    spec = FEATURE_SPECS[shelf]
    cand = np.asarray(candidates, dtype=object)
    n = len(cand)
    hist = state.before(as_of_ms)
    ent, _ = resolve_entities(hist["item_id"], hist["item_type"], hist["context_id"], catalog, entity_types)
    age = (as_of_ms - hist["ts_ms"]) / MS_PER_DAY
    pos = pd.Index(cand).get_indexer(ent) if n else np.full(len(ent), -1)
    m = (pos >= 0) & (ent != None)  # noqa: E711

    def count(mask, weights=None):
        sel = m & mask
        return np.bincount(pos[sel], weights=None if weights is None else weights[sel], minlength=n).astype(np.float64)

    every = np.ones(len(ent), dtype=bool)
    f: dict[str, np.ndarray] = {}
    f["plays_7d"] = count(age < 7)
    f["plays_28d"] = count(age < 28)
    f["plays_all"] = plays = count(every)
    f["frecency_7d"] = count(every, np.exp(-age / 7.0))
    last = np.full(n, np.inf)
    np.minimum.at(last, pos[m], age[m])
    f["last_play_days"] = np.where(np.isfinite(last), last, np.nan)

    duration = catalog.lookup(hist["item_id"], "duration_ms").astype(np.float64)
    ratio = np.minimum(hist["ms_played"] / np.where(duration > 0, duration, np.nan), 1.0)
    known = np.isfinite(ratio)
    f["completion_ratio"] = _safe_div(count(known, np.where(known, ratio, 0.0)), count(known))
    ms_known = np.isfinite(hist["ms_played"])
    f["skip_rate"] = _safe_div(count(ms_known & (hist["ms_played"] < SKIP_MS)), count(ms_known))

    daypart = (hist["ts_ms"] // 3_600_000 % 24) // 6
    modal = int(np.argmax(np.bincount(daypart, minlength=4))) if len(daypart) else 0
    f["tod_affinity"] = _safe_div(count(daypart == modal), plays)
    f["dow_affinity"] = _safe_div(count(weekday(hist["ts_ms"]) == weekday([as_of_ms])[0]), plays)

    n_mkt, n_mkt_trend = side.pop_lookup(shelf, state.profile.market, cand)
    n_glob, _ = side.pop_lookup(shelf, GLOBAL_MARKET, cand)
    f["pop_market_log"] = np.log1p(n_mkt)
    f["pop_global_log"] = np.log1p(n_glob)
    f["trend"] = _safe_div(n_mkt_trend, np.maximum(n_mkt, 1.0))
    f["colisten_score"] = colisten_scores(side, shelf, ent[ent != None], cand)  # noqa: E711
    cand_genres = catalog.genre_codes_of(cand)
    f["genre_match"] = jaccard_to(cand_genres, listener_genres(state, hist, catalog))
    onboarding = np.asarray(sorted(catalog.genre_vocab[g] for g in state.profile.onboarding_genres
                                   if g in catalog.genre_vocab), dtype=np.int32)
    f["onboarding_overlap"] = overlap_share(cand_genres, onboarding)
    # genres of what the listener played on this shelf (e.g. their shows' genres for podcasts)
    own = ent[ent != None]  # noqa: E711
    own_codes = np.unique(np.concatenate(catalog.genre_codes_of(own) + [np.zeros(0, np.int32)]))
    f["shelf_genre_overlap"] = overlap_share(cand_genres, own_codes)
    n_cohort, _ = side.pop_lookup(shelf, cohort_of(hist, catalog), cand)
    f["pop_cohort_log"] = np.log1p(n_cohort)

    f["tenure_days"] = np.full(n, state.tenure_days(as_of_ms))
    recent = age < 28
    f["listener_plays_28d"] = np.full(n, float(recent.sum()))
    f["listener_active_days_28d"] = np.full(n, float(len(np.unique(hist["ts_ms"][recent] // MS_PER_DAY))))
    for name in SOURCES:
        f[f"src_{name}"] = np.asarray(sources.get(name, np.zeros(n, dtype=bool)), dtype=np.float64)
    if n == 0:
        return np.zeros((0, len(spec)), dtype=np.float32)
    return np.column_stack([f[feat.name] for feat in spec]).astype(np.float32)


def colisten_scores(side: SideTables, shelf: str, played, candidates) -> np.ndarray:
    """For each candidate, the sum of cosine similarities to the distinct ``played`` entities
    (0 when the shelf has no neighbour table or nothing matches). float64 (n,)."""
    n = len(candidates)
    table = side.neighbours.get(shelf)
    if table is None or table.empty or n == 0 or len(played) == 0:
        return np.zeros(n)
    rows = table[table["a"].isin(pd.unique(np.asarray(played, dtype=object)))]
    sums = rows.groupby("b", sort=False)["sim"].sum()
    return sums.reindex(np.asarray(candidates, dtype=object)).fillna(0.0).to_numpy(dtype=np.float64)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den, NaN where den == 0 (the feature is missing, not zero)."""
    return np.divide(num, den, out=np.full(len(num), np.nan), where=den > 0)
