"""Quality benchmark of the published ``shortcuts`` shelf (issue 14, point 7): ``python bench/quality.py``.

What one run does:

1. **Train once**: ``home-recs build-examples`` at the ``--train-days`` as_of dates before ``--train-as-of``
   (horizon 1d, shortcuts only), then ``home-recs train --shelf shortcuts``.
2. **Serve every day** of ``--from .. --to``: ``home-recs daily --date D --model shortcuts=MODEL`` into
   ``WORK/out`` (published tables, as a user would read them).
3. **Score the published tables.** For each day D, a listener-day is a query when the listener was served
   shortcuts on D, had plays before D, and played on D something they had played before D (relevant items:
   the entities of those plays at the levels the shelf serves, :func:`models.evaluation.layout_eval.touched`, that were
   also played before D). The served list is ranked by ``position``. Against it, on the same queries, three
   baselines rank the listener's whole history before D (the entities of every past play at the served
   levels): recency (last play), frequency (plays) and ACT-R (sum of age_days^-0.5, Reiter-Haas et al.,
   RecSys 2021). Metrics: NDCG@k and HitRate@k at k = 6 (the served size) and 10, macro over queries
   (binary relevance, IDCG over min(k, |relevant|)); paired percentile bootstrap intervals (1,000 resamples)
   of served minus each baseline.

Prints a table and writes ``WORK/quality.json``. Figures go to bench/README.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.lifecycle.gate import paired_bootstrap  # noqa: E402
from models.evaluation.layout_eval import touched  # noqa: E402
from transforms.io.read import read_plays  # noqa: E402

KS = (6, 10)


def run(cmd: list[str], log: Path) -> None:
    started = time.time()
    with log.open("a") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode not in (0,):
        sys.exit(f"quality: {' '.join(cmd[:3])} failed (exit {proc.returncode}); see {log}")
    print(f"  {' '.join(cmd[1:3])} {cmd[3] if len(cmd) > 3 else ''}: {time.time() - started:.1f} s", flush=True)


def ndcg_hit(ranked: list, relevant: set, k: int) -> tuple[float, float]:
    """NDCG@k and HitRate@k of one ranked list (binary relevance; IDCG over min(k, |relevant|))."""
    gains = [1.0 / np.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in relevant]
    ideal = sum(1.0 / np.log2(i + 2) for i in range(min(k, len(relevant))))
    return (sum(gains) / ideal if ideal else 0.0), float(bool(gains))


def baselines(history: pd.DataFrame, day: pd.Timestamp) -> dict[str, dict[str, list]]:
    """name -> listener -> entities ranked by the baseline (history: listener_id, item_id = entity, ts)."""
    age = (day - history["ts"]).dt.total_seconds().to_numpy() / 86_400
    age = np.maximum(age, 1 / 86_400)
    h = history.assign(age=age, w=age ** -0.5)   # one column, summed by the groupby: no Python per group
    g = h.groupby(["listener_id", "item_id"]).agg(last=("age", "min"), plays=("age", "size"), actr=("w", "sum"))
    g = g.reset_index()
    out = {}
    for name, col, asc in (("recency", "last", True), ("frequency", "plays", False), ("actr", "actr", False)):
        ranked = g.sort_values(["listener_id", col, "item_id"], ascending=[True, asc, True])
        out[name] = ranked.groupby("listener_id")["item_id"].apply(list).to_dict()
    return out


def entity_plays(events: pd.DataFrame, items: pd.DataFrame, levels: set[str]) -> pd.DataFrame:
    """Each play's entities at the served levels: listener_id, item_id (the entity), ts."""
    cat = items.set_index("item_id")
    type_of = cat["item_type"].to_dict()
    e = events.merge(items[["item_id", "parent_id", "creator_id"]], on="item_id", how="left")
    parts = []
    for col in ("item_id", "parent_id", "creator_id", "context_id"):
        ids = e[col]
        kinds = ids.map(type_of)
        if col == "creator_id":
            kinds = kinds.fillna("artist")
        if col == "context_id":
            kinds = kinds.fillna("playlist")
        keep = ids.notna() & kinds.isin(levels)
        parts.append(e.loc[keep, ["listener_id", "ts"]].assign(item_id=ids[keep]))
    return pd.concat(parts, ignore_index=True).drop_duplicates()


def score(work: Path, events: pd.DataFrame, items: pd.DataFrame, days: list[str]) -> dict:
    per_query = {name: {k: [] for k in KS} for name in ("served", "recency", "frequency", "actr")}
    hits = {name: {k: [] for k in KS} for name in per_query}
    n_queries = 0
    for day in days:
        d0 = pd.Timestamp(day, tz="UTC")
        served = pd.read_parquet(work / "out" / "recommendations" / f"dt={day}" / "shelf=shortcuts")
        levels = set(served["item_type"].dropna())
        before = entity_plays(events[events["ts"] < d0], items, levels)
        today = events[(events["ts"] >= d0) & (events["ts"] < d0 + pd.Timedelta(days=1))]
        played_today = touched(today.merge(items[["item_id", "parent_id", "creator_id"]], on="item_id", how="left"))
        past = before[["listener_id", "item_id"]].drop_duplicates()
        relevant = played_today.merge(past, on=["listener_id", "item_id"])
        relevant = relevant.groupby("listener_id")["item_id"].apply(set).to_dict()
        lists = served.sort_values(["listener_id", "position"]).groupby("listener_id")["item_id"].apply(list).to_dict()
        base = baselines(before, d0)
        for lid, rel in relevant.items():
            if lid not in lists:
                continue
            n_queries += 1
            for name, ranked in [("served", lists[lid])] + [(b, base[b].get(lid, [])) for b in base]:
                for k in KS:
                    n, h = ndcg_hit(ranked, rel, k)
                    per_query[name][k].append(n)
                    hits[name][k].append(h)
    out = {"queries": n_queries, "days": days, "metrics": {}}
    for k in KS:
        served_k = np.asarray(per_query["served"][k])
        row = {}
        for name in per_query:
            row[name] = {"ndcg": float(np.mean(per_query[name][k])), "hit_rate": float(np.mean(hits[name][k]))}
            if name != "served":
                diff = served_k - np.asarray(per_query[name][k])
                low, high = paired_bootstrap(diff, 1000, 0.95)
                row[name].update({"served_minus_ndcg": float(diff.mean()), "low": low, "high": high,
                                  "served_over": float(served_k.mean() / max(np.mean(per_query[name][k]), 1e-12))})
        out["metrics"][f"k={k}"] = row
    return out


def score_playlists(work: Path, events: pd.DataFrame, items: pd.DataFrame, days: list[str],
                    neighbours: str | None) -> dict:
    """The cold-start ``playlists`` shelf: relevant = entities at the served levels that a listener served the
    shelf played on D and had not played before D (discovery); baselines: popularity (distinct listeners in
    [D - 28 d, D), all markets) and, with ``neighbours``, co-listening (sum of the cooccurrence scores of the
    listener's past items), both without what the listener played. NDCG@10 and HitRate@10."""
    from transforms.io.neighbours_table import load_neighbours

    nb = load_neighbours(neighbours, "cooccurrence") if neighbours else None
    rows: dict[str, list] = {"served": [], "popularity": [], "colisten": []}
    hits: dict[str, list] = {k: [] for k in rows}
    for day in days:
        d0 = pd.Timestamp(day, tz="UTC")
        path = work / "out" / "recommendations" / f"dt={day}" / "shelf=playlists"
        if not path.exists():
            continue
        served = pd.read_parquet(path)
        levels = set(served["item_type"].dropna())
        before = entity_plays(events[events["ts"] < d0], items, levels)
        today = entity_plays(events[(events["ts"] >= d0) & (events["ts"] < d0 + pd.Timedelta(days=1))], items, levels)
        recent = before[before["ts"] >= d0 - pd.Timedelta(days=28)]
        popular = recent.groupby("item_id")["listener_id"].nunique().sort_values(ascending=False).index.tolist()
        past = before.groupby("listener_id")["item_id"].apply(set).to_dict()
        new = today.groupby("listener_id")["item_id"].apply(set).to_dict()
        lists = served.sort_values(["listener_id", "position"]).groupby("listener_id")["item_id"].apply(list).to_dict()
        for lid, ranked in lists.items():
            mine = past.get(lid, set())
            rel = new.get(lid, set()) - mine
            if not rel:
                continue
            pop = [i for i in popular[:10 + len(mine)] if i not in mine][:10]
            cands = {"served": ranked, "popularity": pop}
            if nb is not None:
                near = nb[nb["item_id"].isin(mine) & ~nb["neighbour_id"].isin(mine)]
                cands["colisten"] = near.groupby("neighbour_id")["score"].sum().sort_values(
                    ascending=False).index[:10].tolist()
            for name, ranked_list in cands.items():
                n, h = ndcg_hit(ranked_list, rel, 10)
                rows[name].append(n)
                hits[name].append(h)
    served_v = np.asarray(rows["served"])
    out = {"queries": int(len(served_v))}
    for name in rows:
        if not rows[name]:
            continue
        out[name] = {"ndcg": float(np.mean(rows[name])), "hit_rate": float(np.mean(hits[name]))}
        if name != "served":
            diff = served_v - np.asarray(rows[name])
            low, high = paired_bootstrap(diff, 1000, 0.95)
            out[name].update({"served_minus_ndcg": float(diff.mean()), "low": low, "high": high,
                              "served_over": float(served_v.mean() / max(np.mean(rows[name]), 1e-12))})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True, help="dataset folder (e.g. the 30Music import)")
    ap.add_argument("--work", required=True, help="scratch folder (examples, model, published days, quality.json)")
    ap.add_argument("--train-as-of", default="2014-12-21")
    ap.add_argument("--train-days", type=int, default=28)
    ap.add_argument("--from", dest="start", default="2014-12-22")
    ap.add_argument("--to", dest="end", default="2015-01-04")
    ap.add_argument("--home-recs", default=str(Path(sys.executable).parent / "home-recs"))
    ap.add_argument("--neighbours", help="item-neighbours output built at or before --from: the co-listening "
                                         "baseline of the playlists shelf (and served with daily --neighbours)")
    ap.add_argument("--config", help="config YAML given to build-examples, train and daily (e.g. other heuristic "
                                      "weights); the work folder caches the model and days, so use a new --work")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "quality.log"
    train_end = dt.date.fromisoformat(args.train_as_of)
    as_ofs = [(train_end - dt.timedelta(days=i)).isoformat() for i in range(args.train_days, 0, -1)]
    days = [(dt.date.fromisoformat(args.start) + dt.timedelta(days=i)).isoformat()
            for i in range((dt.date.fromisoformat(args.end) - dt.date.fromisoformat(args.start)).days + 1)]
    hr = args.home_recs
    cfg = ["--config", args.config] if args.config else []
    print(f"quality: train at {as_ofs[0]}..{as_ofs[-1]}, serve {days[0]}..{days[-1]}; log {log}", flush=True)
    if not (work / "model" / "model.json").exists():
        run([hr, "build-examples", "--as-of", ",".join(as_ofs), "--horizon", "1d", "--shelf", "shortcuts",
             "--input", args.input, "--output", str(work / "examples")] + cfg, log)
        run([hr, "train", "--shelf", "shortcuts", "--examples", str(work / "examples"), "--output",
             str(work / "model")] + cfg, log)
    for day in days:
        if not (work / "out" / "_manifests" / f"dt={day}" / "_SUCCESS").exists():
            run([hr, "daily", "--date", day, "--input", args.input, "--output", str(work / "out"),
                 "--model", f"shortcuts={work / 'model'}"] + cfg
                + (["--neighbours", args.neighbours] if args.neighbours else []), log)
    events, items = read_plays(args.input)   # once, for both shelves
    result = score(work, events, items, days)
    result["playlists"] = score_playlists(work, events, items, days, args.neighbours)
    (work / "quality.json").write_text(json.dumps(result, indent=2))
    print(f"\nshortcuts, published tables, {result['queries']:,} listener-days ({days[0]}..{days[-1]})")
    pl = result["playlists"]
    print(f"playlists (cold start), published tables, {pl['queries']:,} listener-days, @10: " + "; ".join(
        f"{name} NDCG {r['ndcg']:.4f} HR {r['hit_rate']:.4f}"
        + (f" (served - it {r['served_minus_ndcg']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}], x{r['served_over']:.3f})"
           if "low" in r else "") for name, r in pl.items() if name != "queries"))
    for k, row in result["metrics"].items():
        print(f"  {k}: " + "; ".join(
            f"{name} NDCG {r['ndcg']:.4f} HR {r['hit_rate']:.4f}"
            + (f" (served - it {r['served_minus_ndcg']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}], "
               f"x{r['served_over']:.3f})" if "low" in r else "") for name, r in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
