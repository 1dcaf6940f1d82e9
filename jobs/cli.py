"""The ``home-recs`` command line: one sub-command per job.

Each job module exposes ``register(subparsers)`` that adds its parser and sets ``func``; ``func``
receives the parsed namespace plus the list of flags the parser did not know (Beam options).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from transforms.errors import InputError
from transforms.provenance import code_version

# Sub-command modules, in the order --help lists them.
COMMAND_MODULES = ("jobs.generate", "jobs.importers", "jobs.daily", "jobs.examples", "jobs.train", "jobs.evaluate",
                   "jobs.retrain", "jobs.models_cli", "jobs.drift", "jobs.neighbours", "jobs.lookup")


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def configure_logging(library_level: str, verbose: bool = False) -> None:
    """Log to stderr: ``home_recs.*`` at INFO (DEBUG with ``verbose``), every other logger (Beam's
    screens of per-stage lines, py4j, urllib3) at ``library_level``."""
    logging.basicConfig(level=getattr(logging, library_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
    logging.getLogger("home_recs").setLevel(logging.DEBUG if verbose else logging.INFO)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="home-recs",
        description="Precompute a music app's Home shelves for every listener (offline, daily, Beam + Spark + XGBoost).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {code_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging for home-recs' own messages")
    parser.add_argument("--log-level", default="WARNING", type=str.upper, choices=LOG_LEVELS,
                        help="level of Beam's, Spark's and other libraries' log messages (default WARNING: "
                             "home-recs' own progress lines and summary stay; INFO shows Beam's stage by stage)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    configure_logging(args.log_level, args.verbose)
    if unknown and not getattr(args, "accepts_beam_options", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.func(args, unknown) or 0)
    except InputError as err:
        print(f"home-recs {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`| head`): not an error of ours; keep Python from printing one at exit
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
