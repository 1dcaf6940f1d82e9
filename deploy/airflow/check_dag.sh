#!/usr/bin/env bash
# Parse the Airflow DAGs (deploy/airflow/home_recs_dag.py) with DagBag in their own virtualenv and check them:
# no import errors, the expected DAG and task ids, wait_for_input >> item_neighbours >> daily >> publish >> drift,
# the sensor's mode, --neighbours of daily and retrain, the Asset, callbacks, deadline, retrain skips on exit 3.
# Creates the virtualenv if it is missing (Airflow is kept out of the project's .venv: see ../shared/STACK.md).
#
#   bash deploy/airflow/check_dag.sh                 # airflow + apache-beam provider (BashOperator paths)
#   bash deploy/airflow/check_dag.sh --with-google   # + google provider: Dataproc and Beam/Dataflow operator paths
#   bash deploy/airflow/check_dag.sh --render        # also render every task's templates (printed in the report)
#
# Env: AIRFLOW_VENV (default .venv-airflow), PYTHON (default python3, 3.10-3.13). Exit 0 when the checks pass.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${AIRFLOW_VENV:-.venv-airflow}"
PY="${PYTHON:-python3}"
SPEC=("apache-airflow>=3.3,<3.4" "apache-airflow-providers-apache-beam>=6.3,<7")
ARGS=()
for arg in "$@"; do
  case "$arg" in
    --with-google) SPEC+=("apache-airflow-providers-google>=22.8,<23") ;;
    *) ARGS+=("$arg") ;;
  esac
done

STAMP="$VENV/.home-recs-spec"
WANT="$(printf '%s\n' "${SPEC[@]}")"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  start=$(date +%s)
  echo "check_dag: installing ${SPEC[*]} into $VENV" >&2
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check "${SPEC[@]}" > "$VENV/.pip-install.log" 2>&1; then
    tail -n 40 "$VENV/.pip-install.log" >&2
    echo "check_dag: pip install failed (log: $VENV/.pip-install.log)" >&2
    exit 1
  fi
  printf '%s\n' "$WANT" > "$STAMP"
  echo "check_dag: $VENV ready in $(( $(date +%s) - start )) s, $(du -sh "$VENV" | cut -f1)" >&2
fi

REPORT="$(mktemp)"
trap 'rm -f "$REPORT"' EXIT
status=0
"$VENV/bin/python" deploy/airflow/dagbag_check.py ${ARGS[@]+"${ARGS[@]}"} > "$REPORT" || status=$?
if [ ! -s "$REPORT" ]; then echo "check_dag: FAILED: dagbag_check.py wrote no report (exit $status)" >&2; exit 1; fi
if [ "${#ARGS[@]}" -gt 0 ]; then cat "$REPORT"; fi
"$VENV/bin/python" - "$REPORT" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"check_dag: parsed {r['dag_file']} in {r['parse_seconds']} s; import errors: {len(r['import_errors'])}")
for path, err in r["import_errors"].items():
    print(f"  {path}:\n{err}")
for dag_id, d in r["dags"].items():
    tasks = ", ".join(f"{t} ({i['operator']})" for t, i in sorted(d["tasks"].items()))
    print(f"  {dag_id}: {tasks}")
for failure in r["failures"]:
    print(f"  FAILED: {failure}")
print("check_dag: ok" if not r["failures"] else "check_dag: FAILED")
PYEOF
exit "$status"
