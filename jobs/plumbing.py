"""The job plumbing, in one place: run ids, dates, stage-and-swap and the production-model lookup.

Not a job (it is not in :data:`jobs.cli.COMMANDS`): jobs and the library functions under
:mod:`jobs.pipelines` call it. Dependencies: :mod:`models.lifecycle.registry` and :mod:`transforms`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from transforms.io import publish, storage
from transforms.errors import InputError

log = logging.getLogger("home_recs.serving_models")   # the production lookup's warnings keep their logger


# ------------------------------------------------------------------------------------ requests

def request_from(cls, args):
    """An instance of the dataclass ``cls`` (a job's typed request) from an argparse namespace:
    each field from the attribute of the same name, or the field's default when the namespace has
    none (a namespace built by hand or a test); lists become tuples (requests are frozen)."""
    values = {}
    for f in dataclasses.fields(cls):
        if hasattr(args, f.name):
            value = getattr(args, f.name)
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


# ------------------------------------------------------------------------------------ run ids

def new_run_id() -> str:
    """``YYYYmmddTHHMMSSZ-xxxxxx``: the UTC second the run started, then 6 random hex digits
    (two runs started in the same second get different ids)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


# ------------------------------------------------------------------------------------ dates

def parse_date(value, flag: str = "--date") -> str:
    """``value`` as a canonical ``YYYY-MM-DD`` string. Raises InputError ``FLAG must be YYYY-MM-DD,
    got 'VALUE'`` for anything else (None included)."""
    try:
        return dt.date.fromisoformat(value).isoformat()
    except (TypeError, ValueError) as err:
        raise InputError(f"{flag} must be YYYY-MM-DD, got {value!r}") from err


def parse_dates(text: str, flag: str = "--as-of") -> list[str]:
    """Comma-separated dates -> sorted, de-duplicated ``YYYY-MM-DD`` strings. Raises InputError for
    a malformed date or an empty list."""
    try:
        dates = sorted({dt.date.fromisoformat(d.strip()).isoformat() for d in text.split(",") if d.strip()})
    except ValueError as err:
        raise InputError(f"{flag} must be comma-separated YYYY-MM-DD dates, got {text!r}") from err
    if not dates:
        raise InputError(f"{flag} needs at least one date")
    return dates


def day_before(date: str) -> str:
    """The ``YYYY-MM-DD`` day before ``date`` (a ``YYYY-MM-DD`` string)."""
    return (dt.date.fromisoformat(date) - dt.timedelta(days=1)).isoformat()


# ------------------------------------------------------------------------------------ stage and swap

def staging(output: str, run_id: str | None = None) -> tuple[str, str]:
    """``(run_id, OUTPUT/_staging/RUN_ID)``: a new run id when none is given. A job writes there,
    then swaps what it wrote into place (:func:`swap_in`, :func:`move_in`) and
    :func:`finish_staging`, so readers never see a half-written output."""
    run_id = run_id or new_run_id()
    return run_id, publish.staging_root(output, run_id)


def swap_in(staged: str, final: str) -> None:
    """Replace the folder ``final`` by the folder ``staged`` (``final`` may not exist yet)."""
    storage.delete_tree(final)
    storage.move_tree(staged, final)


def move_in(stage: str, output: str, replaced: list[str]) -> None:
    """Delete ``replaced`` under ``output`` (names or glob patterns of the previous run's outputs),
    then move every file under ``stage`` to the same relative path under ``output``; the rest of
    ``output`` is kept."""
    for name in replaced:
        if any(c in name for c in "*?["):
            for old in storage.glob(storage.join(output, name)):
                storage.delete_tree(old)
        else:
            storage.delete_tree(storage.join(output, name))
    publish.move_files(stage, output)


def finish_staging(output: str, run_id: str) -> None:
    """Delete the run's staging folder, and ``OUTPUT/_staging`` when it is left empty."""
    publish.discard_staging(output, run_id)


# ------------------------------------------------------------------------------------ production models

@dataclass(frozen=True)
class ProductionModel:
    """A shelf's ``production`` version in a model registry: ``version`` None when no alias points
    at one; ``folder`` (the verified version folder) None when there is a ``problem`` (why the
    version cannot serve: no alias, a missing file, a checksum mismatch)."""
    shelf: str
    version: str | None
    folder: str | None
    problem: str | None


def production_model(registry_root: str, shelf: str) -> ProductionModel:
    """Resolve ``shelf``'s ``production`` alias in the registry at ``registry_root`` and verify the
    version's checksums. Never raises for an absent or corrupt version: the problem is returned.
    Storage errors (OSError) propagate."""
    from models.lifecycle.registry import Registry

    reg = Registry(registry_root)
    try:
        version = reg.alias(shelf, "production")
    except (InputError, KeyError) as err:   # a corrupt alias file: the shelf falls back, the day is served
        return ProductionModel(shelf, None, None, f"production alias of shelf {shelf!r} unreadable: {err}")
    if not version:
        return ProductionModel(shelf, None, None, f"no production model for shelf {shelf!r} in {registry_root}")
    try:
        return ProductionModel(shelf, version, reg.verify(shelf, version), None)
    except InputError as err:
        return ProductionModel(shelf, version, None, str(err))


def production_models(registry_root: str, shelves) -> tuple[dict, dict]:
    """Each of ``shelves``' production model (:func:`production_model`). Returns ``(requested,
    fallbacks)``: shelf -> (version folder, version) for verified versions, and shelf -> reason for
    shelves without a usable production model; each of the latter is logged as a warning."""
    requested, fallbacks = {}, {}
    for shelf in shelves:
        found = production_model(registry_root, shelf)
        if found.folder:
            requested[shelf] = (found.folder, found.version)
        elif found.version is None:
            fallbacks[shelf] = found.problem
            log.warning("shelf %s: %s; no model serves it", shelf, found.problem)
        else:
            fallbacks[shelf] = found.problem
            log.warning("shelf %s: production %s unusable, no model serves it: %s", shelf,
                        found.version, found.problem)
    return requested, fallbacks
