"""The daily run's request and manifest, and the summary printed when a day is published.

``home-recs daily`` writes the *request* (``_request.json``: what was asked for and decided before
the pipeline ran: dates, paths, the effective config, the models chosen, the input files) into its
staging folder before it submits the pipeline, and the pipeline writes its *counts*
(``_counts.json``, :mod:`transforms.io.counts`) there last. :func:`build_manifest` joins the two, so the
process that publishes (``home-recs publish``, or ``daily`` itself) needs nothing from the one that
launched the job.
"""
from __future__ import annotations

import datetime as dt
import json

from transforms.io import contract, publish, storage
from transforms.config.config import fingerprint
from transforms.features.feature_spec import FEATURE_SPECS, feature_names
from transforms.io.provenance import code_version, git_commit

REQUEST_FILE = "_request.json"
JOB_FILE = "_job.json"                 # the runner's job id, written once the pipeline is submitted
BEAM_COUNTERS_FILE = "_beam_counters.json"   # Beam's counters, written when the launcher saw the job end


def _fingerprint(path: str) -> dict:
    from apache_beam.io.filesystems import FileSystems

    meta = FileSystems.match([path])[0].metadata_list[0]
    return {"path": path, "size_bytes": meta.size_in_bytes, "last_updated": meta.last_updated_in_seconds}


def build_request(args, date: str, run_id: str, config: dict, files: dict, started: float, models, tables: list[str],
                  experiment=(None, []), neighbours_as_of: str | None = None,
                  neighbours_skipped: dict | None = None) -> dict:
    """What the run was asked to do and decided before its pipeline ran, as a JSON-able dict:
    ``args`` (the daily flags), ``config`` (effective), ``models`` (a ModelChoice), ``files``
    (table -> input paths, fingerprinted now: size and mtime), ``started`` (epoch seconds),
    ``tables`` (the staged tables to publish) and the experiment's variants. Raises OSError when an
    input file vanished since it was listed."""
    name, variants = experiment
    return {
        "date": date, "run_id": run_id, "runner": args.runner, "input": args.input, "output": args.output,
        "config_path": args.config, "config": config, "config_fingerprint": fingerprint(config),
        "training_stats": args.training_stats, "tables": list(tables),
        "neighbours": args.neighbours, "neighbours_as_of": neighbours_as_of, "neighbours_skipped": neighbours_skipped,
        "models": {"registry": args.models, "paths": models.paths, "versions": models.versions,
                   "fallbacks": models.fallbacks, "baselines": models.baselines},
        "files": {t: [_fingerprint(f) for f in files[t]] for t in contract.TABLE_NAMES},
        "experiment": None if name is None else {
            "name": name, "order": [v.name for v in variants],   # config order: the first is the control
            "variants": {v.name: {"share": v.share, "models": v.model_refs, "model_versions": v.models.versions,
                                  "shelves_changed": sorted(set(v.overrides) | set(v.model_refs))}
                         for v in variants}},
        "code": {"version": code_version(), "git_commit": git_commit()},
        "started": started,
    }


def write_request(path: str, request: dict) -> None:
    """Write ``request`` as JSON to ``path`` keeping key order: the config's shelf order is the page's."""
    storage.write_bytes(path, json.dumps(request, indent=2, default=str).encode("utf-8"))


def file_summary(counts: dict, table: str, path: str) -> dict:
    """read / accepted / rejected rows of one input file (0 for a file without rows), rows rejected
    after validation (duplicates, item types) moved from accepted to rejected, and whether they
    reconcile (read == accepted + rejected)."""
    read, acc, rej, late = (counts.get(f"file|{table}|{k}|{path}", 0)
                            for k in ("read", "accepted", "rejected", "late_rejected"))
    return {"read": read, "accepted": acc - late, "rejected": rej + late, "reconciles": read == acc + rej}


def build_manifest(request: dict, counts: dict, finished_at: str, job_id: str | None = None) -> dict:
    """The day's manifest from the run's ``request`` (:func:`build_request`), its ``counts``
    (``{counter name: int}``), ``finished_at`` (UTC ISO time the pipeline's last write ended) and
    the runner's ``job_id`` (Dataflow's, when there is one). ``timings_s.total`` is from the request
    to the end of the pipeline, in seconds."""
    config, models = request["config"], request["models"]
    tables = {}
    for t in contract.TABLE_NAMES:
        read, acc, rej = (counts.get(f"{t}.{k}", 0) for k in ("read", "accepted", "rejected"))
        # accepted by the row checks, then rejected as duplicates, for their item type or (curation)
        # against the catalog and the shelves
        dups = (counts.get(f"{t}.duplicates_rejected", 0) + counts.get(f"{t}.item_type_mismatch_rejected", 0)
                + counts.get(f"{t}.catalog_rejected", 0))
        acc, rej = acc - dups, rej + dups
        tables[t] = {"read": read, "accepted": acc, "rejected": rej, "reconciles": read == acc + rej,
                     "files": [{**f, **file_summary(counts, t, f["path"])} for f in request["files"][t]]}
    # dedup_removed: items the shelf would have shown that an earlier shelf claimed (models.serving.page)
    shelves = {s: {"rows": counts.get(f"shelf.{s}.rows", 0), "listeners": counts.get(f"shelf.{s}.listeners", 0),
                   "dedup_removed": counts.get(f"shelf.{s}.dedup_removed", 0),
                   **({"candidate_rows": counts.get(f"shelf.{s}.candidate_rows", 0),
                       "listeners_scored": counts.get(f"shelf.{s}.listeners_scored", 0),
                       "features_per_row": len(feature_names(s))} if s in FEATURE_SPECS else {}),
                   "kind": c["kind"], "model_version": models["versions"].get(s),
                   "ranking": _ranking(s, c, models),
                   "fallback": s in models["fallbacks"], "fallback_reason": models["fallbacks"].get(s),
                   "best_baseline": models.get("baselines", {}).get(s)}
               for s, c in config["shelves"].items()}
    experiment = request["experiment"]
    if experiment is not None:
        experiment = {**experiment, "variants": {
            v: {**c, "listeners": counts.get(f"experiment.{v}.listeners", 0)} for v, c in experiment["variants"].items()}}
    finished = dt.datetime.fromisoformat(finished_at)
    return {
        "date": request["date"], "as_of": f"{request['date']}T00:00:00Z", "run_id": request["run_id"],
        "runner": request["runner"],
        # which code ran, and where: the runner's job id (Dataflow's), when it has one
        "code": {**request["code"], "runner_job_id": job_id},
        "input": request["input"], "output": request["output"], "config_fingerprint": request["config_fingerprint"],
        "neighbours": request["neighbours"], "neighbours_as_of": request["neighbours_as_of"],
        "neighbours_skipped": request["neighbours_skipped"],
        "models": {"registry": models["registry"], "versions": models["versions"], "fallbacks": models["fallbacks"]},
        "inputs": tables, "shelves": shelves, "experiment": experiment,
        "listeners": {k.split(".", 1)[1]: v for k, v in counts.items()
                      if k.startswith("listeners.") and k != "listeners.duplicates_rejected"},
        # cpu: CPU seconds summed over workers, per stage (Beam's own work and I/O are not in them)
        "timings_s": {"total": round(finished.timestamp() - request["started"], 2),
                      "cpu": {k.split(".", 1)[1]: round(v / 1000, 2) for k, v in sorted(counts.items())
                              if k.startswith("cpu_ms.")}},
        "finished_at": finished_at,
    }


def _ranking(shelf: str, cfg: dict, models: dict) -> str:
    """What ranked the shelf: ``model``, a best baseline's name (e.g. ``baseline_actr``), ``heuristic``,
    or the shelf's kind (rule, editorial). ``models``: the request's models section."""
    if cfg["kind"] != "model":
        return cfg["kind"]
    if shelf in models["paths"]:
        return "model"
    baseline = models.get("baselines", {}).get(shelf)
    return baseline["baseline"] if baseline else "heuristic"


def unusable_day(manifest: dict) -> str | None:
    """Why a staged day must not replace the published one, or None. A day without one accepted
    event (an empty table, or every row rejected: a wrong column type, unparseable timestamps), or in
    which no shelf has a single row (a --date outside the input's dates) would publish "success" and
    serve nobody a personal Home."""
    events = manifest["inputs"].get("events", {})
    if events.get("accepted", 0) == 0:
        return (f"events: 0 of {events.get('read', 0):,} rows accepted (every row rejected, or the table is empty; "
                f"the reasons are in the staged rejected table)")
    if sum(c.get("rows", 0) for c in manifest["shelves"].values()) == 0:
        return f"no shelf has a single row for {manifest['date']} (is --date inside the input's dates?)"
    return None


def print_summary(output, date, manifest, published, command: str = "daily") -> None:
    """The run's summary on stdout: inputs, shelves, experiment, cpu and the published paths."""
    print(f"home-recs {command} {date}: run {manifest['run_id']} in {manifest['timings_s']['total']:.1f} s")
    for t, c in manifest["inputs"].items():
        print(f"  input {t:<10} read {c['read']:>9,}  accepted {c['accepted']:>9,}  rejected {c['rejected']:>7,}")
    print(f"  {'shelf':<14} {'listeners':>10} {'rows':>10} {'scored':>11}  ranking")
    for s, c in manifest["shelves"].items():
        how = c["ranking"] + (f" {c['model_version']}" if c["model_version"] else "")
        if c.get("best_baseline"):
            how += f" (no usable model: best baseline of {c['best_baseline']['version']}, see manifest)"
        elif c.get("fallback"):
            how += " (FALLBACK: no usable model, see manifest)"
        scored = f"{c['candidate_rows']:>11,}" if "candidate_rows" in c else f"{'-':>11}"
        print(f"  {s:<14} {c['listeners']:>10,} {c['rows']:>10,} {scored}  {how}")
    if manifest.get("neighbours_skipped"):
        print(f"  neighbours:      NOT USED ({manifest['neighbours_skipped']['reason']}); Beam counted co-listening")
    exp = manifest.get("experiment")
    if exp:
        total = sum(v["listeners"] for v in exp["variants"].values()) or 1
        print(f"  experiment {exp['name']}: " + ", ".join(
            f"{v} {c['listeners']:,} listeners ({c['listeners'] / total:.1%}, share {c['share']:g})"
            + "".join(f", {s} model {m}" for s, m in c["model_versions"].items() if s in c["models"])
            for v, c in ((v, exp["variants"][v]) for v in exp["order"])))
    lost = {s: c["dedup_removed"] for s, c in manifest["shelves"].items() if c.get("dedup_removed")}
    if lost:
        print("  one item per page: items given up to an earlier shelf: "
              + ", ".join(f"{s} {n:,}" for s, n in lost.items()))
    cpu = manifest["timings_s"].get("cpu") or {}
    if cpu:
        print("  cpu by stage:    " + ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items()))
    print(f"  recommendations: {published.get('recommendations', '(none)')}")
    print(f"  shelf order:     {published.get('home_layout', '(none)')}")
    print(f"  rejected rows:   {published.get('rejected', '(none)')}")
    print(f"  feature stats:   {published.get('feature_stats', '(none)')}")
    print(f"  manifest:        {storage.join(output, publish.MANIFESTS, f'dt={date}', 'manifest.json')}")
