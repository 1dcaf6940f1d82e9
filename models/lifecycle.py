"""Gate -> register -> promote, on evaluation results: the decision core of ``home-recs retrain``."""
from __future__ import annotations

import logging

import pandas as pd

from models.evaluation import evaluate
from models.gate import decide, gate_config
from models.ranker import XGBoostScorer
from models.registry import Registry
from transforms.errors import InputError

log = logging.getLogger("home_recs.lifecycle")


def gate_register_promote(reg: Registry, shelf: str, candidate_dir: str, eval_examples: pd.DataFrame,
                          config: dict) -> dict:
    """Evaluate the candidate model at ``candidate_dir`` and the current production model on the
    same ``eval_examples``, apply the gate, register the candidate (always), and promote it when
    the gate passes. Returns the evaluation report with ``gate``, ``version``, ``promoted``,
    ``production_version`` and ``production_metric`` added.
    """
    gcfg = gate_config(config, shelf)
    report = evaluate(eval_examples, shelf, XGBoostScorer(candidate_dir, shelf, version="candidate"), config)
    prod_version, prod_value, note = reg.alias(shelf, "production"), None, None
    if prod_version:
        try:
            prod = XGBoostScorer(reg.verify(shelf, prod_version), shelf, prod_version)
            prod_value = evaluate(eval_examples, shelf, prod, config)["model"]["metrics"][gcfg["metric"]]
        except InputError as err:  # a production model that cannot score today's features
            note = f"production {prod_version} could not be evaluated: {err}"
            log.warning(note)
    decision = decide(report["model"]["metrics"][gcfg["metric"]], prod_value, gcfg)
    if note:
        decision["checks"]["no_regression"]["note"] = note
    report.update({"gate": decision, "production_version": prod_version, "production_metric": prod_value})
    version = reg.register(shelf, candidate_dir, evaluation=report)
    if decision["promote"]:
        reg.promote(shelf, version, reason=f"gate passed: {gcfg['metric']}={decision['checks']['absolute']['value']:.4f}")
    report.update({"version": version, "promoted": decision["promote"]})
    return report
