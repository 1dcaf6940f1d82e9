"""Feature statistics per shelf (DESIGN.md "feature statistics"): one engine-agnostic
implementation plus the Beam CombineFns around it.

Input: a shelf's features frame, as in ``models.serving.home.BatchResult.features[shelf]``: one row per
(listener, candidate) with ``listener_id`` (str) and the shelf's spec columns (float32, NaN =
missing). Other columns (``item_id``, ``candidate_source``, ...) are ignored.

Flow::

    edges = fit_edges_from_frame(training_sample, shelf)      # once, at training time
    acc = merge([accumulate(part, shelf, edges) for part in parts])
    stats = finalize(acc, shelf)                              # JSON-serialisable dict
    write_stats(prefix, stats)

Numeric bins are fixed at training time: the training statistics' ``bin_edges`` are stored with
the model version and serving statistics reuse them, so the two are binned identically (a
single pass cannot know quantiles, so edges are fitted on a sample first; see
:class:`FitBinEdgesCombineFn` / :class:`ComputeFeatureStats` for the Beam version).

Bins: interior edges ``[e0, ..., e_last]`` define ``(-inf, e0), [e0, e1), ..., [e_last, +inf)``.
In the JSON an open end is ``null`` (``lo: null`` / ``hi: null``), because JSON has no infinity.
Frequencies are over non-missing values (``count``); missing values are reported separately as
``missing`` and ``missing_rate = missing / n_rows``. When ``count == 0`` frequencies are ``null``
(nothing to compare, which is not the same as a frequency of 0).

Privacy (k = ``min_listeners``, default 5):

* The finalized output never contains listener ids nor their hashes. Inside the accumulator,
  listeners are 64-bit SipHash values (``pandas.util.hash_array``, fixed key, so equal across
  workers): a full sorted set for the exact ``n_listeners``, and per numeric bin / categorical
  value only the ``listener_cap`` *smallest* hashes (a bottom-k sketch). The bottom-k of a union
  is the bottom-k of the union of bottom-ks, so the sketch merges exactly and tells exactly
  whether a cell has ``>= k`` distinct listeners for any ``k <= listener_cap``.
* Categorical: a value seen by fewer than k distinct listeners is never published; its mass goes
  to ``other`` (the ``__other__`` bucket), as does the mass of eligible values beyond ``top_k``.
* Numeric (choice made here): a bin with fewer than k distinct listeners is **folded into its
  neighbour**, never published alone and never marked as suppressed. Bins are merged left to right
  until the running group reaches k listeners; a short tail joins the last group. Published bins
  therefore still partition the real line (frequencies sum to 1 and every published interval holds
  ``>= k`` listeners). Marking a bin "suppressed" instead would leak its count as
  ``count - sum(published)``. Folded bins are unions of adjacent training bins, so two statistics on
  the same training edges always have a common coarsening: :func:`align_bins` computes it for
  Chebyshev distance. A feature whose non-missing values come from fewer than k listeners in total
  is published as one bin ``(-inf, +inf)`` (only its count, which is published anyway).
* :func:`fit_edges_from_frame` publishes no quantile of a feature seen for fewer than k listeners
  (its edges are ``[]``), since such an edge would be an individual's value.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import apache_beam as beam
import numpy as np
import pandas as pd

from transforms.io import storage
from transforms.config.config_schema import FeatureStats
from transforms.features.feature_spec import FEATURE_SPECS, Feature, spec_fingerprint

BinEdges = dict[str, list[float]]
"""Feature name -> sorted, unique, finite interior bin edges (one shelf's numeric features)."""

OTHER = "__other__"
DEFAULT_N_BINS = 10
DEFAULT_MIN_LISTENERS: int = FeatureStats.model_fields["min_listeners"].default   # config feature_stats.min_listeners
DEFAULT_TOP_K = 20
LISTENER_CAP = 64
"""Size of the per-cell listener sketch; ``finalize(min_listeners=k)`` needs ``k <= listener_cap``."""
DEFAULT_SAMPLE_ROWS = 100_000

_NO_HASHES = np.zeros(0, dtype=np.uint64)
_MAX_HASH = np.iinfo(np.uint64).max


# ---------------------------------------------------------------------------------------- edges

def fit_bin_edges(values, n_bins: int = DEFAULT_N_BINS) -> list[float]:
    """Interior bin edges at the training quantiles ``1/n_bins, ..., (n_bins-1)/n_bins``.

    Args:
      values: array-like of numbers (any shape, flattened); NaN and +-inf are ignored.
      n_bins: the number of bins wanted (>= 1); fewer come back when quantiles coincide.

    Returns:
      Sorted, unique, finite Python floats. Quantiles use ``method="lower"``, so every edge is an
      observed value and a heavy value (e.g. many zeros) starts its own bin ``[v, next)``.
      Special cases: no finite value (empty or all-NaN input) or ``n_bins == 1`` -> ``[]`` (one
      bin, ``(-inf, +inf)``); constant input ``c`` -> ``[c, nextafter(c, +inf)]``, i.e. the bins
      ``(-inf, c)``, ``{c}``, ``(c, +inf)``, so a shift away from the constant in either
      direction is visible.

    Raises ValueError when ``n_bins < 1``.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if len(x) == 0 or n_bins == 1:
        return []
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        return [lo, float(np.nextafter(lo, np.inf))]
    q = np.quantile(x, np.arange(1, n_bins) / n_bins, method="lower")
    return [float(v) for v in np.unique(q)]


def fit_edges_from_frame(frame: pd.DataFrame, shelf: str, n_bins: int = DEFAULT_N_BINS,
                         min_listeners: int = DEFAULT_MIN_LISTENERS) -> BinEdges:
    """:func:`fit_bin_edges` for every numeric feature of ``shelf`` on a (sample of the) training
    features frame.

    A feature whose finite values come from fewer than ``min_listeners`` distinct listeners gets
    ``[]`` (one open bin): its quantiles would be individuals' values. Pass ``min_listeners=0`` to
    fit on any data (e.g. synthetic).

    Returns a :data:`BinEdges` dict with one entry per numeric feature (categorical features have
    no edges). Raises KeyError for a shelf without a spec, ValueError when ``frame`` lacks
    ``listener_id`` or a spec column.
    """
    spec = _spec(shelf)
    _require_columns(frame, shelf, spec)
    X = _feature_matrix(frame, spec)
    return _fit_edges(X, listener_hashes(frame["listener_id"]), spec, n_bins, min_listeners)


def _fit_edges(X: np.ndarray, hashes: np.ndarray, spec, n_bins: int, min_listeners: int) -> BinEdges:
    out: BinEdges = {}
    for j, feat in enumerate(spec):
        if feat.kind != "numeric":
            continue
        finite = np.isfinite(X[:, j])
        if min_listeners > 0 and len(np.unique(hashes[finite])) < min_listeners:
            out[feat.name] = []
        else:
            out[feat.name] = fit_bin_edges(X[finite, j], n_bins)
    return out


def _validated_edges(edges: dict, shelf: str, spec) -> dict[str, tuple[float, ...]]:
    numeric = [f.name for f in spec if f.kind == "numeric"]
    absent = [n for n in numeric if n not in edges]
    if absent:
        raise ValueError(f"bin edges of shelf {shelf!r} lack numeric features {absent}")
    out = {}
    for name in numeric:
        e = np.asarray(list(edges[name]), dtype=np.float64)
        if e.ndim != 1 or not np.isfinite(e).all() or (len(e) > 1 and not (np.diff(e) > 0).all()):
            raise ValueError(f"bin edges of {shelf}.{name} must be finite and strictly increasing: {list(e)}")
        out[name] = tuple(float(v) for v in e)
    return out


# ---------------------------------------------------------------------------------- accumulator

@dataclass
class NumericAcc:
    """One numeric feature: ``counts`` int64 (n_bins,) rows per bin (n_bins = len(edges) + 1);
    ``missing`` NaN rows; ``listeners`` per bin the sorted bottom-``cap`` listener hashes (uint64)."""

    counts: np.ndarray
    missing: int
    listeners: list


@dataclass
class CategoricalAcc:
    """One categorical feature: ``counts`` value label ("0", "1", ...) -> rows; ``missing`` NaN
    rows; ``listeners`` value label -> sorted bottom-``cap`` listener hashes (uint64)."""

    counts: dict
    missing: int
    listeners: dict


@dataclass
class FeatureStatsAcc:
    """Mergeable statistics of one shelf. Holds listener *hashes* only, never ids, and nothing of
    it but counts reaches :func:`finalize`'s output.

    ``listeners`` is the sorted unique uint64 hash set (exact distinct count); hashes added since
    the last compaction wait in ``pending`` (amortises sorting when adding many small frames).
    """

    shelf: str
    edges: dict
    listener_cap: int
    n_rows: int = 0
    listeners: np.ndarray = field(default_factory=lambda: _NO_HASHES)
    pending: list = field(default_factory=list)
    numeric: dict = field(default_factory=dict)
    categorical: dict = field(default_factory=dict)

    def compact(self) -> "FeatureStatsAcc":
        """Fold ``pending`` into ``listeners`` (in place); returns self."""
        if self.pending:
            self.listeners = np.unique(np.concatenate([self.listeners, *self.pending]))
            self.pending = []
        return self

    @property
    def n_listeners(self) -> int:
        return len(self.compact().listeners)


def listener_hashes(ids) -> np.ndarray:
    """Deterministic 64-bit hashes (uint64, same length) of listener ids, compared as strings.

    Stable across processes and workers (SipHash with pandas' fixed key), unlike ``hash()``.
    A collision merges two listeners; at 10**7 listeners its probability is ~3e-6.
    """
    s = pd.Series(np.asarray(ids, dtype=object)).astype(str).to_numpy(dtype=object)
    return pd.util.hash_array(s, categorize=True).astype(np.uint64)


def empty_accumulator(shelf: str, edges: dict, listener_cap: int = LISTENER_CAP) -> FeatureStatsAcc:
    """An accumulator with no rows for ``shelf`` binned on ``edges``.

    Raises KeyError for an unknown shelf; ValueError when ``edges`` misses a numeric feature of the
    spec or has non-finite / unsorted edges, or when ``listener_cap < 1``.
    """
    spec = _spec(shelf)
    if listener_cap < 1:
        raise ValueError(f"listener_cap must be >= 1, got {listener_cap}")
    e = _validated_edges(edges, shelf, spec)
    acc = FeatureStatsAcc(shelf=shelf, edges=e, listener_cap=int(listener_cap))
    for f in spec:
        if f.kind == "numeric":
            nb = len(e[f.name]) + 1
            acc.numeric[f.name] = NumericAcc(np.zeros(nb, dtype=np.int64), 0, [_NO_HASHES] * nb)
        else:
            acc.categorical[f.name] = CategoricalAcc({}, 0, {})
    return acc


def accumulate(frame: pd.DataFrame, shelf: str, edges: dict | None = None, *,
               listener_cap: int = LISTENER_CAP) -> FeatureStatsAcc:
    """Statistics of one features frame of ``shelf``.

    Args:
      frame: rows = (listener, candidate); needs ``listener_id`` and every spec column of the
        shelf (float32 or any numeric dtype; NaN = missing). Extra columns are ignored.
      shelf: the shelf whose spec applies.
      edges: :data:`BinEdges` to bin numeric features on (serving: the stored training edges).
        ``None`` fits them on ``frame`` itself (:func:`fit_edges_from_frame`), which is only right
        when ``frame`` is the whole training set: accumulators with different edges cannot merge.
      listener_cap: size of the per-cell listener sketch (see module doc).

    Raises KeyError for an unknown shelf; ValueError for a frame missing ``listener_id`` or a spec
    column, or invalid edges.
    """
    spec = _spec(shelf)
    _require_columns(frame, shelf, spec)
    if edges is None:
        edges = fit_edges_from_frame(frame, shelf)
    acc = empty_accumulator(shelf, edges, listener_cap)
    return add_frame(acc, frame)


def add_frame(acc: FeatureStatsAcc, frame: pd.DataFrame) -> FeatureStatsAcc:
    """Add one features frame to ``acc`` in place (binned on ``acc.edges``); returns ``acc``.

    Raises ValueError for a frame missing ``listener_id`` or a spec column.
    """
    spec = _spec(acc.shelf)
    _require_columns(frame, acc.shelf, spec)
    if len(frame) == 0:
        return acc
    h = listener_hashes(frame["listener_id"])
    acc.n_rows += len(frame)
    acc.pending.append(np.unique(_run_heads(h)))
    if sum(len(p) for p in acc.pending) > max(len(acc.listeners), 1 << 16):
        acc.compact()
    cap = acc.listener_cap
    X = _feature_matrix(frame, spec)
    for j, feat in enumerate(spec):
        x = X[:, j]
        present = ~np.isnan(x)
        xs, hs = x[present], h[present]
        if feat.kind == "numeric":
            num = acc.numeric[feat.name]
            edges = np.asarray(acc.edges[feat.name], dtype=np.float64)
            b = np.searchsorted(edges, xs, side="right")  # x < e0 -> 0; e_i <= x < e_i+1 -> i+1
            num.counts += np.bincount(b, minlength=len(edges) + 1)
            num.missing += int((~present).sum())
            _bottom_k_update(num.listeners, b, hs, cap)
        else:
            cat = acc.categorical[feat.name]
            cat.missing += int((~present).sum())
            uniq, inv = np.unique(xs, return_inverse=True)
            counts = np.bincount(inv, minlength=len(uniq))
            labels = [value_label(v) for v in uniq]
            sketches = [cat.listeners.get(label, _NO_HASHES) for label in labels]
            _bottom_k_update(sketches, inv, hs, cap)
            for k, label in enumerate(labels):
                cat.counts[label] = cat.counts.get(label, 0) + int(counts[k])
                cat.listeners[label] = sketches[k]
    return acc


def merge(accs: Iterable[FeatureStatsAcc]) -> FeatureStatsAcc:
    """One accumulator holding the union of ``accs`` (new object; inputs are not modified).

    Exact: merging the accumulators of the parts of a dataset finalizes to the same dict as the
    accumulator of the whole. The listener cap of the result is the smallest of the inputs.

    Raises ValueError for an empty iterable or accumulators of different shelves or edges.
    """
    accs = list(accs)
    if not accs:
        raise ValueError("merge needs at least one accumulator")
    first = accs[0]
    for a in accs[1:]:
        if a.shelf != first.shelf:
            raise ValueError(f"cannot merge statistics of shelves {first.shelf!r} and {a.shelf!r}")
        if a.edges != first.edges:
            raise ValueError(f"cannot merge statistics of shelf {first.shelf!r} binned on different edges")
    cap = min(a.listener_cap for a in accs)
    out = empty_accumulator(first.shelf, first.edges, cap)
    out.n_rows = sum(a.n_rows for a in accs)
    out.listeners = np.unique(np.concatenate([_NO_HASHES] + [a.listeners for a in accs]
                                             + [p for a in accs for p in a.pending]))
    for name, num in out.numeric.items():
        parts = [a.numeric[name] for a in accs]
        num.counts = np.sum([p.counts for p in parts], axis=0).astype(np.int64)
        num.missing = sum(p.missing for p in parts)
        num.listeners = [_capped_union([p.listeners[i] for p in parts], cap) for i in range(len(num.counts))]
    for name, cat in out.categorical.items():
        parts = [a.categorical[name] for a in accs]
        cat.missing = sum(p.missing for p in parts)
        for p in parts:
            for label, c in p.counts.items():
                cat.counts[label] = cat.counts.get(label, 0) + c
        cat.listeners = {label: _capped_union([p.listeners.get(label, _NO_HASHES) for p in parts], cap)
                         for label in cat.counts}
    return out


# ------------------------------------------------------------------------------------- finalize

def finalize(acc: FeatureStatsAcc, shelf: str, min_listeners: int = DEFAULT_MIN_LISTENERS,
             top_k: int = DEFAULT_TOP_K) -> dict:
    """The publishable statistics of ``acc`` (JSON-serialisable, no listener ids or hashes).

    Returns::

      {"shelf", "fingerprint" (spec_fingerprint), "n_rows", "n_listeners", "min_listeners", "top_k",
       "bin_edges": {numeric feature: [edges]},
       "features": {name: {"kind": "numeric"|"categorical", "count" (non-missing rows), "missing",
                           "missing_rate" (missing / n_rows, 0.0 when n_rows == 0),
                           numeric: "bins": [{"lo", "hi", "count", "freq"}]   (lo/hi null = open),
                           categorical: "values": {label: freq}, "other": freq}}}

    Frequencies are count / non-missing count (``null`` when that is 0). Privacy rules (module
    doc): numeric bins with < ``min_listeners`` distinct listeners are folded into neighbours;
    categorical values with < ``min_listeners`` listeners, or beyond the ``top_k`` most frequent,
    go to ``other``. ``min_listeners=0`` publishes every training bin (no privacy: tests only).

    Raises KeyError for an unknown shelf; ValueError when ``shelf`` is not ``acc``'s shelf,
    ``min_listeners`` is negative or above ``acc.listener_cap``, or ``top_k < 0``.
    """
    spec = _spec(shelf)
    if shelf != acc.shelf:
        raise ValueError(f"accumulator is for shelf {acc.shelf!r}, not {shelf!r}")
    if not 0 <= min_listeners <= acc.listener_cap:
        raise ValueError(f"min_listeners must be in [0, listener_cap={acc.listener_cap}], got {min_listeners}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    n_rows = int(acc.n_rows)
    features = {}
    for feat in spec:
        if feat.kind == "numeric":
            num = acc.numeric[feat.name]
            count = int(num.counts.sum())
            body = {"bins": _fold_bins(num, acc.edges[feat.name], count, min_listeners, acc.listener_cap)}
            missing = int(num.missing)
        else:
            cat = acc.categorical[feat.name]
            count = int(sum(cat.counts.values()))
            body = _top_values(cat, count, min_listeners, top_k)
            missing = int(cat.missing)
        features[feat.name] = {"kind": feat.kind, "count": count, "missing": missing,
                               "missing_rate": missing / n_rows if n_rows else 0.0, **body}
    return {
        "shelf": shelf,
        "fingerprint": spec_fingerprint(shelf),
        "n_rows": n_rows,
        "n_listeners": int(acc.n_listeners),
        "min_listeners": int(min_listeners),
        "top_k": int(top_k),
        "bin_edges": {name: list(e) for name, e in acc.edges.items()},
        "features": features,
    }


def _fold_bins(num: NumericAcc, edges: tuple, total: int, k: int, cap: int) -> list[dict]:
    """Group adjacent bins left to right until each group has >= k distinct listeners; a short
    tail joins the last group (one group when the whole feature has < k listeners)."""
    groups: list[list] = []  # [first bin, end bin (exclusive), count, listener sketch]
    cur = None
    for i in range(len(num.counts)):
        c, ls = int(num.counts[i]), num.listeners[i]
        cur = [i, i + 1, c, ls] if cur is None else [cur[0], i + 1, cur[2] + c, _capped_union([cur[3], ls], cap)]
        if len(cur[3]) >= k:
            groups.append(cur)
            cur = None
    if cur is not None:
        if groups:
            last = groups[-1]
            groups[-1] = [last[0], cur[1], last[2] + cur[2], _capped_union([last[3], cur[3]], cap)]
        else:
            groups.append(cur)
    n_edges = len(edges)
    return [{"lo": float(edges[s - 1]) if s > 0 else None,
             "hi": float(edges[e - 1]) if e <= n_edges else None,
             "count": c, "freq": c / total if total else None} for s, e, c, _ in groups]


def _top_values(cat: CategoricalAcc, total: int, k: int, top_k: int) -> dict:
    eligible = [v for v in cat.counts if len(cat.listeners.get(v, _NO_HASHES)) >= k]
    eligible.sort(key=lambda v: (-cat.counts[v], v))
    top = eligible[:top_k]
    if not total:
        return {"values": {}, "other": None}
    published = sum(cat.counts[v] for v in top)
    return {"values": {v: cat.counts[v] / total for v in top}, "other": (total - published) / total}


def distribution(feature_stats: dict) -> dict[str, float]:
    """A finalized feature's normalized frequencies as one mapping: categorical values plus
    ``"__other__"``; numeric bins labelled ``"[lo, hi)"`` (``-inf``/``inf`` for open ends).
    Empty when the feature had no non-missing value."""
    if not feature_stats.get("count"):
        return {}
    if feature_stats["kind"] == "categorical":
        return {**feature_stats["values"], OTHER: feature_stats["other"]}
    return {_interval_label(b["lo"], b["hi"]): b["freq"] for b in feature_stats["bins"]}


def align_bins(a_bins: list[dict], b_bins: list[dict]) -> tuple[list[tuple], list[float], list[float]]:
    """Common support of two finalized numeric bin lists (e.g. training vs serving on the same
    training edges, possibly folded differently): the coarsest partition both refine, i.e. the
    boundaries present in both.

    Returns ``(intervals, p, q)``: ``intervals`` a list of ``(lo, hi)`` (None = open end), ``p``
    and ``q`` the normalized frequencies of a and b on them (empty lists when either side has no
    non-missing value: nothing to compare).
    """
    cuts = sorted(_cuts(a_bins) & _cuts(b_bins))
    bounds = [None, *cuts, None]
    intervals = list(zip(bounds[:-1], bounds[1:]))

    def coarsen(bins):
        total = sum(b["count"] for b in bins)
        counts = np.zeros(len(intervals), dtype=np.int64)
        for b in bins:
            counts[0 if b["lo"] is None else int(np.searchsorted(cuts, b["lo"], side="right"))] += b["count"]
        return total, [c / total for c in counts.tolist()] if total else []

    ta, p = coarsen(a_bins)
    tb, q = coarsen(b_bins)
    if not ta or not tb:
        return intervals, [], []
    return intervals, p, q


def _cuts(bins: list[dict]) -> set:
    return {b["lo"] for b in bins if b["lo"] is not None}


def _interval_label(lo, hi) -> str:
    return f"[{'-inf' if lo is None else repr(lo)}, {'inf' if hi is None else repr(hi)})"


def value_label(v: float) -> str:
    """The published label of a categorical code: ``1.0 -> "1"``, ``0.5 -> "0.5"``."""
    v = float(v)
    return str(int(v)) if v.is_integer() else repr(v)


def stats_path(path_prefix: str, shelf: str) -> str:
    """Where :func:`write_stats` puts a shelf's statistics: ``{path_prefix}/{shelf}.json``."""
    return storage.join(path_prefix, f"{shelf}.json")


def write_stats(path_prefix: str, stats: dict) -> str:
    """Write finalized ``stats`` as JSON to :func:`stats_path` (local or ``gs://``); returns the path.

    Raises KeyError when ``stats`` has no ``"shelf"``.
    """
    path = stats_path(path_prefix, stats["shelf"])
    storage.write_json(path, stats)
    return path


# ------------------------------------------------------------------------------------- helpers

def _spec(shelf: str) -> tuple[Feature, ...]:
    try:
        return FEATURE_SPECS[shelf]
    except KeyError:
        raise KeyError(f"no feature spec for shelf {shelf!r}") from None


def _require_columns(frame: pd.DataFrame, shelf: str, spec) -> None:
    missing = [c for c in ["listener_id", *(f.name for f in spec)] if c not in frame.columns]
    if missing:
        raise ValueError(f"features frame of shelf {shelf!r} lacks columns {missing}")


def _feature_matrix(frame: pd.DataFrame, spec) -> np.ndarray:
    """float64 (n, len(spec)); float32 inputs convert exactly, so binning matches the edges."""
    return frame[[f.name for f in spec]].to_numpy(dtype=np.float64, na_value=np.nan)


def _run_heads(h: np.ndarray) -> np.ndarray:
    """``h`` without the repeats of consecutive equal values. Feature frames come grouped by
    listener, so this shrinks the listener hashes to about one per listener before sorting."""
    if len(h) < 2:
        return h
    return h[np.concatenate(([True], h[1:] != h[:-1]))]


def _bottom_k_update(sketches: list, cells: np.ndarray, hashes: np.ndarray, cap: int) -> None:
    """Fold row ``r``'s hash ``hashes[r]`` into the bottom-``cap`` sketch ``sketches[cells[r]]``,
    in place (``cells`` int (n,), ``hashes`` uint64 (n,)); same result as one
    :func:`_capped_union` per cell over all its rows.

    Why the threshold: once a sketch is full, only a hash at or below its largest can enter it,
    so after the first frames almost every row is dropped by one vectorised comparison, and only
    the few survivors are sorted (by cell, then hash) and merged cell by cell.
    """
    if len(cells) == 0:
        return
    top = np.array([s[cap - 1] if len(s) >= cap else _MAX_HASH for s in sketches], dtype=np.uint64)
    keep = hashes <= top[cells]
    if not keep.any():
        return
    c, h = np.asarray(cells)[keep], hashes[keep]
    order = np.lexsort((h, c))
    c, h = c[order], h[order]
    starts = np.flatnonzero(np.concatenate(([True], c[1:] != c[:-1])))
    ends = np.append(starts[1:], len(c))
    for s, e in zip(starts, ends):
        cell = int(c[s])
        sketches[cell] = _capped_union([sketches[cell], h[s:e]], cap)


def _capped_union(parts: list, cap: int) -> np.ndarray:
    """The ``cap`` smallest distinct hashes of the union of ``parts`` (sorted uint64)."""
    return np.unique(np.concatenate([_NO_HASHES, *parts]).astype(np.uint64))[:cap]


# ----------------------------------------------------------------------------------------- Beam

class FeatureStatsCombineFn(beam.CombineFn):
    """Beam wrapper of :func:`accumulate` / :func:`merge` / :func:`finalize`.

    Elements are features DataFrames of ``shelf`` (e.g. ``BatchResult.features[shelf]``); the
    output is :func:`finalize`'s dict. Edges come from the constructor (serving: the training
    statistics' ``bin_edges``) or from an ``edges`` side input, which takes precedence::

        frames | beam.CombineGlobally(FeatureStatsCombineFn(shelf), edges=beam.pvalue.AsSingleton(e))

    Raises (at construction) KeyError for an unknown shelf, ValueError for invalid edges or
    ``min_listeners > listener_cap``; ValueError at run time when no edges were given at all.
    """

    def __init__(self, shelf: str, edges: dict | None = None, min_listeners: int = DEFAULT_MIN_LISTENERS,
                 top_k: int = DEFAULT_TOP_K, listener_cap: int = LISTENER_CAP):
        spec = _spec(shelf)
        if not 0 <= min_listeners <= listener_cap:
            raise ValueError(f"min_listeners must be in [0, listener_cap={listener_cap}], got {min_listeners}")
        self.shelf, self.min_listeners, self.top_k, self.listener_cap = shelf, min_listeners, top_k, listener_cap
        self.edges = None if edges is None else {k: list(v) for k, v in _validated_edges(edges, shelf, spec).items()}

    def create_accumulator(self, *args, edges=None, **kwargs):
        edges = edges if edges is not None else self.edges
        if edges is None:
            raise ValueError(f"FeatureStatsCombineFn({self.shelf!r}) needs bin edges: pass the training "
                             "edges, or fit them with FitBinEdgesCombineFn / ComputeFeatureStats")
        return empty_accumulator(self.shelf, edges, self.listener_cap)

    def add_input(self, mutable_accumulator, element, *args, **kwargs):
        return add_frame(mutable_accumulator, as_frame(element))

    def merge_accumulators(self, accumulators, *args, **kwargs):
        return merge(accumulators)

    def compact(self, accumulator, *args, **kwargs):
        return accumulator.compact()

    def extract_output(self, accumulator, *args, **kwargs):
        return finalize(accumulator, self.shelf, self.min_listeners, self.top_k)


@dataclass
class _Sample:
    row_hash: np.ndarray  # uint64 (n,)
    listener_hash: np.ndarray  # uint64 (n,)
    X: np.ndarray  # float64 (n, len(spec))


class FitBinEdgesCombineFn(beam.CombineFn):
    """Training bin edges in Beam: keeps a deterministic uniform sample of at most ``sample_rows``
    rows (the rows with the smallest hashes of their content, so the sample of merged parts equals
    the sample of the whole) and fits :func:`fit_edges_from_frame`-equivalent edges on it.
    Output: a :data:`BinEdges` dict. Holds no listener ids (only hashes, which are not output).
    """

    def __init__(self, shelf: str, n_bins: int = DEFAULT_N_BINS, sample_rows: int = DEFAULT_SAMPLE_ROWS,
                 min_listeners: int = DEFAULT_MIN_LISTENERS):
        self.spec = _spec(shelf)
        if sample_rows < 1:
            raise ValueError(f"sample_rows must be >= 1, got {sample_rows}")
        self.shelf, self.n_bins, self.sample_rows, self.min_listeners = shelf, n_bins, sample_rows, min_listeners

    def create_accumulator(self, *args, **kwargs):
        return _Sample(_NO_HASHES, _NO_HASHES, np.zeros((0, len(self.spec))))

    def add_input(self, mutable_accumulator, element, *args, **kwargs):
        element = as_frame(element)
        _require_columns(element, self.shelf, self.spec)
        if len(element) == 0:
            return mutable_accumulator
        cols = ["listener_id", *(f.name for f in self.spec)]
        row_hash = pd.util.hash_pandas_object(element[cols], index=False).to_numpy(dtype=np.uint64)
        new = _Sample(row_hash, listener_hashes(element["listener_id"]), _feature_matrix(element, self.spec))
        return self._bottom([mutable_accumulator, new])

    def merge_accumulators(self, accumulators, *args, **kwargs):
        return self._bottom(list(accumulators))

    def extract_output(self, accumulator, *args, **kwargs):
        return _fit_edges(accumulator.X, accumulator.listener_hash, self.spec, self.n_bins, self.min_listeners)

    def _bottom(self, samples: list) -> _Sample:
        rh = np.concatenate([s.row_hash for s in samples])
        lh = np.concatenate([s.listener_hash for s in samples])
        X = np.concatenate([s.X for s in samples])
        if len(rh) > self.sample_rows:
            # ties are rows of identical content, so which of them is kept does not matter
            keep = np.argsort(rh, kind="stable")[:self.sample_rows]
            rh, lh, X = rh[keep], lh[keep], X[keep]
        return _Sample(rh, lh, X)


def as_frame(value) -> pd.DataFrame:
    """A features batch as a DataFrame: a DataFrame as is, an Arrow table converted, a spilled
    block (:mod:`transforms.io.spill`) read back first."""
    from transforms.io.spill import load_block

    value = load_block(value)
    return value if isinstance(value, pd.DataFrame) else value.to_pandas()


class ComputeFeatureStats(beam.PTransform):
    """PCollection of one shelf's features (DataFrames, Arrow tables or spilled blocks) ->
    PCollection of one statistics dict.

    ``edges=None`` (training examples) first fits edges with :class:`FitBinEdgesCombineFn` and
    feeds them as a side input; serving passes the stored training ``bin_edges``. The two-pass
    case needs its input twice, and Beam's local runner would keep all of it in memory in
    between; with ``spill_dir`` each batch is written there once and only handles are kept.
    """

    def __init__(self, shelf: str, edges: dict | None = None, min_listeners: int = DEFAULT_MIN_LISTENERS,
                 top_k: int = DEFAULT_TOP_K, n_bins: int = DEFAULT_N_BINS,
                 sample_rows: int = DEFAULT_SAMPLE_ROWS, spill_dir: str | None = None):
        super().__init__()
        self.shelf, self.edges, self.min_listeners, self.top_k = shelf, edges, min_listeners, top_k
        self.n_bins, self.sample_rows, self.spill_dir = n_bins, sample_rows, spill_dir

    def expand(self, batches):
        # the CombineFns take frames, Arrow tables or spill handles (as_frame), and a handle is
        # read back only inside add_input: a combine with a side input is not lifted, so its
        # grouping holds every input until the side input is ready -- handles, not feature rows
        combine = FeatureStatsCombineFn(self.shelf, self.edges, self.min_listeners, self.top_k)
        if self.edges is not None:
            return batches | "Stats" >> beam.CombineGlobally(combine)
        if self.spill_dir:
            from transforms.io.spill import spill_block

            folder = self.spill_dir
            batches = batches | "Spill" >> beam.Map(lambda b: spill_block(b, folder, 0))
        edges = batches | "FitEdges" >> beam.CombineGlobally(
            FitBinEdgesCombineFn(self.shelf, self.n_bins, self.sample_rows, self.min_listeners))
        # Beam's default for an empty input calls the CombineFn with the unresolved side-input
        # object, so the empty case is handled here, with the edges resolved.
        stats = batches | "Stats" >> beam.CombineGlobally(
            combine, edges=beam.pvalue.AsSingleton(edges)).without_defaults()
        shelf, k, top_k = self.shelf, self.min_listeners, self.top_k

        def one(_, found, fitted):
            return found[0] if found else finalize(empty_accumulator(shelf, fitted), shelf, k, top_k)

        return (batches.pipeline | "Once" >> beam.Create([None])
                | "DefaultIfEmpty" >> beam.Map(one, beam.pvalue.AsList(stats), beam.pvalue.AsSingleton(edges)))


__all__ = ["BinEdges", "OTHER", "LISTENER_CAP", "fit_bin_edges", "fit_edges_from_frame", "FeatureStatsAcc",
           "NumericAcc", "CategoricalAcc", "listener_hashes", "empty_accumulator", "accumulate", "add_frame",
           "merge", "finalize", "distribution", "align_bins", "value_label", "stats_path", "write_stats",
           "FeatureStatsCombineFn", "FitBinEdgesCombineFn", "ComputeFeatureStats", "as_frame"]
