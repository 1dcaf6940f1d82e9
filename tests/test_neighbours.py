"""Item neighbours (Spark): hand-computed cosine, the as_of cut, activity caps, entity mapping, ALS,
the item-neighbours job end to end, and load_neighbours errors. Spark tests use the run's one shared
SparkSession (the session-scoped ``spark`` fixture of conftest.py)."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.errors import InputError
from transforms.io.neighbours_table import load_neighbours, table_as_of

AS_OF = "2024-01-10"


def events(spark, rows):
    """rows: (listener, item, day-of-January-2024[, context]) -> an events DataFrame of tracks."""
    frame = pd.DataFrame([(r[0], r[1], "track", pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=r[2]),
                           60_000, r[3] if len(r) > 3 else None) for r in rows],
                         columns=["listener_id", "item_id", "item_type", "ts", "ms_played", "context_id"])
    return spark.createDataFrame(frame, "listener_id string, item_id string, item_type string, ts timestamp, "
                                        "ms_played long, context_id string")


# 4 listeners x 4 items; L1 plays a three times (the matrix is binary for cosine)
HAND = [("L1", "a", 1), ("L1", "a", 2), ("L1", "a", 3), ("L1", "b", 1), ("L1", "c", 2),
        ("L2", "a", 1), ("L2", "b", 2),
        ("L3", "b", 1), ("L3", "c", 2), ("L3", "d", 3),
        ("L4", "a", 1), ("L4", "d", 2)]
# n_a = 3, n_b = 3, n_c = 2, n_d = 2; n_ab = 2, n_bc = 2, n_ac = n_ad = n_bd = n_cd = 1
COSINE = {("a", "b"): 2 / 3, ("a", "c"): 1 / math.sqrt(6), ("a", "d"): 1 / math.sqrt(6),
          ("b", "c"): 2 / math.sqrt(6), ("b", "d"): 1 / math.sqrt(6), ("c", "d"): 1 / 2}
COOC = {"neighbours": {"methods": ["cooccurrence"], "top_n": 10, "min_item_listeners": 1,
                       "cap_listener_items": None, "cap_item_listeners": None}}


def cooc_table(spark, rows, config=COOC) -> pd.DataFrame:
    from models.candidates.neighbours import item_neighbours

    nb, _ = item_neighbours(spark, events(spark, rows), AS_OF, config)
    return nb.toPandas().sort_values(["item_id", "neighbour_id"]).reset_index(drop=True)


def assert_hand_cosine(got: pd.DataFrame) -> None:
    expected = {}
    for (x, y), s in COSINE.items():
        expected[(x, y)] = expected[(y, x)] = s
    assert list(got.columns) == ["item_id", "neighbour_id", "score", "method"]
    assert str(got["score"].dtype) == "float64" and set(got["method"]) == {"cooccurrence"}
    assert len(got) == 12 and not (got["item_id"] == got["neighbour_id"]).any()
    for row in got.itertuples():
        assert row.score == pytest.approx(expected[(row.item_id, row.neighbour_id)], abs=1e-12)


def test_cosine_on_a_hand_made_matrix(spark):
    assert_hand_cosine(cooc_table(spark, HAND))


def test_top_n_keeps_the_best_and_breaks_ties_by_neighbour_id(spark):
    top2 = cooc_table(spark, HAND, {"neighbours": {**COOC["neighbours"], "top_n": 2}})
    assert (top2.groupby("item_id").size() == 2).all()
    best = top2.sort_values("score", ascending=False, kind="stable").groupby("item_id").head(1)
    assert dict(zip(best["item_id"], best["neighbour_id"])) == {"a": "b", "b": "c", "c": "b", "d": "c"}
    # a's 2nd place is a tie between c and d (both 1/sqrt(6)): the smaller id wins
    assert top2[top2["item_id"] == "a"]["neighbour_id"].tolist() == ["b", "c"]


def test_events_at_or_after_as_of_change_nothing(spark):
    # day 9 = 2024-01-10 00:00 UTC exactly (= as_of), then later
    late = [("L4", "c", 9), ("L2", "d", 10), ("L9", "a", 12), ("L9", "b", 12)]
    from pyspark.sql import functions as F

    from models.candidates.neighbours import as_of_micros

    assert events(spark, [late[0]]).select(F.unix_micros("ts")).first()[0] == as_of_micros(AS_OF)
    assert_hand_cosine(cooc_table(spark, HAND + late))


def test_activity_caps_down_sample_heavy_listeners_and_popular_items(spark):
    from models.candidates.neighbours import item_neighbours, listener_item_matrix

    heavy = [("H", f"i{k}", k) for k in range(8)]            # H plays i0..i7, i7 last
    others = [(f"L{k}", f"i{k}", 1) for k in range(8)]       # every item has a second listener
    pop = [(f"P{k}", item, 2) for k in range(6) for item in ("pop", "pop2")]
    config = {"neighbours": {"methods": ["cooccurrence"], "cap_listener_items": 3, "cap_item_listeners": 4,
                             "min_item_listeners": 1, "seed": 7}}
    m = listener_item_matrix(events(spark, heavy + others + pop), AS_OF, config).toPandas()
    assert sorted(m[m["listener_id"] == "H"]["item_id"]) == ["i5", "i6", "i7"]   # the 3 most recent
    assert (m.set_index("item_id").loc["i0", "n_listeners"] == 1)                 # H no longer counts on i0
    kept = {item: set(m[m["item_id"] == item]["listener_id"]) for item in ("pop", "pop2")}
    assert len(kept["pop"]) == 4 and kept["pop"] == kept["pop2"]  # same listeners: coordinated sampling
    assert set(m[m["item_id"] == "pop"]["n_listeners"]) == {4}
    nb, _ = item_neighbours(spark, events(spark, heavy + others + pop), AS_OF, config)
    pairs = {tuple(r) for r in nb.select("item_id", "neighbour_id").collect()}
    assert ("i5", "i7") in pairs and ("i0", "i1") not in pairs  # H's older items are not paired
    assert {r["score"] for r in nb.where("item_id = 'pop'").collect()} == {1.0}


def test_plays_count_toward_context_parent_and_creator_per_type(spark):
    from models.candidates.neighbours import entity_plays, item_neighbours

    rows = [("L1", "t1", 1, "pl1"), ("L1", "t3", 2, None), ("L2", "t2", 1, "pl1"), ("L2", "t3", 2, None),
            ("L3", "t1", 1, None), ("L3", "t4", 2, None)]
    items = spark.createDataFrame(pd.DataFrame({
        "item_id": ["t1", "t2", "t3", "t4", "alX", "alY", "pl1"],
        "item_type": ["track", "track", "track", "track", "album", "album", "playlist"],
        "parent_id": ["alX", "alX", "alY", "alY", None, None, None],
        "creator_id": ["ar1", "ar1", "ar2", "ar3", "ar1", "ar2", "ed"]}))
    ent = entity_plays(events(spark, rows), AS_OF, {}, items).toPandas()
    l1 = ent[ent["listener_id"] == "L1"]
    assert dict(zip(l1["entity_type"] + ":" + l1["item_id"], l1["plays"])) == {
        "track:t1": 1, "track:t3": 1, "playlist:pl1": 1, "album:alX": 1, "album:alY": 1, "artist:ar1": 1,
        "artist:ar2": 1}
    nb, _ = item_neighbours(spark, events(spark, rows), AS_OF, COOC, items_df=items)
    got = {(r["item_id"], r["neighbour_id"]): r["score"] for r in nb.collect()}
    assert got[("alX", "alY")] == pytest.approx(1.0)     # albums pair with albums (via parents)
    assert got[("ar1", "ar2")] == pytest.approx(2 / math.sqrt(6))  # ar1: L1 L2 L3; ar2: L1 L2
    kind = {"t": "track", "al": "album", "ar": "artist", "pl": "playlist"}
    type_of = lambda i: kind.get(i[:2], kind.get(i[:1]))  # noqa: E731
    assert all(type_of(a) == type_of(b) for a, b in got)   # never across types
    # without a catalog, context_id entities still get neighbours, under the pseudo-type "context"
    ctx = entity_plays(events(spark, rows), AS_OF, {}).toPandas()
    assert set(ctx[ctx["item_id"] == "pl1"]["entity_type"]) == {"context"}


def clustered(n_listeners=40):
    """Two taste clusters of 6 items each, one extra item only one listener played."""
    rows = []
    for k in range(n_listeners):
        group = ["a", "b"][k % 2]
        for j in range(6):
            if (k + j) % 5:  # most, not all, of the cluster
                rows.append((f"L{k:02d}", f"{group}{j}", 1 + (k + j) % 7))
    rows.append(("L00", "lonely", 3))
    return rows


def test_als_gives_factors_and_neighbours_deterministically(spark):
    from models.candidates.neighbours import item_neighbours

    config = {"neighbours": {"methods": ["als"], "top_n": 3, "min_item_listeners": 2, "seed": 3,
                             "als": {"rank": 4, "max_iter": 5, "reg_param": 0.05}}}
    runs = []
    for _ in range(2):
        nb, factors = item_neighbours(spark, events(spark, clustered()), AS_OF, config)
        runs.append((nb.toPandas().sort_values(["method", "item_id", "score"]).reset_index(drop=True),
                     factors.toPandas().sort_values("item_id").reset_index(drop=True)))
    nb, factors = runs[0]
    items = sorted(f"{g}{j}" for g in "ab" for j in range(6))
    assert factors["item_id"].tolist() == items                # every item with >= 2 listeners, not "lonely"
    assert all(len(f) == 4 for f in factors["factors"])
    als = nb[nb["method"] == "als"]
    assert sorted(als["item_id"].unique()) == items and (als.groupby("item_id").size() == 3).all()
    assert not (als["item_id"] == als["neighbour_id"]).any() and (als["score"] <= 1 + 1e-6).all()
    top = als.sort_values("score", ascending=False).groupby("item_id").head(1)
    assert (top["item_id"].str[0] == top["neighbour_id"].str[0]).all()   # the best neighbour is in-cluster
    assert set(nb["method"]) == {"als"}
    pd.testing.assert_frame_equal(runs[0][0], runs[1][0])
    assert all((a == b).all() for a, b in zip(runs[0][1]["factors"], runs[1][1]["factors"]))


def test_item_neighbours_job_end_to_end(spark, tmp_path):
    from jobs.neighbours import run

    data = tmp_path / "data"
    data.mkdir()
    rows = [(listener, item, f"2024-01-{day:02d}T10:00:00Z") for listener, item, day in
            [(r[0], r[1], 1 + r[2] % 9) for r in clustered(12)]]
    frame = pd.DataFrame(rows, columns=["listener_id", "item_id", "ts"]).assign(item_type="track")
    frame.loc[len(frame)] = ["", "a1", "2024-01-02T10:00:00Z", "track"]           # empty id: dropped
    frame.loc[len(frame)] = ["L01", "a1", "2024-02-01T10:00:00Z", "track"]        # after as_of
    # a folder of mixed formats: CSV with ISO-8601 times, JSON Lines with epoch seconds
    (data / "events").mkdir()
    half = len(frame) // 2
    frame.iloc[:half].to_csv(data / "events" / "part-0.csv", index=False)
    tail = frame.iloc[half:].assign(ts=lambda f: pd.to_datetime(f["ts"]).astype("int64") // 10**9)
    tail.to_json(data / "events" / "part-1.jsonl", orient="records", lines=True)
    (tmp_path / "cfg.yaml").write_text("neighbours:\n  top_n: 2\n  als: {rank: 3, max_iter: 3}\n")
    out = tmp_path / "out"
    args = SimpleNamespace(as_of=AS_OF, input=str(data), output=str(out), config=str(tmp_path / "cfg.yaml"),
                           master="local[1]", driver_memory="1g", spark_conf=[])
    assert run(args) == 0
    assert (out / "_SUCCESS").exists() and not (out / "_staging").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["events"] == {"files": 2, "read": len(frame), "dropped_null_or_empty": 1,
                                 "before_as_of": len(frame) - 2}
    assert summary["params"]["top_n"] == 2 and summary["matrix"]["catalog"] is False
    nb = load_neighbours(str(out))
    assert set(nb["method"]) == {"cooccurrence", "als"} and (nb.groupby(["item_id", "method"]).size() <= 2).all()
    factors = pq.read_table(out / "item_factors")
    typ = factors.schema.field("factors").type
    assert pa.types.is_list(typ) and typ.value_type == pa.float32()
    assert factors.num_rows == summary["item_factors"] > 0
    assert len(load_neighbours(str(out), methods="als")) == summary["neighbours"]["als"]["rows"]
    # the as_of that training and serving check (point in time) is the job's own, from any of the paths
    part = sorted((out / "neighbours").glob("*.parquet"))[0]
    for given in (out, out / "neighbours", part):
        assert table_as_of(str(given)) == (AS_OF, str(out / "summary.json"))


def write(path, table: dict):
    pq.write_table(pa.table(table), path)
    return str(path)


GOOD = {"item_id": ["a", "b"], "neighbour_id": ["b", "a"], "score": [0.5, 0.5], "method": ["als", "cooccurrence"]}


def test_load_neighbours_reads_and_checks_the_table(tmp_path):
    folder = tmp_path / "nb" / "neighbours"
    folder.mkdir(parents=True)
    write(folder / "part-0.parquet", GOOD)
    (folder / "_SUCCESS").write_text("")
    frame = load_neighbours(str(tmp_path / "nb"))
    assert list(frame.columns) == ["item_id", "neighbour_id", "score", "method"]
    assert str(frame["score"].dtype) == "float64" and len(frame) == 2
    assert load_neighbours(str(folder / "part-0.parquet"), methods=["als"])["item_id"].tolist() == ["a"]

    missing = write(tmp_path / "missing.parquet", {k: v for k, v in GOOD.items() if k != "score"})
    with pytest.raises(InputError, match=r"missing\.parquet.*'score'"):
        load_neighbours(missing)
    wrong = write(tmp_path / "wrong.parquet", {**GOOD, "score": ["x", "y"]})
    with pytest.raises(InputError, match=r"wrong\.parquet.*'score'.*numeric"):
        load_neighbours(wrong)
    method = write(tmp_path / "method.parquet", {**GOOD, "method": ["als", "pmi"]})
    with pytest.raises(InputError, match=r"method\.parquet.*'method'.*pmi"):
        load_neighbours(method)
    nulls = write(tmp_path / "nulls.parquet", {**GOOD, "neighbour_id": ["b", None]})
    with pytest.raises(InputError, match=r"nulls\.parquet.*'neighbour_id'.*null"):
        load_neighbours(nulls)
    with pytest.raises(InputError, match="no neighbours table"):
        load_neighbours(str(tmp_path / "empty"))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match=r"bad\.parquet.*cannot be read"):
        load_neighbours(str(tmp_path / "bad.parquet"))


def test_config_errors_name_the_key():
    from models.candidates.neighbours import neighbour_params

    assert neighbour_params({}).top_n == 50
    with pytest.raises(InputError, match="neighbours.top_n"):
        neighbour_params({"neighbours": {"top_n": 0}})
    with pytest.raises(InputError, match="neighbours.methods"):
        neighbour_params({"neighbours": {"methods": ["pmi"]}})
    with pytest.raises(InputError, match="als.rank"):
        neighbour_params({"neighbours": {"als": {"rank": "big"}}})
    with pytest.raises(InputError, match="unknown key"):
        neighbour_params({"neighbours": {"topn": 5}})


# Two disjoint clusters: listeners A1..A4 play only a1..a4, B1..B4 only b1..b4 (same pattern in both).
# Per cluster: n_1 = n_2 = 3, n_3 = n_4 = 2; n_12 = n_23 = 2, n_13 = n_14 = n_24 = n_34 = 1, so the cosines are
# 12: 2/3, 23: 2/sqrt(6) = 0.816, 34: 1/sqrt(4) = 0.5, and 13, 14, 24: 1/sqrt(6) = 0.408.
CLUSTER_PLAYS = {"1": ["1", "2", "3"], "2": ["1", "2"], "3": ["2", "3", "4"], "4": ["1", "4"]}
CLUSTER_COSINE = {("1", "2"): 2 / 3, ("2", "3"): 2 / math.sqrt(6), ("3", "4"): 1 / 2}  # >= 0.45: kept
CLUSTER_WEAK = {("1", "3"), ("1", "4"), ("2", "4")}                                      # 0.408 < 0.45


def two_clusters():
    return [(f"{c.upper()}{listener}", f"{c}{item}", 1 + k) for c in "ab"
            for listener, items in CLUSTER_PLAYS.items() for k, item in enumerate(items)]


def test_min_score_keeps_disjoint_clusters_apart(spark):
    """No neighbour crosses between two clusters no listener connects, for either method, and each method's
    ``min_score`` drops the pairs below it and keeps those above (ALS: the shipped default)."""
    import numpy as np

    from models.candidates.neighbours import defaults, item_neighbours

    als_floor = defaults()["min_score"]["als"]
    assert als_floor is not None and als_floor > 0
    config = {"neighbours": {"top_n": 10, "min_item_listeners": 1, "cap_listener_items": None,
                             "cap_item_listeners": None, "min_score": {"cooccurrence": 0.45}}}
    nb, factors = item_neighbours(spark, events(spark, two_clusters()), AS_OF, config)
    nb = nb.toPandas()
    assert len(nb) and (nb["item_id"].str[0] == nb["neighbour_id"].str[0]).all()   # never across clusters

    cooc = nb[nb["method"] == "cooccurrence"]
    got = {(r.item_id, r.neighbour_id): r.score for r in cooc.itertuples()}
    expected = {(f"{c}{x}", f"{c}{y}"): s for c in "ab" for (i, j), s in CLUSTER_COSINE.items()
                for x, y in ((i, j), (j, i))}
    assert got.keys() == expected.keys()                     # the three 1/sqrt(6) pairs per cluster are dropped
    assert all(got[k] == pytest.approx(v, abs=1e-12) for k, v in expected.items())
    assert not {(f"{c}{i}", f"{c}{j}") for c in "ab" for i, j in CLUSTER_WEAK} & got.keys()

    # ALS: cosines of the returned factors, computed here; every item has 3 same-cluster and 4 other-cluster
    # items, so with top_n 10 only the minimum can keep the other cluster out
    f = factors.toPandas().sort_values("item_id")
    ids = f["item_id"].tolist()
    mat = np.stack([np.asarray(v, dtype=np.float64) for v in f["factors"]])
    mat /= np.linalg.norm(mat, axis=1, keepdims=True)
    cos = mat @ mat.T
    cross = [cos[i, j] for i in range(len(ids)) for j in range(len(ids)) if ids[i][0] != ids[j][0]]
    assert len(ids) == 8 and max(abs(c) for c in cross) < als_floor   # unrelated: near-orthogonal factors
    als = {(r.item_id, r.neighbour_id): r.score for r in nb[nb["method"] == "als"].itertuples()}
    above = {(ids[i], ids[j]) for i in range(8) for j in range(8) if i != j and cos[i, j] >= als_floor + 1e-5}
    below = {(ids[i], ids[j]) for i in range(8) for j in range(8) if i != j and cos[i, j] < als_floor - 1e-5}
    assert above and above <= als.keys() and not below & als.keys()
    assert all(als[k] == pytest.approx(cos[ids.index(k[0]), ids.index(k[1])], abs=1e-5) for k in als)


def test_min_score_config():
    from models.candidates.neighbours import neighbour_params

    default = neighbour_params({}).min_score
    assert default.cooccurrence == 0.0 and 0 < default.als <= 0.2
    params = neighbour_params({"neighbours": {"min_score": {"als": None}}})
    assert params.min_score.als is None and params.min_score.cooccurrence == default.cooccurrence  # merged per key
    assert params.as_dict()["min_score"] == {"cooccurrence": default.cooccurrence, "als": None}
    assert neighbour_params({"min_score": {"cooccurrence": 0.2}}).min_score.cooccurrence == 0.2   # the section alone
    with pytest.raises(InputError, match=r"min_score\.pmi"):
        neighbour_params({"neighbours": {"min_score": {"pmi": 0.1}}})
    with pytest.raises(InputError, match=r"neighbours\.min_score\.als must be a number in \[-1, 1\]"):
        neighbour_params({"neighbours": {"min_score": {"als": 1.5}}})
    with pytest.raises(InputError, match=r"neighbours\.min_score must be a mapping"):
        neighbour_params({"neighbours": {"min_score": 0.1}})


# a catalog with every case of the mapping: a context that is not the parent, a context of another type,
# a context and an item missing from the catalog, an item without parent or creator, a played album
GUARD_ITEMS = pd.DataFrame({
    "item_id": ["t1", "t2", "t3", "alX", "alY", "alZ", "pl1", "e1", "sh1", "sh2"],
    "item_type": ["track", "track", "track", "album", "album", "album", "playlist", "episode", "show", "show"],
    "parent_id": ["alX", "alX", None, None, None, None, None, "sh1", None, None],
    "creator_id": ["ar1", "ar1", None, "ar1", "ar2", "ar3", "ed", "host", "host", "host2"]})
# (listener, item, item type, day of January 2024, context)
GUARD_PLAYS = [("L1", "t1", "track", 1, "pl1"), ("L1", "t2", "track", 2, "alY"), ("L1", "t1", "track", 3, None),
               ("L2", "t3", "track", 1, "ghost"), ("L2", "t3", "track", 2, ""), ("L2", "e1", "episode", 3, "sh1"),
               ("L3", "e2", "episode", 1, "sh2"), ("L3", "alZ", "album", 2, None), ("L3", "e1", "episode", 4, None),
               ("L3", "t2", "track", 12, "pl1")]   # day 12: after as_of, counts nowhere


def test_spark_play_to_entity_mapping_equals_resolve_entities(spark):
    """Guard (issue 13.4): the Spark neighbours job, transforms.listeners.catalog.resolve_entities (daily side
    tables) and the batch code path (candidates, features, labels) map plays to the same entities."""
    from models.candidates.neighbours import entity_plays, neighbour_params
    from tests.conftest import ms, one_batch
    from transforms.listeners.aggregates import SideTables
    from transforms.listeners.catalog import Catalog, resolve_entities
    from transforms.listeners.history import ListenerState, Profile, event_block

    frame = pd.DataFrame([(r[0], r[1], r[2], pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=r[3]), 60_000,
                           r[4]) for r in GUARD_PLAYS],
                         columns=["listener_id", "item_id", "item_type", "ts", "ms_played", "context_id"])
    ev = spark.createDataFrame(frame, "listener_id string, item_id string, item_type string, ts timestamp, "
                                      "ms_played long, context_id string")
    got = entity_plays(ev, AS_OF, {}, spark.createDataFrame(GUARD_ITEMS)).toPandas()
    spark_pairs = {(r.listener_id, r.entity_type, r.item_id): r.plays for r in got.itertuples()}

    catalog = Catalog.from_items(GUARD_ITEMS)
    before = frame[frame["ts"] < pd.Timestamp(AS_OF, tz="UTC")].reset_index(drop=True)
    types = neighbour_params({}).item_types
    assert sorted(types) == sorted(["track", "album", "artist", "playlist", "show", "episode"])
    expected: dict = {}
    for t in types:
        ent, _ = resolve_entities(before["item_id"], before["item_type"], before["context_id"], catalog, {t})
        for lid, e in zip(before["listener_id"], ent):
            if e is not None:
                expected[(lid, t, e)] = expected.get((lid, t, e), 0) + 1
    assert spark_pairs == expected
    # by hand, a few that matter: the context album wins over the parent, a missing context falls back
    assert expected[("L1", "album", "alY")] == 1 and expected[("L1", "album", "alX")] == 2  # t1 twice
    assert ("L2", "album", "ghost") not in expected and expected[("L2", "track", "t3")] == 2
    assert expected[("L3", "show", "sh2")] == 1 and ("L3", "artist", "e2") not in expected
    assert expected[("L2", "artist", "host")] == 1 and expected[("L3", "artist", "ar3")] == 1

    # the batch code path of the daily job and build-examples: one entity per play, the same priority
    states = [ListenerState(lid, Profile(registered_ms=ms("2023-01-01"), market="SE"),
                            event_block(before[before["listener_id"] == lid].reset_index(drop=True)))
              for lid in ("L1", "L2", "L3")]
    hist = one_batch(states, catalog, SideTables(ms(AS_OF), {}, {}, {}, {})).before(ms(AS_OF))
    batch_pairs: dict = {}
    for t in types:
        play, code = hist.entity_pairs([t])
        for lid, e in zip(hist.batch.listener_id[hist.who[play]], hist.batch.ids(code)):
            batch_pairs[(lid, t, e)] = batch_pairs.get((lid, t, e), 0) + 1
    assert batch_pairs == expected
