"""``home-recs evaluate``: a shelf's model against baselines on examples from a later window."""
from __future__ import annotations

import argparse
import logging

from models.evaluation.eval_report import write_report
from models.evaluation.evaluation import check_evaluable, evaluate
from models.lifecycle.gate import gate_config
from models.ranking.ranker import XGBoostScorer
from transforms.io import storage
from transforms.config.config import load_config
from transforms.io.examples_table import read_examples
from transforms.features.feature_spec import FEATURE_SPECS

log = logging.getLogger("home_recs.evaluate")


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="offline evaluation of a model against baselines (NDCG@k, Recall@k, MAP@k, HitRate@k)",
        description="Scores the examples of a later time window with the model and with baselines on the same "
                    "candidates (popularity in market, recency, personal frequency, co-listening, the heuristic), "
                    "and writes OUTPUT/report.json (stable keys: model.metrics['ndcg@10'], "
                    "baselines.baseline_*.metrics['ndcg@10']) and OUTPUT/report.html with charts.")
    p.add_argument("--shelf", required=True, choices=sorted(FEATURE_SPECS))
    p.add_argument("--model", required=True, help="model folder written by `home-recs train`")
    p.add_argument("--examples", required=True, help="examples of the evaluation window (build-examples output)")
    p.add_argument("--output", required=True, help="report folder")
    p.add_argument("--from", dest="date_from", help="only examples with as_of on or after this date (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", help="only examples with as_of on or before this date (YYYY-MM-DD)")
    p.add_argument("--config", help="YAML deep-merged over the defaults (baseline heuristic weights)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, _unknown: list[str]) -> int:
    config = load_config(args.config)
    examples = read_examples(args.examples, args.shelf, args.date_from, args.date_to)
    check_evaluable(examples, args.shelf, gate_config(config, args.shelf)["min_queries"],
                    f"{args.examples} ({args.date_from or 'first'}..{args.date_to or 'last'} as_of)")
    scorer = XGBoostScorer(args.model, args.shelf)
    recall_path = storage.join(args.examples, "candidate_recall.json")
    recall = (storage.read_json(recall_path)["overall"].get(args.shelf, {}).get("recall")
              if storage.exists(recall_path) else None)
    report = evaluate(examples, args.shelf, scorer, config, recall)
    if not report["evaluation_after_training"]:
        log.warning("evaluation window %s starts before the end of the model's training data (%s)",
                    report["window"]["from"], report["training_data_to"])
    json_path, html_path = write_report(report, args.output)
    print(format_table(report))
    print(f"  report: {json_path}\n          {html_path}")
    return 0


def format_table(report: dict) -> str:
    rows = [("model", report["model"]["metrics"])] + [(n, b["metrics"]) for n, b in report["baselines"].items()]
    size = report.get("served_size")
    # NDCG at the shelf's served size too (6 on shortcuts): what a listener sees; the gate uses gate.metric
    served = [f"ndcg@{size}"] if size and f"ndcg@{size}" not in ("ndcg@5", "ndcg@10") else []
    cols = ["ndcg@5", *served, "ndcg@10", "recall@10", "map@10", "hit_rate@10", "coverage@10"]
    lines = [f"home-recs evaluate {report['shelf']}: window {report['window']['from']}..{report['window']['to']}, "
             f"{report['model']['metrics']['n_queries']:,} queries with positives, "
             f"candidate recall {report['candidate_recall']}",
             f"  {'ranker':<22}" + "".join(f"{c:>12}" for c in cols)]
    for name, m in rows:
        lines.append(f"  {name:<22}" + "".join(f"{m.get(c, float('nan')):>12.4f}" for c in cols))
    return "\n".join(lines)
