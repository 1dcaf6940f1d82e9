"""``home-recs drift``: skew and drift of one day's serving feature statistics (issue 7).

* skew: each shelf's training statistics (``--training-stats DIR/<shelf>.json``, or the
  ``production`` model's in ``--models REGISTRY``) against ``OUTPUT/feature_stats/dt=D/<shelf>.json``;
* drift: ``OUTPUT/feature_stats/dt=D0/`` (``--baseline-date``, default D-1) against day D.

Serving statistics missing for D or D0 are computed first by running the daily job for that date
into OUTPUT (needs ``--input``), binned on the training edges when there are training statistics,
else the later day on the earlier day's edges, so the two days are comparable.

Writes ``OUTPUT/drift/dt=D/anomalies.json``, ``report.html`` and ``charts/*.png``
(:mod:`transforms.drift_report`), staged then swapped in. Logs one WARNING per alert.
Exit code: 1 when an alert fires (unless ``drift.fail_on_alert`` is false), 0 otherwise, 2 on an
input error.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import uuid

from models.config_checks import check_drift_features
from transforms import publish, storage
from transforms.config import load_config
from transforms.drift import alerts, compare_stats, describe, drift_config, not_compared_records
from transforms.drift_report import write_report
from transforms.errors import InputError
from transforms.feature_spec import FEATURE_SPECS
from transforms.feature_stats import stats_path

log = logging.getLogger("home_recs.drift")
TABLE = "drift"


def register(sub) -> None:
    p = sub.add_parser(
        "drift", help="skew (training vs serving) and drift (day vs baseline day) of the feature statistics",
        description="Compares OUTPUT/feature_stats/dt=DATE/<shelf>.json with each shelf's training statistics "
                    "(skew) and with the statistics of --baseline-date (drift, default the day before) using the "
                    "Chebyshev (L-infinity) distance, plus dataset-level checks (row count change, missing-rate "
                    "rise). Statistics missing for a date are computed by running the daily job (needs --input). "
                    "Writes OUTPUT/drift/dt=DATE/anomalies.json and report.html (with charts). Exits 1 when an "
                    "alert fires (config drift.fail_on_alert: false turns that off), 2 on input errors. Unknown "
                    "flags go to Beam when the daily job has to run.")
    p.add_argument("--date", required=True, help="the day D to check, YYYY-MM-DD")
    p.add_argument("--output", required=True, help="output root of the daily job (local or gs://)")
    p.add_argument("--baseline-date", help="drift baseline D0, YYYY-MM-DD (default: D - 1 day)")
    p.add_argument("--training-stats", help="folder of training statistics <shelf>.json (e.g. build-examples' "
                   "feature_stats/); takes precedence over --models")
    p.add_argument("--models", help="model registry: training statistics of each shelf's production model")
    p.add_argument("--input", help="dataset folder, to compute missing serving statistics with the daily job")
    p.add_argument("--config", help="YAML file deep-merged over the packaged defaults (section drift:)")
    p.add_argument("--runner", default="DirectRunner", help="Beam runner for the daily job (default DirectRunner)")
    p.set_defaults(func=run, accepts_beam_options=True)


def _date(value: str, flag: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except (TypeError, ValueError) as err:
        raise InputError(f"{flag} must be YYYY-MM-DD, got {value!r}") from err


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    date = _date(args.date, "--date")
    baseline = (_date(args.baseline_date, "--baseline-date") if getattr(args, "baseline_date", None)
                else (dt.date.fromisoformat(date) - dt.timedelta(days=1)).isoformat())
    if baseline == date:
        raise InputError(f"--baseline-date must differ from --date ({date})")
    config = load_config(getattr(args, "config", None))
    check_drift_features(config)   # a misspelt feature would keep its default threshold
    result = drift_for_day(
        args.output, date, baseline, config=config, training_stats=getattr(args, "training_stats", None),
        models=getattr(args, "models", None), input_dir=getattr(args, "input", None),
        config_path=getattr(args, "config", None), runner=getattr(args, "runner", "DirectRunner"),
        beam_args=beam_args)
    fired = alerts(result["records"])
    print_summary(result, date, baseline)
    if fired and drift_config(config)["fail_on_alert"]:
        return 1
    return 0


def drift_for_day(output: str, date: str, baseline_date: str, *, config: dict | None = None,
                  training_stats: str | None = None, models: str | None = None, input_dir: str | None = None,
                  config_path: str | None = None, runner: str = "DirectRunner",
                  beam_args: list[str] | None = None, missing_ok: bool = False) -> dict:
    """Compare, write and log one day's skew and drift (the CLI's work, callable from the daily job).

    Returns ``{"records", "paths" (write_report's), "sources", "computed" (dates the daily job ran for)}``.
    Raises InputError when ``training_stats`` is not a folder of statistics, or when a date's
    serving statistics are missing and there is no ``input_dir`` to compute them, unless
    ``missing_ok`` (e.g. at the end of the daily job, whose first day has no baseline): the
    comparisons with the missing side are then reported as not compared (``missing_on_one_side``).
    """
    config = config if config is not None else load_config(config_path)
    cfg = drift_config(config)
    shelves = [s for s in config["shelves"] if s in FEATURE_SPECS]
    run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    stage = publish.staging_root(output, run_id)

    training, training_sources = load_training_stats(shelves, training_stats, models)
    computed = []
    edges_dir = training_stats if training_stats and any(training.values()) else None
    if edges_dir is None and any(training.values()):
        edges_dir = storage.join(stage, "training_stats")
        for stats in training.values():
            if stats:
                storage.write_json(stats_path(edges_dir, stats["shelf"]), stats)
    for day, other in ((baseline_date, date), (date, baseline_date)):
        if not _has_stats(output, day):
            if not input_dir and missing_ok:
                log.warning("no serving statistics for %s at %s: compared as missing", day, serving_dir(output, day))
                continue
            if not input_dir:
                raise InputError(f"no serving statistics for {day} at {serving_dir(output, day)}: run "
                                 f"`home-recs daily --date {day}` first, or pass --input to compute them")
            # bin on the training edges; without them on the other day's edges (if it has statistics)
            edges = edges_dir or (serving_dir(output, other) if _has_stats(output, other) else None)
            compute_serving_stats(output, day, input_dir, edges, config_path, runner, beam_args or [])
            computed.append(day)

    current = {s: _read_stats(output, date, s) for s in shelves}
    previous = {s: _read_stats(output, baseline_date, s) for s in shelves}
    records: list[dict] = []
    pairs: dict[tuple, tuple] = {}
    for shelf in shelves:
        if training.get(shelf) is not None:
            records += compare_stats(training[shelf], current[shelf], "skew", cfg, shelf=shelf)
            pairs[(shelf, "skew")] = (training[shelf], current[shelf])
        else:
            records += not_compared_records(current[shelf], shelf, "skew", "no_training_stats", cfg, side="q")
        records += compare_stats(previous[shelf], current[shelf], "drift", cfg, shelf=shelf)
        pairs[(shelf, "drift")] = (previous[shelf], current[shelf])

    for r in alerts(records):
        log.warning("ALERT %s", describe(r))
    sources = {"training": training_sources, "serving": serving_dir(output, date),
               "baseline": serving_dir(output, baseline_date), "computed_by_this_run": computed}
    header = {"date": date, "baseline_date": baseline_date, "thresholds": cfg, "sources": sources, "run_id": run_id}
    staged = publish.partition(stage, TABLE, date)
    write_report(staged, records, header, pairs)
    final = publish.partition(output, TABLE, date)
    storage.delete_tree(final)
    storage.move_tree(staged, final)
    storage.delete_tree(stage)
    storage.remove_empty_dir(storage.join(output, "_staging"))
    paths = {"anomalies": storage.join(final, "anomalies.json"), "report": storage.join(final, "report.html")}
    return {"records": records, "paths": paths, "sources": sources, "computed": computed}


# ------------------------------------------------------------------------------------- inputs

def serving_dir(output: str, date: str) -> str:
    return publish.partition(output, "feature_stats", date)


def _has_stats(output: str, date: str) -> bool:
    return bool(storage.glob(storage.join(serving_dir(output, date), "*.json")))


def _read_stats(output: str, date: str, shelf: str) -> dict | None:
    path = stats_path(serving_dir(output, date), shelf)
    return _read_json(path) if storage.exists(path) else None


def _read_json(path: str) -> dict:
    try:
        stats = storage.read_json(path)
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a feature statistics file ({err})") from err
    if not isinstance(stats, dict) or "features" not in stats or "shelf" not in stats:
        raise InputError(f"{path}: not a feature statistics file (no 'shelf' / 'features')")
    return stats


def load_training_stats(shelves: list[str], training_stats: str | None, models: str | None
                        ) -> tuple[dict[str, dict | None], dict[str, str]]:
    """shelf -> training statistics (None when there are none) and shelf -> where they came from.

    ``training_stats`` (a folder of ``<shelf>.json``) wins; otherwise the registry's production
    model (:func:`registry_training_stats`). Raises InputError when ``training_stats`` is given but
    holds no statistics file at all (a wrong path), or a file is not statistics.
    """
    out: dict[str, dict | None] = {s: None for s in shelves}
    sources: dict[str, str] = {}
    if training_stats:
        found = [s for s in shelves if storage.exists(stats_path(training_stats, s))]
        if not found:
            raise InputError(f"--training-stats {training_stats}: no <shelf>.json statistics file "
                             f"for any of {shelves}")
        for s in found:
            out[s] = _read_json(stats_path(training_stats, s))
            sources[s] = stats_path(training_stats, s)
    for s in shelves:
        if out[s] is None and models and not training_stats:
            out[s], sources[s] = registry_training_stats(models, s)
        if out[s] is None:
            sources.setdefault(s, "none (no_training_stats)")
            log.warning("no training statistics for shelf %s (%s): skew not compared", s,
                        f"registry {models}" if models and not training_stats else
                        f"--training-stats {training_stats}" if training_stats else "no --training-stats / --models")
    return out, sources


def registry_training_stats(registry: str, shelf: str) -> tuple[dict | None, str]:
    """Training statistics stored with ``shelf``'s ``production`` version in the model registry,
    and their path. A missing alias, a version whose checksums fail, or a version without
    statistics -> ``(None, reason)``: skew is then reported as not compared (``no_training_stats``),
    never as 0."""
    from models.registry import Registry

    reg = Registry(registry)
    version = reg.alias(shelf, "production")
    if not version:
        return None, f"none (no_training_stats): no production model of {shelf} in {registry}"
    try:
        reg.verify(shelf, version)
        stats = reg.read_optional(shelf, version, "training_stats.json")
    except (OSError, InputError, ValueError) as err:
        return None, f"none (no_training_stats): production {version} of {shelf} is unusable ({err})"
    if stats is None:
        return None, f"none (no_training_stats): production {version} of {shelf} has no training statistics"
    return stats, storage.join(reg.version_dir(shelf, version), "training_stats.json")


def compute_serving_stats(output: str, date: str, input_dir: str, edges_dir: str | None, config_path: str | None,
                          runner: str, beam_args: list[str]) -> None:
    """Run the daily job for ``date`` into ``output`` (it publishes the whole day, statistics included)."""
    from jobs import daily

    log.info("serving statistics of %s missing: running the daily job (bin edges from %s)", date,
             edges_dir or "that day itself")
    parser = argparse.ArgumentParser(prog="home-recs")
    daily.register(parser.add_subparsers(dest="command"))
    argv = ["daily", "--date", date, "--input", input_dir, "--output", output, "--runner", runner]
    argv += (["--config", config_path] if config_path else []) + (["--training-stats", edges_dir] if edges_dir else [])
    ns = parser.parse_args(argv)  # the daily job's own parser: every flag it has gets its default
    ns.func(ns, list(beam_args))
    if not _has_stats(output, date):
        raise InputError(f"the daily job for {date} wrote no feature statistics under {serving_dir(output, date)}")


def print_summary(result: dict, date: str, baseline: str) -> None:
    recs = result["records"]
    fired = alerts(recs)
    print(f"home-recs drift {date} (baseline {baseline}): {len(recs)} records, {len(fired)} alert(s)")
    for comparison in ("skew", "drift"):
        rs = [r for r in recs if r["comparison"] == comparison and r["metric"] == "linf"]
        done = [r for r in rs if r["status"] == "compared"]
        print(f"  {comparison:<5} {len(done):>3} features compared, {len(rs) - len(done):>3} not compared, "
              f"{sum(r['alert'] for r in recs if r['comparison'] == comparison):>3} alert(s)")
    for r in fired:
        print(f"  ALERT {describe(r)}")
    if result["computed"]:
        print(f"  serving statistics computed by this run: {', '.join(result['computed'])}")
    print(f"  anomalies: {result['paths']['anomalies']}")
    print(f"  report:    {result['paths']['report']}")
