"""``home-recs lookup``: print one listener's Home page from a published day."""
from __future__ import annotations

import argparse
import json
import math
import time

from jobs.plumbing import parse_date
from transforms.config.config import load_config
from transforms.io.lookup import read_home, read_layout


def register(sub) -> None:
    p = sub.add_parser(
        "lookup", help="print one listener's Home page of a published day (shelves in order, then positions)",
        description="Reads OUTPUT/recommendations/dt=DATE/ of `home-recs daily` for one listener and prints each "
                    "shelf in the listener's order (home_layout/dt=DATE/; the config's order for a day without "
                    "it) with its positions, items, scores and sources. Only row groups "
                    "whose listener_id statistics can hold the listener are read. Exit 2 when the day is not "
                    "published; exit 1 when the listener has no row that day.")
    p.add_argument("--output", required=True, help="the daily job's --output folder (local or gs://)")
    p.add_argument("--date", required=True, help="published day, YYYY-MM-DD")
    p.add_argument("--listener", required=True, help="listener_id")
    p.add_argument("--shelf", action="append", default=[], help="only this shelf (repeatable; default every shelf)")
    p.add_argument("--config", help="YAML deep-merged over the defaults: shelf order and titles")
    p.add_argument("--json", action="store_true", help="print JSON (one object: listener, date, shelves[...])")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, _unknown: list[str]) -> int:
    date = parse_date(args.date)
    shelves_cfg = load_config(args.config)["shelves"]
    started = time.perf_counter()
    home = read_home(args.output, date, args.listener, args.shelf or None)
    layout = read_layout(args.output, date, args.listener)
    elapsed = time.perf_counter() - started
    # the listener's shelf order (models/serving/layout.py), then config order for shelves it does not rank
    order = {s: i for i, s in enumerate(shelves_cfg)}
    shelves = sorted(home["shelf"].unique(),
                     key=lambda s: (layout.get(s, (len(layout) + 1, ""))[0], order.get(s, len(order)), s))
    if args.json:
        print(json.dumps({"listener_id": args.listener, "date": date, "shelves": [
            {"shelf": s, "title": shelves_cfg.get(s, {}).get("title"),
             "shelf_rank": layout.get(s, (None, None))[0], "reason": layout.get(s, (None, None))[1],
             "items": [{k: _plain(v) for k, v in row.items() if k != "shelf"}
                       for row in home[home["shelf"] == s].to_dict("records")]} for s in shelves]}, indent=1))
    else:
        variants = home[["experiment", "variant"]].dropna().drop_duplicates()
        served_as = "".join(f", experiment {e} variant {v}" for e, v in variants.itertuples(index=False))
        print(f"home-recs lookup: listener {args.listener} on {date}: {len(shelves)} shelves, {len(home)} items "
              f"({elapsed:.2f} s){served_as} <- {args.output}")
        for s in shelves:
            rows = home[home["shelf"] == s]
            rank = f"  (shelf {layout[s][0]}, {layout[s][1]})" if s in layout else ""
            print(f"\n{s}: {shelves_cfg.get(s, {}).get('title', '')}{rank}")
            print(f"  {'pos':>3}  {'item_id':<24} {'type':<9} {'score':>9}  {'source':<10} candidate_source")
            for r in rows.itertuples(index=False):
                score = "-" if r.score is None or (isinstance(r.score, float) and math.isnan(r.score)) \
                    else f"{r.score:.4f}"
                print(f"  {r.position:>3}  {str(r.item_id):<24} {str(r.item_type):<9} {score:>9}  {str(r.source):<10} "
                      f"{r.candidate_source or '-'}")
    return 0 if len(home) else 1


def _plain(value):
    """JSON-safe: NaN and missing become null, numpy scalars plain numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value
