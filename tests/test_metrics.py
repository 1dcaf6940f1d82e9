"""Ranking metrics on hand-computed rankings, against a per-query reference and sklearn; the report writer."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from models.evaluation.eval_report import write_report
from models.evaluation.metrics import catalog_coverage, ndcg_curve, ranking_metrics, split_repeat_explore

AS_OF = pd.Timestamp("2014-12-21", tz="UTC")
L2 = math.log2


def frame_of(rows) -> pd.DataFrame:
    """rows: (listener_id, item_id, score, label)."""
    f = pd.DataFrame(rows, columns=["listener_id", "item_id", "score", "label"])
    f.insert(1, "as_of", AS_OF)
    f["label"] = f["label"].astype(np.int8)
    f["plays_all"] = np.float32(0)  # an extra column, ignored
    return f


# A: ranked a1(+) a2 a3(+) a4 a5(+), R=3.   B: ranked b1 b2(+) b3 b4, R=1.   C: no positive (excluded).
HAND = frame_of([
    ("A", "a3", 0.7, 1), ("A", "a1", 0.9, 1), ("A", "a2", 0.8, 0), ("A", "a5", 0.5, 1), ("A", "a4", 0.6, 0),
    ("B", "b1", 0.9, 0), ("B", "b2", 0.8, 1), ("B", "b3", 0.1, 0), ("B", "b4", 0.05, 0),
    ("C", "c1", 0.5, 0), ("C", "c2", 0.4, 0),
])

IDCG1, IDCG2, IDCG3, IDCG4 = 1.0, 1 + 1 / L2(3), 1 + 1 / L2(3) + 1 / L2(4), 1 + 1 / L2(3) + 1 / L2(4) + 1 / L2(5)
# A: DCG@3 = 1/log2(2) + 1/log2(4) = 1.5; DCG@5 adds 1/log2(6)
A_NDCG3, A_NDCG5 = 1.5 / IDCG3, (1.5 + 1 / L2(6)) / IDCG3
# A: AP@3 = (1/1 + 2/3) / min(3, 3); AP@5 = (1/1 + 2/3 + 3/5) / min(5, 3)
A_AP3, A_AP5 = (1 + 2 / 3) / 3, (1 + 2 / 3 + 3 / 5) / 3
# B: positive at rank 2: DCG = 1/log2(3), IDCG = 1; AP@k>=2 = (1/2) / 1; nothing at k=1
B_NDCG, B_AP = 1 / L2(3), 0.5


def test_hand_computed_rankings():
    m = ranking_metrics(HAND, ks=(1, 3, 5))
    assert m["n_queries"] == 2 and m["n_queries_without_positives"] == 1
    assert m["n_positive_items"] == 4 and m["n_candidates"] == 11
    # k=1: A hits a1 (ndcg 1, AP 1/min(1,3) = 1, recall 1/3); B misses
    assert m["ndcg@1"] == pytest.approx((1 + 0) / 2)
    assert m["map@1"] == pytest.approx((1 + 0) / 2)
    assert m["recall@1"] == pytest.approx((1 / 3 + 0) / 2)
    assert m["hit_rate@1"] == pytest.approx(0.5)
    assert m["precision@1"] == pytest.approx((1 + 0) / 2)
    # k=3: A 2 hits of 3, B 1 of 1
    assert m["ndcg@3"] == pytest.approx((A_NDCG3 + B_NDCG) / 2)
    assert m["ndcg@3"] == pytest.approx((0.703918 + 0.630930) / 2, abs=1e-6)
    assert m["map@3"] == pytest.approx((A_AP3 + B_AP) / 2)
    assert m["recall@3"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["hit_rate@3"] == pytest.approx(1.0)
    assert m["precision@3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    # k=5: A 3 of 3, B 1 of 1 (B has only 4 candidates: precision is still hits / 5)
    assert m["ndcg@5"] == pytest.approx((A_NDCG5 + B_NDCG) / 2)
    assert m["map@5"] == pytest.approx((A_AP5 + B_AP) / 2)
    assert m["map@5"] == pytest.approx((0.755556 + 0.5) / 2, abs=1e-6)
    assert m["recall@5"] == pytest.approx(1.0)
    assert m["precision@5"] == pytest.approx((3 / 5 + 1 / 5) / 2)
    assert m["ties_in_top@5"] == 0.0
    # the row order of the input does not matter
    shuffled = HAND.sample(frac=1.0, random_state=3)
    assert ranking_metrics(shuffled, ks=(1, 3, 5)) == pytest.approx(m)


def test_ndcg_curve_matches_ranking_metrics():
    curve = ndcg_curve(HAND, ks=range(1, 7))
    m = ranking_metrics(HAND, ks=range(1, 7))
    assert list(curve) == [1, 2, 3, 4, 5, 6]
    assert curve == pytest.approx({k: m[f"ndcg@{k}"] for k in range(1, 7)})
    # k=2: A has a1 in its top 2 of R=3 (IDCG@2 over 2 positives); B has b2 at rank 2 (IDCG@2 = 1)
    assert curve[2] == pytest.approx((1 / IDCG2 + B_NDCG) / 2)


def test_ties_are_broken_by_item_id_or_bounded():
    # three equal scores; the positive is "a": item_id order a, b, c puts it first
    f = frame_of([("Q", "b", 0.5, 0), ("Q", "c", 0.5, 0), ("Q", "a", 0.5, 1), ("Q", "d", 0.1, 0)])
    m = ranking_metrics(f, ks=(1, 3))
    assert m["ndcg@1"] == 1.0 and m["map@3"] == 1.0
    assert m["ties_in_top@1"] == 1.0 and m["ties_in_top@3"] == 1.0
    pess = ranking_metrics(f, ks=(1, 3), ties="pessimistic")  # the positive goes after b and c: rank 3
    assert pess["ndcg@1"] == 0.0 and pess["ndcg@3"] == pytest.approx(1 / L2(4))
    assert pess["map@3"] == pytest.approx(1 / 3)
    # relabel so that item_id order is the worst case: optimistic lifts it back to rank 1
    g = f.assign(label=np.int8([0, 1, 0, 0]))  # positive "c" is third among a, b, c
    assert ranking_metrics(g, ks=(1,))["ndcg@1"] == 0.0
    assert ranking_metrics(g, ks=(3,))["ndcg@3"] == pytest.approx(1 / L2(4))
    assert ranking_metrics(g, ks=(1,), ties="optimistic")["ndcg@1"] == 1.0
    # NaN scores rank last; NaN ties are broken like any other tie
    h = frame_of([("Q", "a", np.nan, 1), ("Q", "b", 0.0, 0)])
    assert ranking_metrics(h, ks=(1, 2))["ndcg@2"] == pytest.approx(1 / L2(3))
    h2 = frame_of([("Q", "z", np.nan, 0), ("Q", "y", np.nan, 1), ("Q", "x", -5.0, 0)])
    assert ranking_metrics(h2, ks=(3,))["ndcg@3"] == pytest.approx(1 / L2(3))  # x, then y before z
    assert ranking_metrics(h2, ks=(3,), ties="pessimistic")["ndcg@3"] == pytest.approx(1 / L2(4))


def test_queries_without_positives_are_excluded():
    only_negatives = frame_of([("N", f"n{i}", float(i), 0) for i in range(5)])
    m = ranking_metrics(pd.concat([HAND, only_negatives]), ks=(3,))
    assert m["n_queries"] == 2 and m["n_queries_without_positives"] == 2
    assert m["ndcg@3"] == pytest.approx(ranking_metrics(HAND, ks=(3,))["ndcg@3"])
    empty = ranking_metrics(only_negatives, ks=(3,))
    assert empty["n_queries"] == 0 and math.isnan(empty["ndcg@3"]) and math.isnan(empty["map@3"])


def test_recall_all_with_n_positives():
    n_pos = pd.Series({("A", AS_OF): 4,   # one positive of A was not among its candidates
                       ("B", AS_OF): 1,
                       ("C", AS_OF): 2,   # C's candidates found none of its 2 positives
                       ("D", AS_OF): 3})  # D had positives but no candidates at all
    m = ranking_metrics(HAND, ks=(3, 5), n_positives=n_pos)
    assert m["n_queries_all"] == 3 and m["n_queries_all_without_candidates"] == 1
    assert m["recall_all@3"] == pytest.approx((2 / 4 + 1 / 1 + 0) / 3)
    assert m["recall_all@5"] == pytest.approx((3 / 4 + 1 + 0) / 3)
    # NDCG/AP with the Recommenders denominators on all positives: IDCG over min(k, 4), AP / min(k, 4)
    assert m["ndcg_all@3"] == pytest.approx((1.5 / IDCG3 + B_NDCG + 0) / 3)
    assert m["ndcg_all@5"] == pytest.approx(((1.5 + 1 / L2(6)) / IDCG4 + B_NDCG + 0) / 3)
    assert m["map_all@5"] == pytest.approx(((1 + 2 / 3 + 3 / 5) / 4 + B_AP + 0) / 3)
    assert m["candidate_recall"] == pytest.approx((3 / 4 + 1 + 0) / 3)  # the ceiling of recall_all@k
    assert m["recall_all@5"] <= m["candidate_recall"]
    # micro over every query of n_positives, D included: 4 candidate positives of 10
    assert m["candidate_recall_micro"] == pytest.approx(4 / 10)
    assert m["recall_all_micro@3"] == pytest.approx((2 + 1) / 10)
    # the within-candidate keys are unchanged
    assert m["recall@3"] == pytest.approx((2 / 3 + 1) / 2)
    # inconsistent counts are refused
    with pytest.raises(ValueError, match="smaller than the labelled positives"):
        ranking_metrics(HAND, n_positives=pd.Series({("A", AS_OF): 2, ("B", AS_OF): 1}))
    # a single query column works with a plain index
    one = HAND.drop(columns="as_of")
    m1 = ranking_metrics(one, ks=(3,), query_cols=["listener_id"], n_positives=pd.Series({"A": 4, "B": 1, "C": 2}))
    assert m1["recall_all@3"] == pytest.approx(m["recall_all@3"])


def test_catalog_coverage():
    # top-1 items: a1, b1, c1 (every query counts, with or without positives) of 11 candidate items
    assert catalog_coverage(HAND, 1) == pytest.approx(3 / 11)
    assert catalog_coverage(HAND, 2) == pytest.approx(6 / 11)  # a1 a2 b1 b2 c1 c2
    assert catalog_coverage(HAND, 1, catalog_size=100) == pytest.approx(0.03)
    assert catalog_coverage(HAND.drop(columns="label"), 1) == pytest.approx(3 / 11)
    assert ranking_metrics(HAND, ks=(2,))["coverage@2"] == pytest.approx(6 / 11)


def test_split_repeat_explore():
    rep = {"a1": True, "a2": False, "a3": False, "a4": True, "a5": True}
    f = HAND.assign(is_repeat=HAND["item_id"].map(lambda i: rep.get(i, False)))
    s = split_repeat_explore(f, "is_repeat", ks=(3,))
    # repeat: A's a1 (rank 1) and a5 (rank 5), R=2; a3 (explore) stays at rank 3 as non-relevant
    r = s["repeat"]
    assert r["n_queries"] == 1 and r["n_queries_without_positives"] == 2
    assert r["ndcg@3"] == pytest.approx(1 / IDCG2)
    assert r["recall@3"] == pytest.approx(1 / 2)
    assert r["map@3"] == pytest.approx(1 / 2)  # (1/1) / min(3, 2)
    # explore: A's a3 at rank 3 (R=1) and B's b2 at rank 2 (R=1)
    e = s["explore"]
    assert e["n_queries"] == 2
    assert e["ndcg@3"] == pytest.approx((1 / L2(4) + B_NDCG) / 2)
    assert e["map@3"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert r["n_positive_items"] + e["n_positive_items"] == 4
    # an aligned boolean array works too
    s2 = split_repeat_explore(f, f["is_repeat"].to_numpy(), ks=(3,))
    assert s2.keys() == s.keys() and all(s2[p] == pytest.approx(s[p]) for p in s)
    # with ties the list is ranked once, on every positive: pessimistic puts both positives after
    # the tied negative whatever the part (ranks: n 1, then by item_id p_exp 2, p_rep 3)
    t = frame_of([("Q", "n", 1.0, 0), ("Q", "p_rep", 1.0, 1), ("Q", "p_exp", 1.0, 1)])
    st = split_repeat_explore(t, np.array([False, True, False]), ks=(3,), ties="pessimistic")
    assert st["repeat"]["ndcg@3"] == pytest.approx(1 / L2(4))
    assert st["explore"]["ndcg@3"] == pytest.approx(1 / L2(3))


def test_duplicates_and_bad_labels_are_refused():
    with pytest.raises(ValueError, match="duplicate"):
        ranking_metrics(pd.concat([HAND, HAND.iloc[:1]]))
    with pytest.raises(ValueError, match="only 0 and 1"):
        ranking_metrics(HAND.assign(label=2))


# ------------------------------------------------------------------- reference and sklearn cross-checks


def reference(frame: pd.DataFrame, ks, n_positives=None) -> dict:
    """One query at a time, literally: Recommenders' formulae over the list sorted by (-score, item_id)."""
    out = {}
    per = {k: {"ndcg": [], "recall": [], "map": [], "hit_rate": [], "precision": []} for k in ks}
    per_all = {k: {"recall_all": [], "ndcg_all": [], "map_all": []} for k in ks}
    for key, g in frame.groupby(["listener_id", "as_of"]):
        ranked = sorted(zip(g["score"], g["item_id"], g["label"]), key=lambda t: (-t[0], t[1]))
        rel = [int(t[2]) for t in ranked]
        R = sum(rel)
        for k in ks:
            top = rel[:k]
            hits = sum(top)
            dcg = sum(r / math.log(1 + i) for i, r in enumerate(top, start=1))  # natural log, as Recommenders
            ap = sum(sum(top[:i]) / i for i, r in enumerate(top, start=1) if r)

            def idcg(n):
                return sum(1 / math.log(1 + i) for i in range(1, min(k, n) + 1))

            if R:
                per[k]["ndcg"].append(dcg / idcg(R))
                per[k]["recall"].append(hits / R)
                per[k]["map"].append(ap / min(k, R))
                per[k]["hit_rate"].append(float(hits > 0))
                per[k]["precision"].append(hits / k)
            if n_positives is not None and n_positives.get(key, 0) > 0:
                n = n_positives[key]
                per_all[k]["recall_all"].append(hits / n)
                per_all[k]["ndcg_all"].append(dcg / idcg(n))
                per_all[k]["map_all"].append(ap / min(k, n))
    for k in ks:
        for name, vals in {**per[k], **(per_all[k] if n_positives is not None else {})}.items():
            out[f"{name}@{k}"] = float(np.mean(vals))
    return out


def random_frame(seed: int, n_queries: int = 60, max_items: int = 15, integer_scores: bool = True):
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(n_queries):
        n = int(rng.integers(1, max_items + 1))
        items = rng.choice(200, size=n, replace=False)
        scores = rng.integers(0, 4, size=n).astype(float) if integer_scores else rng.random(n)
        labels = (rng.random(n) < 0.25).astype(int)
        rows += [(f"u{q:03d}", f"i{it:03d}", s, lab) for it, s, lab in zip(items, scores, labels)]
    return frame_of(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_equals_per_query_reference_with_many_ties(seed):
    f = random_frame(seed)
    pos = f.groupby(["listener_id", "as_of"])["label"].sum()
    rng = np.random.default_rng(seed + 100)
    n_pos = pos + rng.integers(0, 3, size=len(pos))  # some positives the candidates missed
    ks = (1, 3, 5, 10, 20)
    got = ranking_metrics(f, ks=ks, n_positives=n_pos)
    want = reference(f, ks, n_positives=n_pos.to_dict())
    assert {k: got[k] for k in want} == pytest.approx(want)
    assert got["ties_in_top@5"] > 0  # integer scores: the tie rule matters here


def test_ndcg_matches_sklearn_without_ties():
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(5)
    n_q, n_items = 40, 12
    y_true = (rng.random((n_q, n_items)) < 0.2).astype(int)
    y_true[0] = 0  # one query without positives: excluded here, so excluded from sklearn's mean too
    y_score = rng.random((n_q, n_items))  # continuous: no ties, where the tie rules coincide
    rows = [(f"u{q:02d}", f"i{j:02d}", y_score[q, j], y_true[q, j]) for q in range(n_q) for j in range(n_items)]
    f = frame_of(rows)
    has = y_true.sum(axis=1) > 0
    for k in (1, 3, 5, 10, 12):
        want = ndcg_score(y_true[has], y_score[has], k=k)
        assert ranking_metrics(f, ks=(k,))[f"ndcg@{k}"] == pytest.approx(want)
    curve = ndcg_curve(f, ks=range(1, 13))
    assert curve[7] == pytest.approx(ndcg_score(y_true[has], y_score[has], k=7))


# ---------------------------------------------------------------------------------------- report writer


def test_write_report(tmp_path):
    model = ranking_metrics(HAND, ks=(5, 10))
    pop = ranking_metrics(HAND.assign(score=-HAND["score"]), ks=(5, 10))
    report = {
        "shelf": "shortcuts",
        "model": {"name": "model", "version": "v1", "metrics": model,
                  "ndcg_curve": ndcg_curve(HAND, ks=range(1, 21)),
                  "repeat_explore": split_repeat_explore(HAND.assign(r=HAND["item_id"] == "a1"), "r", ks=(5, 10))},
        "baselines": {
            "baseline_popularity": {"metrics": pop, "ndcg_curve": ndcg_curve(HAND.assign(score=-HAND["score"]))},
            "baseline_recency": {"metrics": {**pop, "ndcg@10": np.float32(0.25), "map@10": float("nan")},
                                 "ndcg_curve": {str(k): 0.1 * k ** 0.5 for k in range(1, 21)}},
        },
        "candidate_recall": None,
        "window": {"from": AS_OF, "to": pd.Timestamp("2014-12-27", tz="UTC")},
        "n_examples": np.int64(len(HAND)),
    }
    json_path, html_path = write_report(report, str(tmp_path / "eval"))
    assert json_path == str(tmp_path / "eval" / "report.json")
    assert html_path == str(tmp_path / "eval" / "report.html")
    loaded = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert loaded["model"]["metrics"]["ndcg@10"] == pytest.approx(model["ndcg@10"])
    assert loaded["baselines"]["baseline_recency"]["metrics"]["map@10"] is None  # NaN -> null
    assert loaded["baselines"]["baseline_recency"]["metrics"]["ndcg@10"] == pytest.approx(0.25)
    assert loaded["n_examples"] == 11 and loaded["candidate_recall"] is None
    assert loaded["model"]["ndcg_curve"]["10"] == pytest.approx(model["ndcg@10"])
    assert loaded["window"]["from"].startswith("2014-12-21")
    assert all("baseline" in name for name in loaded["baselines"])
    text = (tmp_path / "eval" / "report.json").read_text()
    assert text.startswith('{\n  "baselines": {\n    "baseline_popularity": {')  # indented, keys sorted
    assert list(loaded["model"]["ndcg_curve"])[:3] == ["1", "2", "3"]  # int keys sorted as numbers
    page = (tmp_path / "eval" / "report.html").read_text()
    for png in ("metrics_bar.png", "ndcg_curve.png"):
        assert f'src="{png}"' in page
        assert (tmp_path / "eval" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "baseline_popularity" in page and "ndcg@10" in page and "Repeat vs explore" in page
    assert "model beats the best baseline on ndcg@10" in page or "does not beat" in page
    assert report["baselines"]["baseline_recency"]["metrics"]["ndcg@10"] == np.float32(0.25)  # input untouched


def test_write_report_without_curves_or_baselines(tmp_path):
    json_path, html_path = write_report({"model": {"metrics": {"n_queries": 0}}}, str(tmp_path))
    page = (tmp_path / "report.html").read_text()
    assert "<img" not in page and not (tmp_path / "ndcg_curve.png").exists()
    assert json.loads((tmp_path / "report.json").read_text()) == {"model": {"metrics": {"n_queries": 0}}}


def test_per_query_ndcg_by_hand_and_its_mean_is_ranking_metrics_ndcg():
    from models.evaluation.metrics import per_query_ndcg

    frame = pd.DataFrame({"listener_id": ["a", "a", "a", "b", "b", "c"], "as_of": 0,
                          "item_id": ["x", "y", "z", "x", "y", "x"],
                          "score": [0.9, 0.5, 0.1, 0.2, 0.8, 1.0], "label": [0, 1, 0, 1, 0, 0]})
    got = per_query_ndcg(frame, 2)
    # a: the positive at rank 2 -> (1/log2 3) / 1; b: the positive at rank 2 -> the same; c: no positive, not evaluated
    assert got.index.tolist() == [("a", 0), ("b", 0)]
    assert got.to_numpy() == pytest.approx([1 / np.log2(3), 1 / np.log2(3)])
    assert got.mean() == pytest.approx(ranking_metrics(frame, ks=(2,))["ndcg@2"])
