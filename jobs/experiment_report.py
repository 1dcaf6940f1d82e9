"""``home-recs experiment-report``: an experiment's variants compared offline, per shelf."""
from __future__ import annotations

import argparse
import datetime as dt
import html
import math

import pandas as pd

from jobs.plumbing import parse_date
from models.evaluation.experiment_eval import compare_variants, served_labels
from transforms.io import publish, storage
from transforms.errors import InputError
from transforms.io.lookup import read_day
from transforms.io.read import plays_in_window, read_plays


def register(sub) -> None:
    p = sub.add_parser(
        "experiment-report", help="compare an experiment's variants offline on the plays after each serve",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="For each published day in [--from, --to], reads the rows served under --experiment and the\n"
                    "plays of [D, D + horizon) from --input. Per shelf and variant: hit rate (share of served\n"
                    "listener-days that played a served item, at any entity level) with a bootstrap interval,\n"
                    "NDCG@k of the served order, and each variant's hit-rate difference from the first one (the\n"
                    "control) with its interval (models/evaluation/experiment_eval.py).",
        epilog="example: home-recs experiment-report --output out/home --input out/synthetic "
               "--experiment podcasts_depth --from 2026-11-20 --to 2026-11-26 --html report.html")
    p.add_argument("--output", required=True, help="the daily job's --output folder (local or gs://)")
    p.add_argument("--input", required=True, help="the input folder holding the plays after each day")
    p.add_argument("--experiment", required=True, help="experiment name, as in the config and the rows")
    p.add_argument("--from", dest="start", required=True, help="first served day, YYYY-MM-DD")
    p.add_argument("--to", dest="end", required=True, help="last served day, YYYY-MM-DD (inclusive)")
    p.add_argument("--horizon-days", type=int, default=1, help="days of plays after each serve (default 1)")
    p.add_argument("--k", type=int, help="cut-off of NDCG@k (default: per shelf, the longest list it served)")
    p.add_argument("--json", help="also write the report as JSON to this path")
    p.add_argument("--html", help="also write an HTML page with a chart per shelf to this path")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, _unknown: list[str]) -> int:
    first, last = (dt.date.fromisoformat(parse_date(args.start, "--from")),
                   dt.date.fromisoformat(parse_date(args.end, "--to")))
    if args.k is not None and args.k < 1:
        raise InputError(f"--k must be at least 1, got {args.k}")
    if last < first or args.horizon_days < 1:
        raise InputError(f"need --from <= --to and --horizon-days >= 1 (got {first}, {last}, {args.horizon_days})")
    recs, plays, order, changed = [], [], None, []
    events, items = read_plays(args.input)   # once: each served day cuts its own window
    for i in range((last - first).days + 1):
        day = (first + dt.timedelta(days=i)).isoformat()
        served = read_day(args.output, "recommendations", day,
                          ["listener_id", "position", "item_id", "experiment", "variant"])
        served = served[served["experiment"] == args.experiment]
        if not len(served):
            continue
        if order is None:   # the variants in config order (the first is the control), from the day's manifest
            manifest = storage.read_json(storage.join(args.output, publish.MANIFESTS, f"dt={day}", "manifest.json"))
            exp = manifest.get("experiment") or {}
            order = exp.get("order") or sorted(exp.get("variants") or {})
            changed = sorted({s for v in (exp.get("variants") or {}).values() for s in v.get("shelves_changed", [])})
        start = pd.Timestamp(day, tz="UTC")
        recs.append(served.assign(dt=day))
        plays.append(plays_in_window(events, items, start, start + pd.Timedelta(days=args.horizon_days),
                                     source=args.input).assign(dt=day))
    if not recs:
        raise InputError(f"{args.output}: no row served under experiment {args.experiment!r} from {first} to {last}")
    labelled = served_labels(pd.concat(recs, ignore_index=True), pd.concat(plays, ignore_index=True))
    report = {"experiment": args.experiment, "from": first.isoformat(), "to": last.isoformat(),
              "days": len(recs), "horizon_days": args.horizon_days, "k": args.k,
              "variants": order, "shelves_changed": changed, "shelves": compare_variants(labelled, args.k, order)}
    print(f"home-recs experiment-report {args.experiment}: {len(recs)} served day(s) {first} .. {last}, "
          f"+{args.horizon_days}d of plays")
    print(f"  control: {order[0]}; shelves the variants change: {', '.join(changed) or 'none recorded'} (a difference "
          f"on another shelf is chance: its rows do not depend on the variant)")
    for shelf, variants in report["shelves"].items():
        print(f"  {shelf}{'' if shelf in changed or not changed else '  (not changed by any variant)'}")
        for v, r in variants.items():
            diff = (f"  vs control {r['hit_rate_difference']:+.4f} [{r['difference_low']:+.4f}, "
                    f"{r['difference_high']:+.4f}]") if "hit_rate_difference" in r else ""
            print(f"    {v:<14} {r['queries']:>8,} listener-days  hit rate {r['hit_rate']:.4f} "
                  f"[{r['hit_rate_low']:.4f}, {r['hit_rate_high']:.4f}]  ndcg@{r['k']} {r['ndcg']:.4f}{diff}")
    if args.json:
        storage.write_json(args.json, report)
        print(f"  report: {args.json}")
    if args.html:
        storage.write_bytes(args.html, render_html(report).encode())
        print(f"  page:   {args.html}")
    return 0


def render_html(report: dict) -> str:
    """A self-contained page: per shelf, a table and an SVG bar chart of each variant's hit rate
    with its interval."""
    parts = [f"<h1>Experiment {html.escape(report['experiment'])}</h1>",
             f"<p>{report['days']} served day(s), {report['from']} .. {report['to']}; plays in the "
             f"{report['horizon_days']} day(s) after each serve. Hit rate: share of served listener-days that "
             f"played a served item; intervals: 95% bootstrap.</p>"]
    for shelf, variants in report["shelves"].items():
        top = max(r["hit_rate_high"] for r in variants.values()) or 1.0
        bars = []
        for i, (v, r) in enumerate(variants.items()):
            y, w = 30 + 40 * i, 400 * r["hit_rate"] / top
            lo, hi = 140 + 400 * r["hit_rate_low"] / top, 140 + 400 * r["hit_rate_high"] / top
            bars.append(f'<text x="0" y="{y + 15}">{html.escape(v)}</text>'
                        f'<rect x="140" y="{y}" width="{w:.1f}" height="22" fill="#4c78a8"/>'
                        f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{y + 11}" y2="{y + 11}" stroke="black"/>'
                        f'<text x="{150 + 400:.0f}" y="{y + 15}">{r["hit_rate"]:.4f}</text>')
        rows = "".join(
            f"<tr><td>{html.escape(v)}</td><td>{r['queries']:,}</td><td>{r['hit_rate']:.4f} "
            f"[{r['hit_rate_low']:.4f}, {r['hit_rate_high']:.4f}]</td><td>{_fmt(r['ndcg'])} (k={r['k']})</td>"
            f"<td>{_fmt(r.get('hit_rate_difference'), True)} {_interval(r)}</td></tr>" for v, r in variants.items())
        parts.append(f"<h2>{html.escape(shelf)}</h2><svg width='640' height='{40 + 40 * len(variants)}'>"
                     f"{''.join(bars)}</svg><table border='1' cellpadding='4'><tr><th>variant</th>"
                     f"<th>listener-days</th><th>hit rate</th><th>NDCG@k</th><th>vs control</th></tr>"
                     f"{rows}</table>")
    return "<!doctype html><html><head><meta charset='utf-8'><title>home-recs experiment</title></head><body>" \
           + "".join(parts) + "</body></html>"


def _fmt(value, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _interval(r: dict) -> str:
    return f"[{r['difference_low']:+.4f}, {r['difference_high']:+.4f}]" if "difference_low" in r else ""
