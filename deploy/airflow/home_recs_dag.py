"""Airflow 3 DAGs for home-recs: ``home_recs_daily`` and ``home_recs_retrain``.

home_recs_daily (03:00 UTC every day; ``{{ ds }}`` = the run's date D, as_of = D 00:00 UTC)

    item_neighbours >> daily >> publish >> drift
        item_neighbours: Spark, item-item neighbours before D (Dataproc, or local Spark) -> NEIGHBOURS_OUTPUT/dt=D
        daily: Beam on Dataflow, the Home shelves of D, with ``--neighbours NEIGHBOURS_OUTPUT/dt=D
        --neighbours-missing-ok``, run without publishing (``--no-publish``, or ``--submit-only`` under the Beam
        operator); publish: ``home-recs publish`` of that run (idempotent); drift: skew/drift of D
        (exit 1 = an alert = a red task)

    daily runs when item_neighbours is done, whether it succeeded or not (trigger rule ``all_done``): the
    table of as_of D holds plays before D 00:00 UTC, which daily --date D accepts; when the Spark job failed
    the table is absent or has no _SUCCESS, and ``--neighbours-missing-ok`` serves the day without it (Beam
    counts co-listening; the manifest's ``neighbours_skipped`` says why), so Spark never holds back the Home
    page. A table built after D is still refused (exit 2).

home_recs_retrain (Mondays 05:00 UTC)

    retrain_shortcuts, retrain_podcasts, retrain_playlists   independent; exit 3 (not promoted) = skipped

    The retrain tasks are not given ``--neighbours`` either: Beam counts co-listening at each example date,
    point in time by construction. To train on the Spark table, give one table for the whole window, built
    at its first as_of (retrain --as-of minus retrain.train_days, 28):
    ``--neighbours NEIGHBOURS_OUTPUT/dt={{ macros.ds_add(ds, -(params.retrain_lag_days | int) - 28) }}``,
    which home_recs_daily wrote that day (keep its dt= folders that long). A later table, e.g. dt={{ ds }},
    holds the examples' label days and is refused (exit 2) before any input is read.

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
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
from pathlib import Path

from airflow.sdk import DAG, CronTriggerTimetable, Param

try:  # Airflow 3: the BashOperator lives in the standard provider (installed with apache-airflow)
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # pragma: no cover - Airflow 2 layout
    from airflow.operators.bash import BashOperator

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

VENV = os.environ.get("HOME_RECS_VENV", "")
HOME_RECS = os.path.join(VENV, "bin", "home-recs") if VENV else "home-recs"
PYTHON = os.path.join(VENV, "bin", "python") if VENV else "python3"
REPO = Path(os.environ.get("HOME_RECS_REPO") or Path(__file__).resolve().parents[2])
GCP_PROJECT = os.environ.get("HOME_RECS_GCP_PROJECT") or None
LAUNCHER = os.environ.get("HOME_RECS_DAILY_LAUNCHER", "beam" if (HAVE_BEAM and HAVE_GOOGLE) else "bash")
USE_BEAM_OPERATOR = LAUNCHER == "beam" and HAVE_BEAM and HAVE_GOOGLE

SHELVES = ("shortcuts", "podcasts", "playlists")  # the model shelves (transforms/feature_spec.py)

# name -> (built-in default, description). Placeholders in capitals are not valid bucket or project names,
# so an unset value fails at once with the name in the error instead of writing somewhere unexpected.
SETTINGS: dict[str, tuple[str, str]] = {
    "input": ("gs://CHANGE-ME-home-recs/input", "dataset folder: events, items, listeners[, curation]"),
    "output": ("gs://CHANGE-ME-home-recs/home", "output root of the daily job (recommendations/, _manifests/, ...)"),
    "models": ("gs://CHANGE-ME-home-recs/registry", "model registry root (daily serves its production aliases)"),
    "config": ("", "YAML deep-merged over the defaults, e.g. gs://.../production.yaml (empty: defaults only)"),
    "neighbours_output": ("gs://CHANGE-ME-home-recs/neighbours", "item-neighbours output root (a dt=D folder per run)"),
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


JINJA = {"user_defined_filters": {"sh": lambda v: shlex.quote(str(v)), "slug": _slug}}

# Stamped on every row of the day and written into its _SUCCESS; one per try of daily, so a retry never writes
# into the staging folder of an earlier try (whose Dataflow job may still be running).
RUN_ID = "airflow-{{ run_id | slug }}-t{{ ti.try_number }}"


def optional_flag(flag: str, name: str) -> str:
    """``--flag VALUE`` when the setting is not empty."""
    return ("{% if " + expr(name) + " %} " + flag + " " + sh(name) + "{% endif %}")


def beam_flags(job: str) -> str:
    """``--runner R`` plus, for DataflowRunner, the Dataflow options (the CLI passes unknown flags to Beam)."""
    return (" --runner " + sh("runner")
            + "{% if " + expr("runner") + " == 'DataflowRunner' %}"
            + " --project " + sh("project") + " --region " + sh("region")
            + " --temp_location " + sh("temp_location") + " --setup_file " + sh("setup_file")
            + " --job_name home-recs-" + job + "-{{ ds_nodash }}-t{{ ti.try_number }}"
            + "{% endif %}")


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
    default_args={"owner": "home-recs", "retries": 1, "retry_delay": dt.timedelta(minutes=10)},
    params={
        **setting_params("input", "output", "models", "config", "neighbours_output", "runner", "project",
                         "region", "temp_location", "setup_file", "daily_py_file", "dataproc_cluster",
                         "neighbours_main_uri"),
    },
    **JINJA,
) as daily_dag:
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
            trigger_rule="all_done",   # after item_neighbours, failed or not (see the module docstring)
            py_file=raw("daily_py_file"),
            py_interpreter=PYTHON,
            runner="DataflowRunner",
            pipeline_options={
                "date": "{{ ds }}", "input": raw("input"), "output": raw("output"), "models": raw("models"),
                "config": raw("config"), "run-id": RUN_ID,
                "neighbours": raw("neighbours_output") + "/dt={{ ds }}", "neighbours-missing-ok": True,
                "submit-only": True,   # the operator watches the Dataflow job; the publish task publishes
                "temp_location": raw("temp_location"), "setup_file": raw("setup_file"),
            },
            dataflow_config=DataflowConfiguration(
                job_name="home-recs-daily", append_job_name=True, project_id=GCP_PROJECT, location=raw("region"),
            ),
            execution_timeout=dt.timedelta(hours=4),
        )
    else:
        daily = BashOperator(
            task_id="daily",
            trigger_rule="all_done",   # after item_neighbours, failed or not (see the module docstring)
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

    item_neighbours >> daily >> publish >> drift


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
    default_args={"owner": "home-recs", "retries": 0},
    params={
        **setting_params("input", "models", "config", "retrain_work", "runner", "project", "region",
                         "temp_location", "setup_file"),
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
                          f" --work {sh('retrain_work')}/dt={{{{ ds }}}}/shelf={shelf}{beam_flags('examples-' + shelf)}"),
            skip_on_exit_code=3,  # 3 = not promoted: the gate said no, which is an outcome, not a failure
            execution_timeout=dt.timedelta(hours=6),
        )
