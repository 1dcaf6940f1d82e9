"""``home-recs generate``: write a synthetic dataset in the data contract (see transforms/data/synthetic.py)."""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import time

from transforms.data import synthetic
from transforms.io import datasets
from transforms.errors import InputError

log = logging.getLogger(__name__)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def register(subparsers) -> None:
    """Add the ``generate`` sub-command to ``subparsers`` (an argparse sub-parsers action)."""
    parser = subparsers.add_parser(
        "generate",
        help="write a synthetic dataset (events, items, listeners, curation) with planted structure",
        description=(
            "Generate a synthetic music-streaming dataset in the data contract and write it as "
            "OUTPUT/<table>.parquet plus OUTPUT/_dataset.json. Events cover the DAYS days before END "
            "(00:00 UTC, exclusive). The same flags always produce the same data. The planted structure "
            "(heavy rotation, podcast starts, cold-start playlists, ...) is described in docs/synthetic-data.md."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--listeners", type=_positive_int, default=2000, metavar="N",
                        help="number of listeners (accounts); the catalog grows with sqrt(N)")
    parser.add_argument("--days", type=_positive_int, default=30, metavar="D",
                        help="days of listening events before --end")
    parser.add_argument("--seed", type=_seed, default=7, metavar="S",
                        help="random seed; the same seed and flags give identical data")
    parser.add_argument("--end", type=_date, default="2026-11-28", metavar="YYYY-MM-DD",
                        help="first day NOT covered by events (00:00 UTC); new listeners registered in the 14 days before it")
    parser.add_argument("--part-listeners", type=_positive_int, default=synthetic.PART_LISTENERS, metavar="P",
                        help="above P listeners, simulate and write them in parts of P (events/ and listeners/ "
                             "folders of part files), so memory stays bounded by one part; at or below P, one file "
                             "per table")
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="output directory, local path or gs://bucket/prefix (tables are overwritten)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, unknown: list[str]) -> int:
    """Generate with ``args.listeners/days/seed/end`` and write the dataset to ``args.output``.

    Prints one summary line (rows per table, output path) and returns 0. Raises InputError for
    argument values the generator rejects.
    """
    started = time.monotonic()
    log.info("generating %d listeners x %d days (seed %d, end %s)", args.listeners, args.days, args.seed, args.end)
    provenance = {
        "generator": "transforms.data.synthetic",
        "generator_version": synthetic.GENERATOR_VERSION,
        "listeners": args.listeners,
        "days": args.days,
        "seed": args.seed,
        "end": args.end,
    }
    parted = args.listeners > args.part_listeners
    if parted:
        provenance["part_listeners"] = args.part_listeners
    parts = synthetic.generate_parts(args.listeners, args.days, args.seed, end=args.end,
                                     part_listeners=args.part_listeners)
    try:
        summary = datasets.write_dataset_parts(parts, args.output, provenance=provenance,
                                               folder_tables=("events", "listeners") if parted else ())
    except ValueError as err:
        raise InputError(str(err)) from err
    rows = ", ".join(f"{name} {count:,}" for name, count in summary["tables"].items())
    print(f"generate: {rows} rows -> {args.output} ({time.monotonic() - started:.1f} s)")
    return 0
