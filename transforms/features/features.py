"""The one feature code path: candidate rows of a batch of listeners -> a float32 feature matrix.

The daily job and the training-example job both call :func:`batch_features`; nothing else computes
features. It reads a :class:`transforms.listeners.batch.History` cut at ``as_of`` (events with ``ts < as_of``
only), so an event at or after ``as_of`` cannot leak into a feature. Each feature is computed for
all candidate rows of the batch at once: plays are matched to candidate rows by one integer key
``(listener, entity)``, and counts are ``np.bincount`` over that match.

Float sums run in the same order as a per-listener loop would (plays in time order per listener;
neighbour-table rows in table order), so results do not depend on how listeners are batched.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.listeners.aggregates import GLOBAL_MARKET, cohorts
from transforms.listeners.batch import History, take
from transforms.features.feature_spec import FEATURE_SPECS
from transforms.listeners.history import MS_PER_DAY

ACTR_DECAY = 0.5                     # d of the ACT-R base-level activation
ACTR_MIN_AGE_DAYS = 1.0 / 86_400   # a play at as_of minus 0 s would divide by zero: floor at 1 s
SKIP_MS = 30_000
TOP_GENRES = 5


def weekday(ts_ms):
    """Weekday (Monday=0) of epoch-ms timestamps, UTC. 1970-01-01 was a Thursday (3)."""
    return (np.asarray(ts_ms, dtype=np.int64) // MS_PER_DAY + 3) % 7


def _intersections(candidate_codes: list[np.ndarray], listener_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(|candidate genres ∩ listener genres|, |candidate genres|) per candidate, float64 and int64."""
    lengths = np.fromiter((len(c) for c in candidate_codes), dtype=np.int64, count=len(candidate_codes))
    flat = np.concatenate(list(candidate_codes) + [np.zeros(0, np.int32)])
    owner = np.repeat(np.arange(len(candidate_codes)), lengths)
    inter = np.bincount(owner, weights=np.isin(flat, listener_codes).astype(np.float64), minlength=len(lengths))
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


# ------------------------------------------------------------------------------------------
# listener-level facts of a batch, memoised on the History (shared by shelves, sources, rules)


def listener_genres(hist: History) -> np.ndarray:
    """Genre set per listener as sorted unique int64 keys ``who * n_genres + genre``: onboarding
    genres plus the TOP_GENRES most played genres (of the played item, or of the context it was
    played from when the item has none; ties by lower genre code)."""
    def build():
        batch, cb = hist.batch, hist.batch.codebook
        G = max(cb.n_genres, 1)
        item_len = cb.genres.lengths(hist.item)
        src = np.where(item_len > 0, hist.item, hist.context)
        owner, at = cb.genres.expand(src)
        keys = hist.who[owner] * G + cb.genres.values[at].astype(np.int64)
        uniq, counts = np.unique(keys, return_counts=True)
        who = uniq // G
        order = np.lexsort((uniq % G, -counts, who))
        who_sorted = who[order]
        rank = np.arange(len(order)) - np.searchsorted(who_sorted, who_sorted, side="left")
        top = uniq[order][rank < TOP_GENRES]
        onb = np.repeat(np.arange(batch.size, dtype=np.int64), np.diff(batch.onboarding.ptr)) * G \
            + batch.onboarding.values.astype(np.int64)
        return np.unique(np.concatenate([top, onb]))
    return hist.memo("listener_genres", build)


def played_entity_genres(hist: History, types) -> np.ndarray:
    """Genres of the entities each listener played on a shelf (e.g. their shows' genres for
    podcasts): sorted unique keys ``who * n_genres + genre``."""
    def build():
        cb = hist.batch.codebook
        ent, _ = hist.entities(types)
        ok = ent >= 0
        span = hist.batch.span
        pairs = np.unique(hist.who[ok] * span + ent[ok])
        owner, at = cb.genres.expand(pairs % span)
        return np.unique((pairs // span)[owner] * max(cb.n_genres, 1) + cb.genres.values[at].astype(np.int64))
    return hist.memo(("entity_genres", tuple(sorted(types))), build)


def listener_cohorts(hist: History) -> np.ndarray:
    """Taste cohort per listener of the batch (see :func:`cohorts`), object (B,)."""
    return hist.memo("cohorts", lambda: cohorts(hist.who, take(hist.batch.codebook.primary_genre, hist.item, -1),
                                                hist.batch.size))


def neighbour_sums(hist: History, table, types, recent: int | None = None,
                   listeners: np.ndarray | None = None) -> pd.DataFrame:
    """Per listener, the sum of neighbour similarities over the distinct entities they played.

    ``table``: :class:`transforms.listeners.batch.Neighbours` (or None); ``recent``: only the listener's
    ``recent`` most recently played distinct entities (None = all); ``listeners``: bool (B,), the
    batch's listeners to compute (None = all; a listener's sums do not depend on the others).
    Returns a frame ``who``, ``b`` (int64 code), ``sim`` (float64 sum), one row per (listener,
    neighbour); each sum adds the table's rows in table order (pandas' compensated groupby sum), as
    a per-listener filter of the table followed by a groupby would.
    """
    if table is None:
        return _no_sums()
    # co-listening candidates and the colisten_score feature ask for the same sums: compute once
    mask = None if listeners is None else np.asarray(listeners, dtype=bool)
    key = ("neighbour_sums", id(table), tuple(types), recent, None if mask is None else mask.tobytes())
    return hist.memo(key, lambda: _neighbour_sums(hist, table, types, recent, mask))


def _no_sums() -> pd.DataFrame:
    return pd.DataFrame({"who": np.zeros(0, np.int64), "b": np.zeros(0, np.int64), "sim": np.zeros(0)})


def _neighbour_sums(hist: History, table, types, recent: int | None, listeners: np.ndarray | None) -> pd.DataFrame:
    ent, _ = hist.entities(types)
    wanted = ent >= 0
    if listeners is not None:
        # only served listeners: in build-examples those with a label-window play, on playlists new
        # listeners; the expansion below is the cost, so the others are left out before it
        wanted &= listeners[hist.who]
    ok = np.flatnonzero(wanted)
    if not len(ok):
        return _no_sums()
    span = hist.batch.span
    keys = hist.who[ok] * span + ent[ok]
    if recent is None:
        pairs = np.unique(keys)
    else:
        # the most recent distinct entities: order by each entity's last play, newest first
        last = pd.Series(np.arange(len(keys))).groupby(keys).max()
        frame = pd.DataFrame({"key": last.index.to_numpy(), "last": last.to_numpy()})
        frame["who"] = frame["key"] // span
        frame = frame.sort_values(["who", "last"], ascending=[True, False])
        pairs = frame["key"].to_numpy()[frame.groupby("who").cumcount().to_numpy() < recent]
    owner, at = table.csr.expand(pairs % span)
    if not len(owner):
        return _no_sums()
    who = (pairs // span)[owner]
    row = table.row[at]
    # (listener, table row) is unique, so one int64 key orders rows as a sort on both columns would;
    # a single-key groupby then adds each group in that order (pandas' compensated sum) and lists
    # groups by first appearance, as the two-column groupby did, at a fraction of its cost
    order = np.argsort(who * (int(row.max()) + 1) + row)
    group = who[order] * span + table.b[at][order]
    sums = pd.Series(table.sim[at][order]).groupby(group, sort=False).sum()
    key = sums.index.to_numpy(np.int64)
    return pd.DataFrame({"who": key // span, "b": key % span, "sim": sums.to_numpy()})


# ------------------------------------------------------------------------------------------


def batch_features(shelf: str, hist: History, entity_types, who: np.ndarray, codes: np.ndarray,
                   sources: dict[str, np.ndarray], neighbours=None, all_levels: bool = False) -> np.ndarray:
    """Feature matrix of a batch's candidate rows on one shelf.

    Args:
      shelf: a shelf with a spec in :data:`transforms.features.feature_spec.FEATURE_SPECS`.
      hist: the batch's plays before ``as_of`` (``hist.as_of_ms``, epoch ms UTC).
      entity_types: the item types this shelf draws from (plays are mapped to them).
      who: int64 (n,), the listener (row of the batch) of each candidate row.
      codes: int64 (n,), the candidate entity (codebook code); unique within a listener.
      sources: source name -> bool (n,): which candidate sources proposed each row.
      neighbours: the shelf's co-listening table (:class:`transforms.listeners.batch.Neighbours`) or None.
      all_levels: a ``familiar`` shelf: a play counts toward every entity level it has (item,
        context, parent, creator; :meth:`transforms.listeners.batch.History.entity_pairs`) in the per-item
        play features (plays_*, frecency_7d, last_play_days, completion_ratio, skip_rate,
        tod/dow_affinity), as in its candidates and labels; else toward one entity.

    Returns:
      float32 array (n, len(spec)), columns in spec order; NaN where a value is missing
      (e.g. ``last_play_days`` of a never-played item). Raises KeyError for a shelf without a spec.
    """
    spec = FEATURE_SPECS[shelf]
    batch, cb = hist.batch, hist.batch.codebook
    who = np.asarray(who, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    n, as_of_ms = len(codes), hist.as_of_ms
    if n == 0:
        return np.zeros((0, len(spec)), dtype=np.float32)
    span = batch.span
    # (play, entity) pairs: one per play, or on a familiar shelf one per entity level of the play
    play, ent = hist.entity_pairs(entity_types, all_levels)
    age = (as_of_ms - hist.ts_ms) / MS_PER_DAY
    # each (play, entity) pair -> its candidate row (-1 when the entity is not a candidate of that listener)
    cand_keys = who * span + codes
    order = np.argsort(cand_keys, kind="stable")
    play_keys = hist.who[play] * span + ent
    at = np.minimum(np.searchsorted(cand_keys[order], play_keys), n - 1)
    m = cand_keys[order][at] == play_keys
    pos = np.where(m, order[at], -1)

    def count(mask, weights=None):
        """Per candidate row, the plays (masks and weights are per play) that count toward it."""
        sel = m & mask[play]
        return np.bincount(pos[sel], weights=None if weights is None else weights[play][sel],
                           minlength=n).astype(np.float64)

    every = np.ones(len(hist), dtype=bool)
    f: dict[str, np.ndarray] = {}
    f["plays_7d"] = count(age < 7)
    f["plays_28d"] = count(age < 28)
    f["plays_all"] = plays = count(every)
    f["frecency_7d"] = count(every, np.exp(-age / 7.0))
    # ACT-R base-level activation with decay d = 0.5 (Reiter-Haas, Parada-Cabaleiro, Schedl, Motamedi,
    # Tkalcic, Lex: "Predicting Music Relistening Behavior Using the ACT-R Framework", RecSys 2021): the raw
    # sum, not its log, so a never-played item is 0; days instead of seconds scale every value alike
    f["actr_activation"] = count(every, np.maximum(age, ACTR_MIN_AGE_DAYS) ** -ACTR_DECAY)
    last = np.full(n, np.inf)
    np.minimum.at(last, pos[m], age[play][m])
    f["last_play_days"] = np.where(np.isfinite(last), last, np.nan)

    duration = take(cb.duration_ms, hist.item, np.nan)
    ratio = np.minimum(hist.ms_played / np.where(duration > 0, duration, np.nan), 1.0)
    known = np.isfinite(ratio)
    f["completion_ratio"] = _safe_div(count(known, np.where(known, ratio, 0.0)), count(known))
    ms_known = np.isfinite(hist.ms_played)
    f["skip_rate"] = _safe_div(count(ms_known & (hist.ms_played < SKIP_MS)), count(ms_known))

    daypart = (hist.ts_ms // 3_600_000 % 24) // 6
    modal = np.bincount(hist.who * 4 + daypart, minlength=batch.size * 4).reshape(batch.size, 4).argmax(axis=1)
    f["tod_affinity"] = _safe_div(count(daypart == modal[hist.who]), plays)
    f["dow_affinity"] = _safe_div(count(weekday(hist.ts_ms) == weekday([as_of_ms])[0]), plays)

    market_group = cb.group_index(shelf, batch.market)[who]
    n_mkt, n_mkt_trend = cb.pop_lookup(shelf, market_group, codes)
    n_glob, _ = cb.pop_lookup(shelf, np.full(n, cb.group_index(shelf, [GLOBAL_MARKET])[0]), codes)
    f["pop_market_log"] = np.log1p(n_mkt)
    f["pop_global_log"] = np.log1p(n_glob)
    f["trend"] = _safe_div(n_mkt_trend, np.maximum(n_mkt, 1.0))
    if any(feat.name == "colisten_score" for feat in spec):
        sums = neighbour_sums(hist, neighbours, entity_types, listeners=np.bincount(who, minlength=batch.size) > 0)
        f["colisten_score"] = _lookup_pairs(sums["who"].to_numpy() * span + sums["b"].to_numpy(),
                                            sums["sim"].to_numpy(), cand_keys)
    G = max(cb.n_genres, 1)
    owner, gat = cb.genres.expand(codes)
    cand_genre_keys = who[owner] * G + cb.genres.values[gat].astype(np.int64)
    n_cand_genres = cb.genres.lengths(codes)

    def overlap(listener_keys: np.ndarray, jaccard: bool) -> np.ndarray:
        inter = np.bincount(owner, weights=np.isin(cand_genre_keys, listener_keys).astype(np.float64), minlength=n)
        if not jaccard:
            return np.divide(inter, n_cand_genres, out=np.zeros(n), where=n_cand_genres > 0)
        per_listener = np.bincount(listener_keys // G, minlength=batch.size)[who]
        union = n_cand_genres + per_listener - inter
        return np.divide(inter, union, out=np.zeros(n), where=union > 0)

    f["genre_match"] = overlap(listener_genres(hist), True)
    onboarding = np.repeat(np.arange(batch.size, dtype=np.int64), np.diff(batch.onboarding.ptr)) * G \
        + batch.onboarding.values.astype(np.int64)
    f["onboarding_overlap"] = overlap(onboarding, False)
    f["shelf_genre_overlap"] = overlap(played_entity_genres(hist, entity_types), False)
    n_cohort, _ = cb.pop_lookup(shelf, cb.group_index(shelf, listener_cohorts(hist))[who], codes)
    f["pop_cohort_log"] = np.log1p(n_cohort)

    f["tenure_days"] = batch.tenure_days(as_of_ms).astype(np.float64)[who]
    recent = age < 28
    f["listener_plays_28d"] = np.bincount(hist.who[recent], minlength=batch.size).astype(np.float64)[who]
    day = hist.ts_ms[recent] // MS_PER_DAY
    span_days = int(day.max() - day.min() + 1) if len(day) else 1
    active = np.unique(hist.who[recent] * span_days + (day - (day.min() if len(day) else 0)))
    f["listener_active_days_28d"] = np.bincount(active // span_days, minlength=batch.size).astype(np.float64)[who]
    for feat in spec:
        if feat.name.startswith("src_"):
            f[feat.name] = np.asarray(sources.get(feat.name[4:], np.zeros(n, dtype=bool)), dtype=np.float64)
    # filled column by column in float32: a float64 column_stack then astype wrote and read the
    # whole matrix twice over (4% of the 100k daily job's CPU)
    X = np.empty((n, len(spec)), dtype=np.float32)
    for j, feat in enumerate(spec):
        X[:, j] = f[feat.name]
    return X


def _lookup_pairs(keys: np.ndarray, values: np.ndarray, want: np.ndarray) -> np.ndarray:
    """``values`` at ``keys == want`` (0 where absent); ``keys`` unique."""
    if not len(keys):
        return np.zeros(len(want))
    order = np.argsort(keys, kind="stable")
    at = np.minimum(np.searchsorted(keys[order], want), len(keys) - 1)
    return np.where(keys[order][at] == want, values[order][at], 0.0)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den, NaN where den == 0 (the feature is missing, not zero)."""
    return np.divide(num, den, out=np.full(len(num), np.nan), where=den > 0)


__all__ = ["batch_features", "neighbour_sums", "listener_genres", "listener_cohorts", "weekday",
           "jaccard_to", "overlap_share"]
