"""Gate -> register -> promote, on evaluation results: the decision core of ``home-recs retrain``."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from models.ranking.baselines import baseline_scores, best_baseline_name
from models.evaluation.evaluation import evaluate
from models.lifecycle.gate import decide, gate_config, paired_bootstrap
from models.evaluation.metrics import per_query_ndcg
from models.ranking.ranker import XGBoostScorer
from models.lifecycle.registry import Registry
from transforms.errors import InputError
from transforms.features.feature_spec import feature_names

log = logging.getLogger("home_recs.lifecycle")


def best_baseline(examples: pd.DataFrame, shelf: str, scorer: XGBoostScorer, report: dict, gcfg: dict,
                  config: dict) -> dict | None:
    """The baseline with the highest mean gate metric in ``report``, with the paired bootstrap
    interval of mean(model - baseline) over the evaluated queries (see :func:`models.lifecycle.gate.paired_bootstrap`).
    None when the gate skips the check, the metric is not NDCG@k, or no baseline was scored."""
    metric = gcfg["metric"]
    if gcfg.get("baseline_margin") is None or not metric.startswith("ndcg@") or not report["baselines"]:
        return None
    k = int(metric.split("@", 1)[1])
    name = best_baseline_name(report["baselines"], metric)
    frame = examples[["listener_id", "as_of", "item_id", "label"]]
    model = per_query_ndcg(frame.assign(score=scorer.score(examples[feature_names(shelf)].to_numpy(dtype=np.float32))),
                           k)
    base = per_query_ndcg(frame.assign(score=baseline_scores(examples, shelf, config)[name]), k)
    diff = (model - base.reindex(model.index)).to_numpy()   # the same queries: one candidate set, two rankings
    low, high = paired_bootstrap(diff, gcfg["baseline_resamples"], gcfg["baseline_confidence"])
    return {"name": name, "value": report["baselines"][name]["metrics"].get(metric), "interval": [low, high],
            "n_queries": int(len(diff))}


def gate_register_promote(reg: Registry, shelf: str, candidate_dir: str, eval_examples: pd.DataFrame,
                          config: dict, target: str = "production") -> dict:
    """Evaluate the candidate model at ``candidate_dir`` and the current production model on the
    same ``eval_examples``, apply the gate, register the candidate (always), and, when the gate
    passes, point ``target`` at it: ``production`` (promote) or ``challenger`` (serve it to an
    experiment's variant first; promoting it later checks this same verdict). Returns the
    evaluation report with ``gate``, ``version``, ``promoted`` (the alias moved), ``target``,
    ``production_version`` and ``production_metric`` added.
    """
    gcfg = gate_config(config, shelf)
    scorer = XGBoostScorer(candidate_dir, shelf, version="candidate")
    report = evaluate(eval_examples, shelf, scorer, config)
    prod_version, prod_value, note = reg.alias(shelf, "production"), None, None
    if prod_version:
        try:
            prod = XGBoostScorer(reg.verify(shelf, prod_version), shelf, prod_version)
            prod_value = evaluate(eval_examples, shelf, prod, config)["model"]["metrics"][gcfg["metric"]]
        except InputError as err:  # a production model that cannot score today's features
            note = f"production {prod_version} could not be evaluated: {err}"
            log.warning(note)
    decision = decide(report["model"]["metrics"][gcfg["metric"]], prod_value, gcfg,
                      best_baseline(eval_examples, shelf, scorer, report, gcfg, config))
    if note:
        decision["checks"]["no_regression"]["note"] = note
    report.update({"gate": decision, "production_version": prod_version, "production_metric": prod_value})
    version = reg.register(shelf, candidate_dir, evaluation=report)
    best = best_baseline_name(report["baselines"], gcfg["metric"])
    if best:   # what serves the shelf while it has no production model (models.serving.serving_models)
        reg.record_best_baseline(shelf, {"baseline": best, "metric": gcfg["metric"], "version": version,
                                         "value": report["baselines"][best]["metrics"].get(gcfg["metric"]),
                                         "model_value": report["model"]["metrics"][gcfg["metric"]]})
    if decision["promote"]:
        reason = f"gate passed: {gcfg['metric']}={decision['checks']['absolute']['value']:.4f}"
        if target == "challenger":
            reg.set_challenger(shelf, version, reason=reason)
        else:
            reg.promote(shelf, version, reason=reason)
    report.update({"version": version, "promoted": decision["promote"], "target": target})
    return report
