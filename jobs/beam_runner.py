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

from transforms.beam_io import tune_allocator, use_batch_aware_coder

log = logging.getLogger("home_recs.runner")


def make_pipeline(runner: str, beam_args: list[str]) -> beam.Pipeline:
    """A pipeline for ``runner`` with the remaining Beam flags ``beam_args``.

    Raises ValueError (from Beam) for an unknown runner name.
    """
    use_batch_aware_coder()
    tune_allocator()
    if runner in ("DirectRunner", "FnApiRunner"):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        log.info("runner: DirectRunner (in-process FnApiRunner; Prism is not used)")
        return beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(beam_args))
    return beam.Pipeline(options=PipelineOptions(beam_args + ["--runner", runner]))
