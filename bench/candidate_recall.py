"""Candidate recall@N per shelf and per source, and of the configured mix (issue 4's measurement).

In memory, without Beam: the same functions the daily job runs (histories, side tables, candidate
sources, labels), on a dataset small enough for one machine (30Music, synthetic). Usage:

    python bench/candidate_recall.py --input /tmp/m30 --as-of 2014-12-21 --horizon-days 7 \
        --neighbours /tmp/m30-nb --shelves shortcuts,playlists --json out.json

Recall@N = positives found among a listener's first N candidates / all positives, summed over the
shelf's audience (listeners with no candidates count with their positives). "mix" runs the shelf's
configured sources with their quotas scaled to N, merged as in serving.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.candidates.candidates import SOURCES, SourceInput, generate_candidates  # noqa: E402
from models.ranking.examples import label_history  # noqa: E402
from models.serving.home import ServingContext, audience_mask  # noqa: E402
from transforms.listeners.batch import ListenerBatch  # noqa: E402
from transforms.listeners.aggregates import beam_colisten_shelves, build_side_tables, partial_aggregates_multi  # noqa: E402
from transforms.listeners.catalog import Catalog, shelf_item_types  # noqa: E402
from transforms.config.config import load_config  # noqa: E402
from transforms.listeners.history import MS_PER_DAY, build_state, event_block  # noqa: E402
from transforms.listeners.labels import positive_keys  # noqa: E402
from transforms.errors import InputError  # noqa: E402
from transforms.io.neighbours_table import check_point_in_time, load_neighbours  # noqa: E402


def load_states(input_dir: str, config: dict):
    ev = pd.read_parquet(f"{input_dir}/events.parquet")
    lis = pd.read_parquet(f"{input_dir}/listeners.parquet")
    items = pd.read_parquet(f"{input_dir}/items.parquet")
    rows = {r["listener_id"]: r for r in lis.to_dict("records")}
    block = event_block(ev)
    states = []
    for lid, idx in ev.groupby("listener_id").indices.items():
        state, _ = build_state(lid, [{k: v[idx] for k, v in block.items()}], [rows[lid]] if lid in rows else [],
                               config["listeners"]["default_market"])
        states.append(state)
    return states, Catalog.from_items(items)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--horizon-days", type=int, default=7)
    ap.add_argument("--neighbours")
    ap.add_argument("--shelves", default="shortcuts,podcasts,playlists")
    ap.add_argument("--n", default="50,100,200,500")
    ap.add_argument("--json")
    ap.add_argument("--mix", action="append", default=[], metavar="NAME=SRC:Q,SRC:Q",
                    help="an extra mix to measure, e.g. colisten_first=colisten:100,als:50,popular:50")
    args = ap.parse_args()
    if args.neighbours:  # recall is measured on plays after as_of: a later table would have seen them
        try:
            check_point_in_time(args.neighbours, args.as_of, "examples")
        except InputError as err:
            print(f"candidate_recall: error: {err}", file=sys.stderr)
            return 2
    config = load_config()
    ns = [int(x) for x in args.n.split(",")]
    t0 = time.time()
    states, cat = load_states(args.input, config)
    as_of = int(pd.Timestamp(args.as_of, tz="UTC").value // 1_000_000)
    shelves = args.shelves.split(",")
    types = {s: shelf_item_types(config["shelves"][s], cat) for s in shelves}
    colisten = [s for s in beam_colisten_shelves(config, bool(args.neighbours)) if s in shelves]
    parts = [partial_aggregates_multi(states[i:i + 512], [as_of], types, colisten,
                                      cat, config)[as_of] for i in range(0, len(states), 512)]
    from transforms.listeners.aggregates import merge_partials
    side = build_side_tables(merge_partials(parts), as_of, config)
    side = side.with_item_neighbours(load_neighbours(args.neighbours) if args.neighbours else None, shelves)
    ctx = ServingContext(as_of, cat, side, None, config, types, {}, "bench")
    horizon = args.horizon_days * MS_PER_DAY
    batch = ListenerBatch.from_states(states, ctx.codebook)
    hist, window = batch.before(as_of), batch.window(as_of, as_of + horizon)
    results = {}
    for shelf in shelves:
        cfg = config["shelves"][shelf]
        audience = audience_mask(batch, cfg, ctx)
        before = label_history(hist, shelf, cfg, types[shelf])
        pos = positive_keys(shelf, window, types[shelf], config, before)
        pos = pos[audience[pos // batch.span]]
        total = len(pos)
        active = np.zeros(batch.size, dtype=bool)
        active[pos // batch.span] = True  # others cannot add a found positive
        quotas = cfg.get("sources", {})
        variants = {name: {name: 1.0} for name in SOURCES}
        variants["mix"] = {k: v / sum(quotas.values()) for k, v in quotas.items()}
        for extra in args.mix:
            name, _, spec = extra.partition("=")
            q = {src: float(v) for src, v in (part.split(":") for part in spec.split(","))}
            variants[f"mix:{name}"] = {k: v / sum(q.values()) for k, v in q.items()}
        table = {}
        for variant, shares in variants.items():
            table[variant] = {}
            for n in ns:
                scfg = {**cfg, "sources": {k: max(1, int(round(share * n))) for k, share in shares.items()},
                        "max_candidates": n}
                cands = generate_candidates(SourceInput(hist, shelf, types[shelf], active, bool(cfg.get("familiar"))),
                                            scfg)
                found = int(np.isin(cands.who * batch.span + cands.code, pos).sum())
                table[variant][n] = found / total if total else None
        results[shelf] = {"positives": total, "audience": int(audience.sum()),
                          "listeners_with_positives": int(active.sum()),
                          "item_types": types[shelf], "mix_quotas": quotas, "recall": table}
        print(f"\n{shelf}: {total:,} positives from {int(active.sum()):,} of {int(audience.sum()):,} listeners "
              f"(item types {types[shelf]}; mix {quotas})")
        print("| source | " + " | ".join(f"recall@{n}" for n in ns) + " |")
        print("|---|" + "---|" * len(ns))
        for variant, row in table.items():
            cells = " | ".join("-" if row[n] is None else f"{row[n]:.4f}" for n in ns)
            print(f"| {variant} | {cells} |")
    print(f"\n({time.time() - t0:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
