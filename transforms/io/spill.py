"""Listener shards, and the event blocks that build them, kept in files instead of runner memory.

The daily and example jobs read every listener twice: once for the population side tables
(popularity, co-listening), then, with those tables as a side input, for candidates, features
and scores. A runner must keep the listeners somewhere in between. Beam's local runner keeps
a stage's whole output in memory, so peak memory grew with the listener count (4.1 GB at 100k
listeners). With spilling, each shard is written once as a file under the run's staging
folder (local or ``gs://``), only a small :class:`SpilledShard` handle travels through the
pipeline, and each pass loads one shard at a time. The staging folder is deleted when the day
is published.

Event blocks take the same road into the shards: the local runner holds a grouping's whole
input in memory, so grouping the events of every listener by shard held all events at once
(3.1 GB peak at 100k listeners, growing with the event count). Each block is written once by
:func:`spill_block`, the grouping moves only :class:`SpilledBlock` handles, and the shard's
builder reads its blocks back with :func:`load_block`. build-examples sends each batch's partial
population counts of every as_of the same way (``transforms.io.beam_io.sum_spilled_partials``).
"""
from __future__ import annotations

import pickle
import uuid
from dataclasses import dataclass
from typing import Iterator

import pandas as pd

from transforms.io import storage
from transforms.listeners.history import ListenerColumns
from transforms.io.packing import Columns


@dataclass(frozen=True)
class SpilledShard:
    """Where one shard's :class:`ListenerColumns` were written; ``listeners`` and ``events`` are
    its sizes (rows), for logs and size estimates."""

    path: str
    listeners: int
    events: int


def spill(cols: ListenerColumns, folder: str, shard: int) -> SpilledShard:
    """Write ``cols`` to ``folder/shard-<shard>.pkl`` (pickle protocol 5; string columns as codes,
    see :mod:`transforms.io.packing`) and return its handle. Raises OSError from the file system."""
    path = storage.join(folder, f"shard-{int(shard):05d}.pkl")
    storage.write_bytes(path, pickle.dumps(cols, protocol=pickle.HIGHEST_PROTOCOL))
    return SpilledShard(path, cols.size, len(cols.who))


def load(handle: SpilledShard) -> ListenerColumns:
    """Read back what :func:`spill` wrote. Raises OSError or FileNotFoundError from the file system."""
    return pickle.loads(storage.read_bytes(handle.path))


def batches_of(shard: ListenerColumns | SpilledShard, size: int) -> Iterator[ListenerColumns]:
    """A shard, in memory or spilled, cut into consecutive batches of at most ``size`` listeners."""
    cols = load(shard) if isinstance(shard, SpilledShard) else shard
    yield from cols.split(int(size))


@dataclass(frozen=True)
class SpilledBlock:
    """Where one block of one listener shard (events or ``listeners`` rows) was written; ``rows``:
    its row count."""

    path: str
    rows: int


def spill_block(block, folder: str, shard: int) -> SpilledBlock:
    """Write one block of ``shard`` (event columns, ``listeners`` rows, features as a DataFrame
    or an Arrow table, or partial counts) to
    ``folder/shard-<shard>/<random>.pkl`` and return its handle. Names are random so that a
    retried write never replaces a block another attempt already handed on. Raises OSError from
    the file system."""
    path = storage.join(folder, f"shard-{int(shard):05d}", f"{uuid.uuid4().hex}.pkl")
    storage.write_bytes(path, pickle.dumps(block, protocol=pickle.HIGHEST_PROTOCOL))
    rows = len(next(iter(block.values()), ())) if isinstance(block, dict) else len(block)
    return SpilledBlock(path, rows)


def load_block(block):
    """A block (Columns, DataFrame, Arrow table) in memory as it is; a spilled one read back (OSError from
    the file system)."""
    return pickle.loads(storage.read_bytes(block.path)) if isinstance(block, SpilledBlock) else block
