#!/usr/bin/env python3
"""Compare two outputs of home-recs bit for bit (baseline vs rewrite).

Two modes:

``python bench/compare_outputs.py BASE_OUT NEW_OUT --date D [--json FILE] [--examples-shown N]``
    compares two ``home-recs daily`` output roots for one date:

    recommendations   OUT/recommendations/dt=D/shelf=S/*.parquet. Per shelf: rows and listeners on each
                      side; listeners whose ordered list of (position, item_id, item_type, source,
                      candidate_source, model_version) differs (a listener on one side only counts as
                      differing); listeners whose ordered list of scores differs (exact float comparison,
                      NaN == NaN, null == null, null != NaN); the largest |score difference| on rows whose list entry is equal; up to
                      N example listeners printed side by side. ``run_id`` is ignored.
    served_features   OUT/served_features/dt=D/shelf=S/*.parquet (written by ``daily --log-features``),
                      compared when present on both sides (present on one side only is reported and counts
                      as a difference). Per shelf: (listener_id, item_id) keys on each side / only on one
                      side; on common keys, per column, the number of values that are not bit-identical
                      (NaN == NaN, null == null, -0.0 != 0.0), ``candidate_source`` and ``as_of`` included.
    feature_stats     OUT/feature_stats/dt=D/<shelf>.json: JSON equality, ignoring volatile keys (run ids,
                      timestamps, wall times, see VOLATILE_KEYS); the differing JSON paths are listed.
    manifest          OUT/_manifests/dt=D/manifest.json: per-shelf rows / listeners / ranking / model_version /
                      fallback, per-input read / accepted / rejected / reconciles, the listener counters both
                      sides have. A counter on one side only and the config fingerprint are printed as notes,
                      not differences.

``python bench/compare_outputs.py --examples BASE_EX NEW_EX [--json FILE]``
    compares two ``home-recs build-examples`` folders: per EX/shelf=S/*.parquet, the key sets on
    (listener_id, as_of, item_id) and, on common keys, bit-identity of every feature column, ``label``
    and ``candidate_source``; plus feature_stats/<shelf>.json, candidate_recall.json and summary.json
    (volatile keys ignored).

Exit code 0 when everything compared is identical, 1 when anything differs, 2 on bad usage / unreadable
input. ``--json FILE`` also writes the full report as JSON. Standard library + pandas + pyarrow only.
Float columns are compared on their bit patterns in their own dtype; a dtype change is reported as a
difference (values are then compared after casting both sides to float64).
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

REC_LIST_COLS = ["position", "item_id", "item_type", "source", "candidate_source", "model_version"]
REC_IGNORED = {"run_id"}
SERVED_KEY = ["listener_id", "item_id"]
EXAMPLES_KEY = ["listener_id", "as_of", "item_id"]
# JSON keys whose values legitimately change between two runs of the same code
VOLATILE_KEYS = {"run_id", "wall_time_s", "timings_s", "finished_at", "started_at", "created_at",
                 "generated_at", "written_at", "computed_at", "timestamp", "time", "output", "input",
                 "last_updated"}


# ----------------------------------------------------------------------------------------- reading

def parquet_files(folder: str) -> list[str]:
    """The published ``*.parquet`` files directly in ``folder`` (no hidden / ``_`` files, no sub-folders)."""
    return sorted(f for f in glob.glob(os.path.join(folder, "*.parquet"))
                  if not os.path.basename(f).startswith(("_", ".")) and os.path.isfile(f))


def read_folder(folder: str) -> pa.Table | None:
    """All Parquet files of a folder as one table (``None`` when the folder does not exist)."""
    if not os.path.isdir(folder):
        return None
    files = parquet_files(folder)
    if not files:
        return pa.table({})
    tables = [pq.read_table(f) for f in files]
    return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]


def shelf_dirs(root: str) -> dict[str, str]:
    """``{shelf: path}`` of the ``shelf=S`` folders under ``root``."""
    if not os.path.isdir(root):
        return {}
    return {d.split("=", 1)[1]: os.path.join(root, d) for d in sorted(os.listdir(root))
            if d.startswith("shelf=") and os.path.isdir(os.path.join(root, d))}


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


# ------------------------------------------------------------------------------------- comparisons

def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise identity for object/str/int columns (None/NaN == None/NaN)."""
    na_a, na_b = a.isna().to_numpy(), b.isna().to_numpy()
    eq = (a.to_numpy(dtype=object) == b.to_numpy(dtype=object))
    eq = np.asarray(eq, dtype=bool)
    return (na_a & na_b) | (~na_a & ~na_b & eq)


def _bits(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x)
    return x.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[x.dtype.itemsize])


def same_values(a: pa.ChunkedArray | pa.Array, b: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Bit-identity of two equally long Arrow columns: floats on their bit patterns (any NaN == any NaN),
    null == null, anything else by value equality. Different types: floats compared as float64."""
    a = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
    b = b.combine_chunks() if isinstance(b, pa.ChunkedArray) else b
    null_a = a.is_null().to_numpy(zero_copy_only=False)
    null_b = b.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_floating(a.type) and pa.types.is_floating(b.type):
        if a.type != b.type:
            a, b = a.cast(pa.float64()), b.cast(pa.float64())
        va = a.fill_null(0).to_numpy(zero_copy_only=False)
        vb = b.fill_null(0).to_numpy(zero_copy_only=False)
        nan_a, nan_b = np.isnan(va), np.isnan(vb)
        eq = (_bits(va) == _bits(vb)) | (nan_a & nan_b)
    else:
        if a.type != b.type:
            try:
                b = b.cast(a.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                a, b = a.cast(pa.string()), b.cast(pa.string())
        eq = np.asarray(pa.compute.fill_null(pa.compute.equal(a, b), False).to_numpy(zero_copy_only=False), bool)
    return (null_a & null_b) | (~null_a & ~null_b & eq)


def _diff_json(a, b, path="$", out=None, limit=20):
    """Paths where two JSON values differ (volatile keys skipped); floats compared exactly (NaN == NaN)."""
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k in VOLATILE_KEYS or str(k).endswith("_at"):
                continue
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'new' if k not in a else 'base'}")
            else:
                _diff_json(a[k], b[k], f"{path}.{k}", out, limit)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: list length {len(a)} vs {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            _diff_json(x, y, f"{path}[{i}]", out, limit)
    else:
        both_nan = (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
        if not both_nan and (a != b or type(a) is not type(b) and not (
                isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b)):
            out.append(f"{path}: {_short(a)} vs {_short(b)}")
    return out


def _short(v, n=80):
    s = json.dumps(v, default=str)
    return s if len(s) <= n else s[:n - 3] + "..."


def compare_json_files(base: str, new: str) -> dict:
    present = (os.path.isfile(base), os.path.isfile(new))
    if present != (True, True):
        if present == (False, False):
            return {"present": "neither", "identical": True, "differences": []}
        return {"present": "base only" if present[0] else "new only", "identical": False,
                "differences": ["file missing on one side"]}
    diffs = _diff_json(read_json(base), read_json(new))
    return {"present": "both", "identical": not diffs, "differences": diffs}


def compare_recommendations(base_dir: str, new_dir: str, shown: int) -> dict:
    base_shelves, new_shelves = shelf_dirs(base_dir), shelf_dirs(new_dir)
    out = {"present": [os.path.isdir(base_dir), os.path.isdir(new_dir)], "shelves": {}}
    for shelf in sorted(set(base_shelves) | set(new_shelves)):
        b = read_folder(base_shelves[shelf]) if shelf in base_shelves else None
        n = read_folder(new_shelves[shelf]) if shelf in new_shelves else None
        out["shelves"][shelf] = compare_rec_shelf(b, n, shown)
    out["identical"] = all(out["present"]) and all(s["identical"] for s in out["shelves"].values())
    return out


def _rec_frame(t: pa.Table | None) -> pd.DataFrame:
    cols = ["listener_id"] + REC_LIST_COLS + ["score"]
    if t is None or t.num_columns == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols + ["_score_null"]})
    df = t.to_pandas()
    for c in cols:
        if c not in df:
            df[c] = None
    df = df[cols].copy()
    # pandas turns a null score into NaN: keep the null mask so that null != NaN
    df["_score_null"] = (t.column("score").is_null().to_numpy(zero_copy_only=False) if "score" in t.column_names
                         else np.ones(len(df), bool))
    return df


def compare_rec_shelf(bt: pa.Table | None, nt: pa.Table | None, shown: int) -> dict:
    res = {"folder": {"base": bt is not None, "new": nt is not None}}
    schema_diff = []
    if bt is not None and nt is not None and bt.num_columns and nt.num_columns:
        bs = {f.name: str(f.type) for f in bt.schema if f.name not in REC_IGNORED}
        ns = {f.name: str(f.type) for f in nt.schema if f.name not in REC_IGNORED}
        schema_diff = [f"{c}: {bs.get(c, '-')} vs {ns.get(c, '-')}" for c in sorted(set(bs) | set(ns))
                       if bs.get(c) != ns.get(c)]
    b, n = _rec_frame(bt), _rec_frame(nt)
    for side, df in (("base", b), ("new", n)):
        res[side] = {"rows": int(len(df)), "listeners": int(df["listener_id"].nunique())}
    b = b.sort_values(["listener_id", "position"], kind="stable").reset_index(drop=True)
    n = n.sort_values(["listener_id", "position"], kind="stable").reset_index(drop=True)
    b["_k"] = b.groupby("listener_id").cumcount()
    n["_k"] = n.groupby("listener_id").cumcount()
    m = b.merge(n, on=["listener_id", "_k"], how="outer", suffixes=("_b", "_n"), indicator=True)
    both = (m["_merge"] == "both").to_numpy()
    row_same = both.copy()
    for c in REC_LIST_COLS:
        row_same &= _same(m[c + "_b"], m[c + "_n"])
    sb = pd.to_numeric(m["score_b"], errors="coerce").to_numpy(dtype=float)
    sn = pd.to_numeric(m["score_n"], errors="coerce").to_numpy(dtype=float)
    score_same = both & ((sb == sn) | (np.isnan(sb) & np.isnan(sn))) & _same(m["_score_null_b"], m["_score_null_n"])
    lb, ln = set(b["listener_id"]), set(n["listener_id"])
    bad_list = set(m.loc[~row_same, "listener_id"])
    bad_score = set(m.loc[~score_same, "listener_id"])
    aligned = row_same & ~score_same
    max_abs = float(np.nanmax(np.abs(sb[aligned] - sn[aligned]))) if aligned.any() else 0.0
    res.update({
        "listeners_only_base": len(lb - ln), "listeners_only_new": len(ln - lb),
        "listeners_list_differs": len(bad_list), "listeners_score_differs": len(bad_score),
        "rows_score_differs_same_entry": int(aligned.sum()), "max_abs_score_diff_same_entry": max_abs,
        "schema_differences": schema_diff,
    })
    res["identical"] = (not bad_list and not bad_score and not schema_diff
                        and res["folder"]["base"] == res["folder"]["new"])
    res["examples"] = [_rec_example(b, n, lid) for lid in sorted(bad_list | bad_score)[:shown]]
    return res


def _rec_example(b: pd.DataFrame, n: pd.DataFrame, lid: str) -> dict:
    def rows(df):
        sel = df.loc[df["listener_id"] == lid]
        out = []
        for r, null in zip(sel[REC_LIST_COLS + ["score"]].itertuples(index=False), sel["_score_null"]):
            r = [None if v is None or (isinstance(v, float) and math.isnan(v) and c != "score") else
                 (v.item() if hasattr(v, "item") else v) for c, v in zip(REC_LIST_COLS + ["score"], r)]
            if null:
                r[-1] = None
            out.append(r)
        return out
    return {"listener_id": lid, "base": rows(b), "new": rows(n)}


def compare_table(bt: pa.Table, nt: pa.Table, key: list[str], shown: int) -> dict:
    """Key sets and per-column bit-identity on common keys of two tables (duplicate keys are aligned by
    their order of appearance after sorting on all columns and reported)."""
    res = {"base": {"rows": bt.num_rows}, "new": {"rows": nt.num_rows}}
    missing = [c for c in key if c not in bt.column_names or c not in nt.column_names]
    if missing:
        res.update({"identical": False, "error": f"key column(s) {missing} missing"})
        return res
    bs = {f.name: str(f.type) for f in bt.schema}
    ns = {f.name: str(f.type) for f in nt.schema}
    res["columns_only_base"] = sorted(set(bs) - set(ns))
    res["columns_only_new"] = sorted(set(ns) - set(bs))
    res["dtype_differences"] = {c: [bs[c], ns[c]] for c in bs if c in ns and bs[c] != ns[c]}
    kb = _key_frame(bt, key)
    kn = _key_frame(nt, key)
    res["base"]["duplicate_keys"] = int(kb["_dup"].gt(0).sum())
    res["new"]["duplicate_keys"] = int(kn["_dup"].gt(0).sum())
    m = kb.merge(kn, on=key + ["_dup"], how="outer", indicator=True)
    res["keys_only_base"] = int((m["_merge"] == "left_only").sum())
    res["keys_only_new"] = int((m["_merge"] == "right_only").sum())
    common = m[m["_merge"] == "both"]
    res["common_keys"] = int(len(common))
    ib = pa.array(common["_row_x"].to_numpy(dtype=np.int64))
    inn = pa.array(common["_row_y"].to_numpy(dtype=np.int64))
    value_diffs, samples = {}, {}
    for c in [c for c in bt.column_names if c in ns and c not in key]:
        a, b = bt.column(c).take(ib), nt.column(c).take(inn)
        same = same_values(a, b)
        nd = int((~same).sum())
        if nd:
            value_diffs[c] = nd
            idx = np.flatnonzero(~same)[:shown]
            samples[c] = [{**{k: _py(common[k].iloc[i]) for k in key},
                           "base": _py(a[int(i)].as_py()), "new": _py(b[int(i)].as_py())} for i in idx]
    res["values_differ"] = value_diffs
    res["value_examples"] = samples
    res["identical"] = not (res["keys_only_base"] or res["keys_only_new"] or value_diffs or res["columns_only_base"]
                            or res["columns_only_new"] or res["dtype_differences"]
                            or res["base"]["duplicate_keys"] != res["new"]["duplicate_keys"])
    return res


def _py(v):
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    return v


def _key_frame(t: pa.Table, key: list[str]) -> pd.DataFrame:
    df = t.select(key).to_pandas()
    df["_row"] = np.arange(len(df))
    df = df.sort_values(key + ["_row"], kind="stable")
    df["_dup"] = df.groupby(key, dropna=False).cumcount()
    return df


def compare_served(base_dir: str, new_dir: str, shown: int) -> dict:
    present = [os.path.isdir(base_dir), os.path.isdir(new_dir)]
    out = {"present": present, "shelves": {}}
    if not all(present):
        out["identical"] = not any(present)
        out["note"] = ("not written on either side" if not any(present)
                       else f"only on the {'base' if present[0] else 'new'} side (run daily with --log-features)")
        return out
    bsh, nsh = shelf_dirs(base_dir), shelf_dirs(new_dir)
    for shelf in sorted(set(bsh) | set(nsh)):
        if shelf not in bsh or shelf not in nsh:
            out["shelves"][shelf] = {"identical": False, "error": f"shelf folder only on the "
                                                                  f"{'base' if shelf in bsh else 'new'} side"}
            continue
        out["shelves"][shelf] = compare_table(read_folder(bsh[shelf]), read_folder(nsh[shelf]), SERVED_KEY, shown)
    out["identical"] = all(s["identical"] for s in out["shelves"].values())
    return out


def compare_feature_stats(base_dir: str, new_dir: str) -> dict:
    names = sorted({os.path.basename(p) for d in (base_dir, new_dir) for p in glob.glob(os.path.join(d, "*.json"))})
    out = {"files": {n[:-5]: compare_json_files(os.path.join(base_dir, n), os.path.join(new_dir, n))
                     for n in names}}
    out["identical"] = all(f["identical"] for f in out["files"].values())
    return out


def compare_manifest(base: str, new: str) -> dict:
    if not (os.path.isfile(base) and os.path.isfile(new)):
        return {"identical": False, "differences": [f"manifest missing: base {os.path.isfile(base)}, "
                                                    f"new {os.path.isfile(new)}"]}
    mb, mn = read_json(base), read_json(new)
    diffs = []

    def cmp(label, a, b):
        if a != b:
            diffs.append(f"{label}: {_short(a)} vs {_short(b)}")

    for s in sorted(set(mb.get("shelves", {})) | set(mn.get("shelves", {}))):
        a, b = mb.get("shelves", {}).get(s, {}), mn.get("shelves", {}).get(s, {})
        for k in ("rows", "listeners", "kind", "ranking", "model_version", "fallback", "fallback_reason"):
            cmp(f"shelves.{s}.{k}", a.get(k), b.get(k))
    for t in sorted(set(mb.get("inputs", {})) | set(mn.get("inputs", {}))):
        a, b = mb.get("inputs", {}).get(t, {}), mn.get("inputs", {}).get(t, {})
        for k in ("read", "accepted", "rejected", "reconciles"):
            cmp(f"inputs.{t}.{k}", a.get(k), b.get(k))
    # listener counters both sides have must agree; a counter only one side has (a new one) and a
    # changed config fingerprint are reported as notes: they say nothing about the outputs
    lb, ln = mb.get("listeners") or {}, mn.get("listeners") or {}
    for k in sorted(set(lb) & set(ln)):
        cmp(f"listeners.{k}", lb[k], ln[k])
    notes = [f"listeners.{k} only in {'base' if k in lb else 'new'}" for k in sorted(set(lb) ^ set(ln))]
    if mb.get("config_fingerprint") != mn.get("config_fingerprint"):
        notes.append(f"config_fingerprint {mb.get('config_fingerprint')} vs {mn.get('config_fingerprint')}")
    summary = {s: {"base": [c.get("rows"), c.get("listeners")], "new": [mn.get("shelves", {}).get(s, {}).get("rows"),
                                                                        mn.get("shelves", {}).get(s, {}).get("listeners")]}
               for s, c in mb.get("shelves", {}).items()}
    return {"identical": not diffs, "differences": diffs, "notes": notes, "shelves_rows_listeners": summary}


def compare_daily(base: str, new: str, date: str, shown: int) -> dict:
    part = f"dt={date}"
    rep = {"mode": "daily", "base": base, "new": new, "date": date, "sections": {
        "recommendations": compare_recommendations(os.path.join(base, "recommendations", part),
                                                   os.path.join(new, "recommendations", part), shown),
        "served_features": compare_served(os.path.join(base, "served_features", part),
                                          os.path.join(new, "served_features", part), shown),
        "feature_stats": compare_feature_stats(os.path.join(base, "feature_stats", part),
                                               os.path.join(new, "feature_stats", part)),
        "manifest": compare_manifest(os.path.join(base, "_manifests", part, "manifest.json"),
                                     os.path.join(new, "_manifests", part, "manifest.json")),
    }}
    rep["identical"] = all(s["identical"] for s in rep["sections"].values())
    return rep


def compare_examples(base: str, new: str, shown: int) -> dict:
    bsh, nsh = shelf_dirs(base), shelf_dirs(new)
    shelves = {}
    for shelf in sorted(set(bsh) | set(nsh)):
        if shelf not in bsh or shelf not in nsh:
            shelves[shelf] = {"identical": False,
                              "error": f"shelf folder only on the {'base' if shelf in bsh else 'new'} side"}
            continue
        shelves[shelf] = compare_table(read_folder(bsh[shelf]), read_folder(nsh[shelf]), EXAMPLES_KEY, shown)
    rep = {"mode": "examples", "base": base, "new": new, "sections": {
        "examples": {"shelves": shelves, "identical": bool(shelves) and all(s["identical"] for s in shelves.values())},
        "feature_stats": compare_feature_stats(os.path.join(base, "feature_stats"), os.path.join(new, "feature_stats")),
        "json": {"files": {n: compare_json_files(os.path.join(base, n), os.path.join(new, n))
                           for n in ("candidate_recall.json", "summary.json")}},
    }}
    rep["sections"]["json"]["identical"] = all(f["identical"] for f in rep["sections"]["json"]["files"].values())
    rep["identical"] = all(s["identical"] for s in rep["sections"].values())
    return rep


# ----------------------------------------------------------------------------------------- report

def _mark(ok: bool) -> str:
    return "same" if ok else "DIFFERS"


def print_report(rep: dict) -> None:
    p = print
    p(f"compare {rep['mode']}: base {rep['base']}  vs  new {rep['new']}" + (f"  (dt={rep['date']})" if "date" in rep
                                                                           else ""))
    for name, sec in rep["sections"].items():
        p(f"\n== {name}: {_mark(sec['identical'])}")
        if name == "recommendations":
            if not all(sec["present"]):
                p(f"   folder present: base {sec['present'][0]}, new {sec['present'][1]}")
            p(f"   {'shelf':<14} {'rows base':>10} {'rows new':>10} {'lstn base':>10} {'lstn new':>10} "
              f"{'list diff':>10} {'score diff':>10}  max|dscore|")
            for s, r in sec["shelves"].items():
                p(f"   {s:<14} {r['base']['rows']:>10,} {r['new']['rows']:>10,} {r['base']['listeners']:>10,} "
                  f"{r['new']['listeners']:>10,} {r['listeners_list_differs']:>10,} {r['listeners_score_differs']:>10,}"
                  f"  {r['max_abs_score_diff_same_entry']:.3g}")
            for s, r in sec["shelves"].items():
                if r["listeners_only_base"] or r["listeners_only_new"]:
                    p(f"   {s}: listeners only in base {r['listeners_only_base']:,}, only in new "
                      f"{r['listeners_only_new']:,}")
                if r["schema_differences"]:
                    p(f"   {s}: schema differs: {'; '.join(r['schema_differences'])}")
                for ex in r["examples"]:
                    _print_rec_example(s, ex)
        elif name in ("served_features", "examples"):
            if sec.get("note"):
                p(f"   {sec['note']}")
            for s, r in sec.get("shelves", {}).items():
                if "error" in r:
                    p(f"   {s}: {r['error']}")
                    continue
                p(f"   {s}: rows base {r['base']['rows']:,} new {r['new']['rows']:,}; common keys "
                  f"{r['common_keys']:,}, only base {r['keys_only_base']:,}, only new {r['keys_only_new']:,}"
                  + (f"; duplicate keys base {r['base']['duplicate_keys']:,} new {r['new']['duplicate_keys']:,}"
                     if r['base']['duplicate_keys'] or r['new']['duplicate_keys'] else "")
                  + f" -> {_mark(r['identical'])}")
                for what in ("columns_only_base", "columns_only_new"):
                    if r[what]:
                        p(f"      {what.replace('_', ' ')}: {', '.join(r[what])}")
                for c, (tb, tn) in r["dtype_differences"].items():
                    p(f"      dtype {c}: {tb} vs {tn}")
                for c, nd in r["values_differ"].items():
                    p(f"      {c:<32} {nd:>9,} value(s) not bit-identical, e.g. "
                      + "; ".join(f"{_keystr(e)}: {e['base']!r} vs {e['new']!r}" for e in r["value_examples"][c][:2]))
        elif name in ("feature_stats", "json"):
            for f, r in sec["files"].items():
                p(f"   {f}: {r['present']}, {_mark(r['identical'])}")
                for d in r["differences"][:10]:
                    p(f"      {d}")
        elif name == "manifest":
            for s, v in sec.get("shelves_rows_listeners", {}).items():
                p(f"   {s:<14} rows/listeners base {v['base'][0]}/{v['base'][1]}  new {v['new'][0]}/{v['new'][1]}")
            for d in sec["differences"]:
                p(f"   {d}")
            for note in sec.get("notes", []):
                p(f"   note: {note}")
    p(f"\nRESULT: {'IDENTICAL' if rep['identical'] else 'DIFFERENT'}")


def _keystr(e: dict) -> str:
    return "(" + ", ".join(str(v) for k, v in e.items() if k not in ("base", "new")) + ")"


def _print_rec_example(shelf: str, ex: dict) -> None:
    """One listener's list, base on the left, new on the right; ``*`` marks positions that differ."""
    cols = "pos item_id        type     source    cand_source      model_version      score"
    print(f"   -- {shelf} listener {ex['listener_id']}: base (left) | new (right), * = differs")
    print(f"     {cols:<96}| {cols}")

    def fmt(r):
        if r is None:
            return "-"
        pos, item, typ, src, cand, mv, score = r
        return (f"{pos!s:>3} {item!s:<14.14} {typ!s:<8.8} {src!s:<9.9} {cand!s:<16.16} {'-' if mv is None else mv!s:<18.18}"
                f" {score!r}")
    for i in range(max(len(ex["base"]), len(ex["new"]))):
        b = ex["base"][i] if i < len(ex["base"]) else None
        n = ex["new"][i] if i < len(ex["new"]) else None
        star = " " if b == n else "*"
        print(f"   {star} {fmt(b):<96}| {fmt(n)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring for what is compared.")
    ap.add_argument("base", help="baseline daily output root (or examples folder with --examples)")
    ap.add_argument("new", help="new daily output root (or examples folder with --examples)")
    ap.add_argument("--date", help="the date to compare, YYYY-MM-DD (daily outputs)")
    ap.add_argument("--examples", action="store_true", help="compare two build-examples folders instead")
    ap.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")
    ap.add_argument("--examples-shown", type=int, default=5, metavar="N",
                    help="example differences shown per shelf / column (default 5)")
    args = ap.parse_args(argv)
    for d in (args.base, args.new):
        if not os.path.isdir(d):
            print(f"error: {d} is not a folder", file=sys.stderr)
            return 2
    if args.examples:
        rep = compare_examples(args.base, args.new, args.examples_shown)
    else:
        if not args.date:
            ap.error("--date is required when comparing daily outputs")
        rep = compare_daily(args.base, args.new, args.date, args.examples_shown)
    print_report(rep)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rep, f, indent=1, default=_py)
    return 0 if rep["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
