"""``home-recs layout-report``: is the per-listener shelf order better than a fixed one? (offline)"""
from __future__ import annotations

import argparse

import pandas as pd

from jobs.plumbing import parse_date
from models.evaluation.layout_eval import compare_orders, shelf_relevance
from transforms.io import storage
from transforms.config.config import load_config
from transforms.errors import InputError
from transforms.io.lookup import read_day
from transforms.io.read import plays_in_window, read_plays


def register(sub) -> None:
    p = sub.add_parser(
        "layout-report", help="offline NDCG of the per-listener shelf order (home_layout) against a fixed order",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Scores a published day's shelf order against the plays that followed it.\n"
                    "A shelf is relevant to a listener when, in [DATE, DATE + horizon), they played something it\n"
                    "showed them (the item, its album/show, its artist or the playlist played from). Queries:\n"
                    "listeners with at least one relevant shelf. Reports NDCG over shelves of home_layout's\n"
                    "shelf_rank and of a fixed order (--fixed-order, default the config's shelf order), with a\n"
                    "paired bootstrap interval of the difference (models/evaluation/layout_eval.py); then the same against\n"
                    "the best fixed order in hindsight (shelves by how many listeners played from them that\n"
                    "day), a baseline that has seen the labels.",
        epilog="example: home-recs layout-report --output out/home --input out/synthetic --date 2026-11-21")
    p.add_argument("--output", required=True, help="the daily job's --output folder (local or gs://)")
    p.add_argument("--input", required=True, help="the input folder holding the plays of the label window")
    p.add_argument("--date", required=True, help="published day, YYYY-MM-DD (its plays must be in --input)")
    p.add_argument("--horizon-days", type=int, default=1, help="label window in days after DATE (default 1)")
    p.add_argument("--fixed-order", help="comma-separated shelves of the order to beat (default: the config's "
                                         "shelf order)")
    p.add_argument("--config", help="YAML deep-merged over the defaults")
    p.add_argument("--json", help="also write the report as JSON to this path")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, _unknown: list[str]) -> int:
    start = pd.Timestamp(parse_date(args.date), tz="UTC")
    if args.horizon_days < 1:
        raise InputError(f"--horizon-days must be at least 1, got {args.horizon_days}")
    config = load_config(args.config)
    fixed = args.fixed_order.split(",") if args.fixed_order else list(config["shelves"])
    unknown = [s for s in fixed if s not in config["shelves"]]
    twice = sorted({s for s in fixed if fixed.count(s) > 1})
    if unknown or twice:
        raise InputError(f"--fixed-order: {'unknown shelf(s) ' + str(unknown) if unknown else ''}"
                         f"{'; ' if unknown and twice else ''}{'listed twice ' + str(twice) if twice else ''} "
                         f"(shelves: {', '.join(config['shelves'])})")
    date, end = start.date().isoformat(), start + pd.Timedelta(days=args.horizon_days)
    layout = read_day(args.output, "home_layout", date, ["listener_id", "shelf", "shelf_rank"])
    recs = read_day(args.output, "recommendations", date, ["listener_id", "item_id"])
    plays = plays_in_window(*read_plays(args.input), start, end, source=args.input)
    relevance = shelf_relevance(recs, plays)
    report = compare_orders(layout, relevance, fixed)
    hindsight = sorted(report["shelves"], key=lambda s: -report["shelves"][s]["relevant_share"])
    best = compare_orders(layout, relevance, hindsight)
    report.update({"date": date, "horizon_days": args.horizon_days, "plays": int(len(plays)),
                   "best_fixed_in_hindsight": {k: best[k] for k in ("fixed_order", "ndcg_fixed", "difference",
                                                                    "difference_low", "difference_high")}})
    print(f"home-recs layout-report {date} (+{args.horizon_days}d, {len(plays):,} plays): "
          f"{report['listeners_evaluated']:,} of {report['listeners']:,} listeners played from a shelf")
    print(f"  NDCG over shelves, policy (home_layout): {report['ndcg_policy']:.4f}")
    for name, r in (("fixed", report), ("best fixed in hindsight", best)):
        print(f"  vs {name} {r['ndcg_fixed']:.4f} ({', '.join(r['fixed_order'])}): difference "
              f"{r['difference']:+.4f}, {r['confidence']:.0%} interval [{r['difference_low']:+.4f}, "
              f"{r['difference_high']:+.4f}]")
    for shelf, s in report["shelves"].items():
        print(f"  {shelf:<14} played from by {s['relevant_share']:.1%} of the listeners shown it, "
              f"mean rank {s['mean_rank']:.2f}")
    rates = ", ".join(f"{s}: {v['relevant_share']:.3g}" for s, v in sorted(
        report["shelves"].items(), key=lambda kv: -kv[1]["relevant_share"]))
    print(f"  measured base rates, for page.layout.base_rates of a later day: {{{rates}}}")
    if args.json:
        storage.write_json(args.json, report)
        print(f"  report: {args.json}")
    return 0
