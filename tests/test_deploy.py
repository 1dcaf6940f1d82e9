"""Deployment files under deploy/: the Dataflow entry file, the Airflow DAGs, the Flex Template, the config.

The DagBag test needs Airflow, which lives in its own virtualenv (.venv-airflow, created by
deploy/airflow/check_dag.sh); it is skipped when that virtualenv does not exist.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

import jobs.cli
from transforms.config.config import default_config, load_config

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
AIRFLOW_PYTHON = ROOT / ".venv-airflow" / "bin" / "python"

# The argv Airflow's BeamRunPythonPipelineOperator passes to daily_main.py on Dataflow (apache-beam provider
# 6.3.1, google provider 22.8.0: beam_options_to_args of the DAG's pipeline_options plus the DataflowConfiguration).
BEAM_OPERATOR_ARGV = [
    "--runner=DataflowRunner", "--job_name=home-recs-daily-1a2b3c4d", "--project=p", "--region=europe-west1",
    '--labels={"airflow-version": "v3-3-2"}', "--config=", "--date=2026-11-28", "--input=gs://b/in",
    "--models=gs://b/reg", "--output=gs://b/out", "--run-id=airflow-x-t1", "--setup_file=/repo/setup.py",
    "--temp_location=gs://b/tmp",
]


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_daily_main_forwards_to_the_cli(capsys):
    daily_main = load_module(DEPLOY / "dataflow" / "daily_main.py")
    with pytest.raises(SystemExit) as exit_info:
        daily_main.main(["--help"])
    assert exit_info.value.code == 0
    assert "usage: home-recs daily" in capsys.readouterr().out


def test_daily_main_defaults_to_dataflow_submit_only_and_keeps_beam_flags(monkeypatch):
    daily_main = load_module(DEPLOY / "dataflow" / "daily_main.py")
    seen = []
    monkeypatch.setattr(jobs.cli, "main", lambda argv: seen.append(argv) or 0)
    assert daily_main.main(["--date=2026-11-28", "--input=gs://b/in", "--output=gs://b/out"]) == 0
    assert seen[-1] == ["daily", "--runner=DataflowRunner", "--date=2026-11-28", "--input=gs://b/in",
                        "--output=gs://b/out", "--submit-only"]
    assert daily_main.main(["--runner", "DirectRunner", "--date=2026-11-28", "--no-publish"]) == 0
    assert seen[-1] == ["daily", "--runner", "DirectRunner", "--date=2026-11-28", "--no-publish"]


def test_beam_operator_argv_parses_as_daily_plus_beam_options():
    args, beam_args = jobs.cli.build_parser().parse_known_args(["daily"] + BEAM_OPERATOR_ARGV)
    assert (args.command, args.date, args.input, args.output, args.models, args.run_id, args.runner) == (
        "daily", "2026-11-28", "gs://b/in", "gs://b/out", "gs://b/reg", "airflow-x-t1", "DataflowRunner")
    assert not args.config  # an empty --config= means the packaged defaults
    assert args.accepts_beam_options
    assert [a.split("=", 1)[0] for a in beam_args] == [
        "--job_name", "--project", "--region", "--labels", "--setup_file", "--temp_location"]


def _daily_parser() -> argparse.ArgumentParser:
    parser = jobs.cli.build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["daily"]


def test_flex_template_parameters_are_daily_flags_and_required_ones_are_marked():
    meta = json.loads((DEPLOY / "dataflow" / "metadata.json").read_text())
    params = {p["name"]: p for p in meta["parameters"]}
    daily = _daily_parser()
    by_flag = {o: action for action in daily._actions for o in action.option_strings}
    # the launcher passes each parameter as --name=value: each must be a daily flag, not a Beam option
    assert all(f"--{name}" in by_flag for name in params), sorted(n for n in params if f"--{n}" not in by_flag)
    required = {a.option_strings[0][2:] for a in daily._actions if a.required}
    assert required == {"date", "input", "output"}
    assert {n for n, p in params.items() if not p.get("isOptional")} == required | {"run_id"}   # publish needs it
    samples = {"date": "2026-11-28", "input": "gs://b/in", "output": "gs://b/out", "run_id": "daily-2026-11-28-1",
               "models": "gs://b/registry", "config": "gs://b/config/production.yaml"}
    assert set(samples) == set(params)
    for name, value in samples.items():   # every sample passes the parameter's own validation
        for rx in params[name].get("regexes", []):
            assert re.fullmatch(rx, value), (name, rx)
    args, rest = jobs.cli.build_parser().parse_known_args(["daily"] + [f"--{n}={v}" for n, v in samples.items()])
    assert rest == [] and args.run_id == "daily-2026-11-28-1" and args.config == samples["config"]
    date_rx = params["date"]["regexes"][0]
    assert not re.fullmatch(date_rx, "28/11/2026")


def test_dataflow_image_matches_installed_beam_and_python():
    import sys

    import apache_beam

    text = (DEPLOY / "dataflow" / "Dockerfile").read_text()
    py = f"{sys.version_info.major}{sys.version_info.minor}"
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    # the SDK harness the workers run must be the SDK (and Python) that pickled the graph
    assert froms[-1] == f"apache/beam_python{sys.version_info.major}.{sys.version_info.minor}_sdk:{apache_beam.__version__}"
    assert froms[0] == f"gcr.io/dataflow-templates-base/python{py}-template-launcher-base"
    assert re.search(r"^COPY --from=launcher /opt/google/dataflow/python_template_launcher ", text, re.M)
    assert f"apache_beam.__version__ == '{apache_beam.__version__}'" in text
    env = dict(re.findall(r'^ENV (FLEX_TEMPLATE_PYTHON_\w+)="\$\{WORKDIR\}/([^"]+)"', text, re.M))
    # no SETUP_FILE / REQUIREMENTS_FILE: they make every worker pip-install at start-up
    assert env == {"FLEX_TEMPLATE_PYTHON_PY_FILE": "daily_main.py"}
    copies = dict((dst.split("/")[-1], src) for src, dst in re.findall(r"^COPY (\S+) \$\{WORKDIR\}/(\S+)", text, re.M))
    assert (ROOT / copies["daily_main.py"]).is_file()
    for package in ("jobs", "transforms", "models"):  # setup.py's find_packages
        assert (ROOT / copies[package] / "__init__.py").is_file()
    assert re.search(r'^ENTRYPOINT \["/opt/apache/beam/boot"\]', text, re.M)


def _leaves(d: dict, prefix=()):
    for key, value in d.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, prefix + (key,))
        else:
            yield prefix + (key,)


def test_production_config_uses_documented_keys_only():
    path = DEPLOY / "config" / "production.yaml"
    override = yaml.safe_load(path.read_text())
    defaults = default_config()
    for keys in _leaves(override):
        node = defaults
        for key in keys:
            assert isinstance(node, dict) and key in node, f"production.yaml: {'.'.join(keys)} is not a default key"
            node = node[key]
    config = load_config(str(path))
    assert config["drift"]["fail_on_alert"] is True  # the DAG's drift task relies on exit 1 for an alert
    assert config["drift"]["run_after_daily"] is False


NO_AIRFLOW = pytest.mark.skipif(not AIRFLOW_PYTHON.exists(),
                                reason="no Airflow virtualenv at .venv-airflow (Airflow is kept out of .venv); "
                                       "create it with: bash deploy/airflow/check_dag.sh")


def dagbag_report(*args: str, env: dict | None = None) -> dict:
    """The JSON report of deploy/airflow/dagbag_check.py run with the Airflow virtualenv's Python."""
    proc = subprocess.run([str(AIRFLOW_PYTHON), str(DEPLOY / "airflow" / "dagbag_check.py"), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, **(env or {})})
    assert proc.stdout, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def model_shelves(config: dict) -> list[str]:
    return sorted(s for s, c in config["shelves"].items() if c["kind"] == "model")


@NO_AIRFLOW
def test_dags_parse_with_airflow_dagbag():
    report = dagbag_report("--render")
    assert report["import_errors"] == {}
    assert report["dag_ids"] == ["home_recs_daily", "home_recs_retrain"]
    daily, retrain = report["dags"]["home_recs_daily"], report["dags"]["home_recs_retrain"]
    assert set(daily["tasks"]) == {"wait_for_input", "item_neighbours", "daily", "publish", "drift"}
    # the shelf list is the config's, not a copy: the guard against the two drifting apart
    assert report["model_shelves"] == model_shelves(default_config()) == ["playlists", "podcasts", "shortcuts"]
    assert set(retrain["tasks"]) == {"retrain_shortcuts", "retrain_podcasts", "retrain_playlists"}
    assert daily["catchup"] is False and retrain["catchup"] is False
    assert daily["tasks"]["drift"]["upstream"] == ["publish"]
    assert daily["tasks"]["publish"]["upstream"] == ["daily"]
    assert daily["tasks"]["publish"]["outlets"] == ["home_recs_daily_published"]
    # publish names the run daily staged (pushed by daily, one id per try), and daily does not publish itself
    assert daily["tasks"]["publish"]["rendered"]["bash_command"].endswith(
        " publish --output gs://CHANGE-ME-home-recs/home --date 2026-11-28"
        " --run-id airflow-scheduled-2026-11-28t03-00-00-00-00-t1")
    assert daily["tasks"]["item_neighbours"]["upstream"] == ["wait_for_input"]
    assert daily["tasks"]["daily"]["upstream"] == ["item_neighbours", "wait_for_input"]
    assert daily["tasks"]["daily"]["trigger_rule"] == "all_done_min_one_success"
    sensor = daily["tasks"]["wait_for_input"]
    assert sensor["sensor"]["mode"] == "reschedule" and sensor["upstream"] == []
    ready = sensor["rendered"].get("op_args") or [f"gs://{sensor['rendered']['bucket']}/{sensor['rendered']['object']}"]
    assert ready == ["gs://CHANGE-ME-home-recs/input/_ready/dt=2026-11-28/_SUCCESS"]
    assert daily["deadline"] == [{"callback": "deadline_missed", "interval_s": 6 * 3600.0,
                                  "reference": "DagRunQueuedAtDeadline"}]
    served = daily["tasks"]["daily"]["rendered"]
    served = served.get("bash_command") or json.dumps(served.get("pipeline_options"))
    assert "/dt=2026-11-28 --neighbours-missing-ok" in served or '"neighbours-missing-ok": true' in served
    assert served.endswith("--no-publish && echo airflow-scheduled-2026-11-28t03-00-00-00-00-t1") or (
        '"submit-only": true' in served)
    for task in retrain["tasks"].values():
        assert task["operator"] == "BashOperator" and task["skip_on_exit_code"] == [3]
    rendered = daily["tasks"]["drift"]["rendered"]["bash_command"]
    assert "drift --date 2026-11-28 " in rendered and "{{" not in rendered
    as_of = retrain["tasks"]["retrain_podcasts"]["rendered"]["bash_command"]
    assert "retrain --shelf podcasts --as-of 2026-11-20 " in as_of  # ds - retrain_lag_days (8)
    # the window's first as_of: 2026-11-20 - retrain.train_days (28) = 2026-10-23
    first = dt.date(2026, 11, 20) - dt.timedelta(days=default_config()["retrain"]["train_days"])
    assert first == dt.date(2026, 10, 23)
    assert (" --neighbours gs://CHANGE-ME-home-recs/neighbours/dt=2026-10-23 --neighbours-missing-ok --work "
            in as_of)
    assert " --setup_file " in as_of and "--sdk_container_image" not in as_of   # no worker image set
    assert report["failures"] == [], report["failures"]


@NO_AIRFLOW
def test_dag_shelves_and_train_days_follow_the_config_override(tmp_path):
    override = tmp_path / "prod.yaml"
    override.write_text("shelves: {playlists: null}\nretrain: {train_days: 21}\n")
    image = "europe-docker.pkg.dev/p/r/home-recs:1"
    report = dagbag_report("--render", "input=/data/in", env={"HOME_RECS_CONFIG": str(override),
                                                               "HOME_RECS_INPUT_SENSOR": "python",
                                                               "HOME_RECS_WORKER_IMAGE": image})
    assert report["model_shelves"] == model_shelves(load_config(str(override))) == ["podcasts", "shortcuts"]
    command = report["dags"]["home_recs_retrain"]["tasks"]["retrain_shortcuts"]["rendered"]["bash_command"]
    assert "--as-of 2026-11-20 --input /data/in " in command
    assert " --neighbours gs://CHANGE-ME-home-recs/neighbours/dt=2026-10-30 --neighbours-missing-ok " in command
    # with a worker image, Dataflow workers start from it instead of pip-installing setup.py
    assert f" --sdk_container_image {image} " in command and "--setup_file" not in command
    sensor = report["dags"]["home_recs_daily"]["tasks"]["wait_for_input"]
    assert (sensor["operator"], sensor["rendered"]) == (
        "PythonSensor", {"op_args": ["/data/in/_ready/dt=2026-11-28/_SUCCESS"]})
    assert report["failures"] == [], report["failures"]   # incl. the sensor's check on a real file
