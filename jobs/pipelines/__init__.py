"""The library behind the jobs: each function takes a typed request and does one job's work.

``jobs/<command>.py`` (the modules of :data:`jobs.cli.COMMANDS`) parse their flags into a request,
call one function here and print; none imports another. Import direction:
``jobs.<command> -> jobs.pipelines -> jobs.{common, beam_runner, manifest, plumbing} -> models -> transforms``,
and inside this package ``drift <- publish <- daily`` (drift's missing statistics are computed by
the drift job handing :func:`jobs.pipelines.daily.run_daily` in as a callback).
"""
