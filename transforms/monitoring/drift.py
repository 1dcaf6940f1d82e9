"""Skew and drift between two feature statistics (DESIGN.md "skew", "drift", "Chebyshev distance").

Pure and engine-agnostic: the inputs are :func:`transforms.features.feature_stats.finalize` dicts of one
shelf (as read back from ``<shelf>.json``), the outputs are plain JSON-ready records.

* **skew**: training statistics (``p``) against one day's serving statistics (``q``);
* **drift**: an earlier day's serving statistics (``p``, the baseline) against day D's (``q``).

The distance: Chebyshev / L-infinity
-------------------------------------
``linf(p, q) = max_i |p_i - q_i|`` over the normalized frequencies of the two sides on a common
support. These are the semantics of TensorFlow Data Validation's L_INFTY comparator: the schema's
``FeatureComparator.infinity_norm.threshold`` (tensorflow_metadata ``InfinityNorm``: "the
L-infinity norm ... between the two discrete distributions ... only considers the top k.
L_infty(p,q) = max_i |p_i-q_i|"), set per feature as
``tfdv.get_feature(schema, f).skew_comparator.infinity_norm.threshold`` (training vs serving) or
``.drift_comparator.infinity_norm.threshold`` (previous vs current span); ``tfdv.validate_statistics``
raises ``COMPARATOR_L_INFTY_HIGH`` ("The Linfty distance between serving and training is X ...,
above the threshold T. The feature value with maximum difference is: V") when ``linf > T``. Values
are taken over the union of both sides' values, a value absent on one side counting 0 there.
Like TFDV we report the distance and the value where the maximum is reached (``argmax``); we also
report both frequencies there (``p``, ``q``), both sample sizes (``n_p``, ``n_q``: non-missing
rows) and the threshold, so an alert is readable on its own. TFDV aims L-infinity at
categorical features (numeric ones get its Jensen-Shannon comparator); here numeric features
are compared the same way on their training bins (DESIGN.md), which makes the distance the
largest move of probability mass into or out of one bin.

* categorical features: the published top-k values plus ``"__other__"`` (union support, missing
  keys = 0, as in TFDV). A value in one side's top-k but folded into the other side's ``other`` is
  counted at 0 there; with ``top_k = 20`` this can only matter for a value of small mass (every
  feature of the current spec is binary, so it never does).
* numeric features: the training bin edges. Both sides must carry the same ``bin_edges`` (serving
  reuses the training edges); bins folded differently for privacy are compared on their common
  coarsening (:func:`transforms.features.feature_stats.align_bins`).

A feature that cannot be compared is **never reported as 0**: its record has ``value = None``,
``status = "not_compared"`` and a ``reason`` (:data:`REASONS`).

Thresholds, from the sampling noise
-----------------------------------
The alert rule is ``value > threshold`` where, for every feature,
``threshold = max(configured threshold, noise_bound(n_p, n_q, K, noise_alpha))``.

*Noise bound.* For two independent samples of the same law, each cell's difference
``p_i - q_i`` is a sum of bounded independent terms, so Hoeffding's inequality gives
``P(|p_i - q_i| > t) <= 2 exp(-2 t^2 / (1/n_p + 1/n_q))``; a union bound over the ``K`` cells
of the support gives the DKW-like two-sample bound

    P(linf > t) <= alpha   for   t = sqrt(ln(2K / alpha) / 2 * (1/n_p + 1/n_q)).

The rows of a shelf are (listener, candidate) pairs and are *not* independent: one listener
contributes up to ``max_candidates`` rows, and listener-level features (``tenure_days``,
``listener_plays_28d``) repeat one value on all of them. The independent units are listeners, so
``n`` is the number of listeners behind the feature's non-missing values, estimated as
``n_listeners * count / n_rows`` (the shelf's distinct listeners times the feature's non-missing
share). Hoeffding's worst-case variance (1/4 per unit) leaves room for unequal cluster sizes:
simulated listener-clustered samples (Pareto cluster sizes up to 200 rows, each listener with its
own Dirichlet(0.2) distribution over 10 cells, the worst case of a listener-level feature) have
99th percentiles of ``linf`` of 0.12 / 0.065 / 0.036 at 300 / 1,000 / 3,000 listeners a side,
below the bound at alpha = 0.01 (0.159 / 0.087 / 0.050); ``tests/test_drift.py`` checks the bound
by Monte Carlo.

*alpha.* One daily run makes about 100 comparisons (3 shelves x up to 17 features x skew and
drift). ``noise_alpha = 0.001`` per comparison bounds the chance of *any* false alarm on a day
without real change by about 10% (Bonferroni on a conservative bound; much less in practice).

*Configured defaults.* ``0.1`` for numeric and categorical features: the noise bound at
``K = 10`` training deciles and alpha = 0.001 is 0.0995 for 1,000 listeners per side, so on any
shelf with at least ~1,000 listeners a side the configured threshold governs and random
fluctuation alone fires with probability < 0.1% per feature; smaller shelves (e.g. the new-listener
``playlists`` shelf, ~700 listeners a day on 30Music) get the larger noise floor automatically
instead of alerting on noise. 0.1 is also a practical effect size: with decile training bins
(mass ~0.1 each) it means a bin doubled or emptied; for a binary feature, a 10-point move of its
share. At production scale (10^6 listeners, noise ~0.003) smaller shifts are detectable: lower
a feature's threshold in config where a smaller move matters.

*Measured* (README "Drift and skew"). 30Music, served features of 2014-11-15 on the training
edges: two random halves of the shortcuts listeners (5,069 a side) differ by at most 0.017 on any
feature over 5 splits (bound 0.044); 2014-11-15 against 2014-11-16 by at most 0.012 (shortcuts)
and 0.072 (``playlists.trend``, 441 new listeners a day, noise floor 0.149). Synthetic data, two
halves of 1,173 listeners (585 a side): at most 0.052 (``listener_plays_28d``, a listener-level feature). A
planted change of 30% of the synthetic listeners' time-of-day habit moves ``tod_affinity`` by
0.17 and no other feature by more than 0.013.

*Dataset level.* ``example_count_change`` (drift only; training sets may span several ``as_of``
dates): ``(n_rows_q - n_rows_p) / n_rows_p``, alert when its absolute value exceeds
``max_count_change`` (0.5: a day with 50% more or fewer candidate rows than the baseline).
``missing_rate_increase`` (skew and drift, per feature): ``missing_rate_q - missing_rate_p``, alert
when it exceeds ``max_missing_rate_increase`` (0.1 = 10 points). Both are fixed. The two-sample standard
deviation of a rate difference, ``sqrt(r(1-r)(1/n_p + 1/n_q))``, is at most 0.022 at 1,000
listeners a side, so 10 points is >= 4.5 standard deviations; a row count is a business figure
(active listeners x candidates), not a sample, so its threshold is a product choice.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from transforms.config.config import merged
from transforms.config.config_schema import Drift
from transforms.features.feature_spec import FEATURE_SPECS
from transforms.features.feature_stats import OTHER, align_bins

COMPARISONS = ("skew", "drift")
METRIC = "linf"
DATASET = "__dataset__"
"""``feature`` of shelf-level (dataset) anomaly records."""
EXAMPLE_COUNT_CHANGE = "example_count_change"
MISSING_RATE_INCREASE = "missing_rate_increase"

COMPARED = "compared"
NOT_COMPARED = "not_compared"
REASONS = {
    "missing_on_one_side": "the feature (or the shelf's statistics file) is missing on one side (or both)",
    "no_data": "no non-missing value (count 0) on at least one side",
    "kind_changed": "numeric on one side, categorical on the other",
    "edges_differ": "numeric bins on different edges: not binned on the same training edges",
    "single_bin": "the common support has one cell (no training edges, or privacy folding merged "
                  "every bin): the distance would be 0 by construction",
    "no_training_stats": "no training statistics for the shelf (skew needs the production model's)",
}
"""Why a feature was not compared (``reason`` of a ``not_compared`` record)."""

RECORD_FIELDS = ("feature", "shelf", "comparison", "metric", "value", "threshold", "argmax", "p", "q",
                 "n_p", "n_q", "alert", "status", "reason")
"""Every record (feature distance or dataset anomaly) has exactly these keys."""

DEFAULT_DRIFT_CONFIG: dict = Drift().model_dump()
"""Defaults of the ``drift:`` config section, from the schema (:class:`transforms.config.config_schema.Drift`);
:func:`drift_config` deep-merges ``config["drift"]`` over it."""

_TIE = 1e-12


# ----------------------------------------------------------------------------------- distance

@dataclass(frozen=True)
class LInf:
    """Result of :func:`chebyshev`: ``value = |p - q|`` at ``argmax``, with both frequencies there."""

    value: float
    argmax: str
    p: float
    q: float


def chebyshev(p: Mapping[str, float], q: Mapping[str, float], order: Sequence[str] | None = None) -> LInf:
    """Chebyshev (L-infinity) distance between two normalized frequency mappings.

    The support is the union of keys; a key missing on one side has frequency 0 there (TFDV's
    ``L_INFTY`` semantics, see the module doc). ``value = max_k |p_k - q_k|``; ``argmax`` is the
    key where it is reached, ``p`` and ``q`` the two frequencies there.

    Args:
      p, q: key -> frequency (each normalized by the caller; not re-normalized here).
      order: tie-break order of the keys (e.g. bin order); ties (equal within 1e-12) go to the
        first key in ``order``, keys not in ``order`` after it in sorted order. Default: sorted.

    Raises ValueError when either side is empty (a distance to nothing is not 0: the caller
    reports such a feature as not compared) or holds a non-finite frequency.
    """
    if not p or not q:
        raise ValueError("chebyshev needs two non-empty distributions")
    keys = set(p) | set(q)
    ranked = [k for k in (order or ()) if k in keys]
    ranked += sorted(keys - set(ranked))
    best = None
    for k in ranked:
        pk, qk = float(p.get(k, 0.0) or 0.0), float(q.get(k, 0.0) or 0.0)
        if not (math.isfinite(pk) and math.isfinite(qk)):
            raise ValueError(f"non-finite frequency at {k!r}: p={p.get(k)!r}, q={q.get(k)!r}")
        d = abs(pk - qk)
        if best is None or d > best.value + _TIE:
            best = LInf(d, k, pk, qk)
    return best


def noise_bound(n_p: float, n_q: float, n_cells: int, alpha: float) -> float:
    """Two-sample bound on ``linf`` between two independent samples of one law:
    ``sqrt(ln(2 K / alpha) / 2 * (1/n_p + 1/n_q))`` (Hoeffding per cell, union over ``K`` cells;
    see the module doc). ``inf`` when a sample size is < 1. Raises ValueError for alpha outside (0, 1)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n_p < 1 or n_q < 1:
        return math.inf
    return math.sqrt(math.log(2 * max(int(n_cells), 1) / alpha) / 2 * (1 / n_p + 1 / n_q))


def interval_label(lo, hi) -> str:
    """``[lo, hi)`` with ``-inf``/``inf`` for open ends (the labels of ``feature_stats.distribution``)."""
    return f"[{'-inf' if lo is None else repr(lo)}, {'inf' if hi is None else repr(hi)})"


# ------------------------------------------------------------------------------------- config

def drift_config(config: Mapping | None = None) -> dict:
    """``config["drift"]`` deep-merged over :data:`DEFAULT_DRIFT_CONFIG` (the defaults alone when
    ``config`` has no ``drift`` section). Accepts the whole config or just its ``drift`` section."""
    section = {}
    if config:
        section = config.get("drift", config if "thresholds" in config or "fail_on_alert" in config else {}) or {}
    return merged(DEFAULT_DRIFT_CONFIG, dict(section))


def feature_threshold(cfg: Mapping, shelf: str, feature: str, feature_kind: str | None) -> float:
    """Configured threshold: ``features["shelf.feature"]``, else ``features[feature]``, else the
    default of the feature's kind (``default_categorical`` or ``default_numeric``)."""
    th = drift_config(cfg)["thresholds"]
    per = th.get("features") or {}
    for key in (f"{shelf}.{feature}", feature):
        if key in per and per[key] is not None:
            return float(per[key])
    return float(th["default_categorical"] if feature_kind == "categorical" else th["default_numeric"])


# ------------------------------------------------------------------------------------ records

def record(feature: str, shelf: str, comparison: str, metric: str = METRIC, value=None, threshold=None,
           argmax=None, p=None, q=None, n_p=None, n_q=None, alert: bool = False, reason: str | None = None) -> dict:
    """One record with exactly :data:`RECORD_FIELDS`; ``status`` is ``not_compared`` iff ``reason``."""
    if comparison not in COMPARISONS:
        raise ValueError(f"comparison must be one of {COMPARISONS}, got {comparison!r}")
    if reason is not None and reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    return {"feature": feature, "shelf": shelf, "comparison": comparison, "metric": metric,
            "value": None if reason else _num(value), "threshold": _num(threshold), "argmax": argmax,
            "p": _num(p), "q": _num(q), "n_p": n_p, "n_q": n_q, "alert": bool(alert) and reason is None,
            "status": NOT_COMPARED if reason else COMPARED, "reason": reason}


def compare_feature(a_stats: Mapping | None, b_stats: Mapping | None, feature: str, kind: str,
                    threshold: float, *, noise_alpha: float | None = None) -> dict:
    """L-infinity record of one feature between two statistics of one shelf.

    Args:
      a_stats: the baseline side ``p`` (skew: training statistics; drift: the earlier day), a
        :func:`~transforms.features.feature_stats.finalize` dict, or None when absent.
      b_stats: the current side ``q`` (day D's serving statistics), or None.
      feature: the feature name.
      kind: the comparison, ``"skew"`` or ``"drift"`` (the feature's own kind, numeric or
        categorical, is read from the statistics).
      threshold: the configured threshold of this feature.
      noise_alpha: when given, the applied threshold is raised to :func:`noise_bound` at this
        level (sample sizes = listeners behind the feature on each side, see the module doc).

    Returns a record (:data:`RECORD_FIELDS`): ``value`` the distance, ``argmax`` the value
    (categorical) or interval ``[lo, hi)`` (numeric) where it is reached, ``p``/``q`` the two
    frequencies there, ``n_p``/``n_q`` the non-missing row counts, ``threshold`` the applied one,
    ``alert = value > threshold``. Not comparable -> ``value None``, ``status "not_compared"`` and a
    ``reason`` of :data:`REASONS`; ``alert`` is then False.
    """
    shelf = (b_stats or a_stats or {}).get("shelf", "")
    fa = (a_stats or {}).get("features", {}).get(feature)
    fb = (b_stats or {}).get("features", {}).get(feature)
    n_p = None if fa is None else int(fa.get("count") or 0)
    n_q = None if fb is None else int(fb.get("count") or 0)

    def skip(reason):
        return record(feature, shelf, kind, METRIC, threshold=threshold, n_p=n_p, n_q=n_q, reason=reason)

    support = _support(a_stats, b_stats, feature)
    if isinstance(support, str):
        return skip(support)
    labels, p_list, q_list, ordered = support
    p, q = dict(zip(labels, p_list)), dict(zip(labels, q_list))
    order = labels if ordered else None
    d = chebyshev(p, q, order)
    applied = float(threshold)
    if noise_alpha:
        n_cells = len(set(p) | set(q))
        applied = max(applied, noise_bound(_units(a_stats, n_p), _units(b_stats, n_q), n_cells, noise_alpha))
    return record(feature, shelf, kind, METRIC, d.value, applied, d.argmax, d.p, d.q, n_p, n_q,
                  alert=d.value > applied)


def common_support(a_stats: Mapping | None, b_stats: Mapping | None, feature: str):
    """The two frequency vectors of ``feature`` on their common support, as compared by
    :func:`compare_feature`: ``(labels, p, q)`` (numeric: aligned training bins in bin order,
    labelled ``[lo, hi)``; categorical: the union of values, sorted, ``"__other__"`` included).

    Returns the ``reason`` string (:data:`REASONS`) instead when the feature is not comparable.
    """
    support = _support(a_stats, b_stats, feature)
    return support if isinstance(support, str) else support[:3]


def _support(a_stats, b_stats, feature):
    fa = (a_stats or {}).get("features", {}).get(feature)
    fb = (b_stats or {}).get("features", {}).get(feature)
    if fa is None or fb is None:
        return "missing_on_one_side"
    if fa.get("kind") != fb.get("kind"):
        return "kind_changed"
    if not fa.get("count") or not fb.get("count"):
        return "no_data"
    if fa["kind"] == "numeric":
        ea, eb = (a_stats.get("bin_edges") or {}).get(feature), (b_stats.get("bin_edges") or {}).get(feature)
        if ea is not None and eb is not None and [float(x) for x in ea] != [float(x) for x in eb]:
            return "edges_differ"
        intervals, p_list, q_list = align_bins(fa["bins"], fb["bins"])
        if not p_list or not q_list:
            return "no_data"
        if len(intervals) < 2:
            return "single_bin"
        return [interval_label(lo, hi) for lo, hi in intervals], p_list, q_list, True
    p = {**fa.get("values", {}), OTHER: fa.get("other") or 0.0}
    q = {**fb.get("values", {}), OTHER: fb.get("other") or 0.0}
    labels = sorted(set(p) | set(q))
    if len(labels) < 2:
        return "single_bin"
    return labels, [float(p.get(k, 0.0) or 0.0) for k in labels], [float(q.get(k, 0.0) or 0.0) for k in labels], False


def compare_stats(baseline: Mapping | None, current: Mapping | None, comparison: str,
                  thresholds: Mapping | None = None, shelf: str | None = None) -> list[dict]:
    """Every record of one shelf: one L-infinity record per feature, then the dataset anomalies.

    Args:
      baseline: ``p`` side statistics (skew: training; drift: the baseline day), or None.
      current: ``q`` side statistics (day D), or None.
      comparison: ``"skew"`` or ``"drift"``.
      thresholds: the drift configuration (:data:`DEFAULT_DRIFT_CONFIG` shape, or a whole config
        with a ``drift`` section; missing keys take the defaults).
      shelf: the shelf, needed only when both sides are None (else read from the statistics).

    Features: every feature of the shelf's spec in spec order (one absent from both sides is
    ``missing_on_one_side``), then any other feature present on a side (sorted). Dataset
    anomalies: ``example_count_change`` (drift only) with ``feature = "__dataset__"``, and one
    ``missing_rate_increase`` record per feature present on both sides.
    Raises ValueError when the two statistics are of different shelves.
    """
    cfg = drift_config(thresholds)
    if comparison not in COMPARISONS:
        raise ValueError(f"comparison must be one of {COMPARISONS}, got {comparison!r}")
    sa, sb = (baseline or {}).get("shelf"), (current or {}).get("shelf")
    if sa and sb and sa != sb:
        raise ValueError(f"cannot compare statistics of shelves {sa!r} and {sb!r}")
    if shelf and (sa or sb) and shelf != (sb or sa):
        raise ValueError(f"statistics are of shelf {sb or sa!r}, not {shelf!r}")
    shelf = sb or sa or shelf or ""
    fa, fb = (baseline or {}).get("features", {}), (current or {}).get("features", {})
    spec = [f.name for f in FEATURE_SPECS.get(shelf, ())]
    names = spec + sorted((set(fa) | set(fb)) - set(spec))
    out = []
    for name in names:
        fkind = (fb.get(name) or fa.get(name) or {}).get("kind")
        if fkind is None:
            fkind = _spec_kind(shelf, name)
        rec = compare_feature(baseline, current, name, comparison, feature_threshold(cfg, shelf, name, fkind),
                              noise_alpha=cfg.get("noise_alpha"))
        rec["shelf"] = shelf
        out.append(rec)
    if comparison == "drift":
        out.append(_count_change(baseline, current, shelf, cfg))
    for name in names:
        if name in fa and name in fb:
            out.append(_missing_rate(baseline, current, shelf, name, comparison, cfg))
    return out


def not_compared_records(stats: Mapping | None, shelf: str, comparison: str, reason: str,
                         thresholds: Mapping | None = None, side: str = "q") -> list[dict]:
    """One ``not_compared`` L-infinity record per feature of ``shelf`` (spec order, plus features
    of ``stats``), e.g. skew without training statistics (``reason="no_training_stats"``).
    ``stats`` (if any) is the side that exists, ``side`` says which (its counts go to ``n_p`` or ``n_q``)."""
    cfg = drift_config(thresholds)
    feats = (stats or {}).get("features", {})
    spec = [f.name for f in FEATURE_SPECS.get(shelf, ())]
    names = spec + sorted(set(feats) - set(spec))
    out = []
    for name in names:
        f = feats.get(name)
        kind = (f or {}).get("kind") or _spec_kind(shelf, name)
        n = None if f is None else int(f.get("count") or 0)
        out.append(record(name, shelf, comparison, METRIC, threshold=feature_threshold(cfg, shelf, name, kind),
                          n_p=n if side == "p" else None, n_q=n if side == "q" else None, reason=reason))
    return out


def alerts(records: Iterable[Mapping]) -> list[Mapping]:
    """The records whose alert fired."""
    return [r for r in records if r.get("alert")]


def describe(r: Mapping) -> str:
    """One line for a log or a summary, e.g.
    ``skew shortcuts.tod_affinity linf=0.213 > 0.1 at [0.5, 1.0) (p=0.05, q=0.26; n_p=185051, n_q=90210)``."""
    where = f"{r['shelf']}.{r['feature']}"
    if r["status"] != COMPARED:
        return f"{r['comparison']} {where} {r['metric']}: not compared ({r['reason']})"
    op = ">" if r["alert"] else "<="
    at = f" at {r['argmax']}" if r.get("argmax") is not None else ""
    pq = f"p={_fmt(r['p'])}, q={_fmt(r['q'])}; " if r.get("p") is not None else ""
    return (f"{r['comparison']} {where} {r['metric']}={_fmt(r['value'])} {op} {_fmt(r['threshold'])}{at} "
            f"({pq}n_p={r['n_p']}, n_q={r['n_q']})")


# ------------------------------------------------------------------------------------ helpers

def _count_change(a: Mapping | None, b: Mapping | None, shelf: str, cfg: Mapping) -> dict:
    thr = float(cfg["max_count_change"])
    if a is None or b is None:
        return record(DATASET, shelf, "drift", EXAMPLE_COUNT_CHANGE, threshold=thr,
                      n_p=None if a is None else int(a.get("n_rows", 0)),
                      n_q=None if b is None else int(b.get("n_rows", 0)), reason="missing_on_one_side")
    n_p, n_q = int(a.get("n_rows", 0)), int(b.get("n_rows", 0))
    if n_p == 0:
        return record(DATASET, shelf, "drift", EXAMPLE_COUNT_CHANGE, threshold=thr, n_p=n_p, n_q=n_q,
                      reason="no_data")
    change = (n_q - n_p) / n_p
    return record(DATASET, shelf, "drift", EXAMPLE_COUNT_CHANGE, change, thr, n_p=n_p, n_q=n_q,
                  alert=abs(change) > thr)


def _missing_rate(a: Mapping, b: Mapping, shelf: str, name: str, comparison: str, cfg: Mapping) -> dict:
    thr = float(cfg["max_missing_rate_increase"])
    n_p, n_q = int(a.get("n_rows", 0)), int(b.get("n_rows", 0))
    if not n_p or not n_q:
        return record(name, shelf, comparison, MISSING_RATE_INCREASE, threshold=thr, n_p=n_p, n_q=n_q,
                      reason="no_data")
    rp, rq = float(a["features"][name]["missing_rate"]), float(b["features"][name]["missing_rate"])
    return record(name, shelf, comparison, MISSING_RATE_INCREASE, rq - rp, thr, p=rp, q=rq, n_p=n_p, n_q=n_q,
                  alert=rq - rp > thr)


def _units(stats: Mapping, count: int) -> float:
    """Independent units behind a feature's ``count`` non-missing rows: the shelf's listeners times
    the feature's non-missing share (rows when the statistics carry no listener count)."""
    n_rows, n_listeners = int(stats.get("n_rows") or 0), stats.get("n_listeners")
    if n_listeners is None or not n_rows:
        return float(count)
    return max(float(n_listeners) * count / n_rows, 1.0)


def _spec_kind(shelf: str, name: str) -> str | None:
    return next((f.kind for f in FEATURE_SPECS.get(shelf, ()) if f.name == name), None)


def _num(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4g}"


__all__ = ["COMPARISONS", "METRIC", "DATASET", "EXAMPLE_COUNT_CHANGE", "MISSING_RATE_INCREASE", "COMPARED",
           "NOT_COMPARED", "REASONS", "RECORD_FIELDS", "DEFAULT_DRIFT_CONFIG", "LInf", "chebyshev", "noise_bound",
           "interval_label", "common_support", "drift_config", "feature_threshold", "record", "compare_feature",
           "compare_stats", "not_compared_records", "alerts", "describe"]
