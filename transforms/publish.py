"""Publish one day's outputs so downstream readers never see a half-written day.

Jobs write under ``OUTPUT/_staging/<run_id>/<table>/dt=D/``. :func:`publish_day` then removes the
day's ``_SUCCESS`` marker (readers treat the day as absent), swaps each table's ``dt=D`` folder for
the staged one, writes the manifest, and writes ``_SUCCESS`` last. A failed run leaves only its
staging folder behind; the previous good day stays intact until the swap.
"""
from __future__ import annotations

from transforms import storage

MANIFESTS = "_manifests"
SUCCESS = "_SUCCESS"


def staging_root(output: str, run_id: str) -> str:
    return storage.join(output, "_staging", run_id)


def partition(root: str, table: str, date: str) -> str:
    """``root/table/dt=YYYY-MM-DD`` (the Hive-style partition downstream readers expect)."""
    return storage.join(root, table, f"dt={date}")


def success_path(output: str, date: str) -> str:
    return storage.join(output, MANIFESTS, f"dt={date}", SUCCESS)


def publish_day(output: str, run_id: str, date: str, tables: list[str], manifest: dict) -> dict[str, str]:
    """Swap the staged ``tables`` of ``date`` into place, write the manifest and ``_SUCCESS``.

    Returns table -> published path. A table with nothing staged is left absent for that day
    (its old partition is removed so stale rows from an earlier run cannot survive).
    """
    stage = staging_root(output, run_id)
    marker = success_path(output, date)
    if storage.exists(marker):
        storage.delete_tree(marker)
    published = {}
    for table in tables:
        final = partition(output, table, date)
        storage.delete_tree(final)
        staged = partition(stage, table, date)
        if storage.list_files(staged):
            storage.move_tree(staged, final)
            published[table] = final
    storage.write_json(storage.join(output, MANIFESTS, f"dt={date}", "manifest.json"), manifest)
    storage.write_bytes(marker, run_id.encode())
    storage.delete_tree(stage)
    storage.remove_empty_dir(storage.join(output, "_staging"))
    return published
