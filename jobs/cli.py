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

# Sub-command modules, in the order --help lists them.
COMMAND_MODULES = ("jobs.generate", "jobs.importers", "jobs.daily", "jobs.examples", "jobs.train", "jobs.evaluate", "jobs.retrain", "jobs.models_cli", "jobs.drift", "jobs.neighbours")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="home-recs",
        description="Precompute a music app's Home shelves for every listener (offline, daily, Beam + Spark + XGBoost).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if unknown and not getattr(args, "accepts_beam_options", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.func(args, unknown) or 0)
    except InputError as err:
        print(f"home-recs {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
