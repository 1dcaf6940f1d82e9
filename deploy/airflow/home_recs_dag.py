"""Airflow 3 DAGs for home-recs: ``home_recs_daily`` and ``home_recs_retrain``.

home_recs_daily (03:00 UTC every day; ``{{ ds }}`` = the run's date D, as_of = D 00:00 UTC)

    wait_for_input >> item_neighbours >> daily >> publish >> drift;  wait_for_input >> daily
        wait_for_input: a sensor in reschedule mode (no worker slot held between pokes) for the marker that says
        the input holds every play before D 00:00 UTC: ``input_ready``, default INPUT/_ready/dt=D/_SUCCESS,
        written by whatever exports the input (the input folder itself has no day partitions). Times out after
        INPUT_WAIT hours: failed, the day is not served, the failure callback says so.
        item_neighbours: Spark, item-item neighbours before D (Dataproc, or local Spark) -> NEIGHBOURS_OUTPUT/dt=D
        daily: Beam on Dataflow, the Home shelves of D, with ``--neighbours NEIGHBOURS_OUTPUT/dt=D
        --neighbours-missing-ok``, run without publishing (``--no-publish``, or ``--submit-only`` under the Beam
        operator); publish: ``home-recs publish`` of that run (idempotent); drift: skew/drift of D
        (exit 1 = an alert = a red task)

    daily runs when item_neighbours is done, whether it succeeded or not, provided the input is ready (trigger
    rule ``all_done_min_one_success`` over wait_for_input and item_neighbours: a timed-out sensor leaves
    item_neighbours upstream_failed, so nothing succeeded and daily does not run): the
    table of as_of D holds plays before D 00:00 UTC, which daily --date D accepts; when the Spark job failed
    the table is absent or has no _SUCCESS, and ``--neighbours-missing-ok`` serves the day without it (Beam
    counts co-listening; the manifest's ``neighbours_skipped`` says why), so Spark never holds back the Home
    page. A table built after D is still refused (exit 2).

    The published day is the Asset ``home_recs_daily_published`` (outlet of publish): a DAG with
    ``schedule=[Asset("home_recs_daily_published")]`` runs after each published day. Every task has
    ``on_failure_callback`` (one ERROR line with dag, task, run, try and log URL, then the optional
    HOME_RECS_ALERT_HOOK); the DAG has a DeadlineAlert: not succeeded DEADLINE hours after it was queued.

home_recs_retrain (Mondays 05:00 UTC)

    retrain_<shelf> for each model shelf of the config   independent; exit 3 (not promoted) = skipped

    Each gets one neighbours table for its whole window, built at the window's first as_of (retrain --as-of
    minus retrain.train_days, read from the config when this file is parsed):
    ``--neighbours NEIGHBOURS_OUTPUT/dt={{ macros.ds_add(ds, -(params.retrain_lag_days | int) - TRAIN_DAYS) }}
    --neighbours-missing-ok``, the table home_recs_daily wrote that day (keep its dt= folders that long; when
    it is gone or incomplete Beam counts co-listening). A later table, e.g. dt={{ ds }}, holds the examples'
    label days and is refused (exit 2) before any input is read.

Shelves and retrain.train_days come from the project's config, read when the file is parsed:
the defaults of transforms/config/config_schema.py (of HOME_RECS_REPO, else of the package installed in
HOME_RECS_VENV; the module needs only pydantic, which Airflow has), with the local YAML file HOME_RECS_CONFIG
(the same file as the ``config`` setting) deep-merged over it. home-recs itself is not installed in Airflow's
virtualenv (their dependency pins differ).

Operators are chosen when the file is parsed, by what is installed, so the file parses either way:
  - item_neighbours: ``DataprocSubmitJobOperator`` when apache-airflow-providers-google is importable,
    else a BashOperator running the job with local Spark on the Airflow worker.
  - daily: ``BeamRunPythonPipelineOperator`` + ``DataflowConfiguration`` when apache-airflow-providers-apache-beam
    AND apache-airflow-providers-google are importable (``DataflowConfiguration`` and the Dataflow hook live in
    the google provider; the beam provider refuses DataflowRunner without it), else a BashOperator running
    ``home-recs daily`` (with ``--runner DataflowRunner`` the CLI submits the job and waits for it).
    ``HOME_RECS_DAILY_LAUNCHER=bash`` forces the BashOperator (see deploy/README.md for why you may want to).

Settings. Every path and GCP value below is a DAG param (``airflow dags trigger -c '{"input": ...}'`` or the
trigger form) whose default is empty; an empty param falls back to the Airflow Variable ``home_recs_<name>``,
then to the built-in default. Templates read them at run time, so parsing needs no database.
Environment of the DAG processor and workers (read at parse time):
  HOME_RECS_VENV            virtualenv with home-recs installed (its bin/home-recs and bin/python are used;
                            default: ``home-recs`` and ``python3`` on PATH). Airflow itself lives in another venv.
  HOME_RECS_REPO            checkout of this repository (default: two folders above this file); the defaults of
                            the ``daily_py_file`` and ``setup_file`` settings are taken from it.
  HOME_RECS_GCP_PROJECT     project of the Dataflow job in the BeamRunPythonPipelineOperator path (its
                            DataflowConfiguration.project_id is not templated); default: the project of the
                            ``google_cloud_default`` connection.
  HOME_RECS_DAILY_LAUNCHER  ``beam`` (default when the providers are importable) or ``bash``.
  HOME_RECS_WORKER_IMAGE    Dataflow worker image built from deploy/dataflow/Dockerfile (e.g.
                            REGION-docker.pkg.dev/PROJECT/REPO/home-recs:TAG): every Dataflow job gets
                            ``--sdk_container_image`` instead of ``--setup_file``, so workers do not pip-install
                            at start-up. Empty (default): ``--setup_file``.
  HOME_RECS_INPUT_SENSOR    ``gcs`` (GCSObjectExistenceSensor; default when the google provider is importable) or
                            ``python`` (PythonSensor: a local path, or gs:// through home-recs' transforms.io.storage).
  HOME_RECS_CONFIG          local copy of the ``config`` YAML, for the shelf list and retrain.train_days (optional).
  HOME_RECS_DAILY_DEADLINE_HOURS   the daily deadline, hours after the run is queued (default 6: 09:00 UTC).
  HOME_RECS_INPUT_WAIT_HOURS       how long wait_for_input waits (default 5).
  HOME_RECS_ALERT_HOOK      ``package.module:function`` called as f(line, fields) after each alert line (optional).
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import importlib
import json
import logging
import os
import re
import shlex
import sys
import subprocess
from pathlib import Path

import yaml
from airflow.sdk import DAG, Asset, CronTriggerTimetable, Param

try:  # Airflow 3: the BashOperator lives in the standard provider (installed with apache-airflow)
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # pragma: no cover - Airflow 2 layout
    from airflow.operators.bash import BashOperator

try:  # Airflow 3: the PythonSensor lives in the standard provider (installed with apache-airflow)
    from airflow.providers.standard.sensors.python import PythonSensor
except ImportError:  # pragma: no cover - Airflow 2 layout
    from airflow.sensors.python import PythonSensor

try:  # Airflow >= 3.1; the SLA of Airflow 2 is gone in 3, so without it the daily DAG has no deadline
    from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback

    HAVE_DEADLINES = True
except ImportError:  # pragma: no cover - older Airflow 3
    HAVE_DEADLINES = False

try:
    from airflow.providers.google.cloud.operators.dataproc import DataprocSubmitJobOperator

    HAVE_GOOGLE = True
except ImportError:
    HAVE_GOOGLE = False

try:
    from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

    HAVE_BEAM = True
except ImportError:
    HAVE_BEAM = False

if HAVE_GOOGLE:
    from airflow.providers.google.cloud.operators.dataflow import DataflowConfiguration
    from airflow.providers.google.cloud.sensors.gcs import GCSObjectExistenceSensor

VENV = os.environ.get("HOME_RECS_VENV", "")
HOME_RECS = os.path.join(VENV, "bin", "home-recs") if VENV else "home-recs"
PYTHON = os.path.join(VENV, "bin", "python") if VENV else "python3"
REPO = Path(os.environ.get("HOME_RECS_REPO") or Path(__file__).resolve().parents[2])
GCP_PROJECT = os.environ.get("HOME_RECS_GCP_PROJECT") or None
# the Dataflow worker image (deploy/dataflow/Dockerfile): workers start with home-recs installed instead of
# pip-installing setup.py's requirements at every start; empty: --setup_file, as before
WORKER_IMAGE = os.environ.get("HOME_RECS_WORKER_IMAGE", "")
LAUNCHER = os.environ.get("HOME_RECS_DAILY_LAUNCHER", "beam" if (HAVE_BEAM and HAVE_GOOGLE) else "bash")
USE_BEAM_OPERATOR = LAUNCHER == "beam" and HAVE_BEAM and HAVE_GOOGLE
USE_GCS_SENSOR = os.environ.get("HOME_RECS_INPUT_SENSOR", "gcs" if HAVE_GOOGLE else "python") == "gcs" and HAVE_GOOGLE
DEADLINE_HOURS = float(os.environ.get("HOME_RECS_DAILY_DEADLINE_HOURS", "6"))
INPUT_WAIT_HOURS = float(os.environ.get("HOME_RECS_INPUT_WAIT_HOURS", "5"))


def _merge(base: dict, override: dict) -> dict:
    """``override`` deep-merged over ``base``: the merge rule of transforms.config.config.merged (mappings key by key,
    anything else replaces), repeated here because home-recs is not importable in Airflow's virtualenv."""
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def project_config() -> dict:
    """The home-recs config as the jobs load it (defaults + HOME_RECS_CONFIG), for the DAG's shape.

    Raises FileNotFoundError (an import error of this file, shown by Airflow) when the packaged defaults
    cannot be found under HOME_RECS_REPO or HOME_RECS_VENV, or HOME_RECS_CONFIG cannot be read: a DAG with
    a guessed shelf list would retrain the wrong shelves silently.
    """
    candidates = [REPO / "transforms" / "config" / "config_schema.py"]
    if VENV:
        candidates += sorted(Path(VENV).glob("lib/python3*/site-packages/transforms/config/config_schema.py"))
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise FileNotFoundError(f"home_recs_dag: no config_schema.py at {', '.join(map(str, candidates))}: set "
                                "HOME_RECS_REPO to a home-recs checkout or HOME_RECS_VENV to its virtualenv")
    # the schema module needs only pydantic (which Airflow has), not the rest of home-recs
    spec = importlib.util.spec_from_file_location("home_recs_config_schema", found)
    schema = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = schema   # pydantic resolves the string annotations through sys.modules
    spec.loader.exec_module(schema)
    config = schema.default_config()
    override = os.environ.get("HOME_RECS_CONFIG")
    if override:
        if not Path(override).is_file():
            raise FileNotFoundError(f"home_recs_dag: HOME_RECS_CONFIG={override} is not a readable local file")
        config = _merge(config, yaml.safe_load(Path(override).read_text(encoding="utf-8")) or {})
    return config


CONFIG = project_config()
# the model shelves, as jobs.daily serves them (a shelf set to null in the override is disabled)
SHELVES = tuple(s for s, c in CONFIG["shelves"].items() if c and c.get("kind") == "model")
TRAIN_DAYS = int(CONFIG["retrain"]["train_days"])

# name -> (built-in default, description). Placeholders in capitals are not valid bucket or project names,
# so an unset value fails at once with the name in the error instead of writing somewhere unexpected.
SETTINGS: dict[str, tuple[str, str]] = {
    "input": ("gs://CHANGE-ME-home-recs/input", "dataset folder: events, items, listeners[, curation]"),
    "output": ("gs://CHANGE-ME-home-recs/home", "output root of the daily job (recommendations/, _manifests/, ...)"),
    "models": ("gs://CHANGE-ME-home-recs/registry", "model registry root (daily serves its production aliases)"),
    "config": ("", "YAML deep-merged over the defaults, e.g. gs://.../production.yaml (empty: defaults only)"),
    "neighbours_output": ("gs://CHANGE-ME-home-recs/neighbours", "item-neighbours output root (a dt=D folder per run)"),
    "input_ready": ("", "marker of a ready input day, {ds} = D (empty: <input>/_ready/dt={ds}/_SUCCESS)"),
    "retrain_work": ("gs://CHANGE-ME-home-recs/retrain-work", "retrain scratch root (examples, candidate models)"),
    "runner": ("DataflowRunner", "Beam runner of the Bash tasks (DirectRunner for a small local run)"),
    "project": ("CHANGE-ME-gcp-project", "GCP project of the Bash tasks' Dataflow jobs and of Dataproc"),
    "region": ("europe-west1", "GCP region of Dataflow and Dataproc"),
    "temp_location": ("gs://CHANGE-ME-home-recs/tmp", "Dataflow --temp_location"),
    "setup_file": (str(REPO / "setup.py"), "setup.py that Dataflow workers install (a path on the Airflow worker)"),
    "daily_py_file": (str(REPO / "deploy" / "dataflow" / "daily_main.py"),
                      "entry file of the Beam operator (local path on the worker, or gs://)"),
    "dataproc_cluster": ("home-recs-spark", "Dataproc cluster of item_neighbours (google provider path)"),
    "neighbours_main_uri": ("gs://CHANGE-ME-home-recs/deploy/neighbours_main.py",
                            "gs:// copy of deploy/spark/neighbours_main.py (google provider path)"),
}


def expr(name: str) -> str:
    """Jinja expression of a setting: the DAG param, else the Variable home_recs_<name>, else the default."""
    default = SETTINGS[name][0]
    return f"(params.{name} or var.value.get('home_recs_{name}', {json.dumps(default)}))"


def raw(name: str) -> str:
    """A setting as a template (for operator arguments that are not shell commands)."""
    return "{{ " + expr(name) + " }}"


def sh(name: str) -> str:
    """A setting as a shell-quoted template (for bash_command)."""
    return "{{ " + expr(name) + " | sh }}"


def setting_params(*names: str) -> dict[str, Param]:
    return {n: Param(None, type=["null", "string"],
                     description=f"{SETTINGS[n][1]}. Empty: Variable home_recs_{n}, else {SETTINGS[n][0]!r}")
            for n in names}


def _slug(text: str) -> str:
    """Lower-case [a-z0-9-] form of an Airflow run id (part of the daily job's --run-id)."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:60]


def _gcs(uri: str, part: int) -> str:
    """Bucket (part 1) or object name (part 2) of ``gs://BUCKET/OBJECT``. Raises ValueError otherwise."""
    m = re.fullmatch(r"gs://([^/]+)/(.+)", str(uri))
    if not m:
        raise ValueError(f"input_ready {uri!r}: the GCS sensor needs gs://BUCKET/OBJECT "
                         "(HOME_RECS_INPUT_SENSOR=python also checks local paths)")
    return m.group(part)


JINJA = {"user_defined_filters": {"sh": lambda v: shlex.quote(str(v)), "slug": _slug,
                                  "gcs_bucket": lambda v: _gcs(v, 1), "gcs_object": lambda v: _gcs(v, 2)}}

# Stamped on every row of the day and written into its _SUCCESS; one per try of daily, so a retry never writes
# into the staging folder of an earlier try (whose Dataflow job may still be running).
RUN_ID = "airflow-{{ run_id | slug }}-t{{ ti.try_number }}"


def optional_flag(flag: str, name: str) -> str:
    """``--flag VALUE`` when the setting is not empty."""
    return ("{% if " + expr(name) + " %} " + flag + " " + sh(name) + "{% endif %}")


def worker_flag() -> str:
    """How Dataflow workers get home-recs: `` --sdk_container_image IMAGE`` with HOME_RECS_WORKER_IMAGE, else
    `` --setup_file SETUP`` (workers pip-install it at every start)."""
    return (" --sdk_container_image " + shlex.quote(WORKER_IMAGE)) if WORKER_IMAGE else (" --setup_file " + sh("setup_file"))


def beam_flags(job: str) -> str:
    """``--runner R`` plus, for DataflowRunner, the Dataflow options (the CLI passes unknown flags to Beam)."""
    return (" --runner " + sh("runner")
            + "{% if " + expr("runner") + " == 'DataflowRunner' %}"
            + " --project " + sh("project") + " --region " + sh("region")
            + " --temp_location " + sh("temp_location") + worker_flag()
            + " --job_name home-recs-" + job + "-{{ ds_nodash }}-t{{ ti.try_number }}"
            + "{% endif %}")


# The marker of a ready input day: the input_ready setting, else INPUT/_ready/dt={ds}/_SUCCESS, with {ds} = D.
READY = ("((" + expr("input_ready") + " or (" + expr("input") + " ~ '/_ready/dt={ds}/_SUCCESS'))"
         " | replace('{ds}', ds))")
EXISTS = "import sys; from transforms import storage; sys.exit(0 if storage.exists(sys.argv[1]) else 1)"


def input_ready(marker: str) -> bool:
    """PythonSensor check: does ``marker`` (a local path, or gs://) exist? gs:// is asked through
    home-recs' ``transforms.io.storage`` in HOME_RECS_VENV's Python (Airflow's venv has no GCS client without
    the google provider). Raises RuntimeError when that check itself fails (no credentials, no package)."""
    if not marker.startswith("gs://"):
        found = os.path.exists(marker)
    else:
        proc = subprocess.run([PYTHON, "-c", EXISTS, marker], capture_output=True, text=True, timeout=300)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"checking {marker} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        found = proc.returncode == 0
    print(f"{marker}: {'found' if found else 'not there yet'}")
    return found


ALERTS = logging.getLogger("home_recs.alerts")


def _alert(line: str, fields: dict) -> None:
    """Log ``line`` at ERROR, then call HOME_RECS_ALERT_HOOK (``package.module:function``, read at call
    time on the worker) as f(line, fields); a failing hook is logged, never raised (the line is out)."""
    ALERTS.error(line)
    hook = os.environ.get("HOME_RECS_ALERT_HOOK", "")
    if hook:
        try:
            module, _, name = hook.partition(":")
            getattr(importlib.import_module(module), name)(line, fields)
        except Exception:  # an alert channel that is down must not hide the failure it reports
            ALERTS.exception("HOME_RECS_ALERT_HOOK=%s failed", hook)


def on_failure(context) -> None:
    """on_failure_callback of every task: one line ``home-recs FAILED: dag=.. task=.. run=.. try=.. log=URL
    error=..`` (see :func:`_alert`)."""
    ti = context.get("ti") or context.get("task_instance")
    fields = {"dag": getattr(ti, "dag_id", None), "task": getattr(ti, "task_id", None),
              "run": context.get("run_id") or getattr(ti, "run_id", None), "try": getattr(ti, "try_number", None),
              "log": getattr(ti, "log_url", None), "error": str(context.get("exception") or "")[:300]}
    _alert("home-recs FAILED: " + " ".join(f"{k}={v}" for k, v in fields.items()), fields)


def deadline_missed(context: dict | None = None, **kwargs) -> None:
    """DeadlineAlert callback (Airflow calls it with ``context`` = {dag_run: the REST API's DAGRunResponse as a
    dict (dag_id, dag_run_id, state, ...), deadline: {id, deadline_time}} and the alert's kwargs): one line
    ``home-recs DEADLINE MISSED: dag=.. run=.. state=.. deadline=..``."""
    run, deadline = (context or {}).get("dag_run") or {}, (context or {}).get("deadline") or {}
    fields = {"dag": run.get("dag_id", kwargs.get("dag_id")), "run": run.get("dag_run_id") or run.get("run_id"),
              "state": run.get("state"),
              "deadline": deadline.get("deadline_time"), "expected": kwargs.get("expected")}
    _alert("home-recs DEADLINE MISSED: " + " ".join(f"{k}={v}" for k, v in fields.items()), fields)


FAILURE_CALLBACKS = [on_failure]   # append e.g. a SlackNotifier (Airflow notifiers are callbacks too)
# the published day: a DAG scheduled on it runs after each one (see deploy/README.md)
PUBLISHED_DAY = Asset("home_recs_daily_published")

# The run id of the try of daily that succeeded, for the publish task: the Bash daily echoes it last (BashOperator
# pushes the last stdout line), the Beam operator's daily pushes it under key "run_id" (DailyBeamOperator).
DAILY_RUN_ID = ("{{ ti.xcom_pull(task_ids='daily', key='run_id') }}" if USE_BEAM_OPERATOR
                else "{{ ti.xcom_pull(task_ids='daily') }}")

if USE_BEAM_OPERATOR:
    class DailyBeamOperator(BeamRunPythonPipelineOperator):
        """The Beam operator, pushing the rendered ``--run-id`` so that the publish task names the same run."""

        def execute(self, context):
            context["ti"].xcom_push(key="run_id", value=self.pipeline_options["run-id"])
            return super().execute(context)


DAILY_DOC = __doc__

with DAG(
    dag_id="home_recs_daily",
    description="Home shelves of day D for every listener: item neighbours (Spark), daily (Beam/Dataflow), drift",
    schedule=CronTriggerTimetable("0 3 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["home-recs"],
    doc_md=DAILY_DOC,
    default_args={"owner": "home-recs", "retries": 1, "retry_delay": dt.timedelta(minutes=10),
                  "on_failure_callback": FAILURE_CALLBACKS},
    **({"deadline": DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,   # not the logical date: a backfill is not late
        interval=dt.timedelta(hours=DEADLINE_HOURS),
        callback=SyncCallback(deadline_missed, kwargs={"dag_id": "home_recs_daily",
                                                       "expected": f"done {DEADLINE_HOURS:g} h after queued"}),
        name="home_recs_daily_done")} if HAVE_DEADLINES else {}),
    params={
        **setting_params("input", "output", "models", "config", "neighbours_output", "input_ready", "runner",
                         "project", "region", "temp_location", "setup_file", "daily_py_file", "dataproc_cluster",
                         "neighbours_main_uri"),
    },
    **JINJA,
) as daily_dag:
    # reschedule: the slot is free between pokes; retries 0: the timeout is the whole budget
    sensor_args = dict(task_id="wait_for_input", mode="reschedule", poke_interval=300,
                       timeout=int(INPUT_WAIT_HOURS * 3600), retries=0)
    if USE_GCS_SENSOR:
        wait_for_input = GCSObjectExistenceSensor(bucket="{{ " + READY + " | gcs_bucket }}",
                                                  object="{{ " + READY + " | gcs_object }}", **sensor_args)
    else:
        wait_for_input = PythonSensor(python_callable=input_ready, op_args=["{{ " + READY + " }}"], **sensor_args)

    neighbours_args = ["--as-of", "{{ ds }}", "--input", raw("input"),
                       "--output", raw("neighbours_output") + "/dt={{ ds }}"]
    if HAVE_GOOGLE:
        item_neighbours = DataprocSubmitJobOperator(
            task_id="item_neighbours",
            project_id=raw("project"),
            region=raw("region"),
            job={
                "reference": {"project_id": raw("project")},
                "placement": {"cluster_name": raw("dataproc_cluster")},
                "pyspark_job": {"main_python_file_uri": raw("neighbours_main_uri"), "args": neighbours_args},
            },
            execution_timeout=dt.timedelta(hours=3),
        )
    else:
        item_neighbours = BashOperator(
            task_id="item_neighbours",
            # `home-recs item-neighbours` once the sub-command is wired into jobs/cli.py; same flags
            bash_command=(f"{shlex.quote(PYTHON)} -m jobs.neighbours --as-of {{{{ ds }}}} --input {sh('input')}"
                          f" --output {sh('neighbours_output')}/dt={{{{ ds }}}}"),
            execution_timeout=dt.timedelta(hours=3),
        )

    if USE_BEAM_OPERATOR:
        daily = DailyBeamOperator(
            task_id="daily",
            trigger_rule="all_done_min_one_success",   # item_neighbours failed or not; input ready (docstring)
            py_file=raw("daily_py_file"),
            py_interpreter=PYTHON,
            runner="DataflowRunner",
            pipeline_options={
                "date": "{{ ds }}", "input": raw("input"), "output": raw("output"), "models": raw("models"),
                "config": raw("config"), "run-id": RUN_ID,
                "neighbours": raw("neighbours_output") + "/dt={{ ds }}", "neighbours-missing-ok": True,
                "submit-only": True,   # the operator watches the Dataflow job; the publish task publishes
                "temp_location": raw("temp_location"),
                **({"sdk_container_image": WORKER_IMAGE} if WORKER_IMAGE else {"setup_file": raw("setup_file")}),
            },
            dataflow_config=DataflowConfiguration(
                job_name="home-recs-daily", append_job_name=True, project_id=GCP_PROJECT, location=raw("region"),
            ),
            execution_timeout=dt.timedelta(hours=4),
        )
    else:
        daily = BashOperator(
            task_id="daily",
            trigger_rule="all_done_min_one_success",   # item_neighbours failed or not; input ready (docstring)
            bash_command=(f"{shlex.quote(HOME_RECS)} daily --date {{{{ ds }}}} --input {sh('input')}"
                          f" --output {sh('output')} --models {sh('models')}{optional_flag('--config', 'config')}"
                          f" --neighbours {sh('neighbours_output')}/dt={{{{ ds }}}} --neighbours-missing-ok"
                          f" --run-id {RUN_ID}{beam_flags('daily')} --no-publish && echo {RUN_ID}"),
            execution_timeout=dt.timedelta(hours=4),
        )

    publish = BashOperator(
        task_id="publish",
        # the swap, manifest and _SUCCESS of the run daily staged; idempotent, so retries are safe: a run already
        # published is a no-op, a killed publish is completed, a run without complete staging exits 2
        bash_command=(f"{shlex.quote(HOME_RECS)} publish --output {sh('output')} --date {{{{ ds }}}}"
                      f" --run-id {DAILY_RUN_ID}"),
        retries=2,
        retry_delay=dt.timedelta(minutes=2),
        execution_timeout=dt.timedelta(hours=1),
        outlets=[PUBLISHED_DAY],   # the published day: downstream DAGs schedule on it
    )

    drift = BashOperator(
        task_id="drift",
        # exit 1 = an alert fired (drift.fail_on_alert) -> failed, red; 2 = input error; no retries: a re-run
        # of the same statistics raises the same alert. Statistics missing for D-1 are computed from --input.
        bash_command=(f"{shlex.quote(HOME_RECS)} drift --date {{{{ ds }}}} --output {sh('output')}"
                      f" --models {sh('models')} --input {sh('input')}{optional_flag('--config', 'config')}"
                      f"{beam_flags('drift')}"),
        retries=0,
        execution_timeout=dt.timedelta(hours=2),
    )

    wait_for_input >> item_neighbours >> daily >> publish >> drift
    wait_for_input >> daily


with DAG(
    dag_id="home_recs_retrain",
    description="Weekly retrain of each model shelf: examples, train, evaluate, gate, register, maybe promote",
    schedule=CronTriggerTimetable("0 5 * * 1", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,  # one shelf at a time: build-examples and XGBoost training share the worker
    tags=["home-recs"],
    doc_md="One `home-recs retrain` per model shelf. Exit 0 = promoted (success), 3 = registered but not "
           "promoted by the gate (skipped, not failed), 2 = input error and 1 = error (failed). "
           "--as-of = run date - retrain_lag_days (evaluation window and its labels must be in the data).",
    default_args={"owner": "home-recs", "retries": 0, "on_failure_callback": FAILURE_CALLBACKS},
    params={
        **setting_params("input", "models", "config", "neighbours_output", "retrain_work", "runner", "project",
                         "region", "temp_location", "setup_file"),
        "retrain_lag_days": Param(8, type="integer", minimum=1,
                                  description="--as-of = run date minus this many days: retrain.eval_days + "
                                              "horizon days - 1 (7 by default) + 1 day for late events"),
    },
    **JINJA,
) as retrain_dag:
    for shelf in SHELVES:
        BashOperator(
            task_id=f"retrain_{shelf}",
            bash_command=(f"{shlex.quote(HOME_RECS)} retrain --shelf {shelf}"
                          " --as-of {{ macros.ds_add(ds, -(params.retrain_lag_days | int)) }}"
                          f" --input {sh('input')} --models {sh('models')}{optional_flag('--config', 'config')}"
                          # the table of the window's first as_of, point in time for every example date
                          f" --neighbours {sh('neighbours_output')}/dt={{{{ macros.ds_add(ds, "
                          f"-(params.retrain_lag_days | int) - {TRAIN_DAYS}) }}}} --neighbours-missing-ok"
                          f" --work {sh('retrain_work')}/dt={{{{ ds }}}}/shelf={shelf}{beam_flags('examples-' + shelf)}"),
            skip_on_exit_code=3,  # 3 = not promoted: the gate said no, which is an outcome, not a failure
            execution_timeout=dt.timedelta(hours=6),
        )
