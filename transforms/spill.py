"""Listener shards kept in files between a job's two passes over the listeners.

The daily and example jobs read every listener twice: once for the population side tables
(popularity, co-listening), then, with those tables as a side input, for candidates, features
and scores. A runner must keep the listeners somewhere in between. Beam's local runner keeps
a stage's whole output in memory, so peak memory grew with the listener count (4.1 GB at 100k
listeners). With spilling, each shard is written once as a file under the run's staging
folder (local or ``gs://``), only a small :class:`SpilledShard` handle travels through the
pipeline, and each pass loads one shard at a time. The staging folder is deleted when the day
is published.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Iterator

from transforms import storage
from transforms.history import ListenerColumns


@dataclass(frozen=True)
class SpilledShard:
    """Where one shard's :class:`ListenerColumns` were written; ``listeners`` and ``events`` are
    its sizes (rows), for logs and size estimates."""

    path: str
    listeners: int
    events: int


def spill(cols: ListenerColumns, folder: str, shard: int) -> SpilledShard:
    """Write ``cols`` to ``folder/shard-<shard>.pkl`` (pickle protocol 5; string columns as codes,
    see :mod:`transforms.packing`) and return its handle. Raises OSError from the file system."""
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
