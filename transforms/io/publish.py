"""Publish one day's outputs so downstream readers never see a half-written day.

Jobs write under ``OUTPUT/_staging/<run_id>/<table>/dt=D/``. :func:`publish_day` then removes the
day's ``_SUCCESS`` marker (readers treat the day as absent), swaps each table's ``dt=D`` folder for
the staged one, writes the manifest, and writes ``_SUCCESS`` last. A failed run leaves only its
staging folder behind; the previous good day stays intact until the swap.
"""
from __future__ import annotations

from transforms.io import storage

MANIFESTS = "_manifests"
SUCCESS = "_SUCCESS"
JOURNAL = "_publish.json"   # in the run's staging folder: which steps of the swap are done


def staging_root(output: str, run_id: str) -> str:
    return storage.join(output, "_staging", run_id)


def partition(root: str, table: str, date: str) -> str:
    """``root/table/dt=YYYY-MM-DD`` (the Hive-style partition downstream readers expect)."""
    return storage.join(root, table, f"dt={date}")


def success_path(output: str, date: str) -> str:
    return storage.join(output, MANIFESTS, f"dt={date}", SUCCESS)


def published_run(output: str, date: str) -> str | None:
    """The run id in the day's ``_SUCCESS`` (the run that published it), or None when the day is not published."""
    marker = success_path(output, date)
    return storage.read_bytes(marker).decode().strip() if storage.exists(marker) else None


def publish_day(output: str, run_id: str, date: str, tables: list[str], manifest: dict) -> dict[str, str]:
    """Swap the staged ``tables`` of ``date`` into place, write the manifest and ``_SUCCESS``.

    Returns table -> published path. A table with nothing staged is left absent for that day
    (its old partition is removed so stale rows from an earlier run cannot survive).

    Resumable: each step is recorded in ``_staging/<run_id>/_publish.json`` once done (the tables
    that had staged files, those whose old partition was removed, those finished), so a publish
    killed half-way and run again finishes the same day: a table whose old partition was already
    removed only gets its remaining staged files moved in (on GCS a move is per file), and is not
    emptied again. ``_SUCCESS`` is removed before the first table is touched and written last.
    """
    stage = staging_root(output, run_id)
    journal_path = storage.join(stage, JOURNAL)
    if storage.exists(journal_path):
        journal = storage.read_json(journal_path)
    else:
        journal = {"staged": [t for t in tables if storage.list_files(partition(stage, t, date))],
                   "cleared": [], "done": []}
    marker = success_path(output, date)
    storage.delete_file(marker)   # (delete_tree left a local file in place: shutil.rmtree ignores files)
    storage.write_json(journal_path, journal)
    published = {}
    for table in tables:
        final, staged = partition(output, table, date), partition(stage, table, date)
        if table in journal["staged"]:
            published[table] = final
        if table in journal["done"]:
            continue
        if table not in journal["cleared"]:
            storage.delete_tree(final)
            journal["cleared"].append(table)
            storage.write_json(journal_path, journal)
        if table in journal["staged"]:
            move_files(staged, final)
        journal["done"].append(table)
        storage.write_json(journal_path, journal)
    storage.write_json(storage.join(output, MANIFESTS, f"dt={date}", "manifest.json"), manifest)
    storage.write_bytes(marker, run_id.encode())
    discard_staging(output, run_id)
    return published


def discard_staging(output: str, run_id: str) -> None:
    """Delete ``run_id``'s staging folder (and ``_staging/`` itself when left empty, on local disk)."""
    storage.delete_tree(staging_root(output, run_id))
    storage.remove_empty_dir(storage.join(output, "_staging"))


def move_files(staged: str, final: str) -> None:
    """Move the files left under ``staged`` to the same relative paths under ``final`` (which may
    already hold other files: those an interrupted move got to, or outputs that stay)."""
    files = storage.list_files(staged)
    if not files:
        return
    if staged.startswith("gs://") or not storage.exists(final):
        storage.move_tree(staged, final)   # GCS: per file; local: one rename of the folder
        return
    import os

    for f in files:   # local, resumed: the folder was partly moved by hand or by another tool
        target = final + f[len(staged.rstrip("/")):]
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(f, target)
