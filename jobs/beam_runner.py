"""Create a Beam pipeline on an explicitly named runner.

Recent Beam's DirectRunner first tries the Prism runner, which downloads a binary at run time and
fails (or hangs behind a firewall) on machines without internet. ``DirectRunner`` here therefore
means the in-process portable FnApiRunner that DirectRunner itself falls back to for batch
pipelines; every other name (DataflowRunner, FlinkRunner, ...) goes to Beam unchanged.
"""
from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.io.beam_io import METRICS_NAMESPACE, tune_allocator, use_batch_aware_coder
from transforms.errors import InputError

log = logging.getLogger("home_recs.runner")


def make_pipeline(runner: str, beam_args: list[str]) -> beam.Pipeline:
    """A pipeline for ``runner`` with the remaining Beam flags ``beam_args``.

    Raises InputError for an unknown runner name, and for a flag that is neither the command's nor
    a Beam pipeline option (Beam itself only logs a warning and drops it, so a misspelt
    ``--config`` would run the day on the defaults).
    """
    check_pipeline_args(runner, beam_args)
    use_batch_aware_coder()
    tune_allocator()
    if runner in ("DirectRunner", "FnApiRunner"):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        log.info("runner: DirectRunner (in-process FnApiRunner; Prism is not used)")
        return beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(beam_args))
    return beam.Pipeline(options=PipelineOptions(beam_args + ["--runner", runner]))


def check_pipeline_args(runner: str, beam_args: list[str]) -> None:
    """Refuse, before a job touches its input or output, an unknown runner or a flag that is
    neither the command's nor a Beam pipeline option. Raises InputError."""
    refuse_unknown_flags(beam_args)
    if runner not in ("DirectRunner", "FnApiRunner"):
        from apache_beam.runners.runner import create_runner

        try:
            create_runner(runner)
        except ValueError as err:  # Beam: "Unexpected pipeline runner: X. Valid values are ..."
            raise InputError(f"--runner {runner}: {err}") from err


def refuse_unknown_flags(beam_args: list[str]) -> None:
    """Raise InputError naming the flags of ``beam_args`` that no Beam pipeline option parses."""
    try:  # the parser Beam uses for its own options (it knows ValueProvider arguments)
        from apache_beam.options.pipeline_options import _BeamArgumentParser
    except ImportError:  # a Beam without it: keep Beam's own warning
        return
    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)  # noqa: SLF001 - as PipelineOptions.get_all_options does
    unknown = parser.parse_known_args(beam_args)[1]
    if unknown:
        raise InputError(f"unknown argument(s) {' '.join(unknown)}: neither a flag of this command (see --help) "
                         f"nor a Beam pipeline option")


def read_counters(result) -> dict[str, int]:
    """Committed Beam counter values in the project's namespace, by name."""
    from apache_beam.metrics.metric import MetricsFilter

    out: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        out[c.key.metric.name] = out.get(c.key.metric.name, 0) + int(c.committed or 0)
    return out

