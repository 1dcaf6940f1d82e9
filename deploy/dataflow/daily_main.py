"""Entry file for the daily Beam job on Dataflow: ``python daily_main.py --date D --input ... [Beam flags]``.

It is ``home-recs daily`` under another name, so that launchers that want a Python *file* can run it:
the Dataflow Flex Template launcher (``FLEX_TEMPLATE_PYTHON_PY_FILE`` in ``deploy/dataflow/Dockerfile``)
and Airflow's ``BeamRunPythonPipelineOperator`` (``py_file`` in ``deploy/airflow/home_recs_dag.py``).
Both pass the job's parameters as ``--name=value`` flags; the ones ``daily`` does not know
(``--project``, ``--region``, ``--temp_location``, ``--setup_file``, ``--job_name``, ``--labels``, ...)
go to Beam's PipelineOptions, exactly as on the command line. Unlike the CLI (DirectRunner), the runner
defaults to DataflowRunner here; an explicit ``--runner`` wins.

It also defaults to ``--submit-only``: the program submits the job and exits without waiting (Google's
Flex Template guide: the launcher must not block in ``wait_until_finish``; Airflow's Beam operator watches
the job itself). The job writes what publishing needs into its staging folder, and a separate
``home-recs publish --output OUT --date D --run-id R`` step publishes the day after the job has succeeded.
An explicit ``--no-publish`` (wait, do not publish) keeps its meaning.

Exit code: the CLI's (0 submitted, 2 input error, 1 other error).
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    args = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--runner" or a.startswith("--runner=") for a in args):
        args = ["--runner=DataflowRunner"] + args
    if not any(a in ("--submit-only", "--no-publish") for a in args):
        args = args + ["--submit-only"]
    return cli_main(["daily"] + args)


if __name__ == "__main__":
    sys.exit(main())
