"""Offline ranking metrics over many queries at once (one query = one listener at one ``as_of``).

Input: a DataFrame with the query key columns (default ``["listener_id", "as_of"]``), ``item_id``,
a float ``score`` (higher ranks first) and a 0/1 ``label``; extra columns are ignored. Each row is
one candidate of one query; a (query, item) pair may appear only once.

Definitions (binary relevance; the Microsoft Recommenders names and formulae of
``recommenders.evaluation.python_evaluation``: ``precision_at_k``, ``recall_at_k``, ``ndcg_at_k``
with ``score_type="binary"``, ``map_at_k``). For one query ``q`` with candidates ranked
``1..n_q`` (see *Ties*), ``rel_i`` in {0, 1} the label at rank ``i``, ``R_q`` the number of
relevant items and ``hits_q@k = sum_{i<=k} rel_i``:

* ``precision@k = hits_q@k / k`` (divided by ``k`` even when the query has fewer than ``k``
  candidates, as in Recommenders/Spark).
* ``recall@k    = hits_q@k / R_q``.
* ``hit_rate@k  = 1 if hits_q@k > 0 else 0`` (not in Recommenders' module; the usual definition).
* ``ndcg@k      = DCG@k / IDCG@k`` with ``DCG@k = sum_{i<=k} rel_i / log2(1 + i)`` and
  ``IDCG@k = sum_{i=1}^{min(k, R_q)} 1 / log2(1 + i)``. (Recommenders' default discount is the
  natural log; the base cancels in the ratio, so the value is the same.)
* ``map@k``: the mean over queries of ``AP@k = (1 / min(k, R_q)) * sum_{i<=k} rel_i * P(i)`` with
  ``P(i) = hits_q@i / i`` (Recommenders ``map_at_k``, after Spark ``RankingMetrics.meanAveragePrecisionAt``;
  the denominator is ``min(k, R_q)``, not ``k`` and not the hits found).

Every ``metric@k`` is the unweighted (macro) mean of the per-query values over the evaluated
queries.

Which ``R_q``: the plain keys (``ndcg@k``, ``recall@k``, ``map@k``, ...) use the positives **among
the candidates** (``R_q = sum of label``), i.e. they measure the ranker given its candidates.
When ``n_positives`` (all positives of the query in the label window, found by the candidates
or not) is passed, ``recall_all@k``, ``ndcg_all@k`` and ``map_all@k`` use ``R_q = n_positives``:
this is exactly Recommenders' definition with ``rating_true`` = every positive, and includes
the candidate-recall ceiling (``recall_all@k <= candidate_recall``).

Queries: a query is evaluated when it has at least one positive (``R_q > 0``). Queries without
positives are excluded from every average (they have no defined recall/NDCG/AP; Recommenders
likewise averages over users present in both truth and predictions); their number is reported as
``n_queries_without_positives`` and the evaluated ones as ``n_queries``. For the ``*_all`` keys,
the evaluated queries are those present in ``frame`` with ``n_positives > 0`` (``n_queries_all``;
some have no positive among their candidates and score 0). Queries that have positives but no
candidates at all (absent from ``frame``) are not in the macro averages (as in Recommenders, which
keeps only users with predictions); they are counted in ``n_queries_all_without_candidates`` and
included in the micro figures ``recall_all_micro@k = sum_q hits_q@k / sum_q n_positives_q`` and
``candidate_recall_micro = sum_q R_q / sum_q n_positives_q`` over every query of ``n_positives``
(comparable with ``build-examples``' ``candidate_recall.json``).

Ties: ranks are made unique and deterministic (Recommenders also gives unique "first" ranks, but
in whatever order its sort leaves tied rows). Scores are compared exactly, as float64. The default
``ties="item_id"`` orders by score descending, then ``item_id`` ascending as strings: the order the
daily job serves (``models.serving.rules.rank_order``), so offline metrics measure the served list.
``ties="pessimistic"`` puts negatives before positives within equal scores (a lower bound),
``ties="optimistic"`` the reverse (an upper bound); both then break remaining ties by ``item_id``. ``ties_in_top@k`` reports the share of evaluated queries
whose top ``k + 1`` contains two equal scores, i.e. where the tie rule can change ``metric@k``.
NaN scores rank last (after every finite score).
"""
from __future__ import annotations

import copy
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

QUERY_COLS = ("listener_id", "as_of")
TIES = ("item_id", "pessimistic", "optimistic")


def _labels(col: pd.Series, name: str) -> np.ndarray:
    label = col.to_numpy()
    if label.dtype == bool:
        label = label.astype(np.int8)
    label = label.astype(np.float64)
    if len(label) and not ((label == 0.0) | (label == 1.0)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return label


class _Ranked:
    """The frame's rows in rank order, as flat numpy arrays (one sort serves every metric and k)."""

    def __init__(self, frame: pd.DataFrame, query_cols: Sequence[str], score_col: str, label_col: str | None,
                 item_col: str, ties: str):
        if ties not in TIES:
            raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
        if label_col is None and ties != "item_id":
            raise ValueError(f"ties={ties!r} needs a label column")
        needed = [*query_cols, item_col, score_col] + ([label_col] if label_col else [])
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"missing columns: {missing}")
        n = len(frame)
        qid = frame.groupby(list(query_cols), sort=False, observed=True, dropna=False).ngroup().to_numpy(np.int64)
        items = frame[item_col].to_numpy()
        item_code, uniques = pd.factorize(items)  # hash only; string order is computed below where needed
        if (item_code < 0).any():
            raise ValueError(f"{item_col} has missing values")
        self.n_items = len(uniques)
        pair = np.sort(qid * max(self.n_items, 1) + item_code)
        n_dup = int((pair[1:] == pair[:-1]).sum())
        if n_dup:
            raise ValueError(f"{n_dup} duplicate (query, {item_col}) rows")
        score = frame[score_col].to_numpy(dtype=np.float64)
        label = _labels(frame[label_col], label_col) if label_col else np.zeros(n)

        # rank by (query, score desc); NaN (-NaN) sorts last. Rows in a tie get a tie-break key: the
        # item id's rank as a string (the order of models.serving.rules.rank_order), or the label first when
        # pessimistic/optimistic. Only tied rows' ids are sorted (few for a model's float scores).
        base = np.lexsort((-score, qid))
        s_b, q_b = score[base], qid[base]
        same = (q_b[1:] == q_b[:-1]) & ((s_b[1:] == s_b[:-1]) | (np.isnan(s_b[1:]) & np.isnan(s_b[:-1])))
        if same.any():
            tied = np.zeros(n, dtype=bool)
            tied[1:] |= same
            tied[:-1] |= same
            rows = base[tied]
            needed_u = np.zeros(self.n_items, dtype=bool)
            needed_u[item_code[rows]] = True
            idx = np.flatnonzero(needed_u)
            key_u = np.zeros(self.n_items, dtype=np.int64)
            key_u[idx[np.argsort(np.asarray(uniques[idx], dtype=str), kind="stable")]] = np.arange(len(idx))
            tie_key = np.zeros(n, dtype=np.int64)
            tie_key[rows] = key_u[item_code[rows]]
            keys = [tie_key]
            if ties == "pessimistic":
                keys.append(label)
            elif ties == "optimistic":
                keys.append(-label)
            order = np.lexsort(keys + [-score, qid])
        else:
            order = base
        self.order = order
        self.qid = qid[order]
        self.item_code = item_code[order]
        self.score = score[order]
        self.n_queries_total = int(qid.max()) + 1 if n else 0
        sizes = np.bincount(self.qid, minlength=self.n_queries_total)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.rank = np.arange(n) - self.starts[self.qid] + 1  # 1-based rank within the query
        self._set_label(label)
        # query keys per qid (for aligning n_positives): the first ranked row of each query
        self.keys = frame.iloc[order[self.starts]][list(query_cols)].reset_index(drop=True) if n else \
            frame[list(query_cols)].iloc[:0].reset_index(drop=True)
        self.keys_qid = np.arange(self.n_queries_total)

    def _set_label(self, label: np.ndarray) -> None:
        self.label = label[self.order]
        cum = np.cumsum(self.label)
        self.cum_hits = cum - (cum[self.starts] - self.label[self.starts])[self.qid] if len(cum) else cum
        self.n_pos = np.bincount(self.qid, weights=self.label, minlength=self.n_queries_total)

    def relabelled(self, label: np.ndarray) -> "_Ranked":
        """The same ranking (rows in the same order) with other labels, given in frame order."""
        other = copy.copy(self)
        other._set_label(np.asarray(label, dtype=np.float64))
        return other

    def per_query(self, k: int) -> dict[str, np.ndarray]:
        """Per-query sums at cutoff ``k``: hits, DCG, AP numerator."""
        top = self.rank <= k
        w = self.label * top
        n = self.n_queries_total
        return {
            "hits": np.bincount(self.qid, weights=w, minlength=n),
            "dcg": np.bincount(self.qid, weights=w / np.log2(self.rank + 1.0), minlength=n),
            "ap_num": np.bincount(self.qid, weights=w * self.cum_hits / self.rank, minlength=n),
        }

    def ties_in_top(self, k: int) -> np.ndarray:
        """Per query: True when two of the first ``k + 1`` ranked scores are equal."""
        s, q = self.score, self.qid
        same_next = np.zeros(len(s), dtype=bool)
        if len(s) > 1:
            eq = (s[:-1] == s[1:]) | (np.isnan(s[:-1]) & np.isnan(s[1:]))
            same_next[:-1] = eq & (q[:-1] == q[1:])
        return np.bincount(q, weights=same_next & (self.rank <= k), minlength=self.n_queries_total) > 0


def _idcg(k: int, n_rel: np.ndarray) -> np.ndarray:
    """``sum_{i=1}^{min(k, n_rel)} 1 / log2(1 + i)`` for each entry of ``n_rel``."""
    table = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    return table[np.minimum(n_rel, k).astype(np.int64)]


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _align_n_positives(ranked: _Ranked, n_positives: pd.Series, query_cols: Sequence[str]):
    """(per-qid n_positives, Series of queries absent from the frame)."""
    s = n_positives.copy()
    names = list(query_cols)
    if s.index.nlevels != len(names):
        raise ValueError(f"n_positives must be indexed by the query columns {names}")
    s.index = s.index.set_names(names)
    s = s.rename("_n_positives")
    if s.index.duplicated().any():
        raise ValueError("n_positives has duplicate query keys")
    keys = ranked.keys.assign(_qid=ranked.keys_qid)
    merged = keys.merge(s.reset_index(), on=names, how="left")
    per = np.zeros(ranked.n_queries_total)
    per[merged["_qid"].to_numpy()] = merged["_n_positives"].fillna(0).to_numpy(dtype=np.float64)
    bad = per < ranked.n_pos
    if bad.any():
        raise ValueError(f"n_positives is smaller than the labelled positives among the candidates "
                         f"for {int(bad.sum())} queries")
    present = pd.MultiIndex.from_frame(ranked.keys) if len(names) > 1 else pd.Index(ranked.keys[names[0]])
    outside = s[~s.index.isin(present)]
    return per, outside


def ranking_metrics(frame: pd.DataFrame, ks: Iterable[int] = (5, 10), query_cols: Sequence[str] = QUERY_COLS,
                    n_positives: pd.Series | None = None, *, score_col: str = "score", label_col: str = "label",
                    item_col: str = "item_id", ties: str = "item_id",
                    catalog_size: int | None = None) -> dict[str, float]:
    """NDCG@k, Recall@k, MAP@k, HitRate@k, Precision@k (and the ``*_all`` variants) of a scored frame.

    See the module docstring for the exact formulae, tie handling and which queries are averaged.
    ``n_positives``: optional Series indexed by the query columns (a MultiIndex for several) with
    the number of every positive of the query in the label window, found by the candidates or not.
    It must be >= the positives labelled among the query's candidates (else ValueError; a query of
    the frame missing from it counts as 0). Its queries absent from ``frame`` are the listeners
    whose candidates missed everything (or who had none).

    Returns (``k`` for each of ``ks``):

    * ``n_queries`` (evaluated: >= 1 positive among candidates), ``n_queries_without_positives``,
      ``n_positive_items`` (positives among candidates of evaluated queries), ``n_candidates`` (rows);
    * ``ndcg@k``, ``recall@k``, ``map@k``, ``hit_rate@k``, ``precision@k``, ``ties_in_top@k``;
    * ``coverage@k``: :func:`catalog_coverage` over every query (with or without positives);
    * with ``n_positives``: ``n_queries_all``, ``n_queries_all_without_candidates``,
      ``recall_all@k``, ``ndcg_all@k``, ``map_all@k``, ``recall_all_micro@k``,
      ``candidate_recall`` (macro mean over the ``n_queries_all`` queries of R_q / n_positives_q, the
      ceiling of ``recall_all@k``) and ``candidate_recall_micro``.

    Undefined means (no evaluated query) are NaN.
    """
    r = _Ranked(frame, query_cols, score_col, label_col, item_col, ties)
    return _metrics(r, ks, query_cols, n_positives, catalog_size)


def _ks(ks: Iterable[int]) -> list[int]:
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError("ks must be positive integers")
    return ks


def _metrics(r: _Ranked, ks, query_cols, n_positives, catalog_size) -> dict[str, float]:
    ks = _ks(ks)
    ev = r.n_pos > 0
    R = r.n_pos[ev]
    out: dict[str, float] = {
        "n_queries": int(ev.sum()),
        "n_queries_without_positives": int((~ev).sum()),
        "n_positive_items": int(R.sum()),
        "n_candidates": int(len(r.order)),
    }
    if n_positives is not None:
        n_all, outside = _align_n_positives(r, n_positives, query_cols)
        ev_all = n_all > 0
        outside_pos = float(outside[outside > 0].sum())
        total_pos = float(n_all.sum()) + outside_pos
        out["n_queries_all"] = int(ev_all.sum())
        out["n_queries_all_without_candidates"] = int((outside > 0).sum())
        out["candidate_recall"] = _mean(r.n_pos[ev_all] / n_all[ev_all])
        out["candidate_recall_micro"] = float(r.n_pos.sum() / total_pos) if total_pos else float("nan")
    for k in ks:
        p = r.per_query(k)
        hits = p["hits"][ev]
        out[f"ndcg@{k}"] = _mean(p["dcg"][ev] / _idcg(k, R))
        out[f"recall@{k}"] = _mean(hits / R)
        out[f"map@{k}"] = _mean(p["ap_num"][ev] / np.minimum(R, k))
        out[f"hit_rate@{k}"] = _mean((hits > 0).astype(np.float64))
        out[f"precision@{k}"] = _mean(hits / k)
        out[f"ties_in_top@{k}"] = _mean(r.ties_in_top(k)[ev].astype(np.float64))
        out[f"coverage@{k}"] = _coverage(r, k, catalog_size)
        if n_positives is not None:
            na = n_all[ev_all]
            out[f"recall_all@{k}"] = _mean(p["hits"][ev_all] / na)
            out[f"ndcg_all@{k}"] = _mean(p["dcg"][ev_all] / _idcg(k, na))
            out[f"map_all@{k}"] = _mean(p["ap_num"][ev_all] / np.minimum(na, k))
            out[f"recall_all_micro@{k}"] = float(p["hits"].sum() / total_pos) if total_pos else float("nan")
    return out


def per_query_ndcg(frame: pd.DataFrame, k: int, query_cols: Sequence[str] = QUERY_COLS, *,
                   score_col: str = "score") -> pd.Series:
    """NDCG@k of each evaluated query (>= 1 positive among its candidates), the values whose mean is
    ``ranking_metrics(...)["ndcg@k"]``, indexed by the query columns (so that two rankers of the same
    candidates can be paired query by query). float64."""
    r = _Ranked(frame, query_cols, score_col, "label", "item_id", "item_id")
    ev = r.n_pos > 0
    values = r.per_query(int(k))["dcg"][ev] / _idcg(int(k), r.n_pos[ev])
    keys = r.keys[ev].reset_index(drop=True)
    index = pd.MultiIndex.from_frame(keys) if len(query_cols) > 1 else pd.Index(keys[query_cols[0]])
    return pd.Series(values, index=index, name=f"ndcg@{k}")


def ndcg_curve(frame: pd.DataFrame, ks: Iterable[int] = range(1, 21), query_cols: Sequence[str] = QUERY_COLS,
               *, score_col: str = "score", label_col: str = "label", item_col: str = "item_id",
               ties: str = "item_id") -> dict[int, float]:
    """``{k: ndcg@k}`` for every ``k`` of ``ks``, with the definitions of :func:`ranking_metrics`
    (positives among the candidates, queries without positives excluded, same tie rule)."""
    r = _Ranked(frame, query_cols, score_col, label_col, item_col, ties)
    ev = r.n_pos > 0
    R = r.n_pos[ev]
    curve = {}
    for k in _ks(ks):
        curve[k] = _mean(r.per_query(k)["dcg"][ev] / _idcg(k, R))
    return curve


def _coverage(r: _Ranked, k: int, catalog_size: int | None) -> float:
    denom = catalog_size if catalog_size is not None else r.n_items
    if not denom:
        return float("nan")
    shown = np.zeros(r.n_items, dtype=bool)
    shown[r.item_code[r.rank <= k]] = True
    return float(shown.sum() / denom)


def catalog_coverage(frame: pd.DataFrame, k: int, catalog_size: int | None = None,
                     query_cols: Sequence[str] = QUERY_COLS, *, score_col: str = "score",
                     item_col: str = "item_id", ties: str = "item_id") -> float:
    """Share of items shown to anyone: ``|union over queries of top-k items| / catalog_size``.

    Every query counts (labels are not used). ``catalog_size`` None uses the candidate universe,
    the number of distinct ``item_id`` in ``frame``. Ranks as in :func:`ranking_metrics`
    (``ties="pessimistic"/"optimistic"`` need a ``label`` column).
    """
    label_col = "label" if "label" in frame.columns else None
    r = _Ranked(frame, query_cols, score_col, label_col, item_col, ties)
    return _coverage(r, int(k), catalog_size)


def split_repeat_explore(frame: pd.DataFrame, is_repeat: str | np.ndarray | pd.Series, ks: Iterable[int] = (5, 10),
                         query_cols: Sequence[str] = QUERY_COLS, *, score_col: str = "score",
                         label_col: str = "label", item_col: str = "item_id", ties: str = "item_id",
                         catalog_size: int | None = None) -> dict[str, dict[str, float]]:
    """:func:`ranking_metrics` twice, with the relevance restricted to one kind of positive.

    ``is_repeat``: a boolean column name of ``frame`` (or an aligned boolean array): True when
    the listener played the item before ``as_of`` (e.g. ``plays_all > 0``).

    * ``"repeat"``: ``label_repeat = label & is_repeat``; ``"explore"``: ``label & ~is_repeat``.
    * The ranking is unchanged: every candidate keeps its rank in the full list, and positives of
      the other kind count as non-relevant (they still take their positions), so each part
      answers "how high does the served list put this kind of positive".
    * ``R_q``, the evaluated queries and ``n_queries_without_positives`` are per part: a query
      is evaluated for "repeat" when it has at least one repeat positive, and so on.
    * The list is ranked once, with the full labels (so ``ties="pessimistic"`` puts every
      positive after the negatives it ties with, whatever the part).

    Returns ``{"repeat": metrics, "explore": metrics}`` (the keys of :func:`ranking_metrics`
    without the ``*_all`` ones); ``n_positive_items`` of the two parts sum to the positives of
    the evaluated queries.
    """
    rep = frame[is_repeat] if isinstance(is_repeat, str) else is_repeat
    rep = np.asarray(rep)
    if rep.dtype != bool:
        if pd.isna(rep).any():
            raise ValueError("is_repeat has missing values")
        rep = rep.astype(bool)
    if len(rep) != len(frame):
        raise ValueError("is_repeat must have one value per row of frame")
    r = _Ranked(frame, query_cols, score_col, label_col, item_col, ties)  # ranked once, with every positive
    label = _labels(frame[label_col], label_col)
    return {part: _metrics(r.relabelled(label * mask), ks, query_cols, None, catalog_size)
            for part, mask in (("repeat", rep), ("explore", ~rep))}
