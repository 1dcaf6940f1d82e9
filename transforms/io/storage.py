"""Paths on local disk or ``gs://``, through Beam's FileSystems (no hand-written I/O).

Beam's FileSystems picks the implementation from the scheme, so the same code serves a laptop,
a test's GCS emulator (``STORAGE_EMULATOR_HOST``) and Dataflow.
"""
from __future__ import annotations

import io
import json
import os
import posixpath
from typing import Any, Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.errors import InputError

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


def use_emulator_credentials() -> bool:
    """With ``STORAGE_EMULATOR_HOST`` set (e.g. ``http://127.0.0.1:9023``), make Beam's GCS
    filesystem connect anonymously at once. Returns True when the variable is set (and Beam's
    credentials were settled), False otherwise (nothing changes: real GCS keeps its credentials).

    Why: Beam looks up Application Default Credentials before its first GCS call, retrying four
    times with backoff (about 25 s per process, with four logged tracebacks) before it falls back
    to an anonymous client. An emulator needs no credentials, and the anonymous
    ``google.cloud.storage`` client Beam then builds already honours ``STORAGE_EMULATOR_HOST``.
    Beam caches the lookup's result per process (``_Credentials``), so settling that cache to
    "no credentials" is the one place to skip it; the pinned Beam (<2.78) is what this was
    written against, and tests/test_gcs_emulator.py fails if a Beam upgrade brings the wait back.
    Idempotent; called when this module is imported, so every process that reaches GCS through
    it (the launcher, and Beam workers running its DoFns) is covered.
    """
    if not os.environ.get(EMULATOR_ENV):
        return False
    from apache_beam.internal.gcp import auth

    creds = auth._Credentials  # noqa: SLF001 - Beam offers no public switch (--no_auth is ignored here)
    with creds._credentials_lock:
        creds._credentials, creds._credentials_init = None, True
    return True


use_emulator_credentials()


def join(base: str, *parts: str) -> str:
    """Join path parts with ``/`` on any scheme (``FileSystems.join`` needs a non-empty tail)."""
    return FileSystems.join(base, *parts) if parts else base


def exists(path: str) -> bool:
    """True when a file (or, on local disk, a directory) exists at ``path``."""
    return FileSystems.exists(path)


def glob(pattern: str) -> list[str]:
    """Paths matching a glob ``pattern``, sorted; an empty list when none match."""
    try:
        result = FileSystems.match([pattern])[0]
    except Exception:  # Beam raises BeamIOError when nothing matches on some schemes
        return []
    return sorted(m.path for m in result.metadata_list)


def size(path: str) -> int:
    """Size of one file in bytes. Raises FileNotFoundError when it is missing."""
    found = FileSystems.match([path])[0].metadata_list
    if not found:
        raise FileNotFoundError(path)
    return found[0].size_in_bytes


def read_bytes(path: str) -> bytes:
    """Whole file as bytes, uncompressed as stored (no gzip handling). Raises FileNotFoundError."""
    if not exists(path):
        raise FileNotFoundError(path)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def open_read(path: str):
    """A binary reader; ``.gz`` files are decompressed transparently."""
    return FileSystems.open(path)


def open_raw(path: str):
    """A binary reader of the stored bytes (no decompression)."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path``, creating parent directories on local disk."""
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def write_json(path: str, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted UTF-8 JSON."""
    write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode("utf-8"))


def read_json(path: str) -> Any:
    """The JSON document at ``path`` (local or gs://). Raises InputError naming the file when it is
    not valid UTF-8 JSON (a truncated or hand-edited registry or manifest file)."""
    data = read_bytes(path)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err}); the file is corrupt or truncated") from err


def write_parquet(path: str, table) -> None:
    """Write a ``pyarrow.Table`` as one Parquet file at ``path``."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    write_bytes(path, buf.getvalue())


def gcs_write_problem(prefix: str) -> str | None:
    """None when this process can create (and delete) an object under the ``gs://`` folder
    ``prefix``; otherwise one line saying why, e.g. ``HTTP 404: no such bucket``.

    The probe is one plain upload through the client Beam's GCS filesystem uses (same credentials,
    same emulator). Not :func:`write_bytes`: a Beam/GCS writer whose close failed keeps its upload
    session and retries it, for up to 120 s, whenever it is garbage-collected."""
    from apache_beam.io.gcp.gcsio import GcsIO, parse_gcs_path

    bucket, name = parse_gcs_path(join(prefix, f".write-check-{os.getpid()}-{os.urandom(4).hex()}"))
    try:
        blob = GcsIO().client.bucket(bucket).blob(name)
        blob.upload_from_string(b"")
        blob.delete()
    except Exception as err:  # noqa: BLE001 - google.api_core, the media layer and auth raise unrelated types
        status = getattr(err, "code", None) or getattr(getattr(err, "response", None), "status_code", None)
        known = {404: "no such bucket", 403: "permission denied", 401: "not authenticated"}
        if status in known:
            return f"HTTP {status}: {known[status]}"
        return f"{type(err).__name__}: {(str(err).splitlines() or [''])[0][:200]}"
    return None


def delete_tree(path: str) -> None:
    """Delete ``path`` and everything under it; a missing path is not an error."""
    files = list_files(path)
    if files:
        FileSystems.delete(files)
    if not path.startswith("gs://") and exists(path):
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def delete_file(path: str) -> None:
    """Delete the file ``path``; a missing file is not an error."""
    if exists(path):
        FileSystems.delete([path])


def list_files(prefix: str) -> list[str]:
    """Every file under directory ``prefix`` (recursive), sorted."""
    prefix = prefix.rstrip("/")
    if prefix.startswith("gs://"):
        return glob(prefix + "/**")
    import os

    out: list[str] = []
    for root, _dirs, names in os.walk(prefix):
        out.extend(os.path.join(root, n) for n in names)
    return sorted(out)


def move_tree(src: str, dst: str) -> None:
    """Move every file under ``src`` to the same relative path under ``dst``.

    On local disk this is one ``rename`` of the directory (atomic on POSIX). On GCS, objects are
    copied then deleted: callers publish a ``_SUCCESS`` marker only after the move, so readers that
    wait for the marker never see a half-moved day.
    """
    src, dst = src.rstrip("/"), dst.rstrip("/")
    if not src.startswith("gs://"):
        import os

        os.makedirs(posixpath.dirname(dst) or ".", exist_ok=True)
        os.replace(src, dst)
        return
    files = list_files(src)
    targets = [dst + f[len(src):] for f in files]
    if files:
        FileSystems.rename(files, targets)


def iter_lines(path: str) -> Iterator[bytes]:
    """Lines of a (possibly gzipped) file, without trailing newlines."""
    with open_read(path) as f:
        # Beam's CompressedFile (.gz) has readline() but is not iterable
        for line in iter(f.readline, b""):
            yield line.rstrip(b"\r\n")


def remove_empty_dir(path: str) -> None:
    """Remove a local directory if it is empty (object stores have no empty directories)."""
    if path.startswith("gs://"):
        return
    import os

    try:
        os.rmdir(path)
    except OSError:
        pass
