"""The retrain pipeline behind ``home-recs retrain``: :func:`run_retrain` takes a
:class:`RetrainRequest`: build-examples -> train -> evaluate -> gate -> register -> promote."""
from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from jobs.common import check_neighbours_flags, check_registry
from jobs.pipelines.examples import ExamplesRequest, build_examples
from jobs.plumbing import parse_date
from models.evaluation.eval_report import write_report
from models.evaluation.evaluation import check_evaluable
from models.lifecycle.gate import gate_config
from models.lifecycle.lifecycle import gate_register_promote
from models.ranking.ranker import save_model, train
from models.lifecycle.registry import Registry
from transforms.io import storage
from transforms.config.config import load_config
from transforms.errors import InputError
from transforms.io.examples_table import read_examples
from transforms.features.feature_stats import accumulate, finalize
from transforms.io.neighbours_table import missing_reason

log = logging.getLogger("home_recs.retrain")


@dataclass(frozen=True)
class RetrainRequest:
    """A retrain, as ``home-recs retrain`` parses it (see its --help): the model ``shelf``, the
    ``as_of`` boundary ``YYYY-MM-DD`` between the training and evaluation windows, ``input`` and
    ``models`` (registry) folders, a config file, prebuilt ``examples`` (or None), a ``work``
    folder (None: a temp dir), the Beam ``runner``, the Spark ``neighbours`` table with its
    declared as_of and missing-ok switch, and the alias a passing candidate moves (``to``)."""
    shelf: str
    as_of: str
    input: str
    models: str
    config: str | None = None
    examples: str | None = None
    work: str | None = None
    runner: str = "DirectRunner"
    neighbours: str | None = None
    neighbours_as_of: str | None = None
    neighbours_missing_ok: bool = False
    to: str = "production"


def usable_neighbours(args) -> tuple[str | None, str | None, dict | None]:
    """(--neighbours path, --neighbours-as-of, skipped) for the examples of this retrain.

    With ``--neighbours-missing-ok`` and a table that is absent or incomplete
    (:func:`transforms.io.neighbours_table.missing_reason`), the path and declared as_of are dropped and
    ``skipped`` = ``{"path": ..., "reason": ...}``; otherwise they are returned unchanged and
    ``skipped`` is None (a table that exists is then checked point in time by build-examples).
    Raises InputError for --neighbours-as-of or --neighbours-missing-ok without --neighbours.
    """
    check_neighbours_flags(args)
    path, declared = getattr(args, "neighbours", None), getattr(args, "neighbours_as_of", None)
    reason = missing_reason(path) if path and getattr(args, "neighbours_missing_ok", False) else None
    if reason is None:
        return path, declared, None
    # the weekly retrain must not fail because one day's Spark job did: the examples fall back to Beam
    log.warning("training without the neighbours table (--neighbours-missing-ok): %s", reason)
    return None, None, {"path": path, "reason": reason}


def windows(as_of: str, train_days: int, eval_days: int) -> tuple[list[str], list[str]]:
    """(training as_of dates, evaluation as_of dates) as YYYY-MM-DD lists. Raises InputError."""
    d = dt.date.fromisoformat(parse_date(as_of, "--as-of"))
    train = [(d - dt.timedelta(days=i)).isoformat() for i in range(train_days, 0, -1)]
    ev = [(d + dt.timedelta(days=i)).isoformat() for i in range(eval_days)]
    return train, ev


def run_retrain(request: RetrainRequest, beam_args: list[str],
                on_examples: Callable[[dict, str], None] | None = None) -> tuple[dict, dict]:
    """Build examples (unless ``request.examples``), train, evaluate, gate, register and maybe
    promote ``request.shelf``'s model. ``on_examples(summary, folder)`` is called with the examples'
    summary when they were built here. Returns the retrain report (``version``, ``promoted``,
    ``gate``, metrics...; also written next to the registered version) and the shelf's gate
    config (:func:`models.lifecycle.gate.gate_config`). Raises InputError (one line) for bad flags, too few
    evaluation examples or an unmeasurable window."""
    args = request
    started = time.time()
    config = load_config(args.config)
    check_registry(args.models)
    rc = config["retrain"]
    train_dates, eval_dates = windows(args.as_of, int(rc["train_days"]), int(rc["eval_days"]))
    neighbours, neighbours_as_of, skipped = usable_neighbours(args)
    work = args.work or tempfile.mkdtemp(prefix="home-recs-retrain-")
    ex_dir, model_dir = storage.join(work, "examples"), storage.join(work, "candidate")
    log.info("retrain %s: training %s..%s, evaluation %s..%s, work %s", args.shelf, train_dates[0], train_dates[-1],
             eval_dates[0], eval_dates[-1], work)
    if args.examples:  # examples built earlier (same feature spec is checked when they are read)
        ex_dir = args.examples
    else:
        summary = build_examples(ExamplesRequest(
            as_of=",".join(train_dates + eval_dates), horizon=rc["horizon"], input=args.input, output=ex_dir,
            config=args.config, runner=args.runner, neighbours=neighbours, neighbours_as_of=neighbours_as_of,
            shelf=(args.shelf,)), beam_args)
        if on_examples:
            on_examples(summary, ex_dir)
    examples = read_examples(ex_dir, args.shelf, train_dates[0], eval_dates[-1])
    cut = pd.Timestamp(args.as_of, tz="UTC")
    train_ex, eval_ex = examples[examples["as_of"] < cut], examples[examples["as_of"] >= cut]
    if eval_ex.empty:
        raise InputError(f"no evaluation examples at {eval_dates[0]}..{eval_dates[-1]}: does the input reach that far?")
    # before training: a window too small to measure must not promote anything (exit 2)
    check_evaluable(eval_ex, args.shelf, gate_config(config, args.shelf)["min_queries"],
                    f"the evaluation window {eval_dates[0]}..{eval_dates[-1]}")

    booster, meta = train(train_ex, args.shelf, config)
    stats = finalize(accumulate(train_ex, args.shelf), args.shelf,
                     min_listeners=int(config["feature_stats"]["min_listeners"]))
    save_model(booster, meta, model_dir, training_stats=stats)
    reg = Registry(args.models)
    report = gate_register_promote(reg, args.shelf, model_dir, eval_ex, config, target=args.to)
    version = report["version"]
    report["wall_time_s"] = round(time.time() - started, 1)
    report["neighbours_skipped"] = skipped
    storage.write_json(storage.join(reg.version_dir(args.shelf, version), "retrain_report.json"), report)
    write_report(report, storage.join(work, "report"))
    return report, gate_config(config, args.shelf)
