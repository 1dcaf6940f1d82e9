"""Parse deploy/airflow/home_recs_dag.py with Airflow's DagBag (no scheduler, no database) and check it.

Run with the Airflow virtualenv's Python (Airflow is not installed in the project's .venv):

    .venv-airflow/bin/python deploy/airflow/dagbag_check.py [--render [PARAM=VALUE ...]]

Prints one JSON report on stdout: import errors, DAG ids, task ids with their operator and upstream tasks,
and, with --render, each task's templated fields rendered for ds=2026-11-28 with the DAG params (defaults,
or PARAM=VALUE) and no Variables set -- this catches Jinja errors that parsing alone does not. Exit 0 when the checks pass:
no import errors, the expected DAGs and tasks, wait_for_input >> item_neighbours >> daily >> publish >> drift
(daily not publishing, publish naming daily's run), the input sensor in reschedule or deferrable mode (the
PythonSensor's check called on a file that exists and one that does not), daily and retrain_* reading
item_neighbours' table with --neighbours-missing-ok, the published-day Asset as an outlet of publish, a failure
callback on every task, the daily DAG's DeadlineAlert, one retrain task per model shelf (``model_shelves`` in the
report; tests/test_deploy.py compares them with the project's config), retrain tasks skip on exit code 3; exit 1
otherwise (the failures are listed under "failures"). Never calls get_dag(), which needs the metadata database in
Airflow 3.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

DAG_FILE = Path(__file__).resolve().parent / "home_recs_dag.py"
EXPECTED = {"home_recs_daily": {"wait_for_input", "item_neighbours", "daily", "publish", "drift"}}
EDGES = [("home_recs_daily", "wait_for_input", "item_neighbours"), ("home_recs_daily", "wait_for_input", "daily"),
         ("home_recs_daily", "item_neighbours", "daily"), ("home_recs_daily", "daily", "publish"),
         ("home_recs_daily", "publish", "drift")]
PUBLISHED_ASSET = "home_recs_daily_published"
PUBLISHERS = ("publish",)   # the task that publishes the day carries the Asset
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
            info["outlets"] = sorted(getattr(o, "name", str(o)) for o in (task.outlets or []))
            info["on_failure_callback"] = [getattr(c, "__name__", type(c).__name__)
                                           for c in _as_list(task.on_failure_callback)]
            if hasattr(task, "poke_interval"):
                info["sensor"] = {"mode": task.mode, "deferrable": bool(getattr(task, "deferrable", False)),
                                  "poke_interval": task.poke_interval, "timeout": task.timeout}
            if hasattr(task, "skip_on_exit_code"):
                info["skip_on_exit_code"] = sorted(task.skip_on_exit_code or [])
            if "--render" in argv:
                try:
                    info["rendered"] = render(dag, task, overrides)
                except Exception as err:  # a Jinja error is a finding, not a crash of the check
                    failures.append(f"{dag_id}.{task.task_id}: rendering failed: {type(err).__name__}: {err}")
            tasks[task.task_id] = info
        deadlines = [{"reference": type(d.reference).__name__, "interval_s": d.interval.total_seconds(),
                      "callback": d.callback.path.rsplit(".", 1)[-1]} for d in _as_list(getattr(dag, "deadline", None))]
        report["dags"][dag_id] = {"schedule": str(getattr(dag, "timetable", None)), "catchup": dag.catchup,
                                  "params": sorted(dag.params), "tasks": tasks, "deadline": deadlines}
        if dag_id == "home_recs_daily":
            failures += check_sensor(dag.get_task("wait_for_input")) if "wait_for_input" in dag.task_dict else []
            failures += check_alerts(dag)
    if set(bag.dags) != {"home_recs_daily", "home_recs_retrain"}:
        failures.append(f"dag ids {sorted(bag.dags)} != ['home_recs_daily', 'home_recs_retrain']")
    for dag_id, want in EXPECTED.items():
        have = set(report["dags"].get(dag_id, {}).get("tasks", {}))
        if dag_id in bag.dags and have != want:
            failures.append(f"{dag_id}: task ids {sorted(have)} != {sorted(want)}")
    for dag_id, up, down in EDGES:
        task = report["dags"].get(dag_id, {}).get("tasks", {}).get(down)
        if task is not None and up not in task["upstream"]:
            failures.append(f"{dag_id}: missing edge {up} >> {down}")
    retrain = report["dags"].get("home_recs_retrain", {}).get("tasks", {})
    report["model_shelves"] = sorted(t[len("retrain_"):] for t in retrain if t.startswith("retrain_"))
    if not report["model_shelves"] or len(report["model_shelves"]) != len(retrain):
        failures.append(f"home_recs_retrain: expected one retrain_<shelf> task per model shelf, got {sorted(retrain)}")
    for task_id, info in retrain.items():
        if 3 not in info.get("skip_on_exit_code", []):
            failures.append(f"home_recs_retrain.{task_id}: exit code 3 must be a skip")
        if not re.search(r"--neighbours \{\{[^}]*params\.neighbours_output[^}]*\}\}/dt=\{\{ macros\.ds_add\(ds, "
                         r"-\(params\.retrain_lag_days \| int\) - \d+\) \}\} --neighbours-missing-ok", info["template"]):
            failures.append(f"home_recs_retrain.{task_id}: must read item_neighbours' table of the window's first "
                            "as_of (--neighbours NEIGHBOURS_OUTPUT/dt=ds-lag-train_days --neighbours-missing-ok)")
    for dag_id, dag_report in report["dags"].items():
        for task_id, info in dag_report["tasks"].items():
            if "on_failure" not in info["on_failure_callback"]:
                failures.append(f"{dag_id}.{task_id}: no on_failure callback")
    daily_tasks = report["dags"].get("home_recs_daily", {}).get("tasks", {})
    publishers = [t for t, i in daily_tasks.items() if PUBLISHED_ASSET in i["outlets"]]
    if len(publishers) != 1 or publishers[0] not in PUBLISHERS:
        failures.append(f"home_recs_daily: the Asset {PUBLISHED_ASSET} must be an outlet of the publishing task "
                        f"({' or '.join(PUBLISHERS)}), found on {publishers}")
    deadline = report["dags"].get("home_recs_daily", {}).get("deadline")
    if deadline is not None and [d["callback"] for d in deadline] != ["deadline_missed"]:
        failures.append(f"home_recs_daily: expected one DeadlineAlert calling deadline_missed, got {deadline}")
    daily = report["dags"].get("home_recs_daily", {}).get("tasks", {}).get("daily")
    if daily and not ("neighbours_output" in daily["template"] and "neighbours-missing-ok" in daily["template"]):
        failures.append("home_recs_daily.daily: must read item_neighbours' table (--neighbours NEIGHBOURS_OUTPUT/dt=D "
                        "--neighbours-missing-ok)")
    if daily and daily["trigger_rule"] != "all_done_min_one_success":
        failures.append("home_recs_daily.daily: trigger rule must be all_done_min_one_success (a failed Spark job "
                        "must not hold back the Home page; an input that never came must)")
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


def _as_list(value) -> list:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


HOOKED: list = []


def _hook(line: str, fields: dict) -> None:
    """Stands in for HOME_RECS_ALERT_HOOK while check_alerts calls the callbacks."""
    HOOKED.append((line, fields))


class _FailedTI:
    dag_id, task_id, run_id, try_number = "home_recs_daily", "drift", "scheduled__2026-11-28T03:00:00+00:00", 2
    log_url = "http://airflow.example/dags/home_recs_daily/runs/scheduled__2026-11-28T03:00:00+00:00/tasks/drift"


def check_alerts(dag) -> list[str]:
    """Failures of the alert callbacks: drift's on_failure_callback and the DeadlineAlert's callback are
    called with the context Airflow gives them; each must pass one line naming the run to the hook."""
    expected = [
        "home-recs FAILED: dag=home_recs_daily task=drift run=scheduled__2026-11-28T03:00:00+00:00 try=2 "
        f"log={_FailedTI.log_url} error=exit code 1",
        "home-recs DEADLINE MISSED: dag=home_recs_daily run=scheduled__2026-11-28T03:00:00+00:00 state=running "
        "deadline=2026-11-28T09:00:00+00:00 expected=done 6 h after queued",
    ]
    os.environ["HOME_RECS_ALERT_HOOK"] = f"{__name__}:_hook"
    HOOKED.clear()
    try:
        for callback in _as_list(dag.get_task("drift").on_failure_callback):
            callback({"ti": _FailedTI(), "run_id": _FailedTI.run_id, "exception": RuntimeError("exit code 1")})
        for alert in _as_list(getattr(dag, "deadline", None)):
            module, name = alert.callback.path.rsplit(".", 1)
            getattr(sys.modules[module], name)(
                context={"dag_run": {"dag_id": dag.dag_id, "dag_run_id": _FailedTI.run_id, "state": "running"},
                         "deadline": {"id": "x", "deadline_time": "2026-11-28T09:00:00+00:00"}},
                **alert.callback.kwargs)
    finally:
        del os.environ["HOME_RECS_ALERT_HOOK"]
    got = [line for line, _ in HOOKED]
    return [] if got == expected else [f"home_recs_daily: alert lines {got} != {expected}"]


def check_sensor(task) -> list[str]:
    """Failures of the input sensor: it must free its worker slot while waiting (reschedule or deferrable);
    a PythonSensor's check must say True for a marker that exists and False for one that does not."""
    failures = []
    if task.mode != "reschedule" and not getattr(task, "deferrable", False):
        failures.append(f"home_recs_daily.wait_for_input: mode {task.mode!r} holds a worker slot while it waits; "
                        "use mode='reschedule' or deferrable=True")
    if hasattr(task, "python_callable"):
        with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(sys.stderr):
            marker = Path(folder) / "_ready" / "dt=2026-11-28" / "_SUCCESS"
            before = task.python_callable(str(marker))
            marker.parent.mkdir(parents=True)
            marker.touch()
            after = task.python_callable(str(marker))
        if (before, after) != (False, True):
            failures.append(f"home_recs_daily.wait_for_input: check gave {before} before and {after} after the marker "
                            "was written (expected False, True)")
    return failures


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
