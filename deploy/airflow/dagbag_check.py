"""Parse deploy/airflow/home_recs_dag.py with Airflow's DagBag (no scheduler, no database) and check it.

Run with the Airflow virtualenv's Python (Airflow is not installed in the project's .venv):

    .venv-airflow/bin/python deploy/airflow/dagbag_check.py [--render [PARAM=VALUE ...]]

Prints one JSON report on stdout: import errors, DAG ids, task ids with their operator and upstream tasks,
and, with --render, each task's templated fields rendered for ds=2026-11-28 with the DAG params (defaults,
or PARAM=VALUE) and no Variables set -- this catches Jinja errors that parsing alone does not. Exit 0 when the checks pass:
no import errors, the expected DAGs and tasks, daily >> publish >> drift (daily not publishing, publish naming
daily's run), retrain tasks skip on
exit code 3; exit 1 otherwise (the failures are listed under "failures"). Never calls get_dag(), which
needs the metadata database in Airflow 3.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

DAG_FILE = Path(__file__).resolve().parent / "home_recs_dag.py"
EXPECTED = {
    "home_recs_daily": {"item_neighbours", "daily", "publish", "drift"},
    "home_recs_retrain": {"retrain_shortcuts", "retrain_podcasts", "retrain_playlists"},
}
EDGES = [("home_recs_daily", "item_neighbours", "daily"), ("home_recs_daily", "daily", "publish"),
         ("home_recs_daily", "publish", "drift")]
RENDERED_DAILY_RUN_ID = "airflow-scheduled-2026-11-28t03-00-00-00-00-t1"


class _Variables:
    """Stands in for the template context's ``var.value`` / ``var.json``: every Variable is unset."""

    def get(self, key, default_var=None):
        return default_var


class _TI:
    try_number = 1

    def xcom_pull(self, task_ids=None, key="return_value"):
        """daily's run id, as the daily task pushes it (the publish task reads it)."""
        return RENDERED_DAILY_RUN_ID if task_ids == "daily" else None


def render(dag, task, overrides: dict[str, str]) -> dict:
    from airflow.sdk import macros

    params = {k: dag.params[k] for k in dag.params}
    params.update({k: (int(v) if isinstance(params.get(k), int) else v) for k, v in overrides.items() if k in params})
    context = {
        "ds": "2026-11-28", "ds_nodash": "20261128", "run_id": "scheduled__2026-11-28T03:00:00+00:00",
        "ti": _TI(), "task_instance": _TI(), "params": params,
        "var": {"value": _Variables(), "json": _Variables()}, "macros": macros, "dag": dag, "task": task,
    }
    task.render_template_fields(context, jinja_env=dag.get_template_env())
    out = {}
    for field in task.template_fields:
        value = getattr(task, field, None)
        if value in (None, "", {}, []) or field in ("gcp_conn_id", "impersonation_chain", "request_id"):
            continue
        if hasattr(value, "template_fields"):  # e.g. DataflowConfiguration
            value = {f: getattr(value, f) for f in value.template_fields}
        out[field] = value if isinstance(value, (str, int, float, list, dict)) else repr(value)
    return out


def main(argv: list[str]) -> int:
    # Airflow logs to stdout: keep stdout for the report alone
    with contextlib.redirect_stdout(sys.stderr):
        report = check(argv)
    print(json.dumps(report, indent=1, sort_keys=True))
    return 1 if report["failures"] else 0


def check(argv: list[str]) -> dict:
    if "AIRFLOW_HOME" not in os.environ:  # a throwaway home: no ~/airflow side effects, removed at exit
        home = tempfile.mkdtemp(prefix="airflow-home-")
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        os.environ["AIRFLOW_HOME"] = home
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    started = time.time()
    overrides = dict(a.split("=", 1) for a in argv if "=" in a and not a.startswith("-"))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    report: dict = {"dag_file": str(DAG_FILE), "parse_seconds": round(time.time() - started, 2),
                    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
                    "dag_ids": sorted(bag.dags), "dags": {}, "failures": []}
    failures = report["failures"]
    if report["import_errors"]:
        failures.append("import errors")
    for dag_id, dag in sorted(bag.dags.items()):
        tasks = {}
        for task in dag.tasks:
            info = {"operator": type(task).__name__, "upstream": sorted(task.upstream_task_ids),
                    "trigger_rule": str(getattr(getattr(task, "trigger_rule", ""), "value", task.trigger_rule))}
            # the unrendered command or options: which flags the task passes (checked for daily below)
            info["template"] = str(getattr(task, "bash_command", None) or getattr(task, "pipeline_options", ""))
            if hasattr(task, "skip_on_exit_code"):
                info["skip_on_exit_code"] = sorted(task.skip_on_exit_code or [])
            if "--render" in argv:
                try:
                    info["rendered"] = render(dag, task, overrides)
                except Exception as err:  # a Jinja error is a finding, not a crash of the check
                    failures.append(f"{dag_id}.{task.task_id}: rendering failed: {type(err).__name__}: {err}")
            tasks[task.task_id] = info
        report["dags"][dag_id] = {"schedule": str(getattr(dag, "timetable", None)), "catchup": dag.catchup,
                                  "params": sorted(dag.params), "tasks": tasks}
    if set(bag.dags) != set(EXPECTED):
        failures.append(f"dag ids {sorted(bag.dags)} != {sorted(EXPECTED)}")
    for dag_id, want in EXPECTED.items():
        have = set(report["dags"].get(dag_id, {}).get("tasks", {}))
        if dag_id in bag.dags and have != want:
            failures.append(f"{dag_id}: task ids {sorted(have)} != {sorted(want)}")
    for dag_id, up, down in EDGES:
        task = report["dags"].get(dag_id, {}).get("tasks", {}).get(down)
        if task is not None and up not in task["upstream"]:
            failures.append(f"{dag_id}: missing edge {up} >> {down}")
    for task_id, info in report["dags"].get("home_recs_retrain", {}).get("tasks", {}).items():
        if 3 not in info.get("skip_on_exit_code", []):
            failures.append(f"home_recs_retrain.{task_id}: exit code 3 must be a skip")
    daily = report["dags"].get("home_recs_daily", {}).get("tasks", {}).get("daily")
    if daily and not ("neighbours_output" in daily["template"] and "neighbours-missing-ok" in daily["template"]):
        failures.append("home_recs_daily.daily: must read item_neighbours' table (--neighbours NEIGHBOURS_OUTPUT/dt=D "
                        "--neighbours-missing-ok)")
    if daily and "all_done" not in daily["trigger_rule"]:
        failures.append("home_recs_daily.daily: trigger rule must be all_done (a failed Spark job must not hold "
                        "back the Home page)")
    if daily and not ("--no-publish" in daily["template"] or "submit-only" in daily["template"]):
        failures.append("home_recs_daily.daily: must leave publishing to the publish task (--no-publish or "
                        "--submit-only)")
    publish = report["dags"].get("home_recs_daily", {}).get("tasks", {}).get("publish")
    if publish and not (" publish --output " in publish["template"] and "xcom_pull(task_ids='daily'" in publish["template"]):
        failures.append("home_recs_daily.publish: must run `home-recs publish` with the run id daily pushed")
    drift = report["dags"].get("home_recs_daily", {}).get("tasks", {}).get("drift")
    if drift and 1 in drift.get("skip_on_exit_code", []):
        failures.append("home_recs_daily.drift: exit code 1 (alert) must fail the task")
    report["seconds"] = round(time.time() - started, 2)
    return report


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
