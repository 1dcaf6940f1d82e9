"""Skew and drift of one day's serving feature statistics (issue 7): the work of ``home-recs drift``
and of the drift step after a day is published.

* skew: each shelf's training statistics (a folder of ``<shelf>.json``, or the ``production``
  model's in a registry) against ``OUTPUT/feature_stats/dt=D/<shelf>.json``;
* drift: ``OUTPUT/feature_stats/dt=D0/`` against day D.

Writes ``OUTPUT/drift/dt=D/anomalies.json``, ``report.html`` and ``charts/*.png``
(:mod:`transforms.monitoring.drift_report`), staged then swapped in. Logs one WARNING per alert.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from jobs.plumbing import day_before, finish_staging, parse_date, production_model, staging, swap_in
from models.config_checks import check_drift_features
from transforms.io import publish, storage
from transforms.config.config import load_config
from transforms.monitoring.drift import alerts, compare_stats, describe, drift_config, not_compared_records
from transforms.monitoring.drift_report import comparison_summary, write_report
from transforms.errors import InputError
from transforms.features.feature_spec import FEATURE_SPECS
from transforms.features.feature_stats import stats_path

log = logging.getLogger("home_recs.drift")
TABLE = "drift"
ComputeStats = Callable[[str, "str | None"], None]   # (day, bin-edges folder or None) -> publishes the day


@dataclass(frozen=True)
class DriftRequest:
    """What ``home-recs drift`` was asked: dates ``YYYY-MM-DD`` (``baseline_date`` None: the day
    before ``date``), the daily job's ``output``, training statistics from a folder or a registry,
    ``input`` (to compute missing statistics), a config file, and the Beam ``runner`` for that."""
    date: str
    output: str
    baseline_date: str | None = None
    training_stats: str | None = None
    models: str | None = None
    input: str | None = None
    config: str | None = None
    runner: str = "DirectRunner"


def check_drift(request: DriftRequest, compute_missing: ComputeStats | None = None) -> dict:
    """Check ``request``'s dates and config, then :func:`drift_for_day`. Returns its result plus
    ``date``, ``baseline`` and ``fail`` (an alert fired and ``drift.fail_on_alert`` is on).
    Raises InputError for a malformed or equal date, a bad config, or missing statistics."""
    date = parse_date(request.date, "--date")
    baseline = parse_date(request.baseline_date, "--baseline-date") if request.baseline_date else day_before(date)
    if baseline == date:
        raise InputError(f"--baseline-date must differ from --date ({date})")
    config = load_config(request.config)
    check_drift_features(config)   # a misspelt feature would keep its default threshold
    result = drift_for_day(request.output, date, baseline, config=config, training_stats=request.training_stats,
                           models=request.models, compute_missing=compute_missing)
    fired = alerts(result["records"])
    return {**result, "date": date, "baseline": baseline,
            "fail": bool(fired) and bool(drift_config(config)["fail_on_alert"])}


def after_publish(output: str, date: str, request: dict) -> dict | None:
    """Drift and skew of the day just published (against the day before), when the run's config
    asks for it (``drift.run_after_daily``); ``request`` is the run's ``_request.json``. Returns
    :func:`drift_for_day`'s result, or None when not asked."""
    config = request["config"]
    if not drift_config(config)["run_after_daily"]:
        return None
    return drift_for_day(output, date, day_before(date), config=config, training_stats=request["training_stats"],
                         models=request["models"]["registry"], missing_ok=True)


def print_after_publish(output: str, date: str, found: dict | None) -> None:
    """The two summary lines of :func:`after_publish` (nothing when it did not run)."""
    if found is None:
        return
    fired = [r for r in found["records"] if r.get("alert")]
    print(f"  drift/skew:      {len(fired)} alert(s) -> {storage.join(output, 'drift', f'dt={date}')}"
          f"  (run `home-recs drift` for an exit code)")
    print(f"                   {comparison_summary(found['records'])}")


def drift_for_day(output: str, date: str, baseline_date: str, *, config: dict | None = None,
                  training_stats: str | None = None, models: str | None = None,
                  compute_missing: ComputeStats | None = None, missing_ok: bool = False) -> dict:
    """Compare, write and log one day's skew and drift (the CLI's work, callable after publishing).

    ``config`` defaults to the packaged one. ``compute_missing(day, edges_dir)``, when given, is
    called for a date without serving statistics and must publish them (the drift job passes the
    daily pipeline); ``edges_dir`` is the folder of statistics whose bin edges to use, or None.
    Returns ``{"records", "paths" (write_report's), "sources", "computed" (dates computed)}``.
    Raises InputError when ``training_stats`` is not a folder of statistics, or when a date's
    serving statistics are missing and there is no ``compute_missing``, unless ``missing_ok``
    (e.g. at the end of the daily job, whose first day has no baseline): the comparisons with the
    missing side are then reported as not compared (``missing_on_one_side``).
    """
    config = config if config is not None else load_config(None)
    cfg = drift_config(config)
    shelves = [s for s in config["shelves"] if s in FEATURE_SPECS]
    run_id, stage = staging(output)

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
            if compute_missing is None and missing_ok:
                log.warning("no serving statistics for %s at %s: compared as missing", day, serving_dir(output, day))
                continue
            if compute_missing is None:
                raise InputError(f"no serving statistics for {day} at {serving_dir(output, day)}: run "
                                 f"`home-recs daily --date {day}` first, or pass --input to compute them")
            # bin on the training edges; without them on the other day's edges (if it has statistics)
            edges = edges_dir or (serving_dir(output, other) if _has_stats(output, other) else None)
            log.info("serving statistics of %s missing: running the daily job (bin edges from %s)", day,
                     edges or "that day itself")
            compute_missing(day, edges)
            if not _has_stats(output, day):
                raise InputError(f"the daily job for {day} wrote no feature statistics under "
                                 f"{serving_dir(output, day)}")
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
    swap_in(staged, final)
    finish_staging(output, run_id)
    paths = {"anomalies": storage.join(final, "anomalies.json"), "report": storage.join(final, "report.html")}
    return {"records": records, "paths": paths, "sources": sources, "computed": computed}


# ------------------------------------------------------------------------------------- inputs

def serving_dir(output: str, date: str) -> str:
    """``OUTPUT/feature_stats/dt=DATE``: where the daily job publishes a day's serving statistics."""
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
    """Training statistics stored with ``shelf``'s ``production`` version in the model registry
    (:func:`jobs.plumbing.production_model`), and their path. A missing alias, a version whose
    checksums fail, or a version without statistics -> ``(None, reason)``: skew is then reported as
    not compared (``no_training_stats``), never as 0."""
    try:
        found = production_model(registry, shelf)
    except (OSError, ValueError) as err:   # a registry file that cannot be read
        return None, f"none (no_training_stats): production model of {shelf} is unusable ({err})"
    if found.version is None:
        return None, f"none (no_training_stats): no production model of {shelf} in {registry}"
    path = storage.join(found.folder or "", "training_stats.json")
    try:
        if found.problem:
            raise InputError(found.problem)
        stats = storage.read_json(path) if storage.exists(path) else None
    except (OSError, InputError, ValueError) as err:
        return None, f"none (no_training_stats): production {found.version} of {shelf} is unusable ({err})"
    if stats is None:
        return None, f"none (no_training_stats): production {found.version} of {shelf} has no training statistics"
    return stats, path


def print_summary(result: dict, date: str, baseline: str) -> None:
    """What ``home-recs drift`` prints: counts of records and alerts, each alert, the dates computed
    and the paths of the anomalies and the report."""
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
