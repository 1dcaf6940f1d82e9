"""``home-recs import SOURCE``: turn a real dataset (or any interaction file) into the data contract.

Thin wrappers around :mod:`transforms.data.importers`: each sub-command calls one pure importer, writes
the frames with :func:`transforms.io.datasets.write_dataset` (``OUTPUT/<table>.parquet`` plus
``_dataset.json`` with provenance) and prints the rows per table and the output path. Each
sub-command's ``--help`` shows its importer's module docstring: the source, licence caveat and
exact column mapping.
"""
from __future__ import annotations

import argparse
from typing import Callable

import pandas as pd

from transforms.io import storage
from transforms.io.datasets import write_dataset
from transforms.data.importers import apple_podcasts, file_fingerprints, generic, hetrec, thirtymusic


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "import", help="turn a real dataset or any interaction file into the data contract",
        description="Turn a real public dataset (read in place, never copied) or any CSV/Parquet/JSONL "
                    "file of plays into the data contract tables (OUTPUT/<table>.parquet).")
    sources = parser.add_subparsers(dest="source_kind", metavar="SOURCE", required=True)

    def add(name: str, module, help_text: str, func: Callable) -> argparse.ArgumentParser:
        p = sources.add_parser(name, help=help_text, description=module.__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--output", required=True, help="output directory (local or gs://)")
        p.set_defaults(func=func)
        return p

    p = add("30music", thirtymusic, "30Music sessions sample: per-play track events, listeners, items", run_30music)
    p.add_argument("--source", required=True,
                   help=f"directory holding {thirtymusic.PARQUET_FILE} (or {thirtymusic.CSV_FILE})")

    p = add("hetrec-lastfm", hetrec, "HetRec 2011 Last.fm 2K: one artist event per (listener, artist) "
            "play-count pair, dated by first tag; play_counts, friends, tag_assignments", run_hetrec)
    p.add_argument("--source", required=True, help="directory holding the hetrec2011-lastfm-2k .dat files")

    p = add("apple-podcasts", apple_podcasts, "Apple Podcasts 2019 catalogue: show items only "
            "(no listening data in this source)", run_apple_podcasts)
    p.add_argument("--source", required=True,
                   help=f"directory holding {apple_podcasts.JSON_FILE} and {apple_podcasts.CSV_FILE}")

    p = add("events", generic, "any CSV/Parquet/JSONL file of plays, with a column mapping", run_events)
    p.add_argument("--source", required=True, help="the interactions file (local or gs://)")
    p.add_argument("--map", required=True, dest="mapping", metavar="TARGET=COL,...",
                   help="listener_id=COL,item_id=COL,ts=COL[,ms_played=COL,item_type=COL,context_id=COL]")
    p.add_argument("--item-type", default=None,
                   help=f"item_type of every row when it is not mapped (default {generic.DEFAULT_ITEM_TYPE})")
    p.add_argument("--ts-unit", choices=generic.TS_UNITS, default=None,
                   help="how to read ts: epoch s, epoch ms or ISO-8601 text "
                        "(default: numbers as epoch seconds, text as ISO-8601)")
    p.add_argument("--format", choices=generic.FORMATS, default=None, dest="fmt",
                   help="file format (default: from the extension)")


def run_30music(args, unknown) -> int:
    frames = thirtymusic.import_30music(args.source)
    path = thirtymusic.source_file(args.source)
    return _write(frames, args.output, {
        "importer": "30music", "source": args.source, "files": file_fingerprints([path]),
        "licence": thirtymusic.LICENCE,
        "mapping": "listener_id=str(user_id), item_id=str(song_id), item_type=track, ts=epoch s UTC, "
                   "ms_played=playtime*1000; registered_at=first play",
    })


def run_hetrec(args, unknown) -> int:
    frames = hetrec.import_hetrec_lastfm(args.source)
    files = [storage.join(args.source, name) for name, _cols, _enc in hetrec.FILES.values()]
    return _write(frames, args.output, {
        "importer": "hetrec-lastfm", "source": args.source, "files": file_fingerprints(files),
        "licence": hetrec.LICENCE,
        "snapshot": hetrec.snapshot_of(args.source).isoformat(),
        "count_rule": "one event per (userID, artistID) of user_artists.dat; ts = earliest valid tag date of "
                      "the pair, else snapshot; weight -> play_counts.play_count",
    })


def run_apple_podcasts(args, unknown) -> int:
    frames = apple_podcasts.import_apple_podcasts(args.source)
    files = [storage.join(args.source, apple_podcasts.JSON_FILE), storage.join(args.source, apple_podcasts.CSV_FILE)]
    return _write(frames, args.output, {
        "importer": "apple-podcasts", "source": args.source, "files": file_fingerprints(files),
        "licence": apple_podcasts.LICENCE,
        "mapping": "item_id=itunes_id (csv), name=title, creator_id=producer, genres=genre (json)",
    })


def run_events(args, unknown) -> int:
    mapping = generic.parse_mapping(args.mapping)
    frames = generic.import_events(args.source, mapping, item_type=args.item_type, ts_unit=args.ts_unit,
                                   fmt=args.fmt)
    return _write(frames, args.output, {
        "importer": "events", "source": args.source, "files": file_fingerprints([args.source]),
        "mapping": mapping, "item_type": args.item_type, "ts_unit": args.ts_unit, "format": args.fmt,
    })


def _write(frames: dict[str, pd.DataFrame], output: str, provenance: dict) -> int:
    summary = write_dataset(frames, output, provenance=provenance)
    width = max(len(name) for name in summary["tables"])
    for name, rows in summary["tables"].items():
        print(f"{name:<{width}}  {rows:>10,d} rows")
    print(f"wrote {output}")
    return 0
