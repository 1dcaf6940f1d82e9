"""A file-based model registry on the project's storage (local path or gs://).

Layout under ``REGISTRY/models/<shelf>/``:

- ``versions/<version>/``: immutable. Holds ``model.json``, ``metadata.json``, ``training_stats.json``,
  ``evaluation.json`` and ``CHECKSUMS.json`` (sha256 of every other file).
- ``aliases/<alias>.json``: ``{"version", "moved_at", "reason"}``. Each move is one whole-object write: a
  temp file plus ``os.replace`` on local disk, and one object upload on GCS, where an object
  becomes visible only once complete. A reader therefore sees the old alias or the new one,
  never a half-written file.
- ``history/<UTC time>-<random>.json``: one object per alias move. Object stores cannot append,
  so the log is the sorted listing.

Why not MLflow's registry: its aliases need a database-backed tracking store, so a database
server or a SQLite file shared by Airflow, Dataflow workers and laptops. It would also add a large
dependency. Versions, two aliases and a log fit in a few dozen lines over the same storage the
outputs use, and every operation stays an inspectable file.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid

from transforms.io import storage
from transforms.errors import InputError

# challenger: a version that passed the gate and serves an experiment's variant before production
ALIASES = ("production", "previous", "challenger")
FILES = ("model.json", "metadata.json", "training_stats.json", "evaluation.json")


class RegistryError(InputError):
    """A registry operation that cannot be done (unknown version, corrupt files, bad alias)."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Registry:
    """Model versions and aliases under ``root`` (see module docstring)."""

    def __init__(self, root: str):
        self.root = root.rstrip("/")

    def shelf_dir(self, shelf: str) -> str:
        return storage.join(self.root, "models", shelf)

    def version_dir(self, shelf: str, version: str) -> str:
        return storage.join(self.shelf_dir(shelf), "versions", version)

    # -- versions -----------------------------------------------------------------------------
    def register(self, shelf: str, model_dir: str, evaluation: dict | None = None) -> str:
        """Copy a trained model folder in as a new immutable version; returns the version id
        ``vYYYYmmddTHHMMSSffffffZ-<sha8>`` (UTC time of registration to the microsecond, model checksum)."""
        meta = storage.read_json(storage.join(model_dir, "metadata.json"))
        version = dt.datetime.now(dt.timezone.utc).strftime("v%Y%m%dT%H%M%S%fZ-") + meta["model_sha256"][:8]
        target = self.version_dir(shelf, version)
        if storage.exists(storage.join(target, "CHECKSUMS.json")):
            raise RegistryError(f"version {version} of shelf {shelf!r} already exists (versions are immutable)")
        payload = {}
        for name in FILES:
            src = storage.join(model_dir, name)
            if name == "evaluation.json" and evaluation is not None:
                payload[name] = json.dumps(evaluation, indent=2, sort_keys=True, default=str).encode()
            elif name == "metadata.json":
                payload[name] = json.dumps({**meta, "version": version, "registered_at": _now()},
                                           indent=2, sort_keys=True, default=str).encode()
            elif storage.exists(src):
                payload[name] = storage.read_bytes(src)
        for name, data in payload.items():
            storage.write_bytes(storage.join(target, name), data)
        checksums = {name: hashlib.sha256(data).hexdigest() for name, data in payload.items()}
        storage.write_json(storage.join(target, "CHECKSUMS.json"), checksums)  # written last: the version is complete
        return version

    def versions(self, shelf: str) -> list[str]:
        """Complete versions of ``shelf``, oldest first."""
        done = storage.glob(storage.join(self.shelf_dir(shelf), "versions", "*", "CHECKSUMS.json"))
        return sorted(p.rsplit("/", 2)[-2] for p in done)

    def shelves(self) -> list[str]:
        found = storage.glob(storage.join(self.root, "models", "*", "versions", "*", "CHECKSUMS.json"))
        return sorted({p.rsplit("/", 4)[-4] for p in found})

    def verify(self, shelf: str, version: str) -> str:
        """Check every file of a version against CHECKSUMS.json; returns the version folder.
        Raises RegistryError naming the file that is missing or altered."""
        vdir = self.version_dir(shelf, version)
        sums_path = storage.join(vdir, "CHECKSUMS.json")
        if not storage.exists(sums_path):
            raise RegistryError(f"{vdir}: no such complete version of shelf {shelf!r}")
        for name, digest in storage.read_json(sums_path).items():
            path = storage.join(vdir, name)
            if not storage.exists(path):
                raise RegistryError(f"{path}: missing")
            if hashlib.sha256(storage.read_bytes(path)).hexdigest() != digest:
                raise RegistryError(f"{path}: checksum mismatch (corrupt or altered)")
        return vdir

    def metadata(self, shelf: str, version: str) -> dict:
        return storage.read_json(storage.join(self.version_dir(shelf, version), "metadata.json"))

    def read_optional(self, shelf: str, version: str, name: str) -> dict | None:
        path = storage.join(self.version_dir(shelf, version), name)
        return storage.read_json(path) if storage.exists(path) else None

    def record_best_baseline(self, shelf: str, record: dict) -> None:
        """Store the best baseline of the shelf's latest evaluation (``{"baseline", "metric", "value",
        "version", "model_value"}``) as ``models/<shelf>/best_baseline.json``; it ranks the shelf while
        no production model exists (:func:`models.serving.serving_models.recorded_baselines`)."""
        atomic_write_json(storage.join(self.shelf_dir(shelf), "best_baseline.json"), {**record, "recorded_at": _now()})

    def best_baseline(self, shelf: str) -> dict | None:
        """The record :meth:`record_best_baseline` stored last for ``shelf``, or None."""
        path = storage.join(self.shelf_dir(shelf), "best_baseline.json")
        return storage.read_json(path) if storage.exists(path) else None

    # -- aliases ------------------------------------------------------------------------------
    def alias(self, shelf: str, alias: str) -> str | None:
        """The version an alias points at, or None."""
        path = self._alias_path(shelf, alias)
        return storage.read_json(path)["version"] if storage.exists(path) else None

    def promote(self, shelf: str, version: str, reason: str = "manual") -> dict:
        """Point ``production`` at ``version`` and ``previous`` at the old production (if any).
        Raises RegistryError for an unknown or corrupt version."""
        self.verify(shelf, version)
        old = self.alias(shelf, "production")
        if old == version:
            return {"production": version, "previous": self.alias(shelf, "previous"), "changed": False}
        if old:
            self._move(shelf, "previous", old, reason)
        self._move(shelf, "production", version, reason)
        return {"production": version, "previous": old, "changed": True}

    def set_challenger(self, shelf: str, version: str, reason: str) -> dict:
        """Point ``challenger`` at ``version`` (an experiment serves it with ``models: {shelf:
        challenger}``). Raises RegistryError for an unknown or corrupt version."""
        self.verify(shelf, version)
        old = self.alias(shelf, "challenger")
        self._move(shelf, "challenger", version, reason)
        return {"challenger": version, "was": old, "changed": old != version}

    def rollback(self, shelf: str, reason: str = "rollback") -> dict:
        """Swap ``production`` and ``previous``. Raises RegistryError when there is no previous."""
        prev, cur = self.alias(shelf, "previous"), self.alias(shelf, "production")
        if not prev:
            raise RegistryError(f"shelf {shelf!r}: no 'previous' version to roll back to")
        self.verify(shelf, prev)
        self._move(shelf, "production", prev, reason)
        if cur:
            self._move(shelf, "previous", cur, reason)
        return {"production": prev, "previous": cur, "changed": True}

    def history(self, shelf: str) -> list[dict]:
        """Every alias move, oldest first."""
        return [storage.read_json(p) for p in storage.glob(storage.join(self.shelf_dir(shelf), "history", "*.json"))]

    def _alias_path(self, shelf: str, alias: str) -> str:
        if alias not in ALIASES:
            raise RegistryError(f"unknown alias {alias!r} (known: {ALIASES})")
        return storage.join(self.shelf_dir(shelf), "aliases", f"{alias}.json")

    def _move(self, shelf: str, alias: str, version: str, reason: str) -> None:
        record = {"shelf": shelf, "alias": alias, "version": version, "moved_at": _now(), "reason": reason,
                  "from": self.alias(shelf, alias)}
        atomic_write_json(self._alias_path(shelf, alias), record)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        storage.write_json(storage.join(self.shelf_dir(shelf), "history", f"{stamp}-{uuid.uuid4().hex[:6]}.json"),
                           record)


def atomic_write_json(path: str, obj) -> None:
    """Replace ``path`` in one step: temp file + ``os.replace`` locally; one object upload on GCS."""
    data = json.dumps(obj, indent=2, sort_keys=True, default=str).encode()
    if path.startswith("gs://"):
        storage.write_bytes(path, data)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
