"""Configuration: the schema's defaults (:mod:`transforms.config.config_schema`) deep-merged with a user file.

Shelves, their item types, sizes, candidate caps, heuristic weights and rules are all declared
in config, not in code, so a new rule or editorial shelf needs no code change. Every key, its type,
default and description: ``docs/CONFIG.md`` (generated from the schema by ``home-recs config docs``).
"""
from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from typing import Any

import yaml

from pydantic import ValidationError

from transforms.config import config_schema
from transforms.io import storage
from transforms.config.config_errors import describe
from transforms.config.config_schema import SHELF_KINDS  # noqa: F401  (re-exported)
from transforms.errors import InputError


def merged(base: dict, override: dict) -> dict:
    """``override`` deep-merged over ``base`` (a new dict): mappings merge key by key, any other
    value replaces. The one merge rule of the config: files, overrides and experiment variants."""
    return _deep_merge(base, override)


def _deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def default_config() -> dict[str, Any]:
    """The default configuration (:mod:`transforms.config.config_schema`, every key) as a fresh dict."""
    return config_schema.default_config()


def load_config(path: str | None = None, overrides: dict | None = None) -> dict[str, Any]:
    """Defaults, deep-merged with the YAML file at ``path`` (local or gs://), then with ``overrides``,
    validated through :class:`transforms.config.config_schema.Config` after each merge.

    Returns the plain dict the callers index (``config["shelves"][s]["size"]``), every default filled
    in. Raises InputError naming the file when it is missing or not a YAML mapping, and naming the
    dotted key (with the closest valid name for an unknown key) when a value does not fit the schema.
    """
    config = default_config()
    if path:
        try:
            user = yaml.safe_load(storage.read_bytes(path).decode("utf-8"))
        except FileNotFoundError as err:
            raise InputError(f"config file not found: {path}") from err
        except OSError as err:   # a folder, a file it cannot read
            raise InputError(f"config file {path} cannot be read: {err.strerror or err}") from err
        except yaml.YAMLError as err:
            raise InputError(f"config file {path} is not valid YAML: {err}") from err
        if user is not None and not isinstance(user, dict):
            raise InputError(f"config file {path} must hold a YAML mapping at the top level")
        config = validated(_deep_merge(config, user or {}), f"config file {path}")
    if overrides:
        config = validated(_deep_merge(config, overrides), "config overrides")
    _check(config)
    return config


# what an experiment's variant may set (models/serving/experiments.py)
VARIANT_KEYS = ("share", "shelves", "models")


def validated(config: dict, where: str) -> dict[str, Any]:
    """``config`` through the schema, as a plain dict with every default filled in. Raises
    InputError ``"{where}: `dotted.key`: ..."`` for the first key that does not fit (see
    :func:`transforms.config.config_errors.describe`)."""
    try:
        return config_schema.Config.model_validate(config).model_dump()
    except ValidationError as err:
        raise InputError(f"{where}: {describe(err)}") from None


def check_experiments(config: dict) -> None:
    """Raise InputError for a malformed ``experiments`` section: more than one experiment, no
    variants, a key other than :data:`VARIANT_KEYS`, a share outside (0, 1] or shares that do not
    sum to 1 (within 1e-9), an override of a shelf the config lacks, or a model for a shelf that is
    not a model shelf."""
    experiments = config.get("experiments") or {}
    if len(experiments) > 1:
        raise InputError(f"config: experiments: one experiment at a time, got {list(experiments)}")
    for name, exp in experiments.items():
        variants = (exp or {}).get("variants") if isinstance(exp, dict) else None
        if set(exp or {}) - {"variants"}:
            raise InputError(f"config: experiments.{name}: unknown key(s) {sorted(set(exp) - {'variants'})}; "
                             f"an experiment has `variants`")
        if not isinstance(variants, dict) or not variants:
            raise InputError(f"config: experiments.{name}.variants must map variant names to settings")
        total = 0.0
        for v, spec in variants.items():
            where = f"config: experiments.{name}.variants.{v}"
            if not isinstance(spec, dict) or set(spec) - set(VARIANT_KEYS):
                raise InputError(f"{where}: keys are {list(VARIANT_KEYS)}, got {spec!r}")
            share = spec.get("share")
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
                raise InputError(f"{where}.share must be a number in (0, 1], got {share!r}")
            total += float(share)
            overrides = spec.get("shelves") or {}
            if not isinstance(overrides, dict):
                raise InputError(f"{where}.shelves must map shelf names to shelf keys, got {overrides!r}")
            for shelf in overrides:
                if shelf not in config["shelves"]:
                    raise InputError(f"{where}.shelves: {shelf!r} is not a shelf of the config")
            # the shelf keys of an override are the shelves' keys: a misspelt one would do nothing
            validated(_deep_merge(config, {"shelves": overrides}), f"{where} (shelf overrides)")
            for shelf, override in overrides.items():
                try:   # a variant must not turn a familiar shelf into a discovery one either
                    _check_familiar(shelf, _deep_merge(config["shelves"][shelf], override or {}))
                except InputError as err:
                    raise InputError(f"{where}: {err}") from err
            for shelf, ref in (spec.get("models") or {}).items():
                if config["shelves"].get(shelf, {}).get("kind") != "model":
                    raise InputError(f"{where}.models: {shelf!r} is not a model shelf")
                if not isinstance(ref, str) or not ref:
                    raise InputError(f"{where}.models.{shelf} must be a registry alias or version, got {ref!r}")
        if abs(total - 1.0) > 1e-9:
            raise InputError(f"config: experiments.{name}: variant shares sum to {total:g}, not 1")


def _check(config: dict) -> None:
    """What the schema cannot check: a familiar shelf's sources, the page's shelf lists (against the
    shelves), the experiments. Drops the shelves disabled with ``name: null``."""
    for name, shelf in config.get("shelves", {}).items():
        if shelf is not None:  # a user file may disable a shelf with `name: null`
            _check_familiar(name, shelf)
    disabled = [k for k, v in config.get("shelves", {}).items() if v is None]
    config["shelves"] = {k: v for k, v in config.get("shelves", {}).items() if v is not None}
    page = config.get("page") or {}
    for key, listed in (("claim_order", page.get("claim_order")),
                        ("layout.pinned", (page.get("layout") or {}).get("pinned")),
                        ("layout.new_listeners_first", (page.get("layout") or {}).get("new_listeners_first"))):
        twice = sorted({s for s in listed or [] if list(listed).count(s) > 1})
        if twice:
            raise InputError(f"config: page.{key} lists shelf(s) {twice} more than once")
        unknown = [s for s in listed or [] if s not in config["shelves"] and s not in disabled]
        if unknown:
            raise InputError(f"config: page.{key} names shelf(s) {unknown} that the config does not have "
                             f"(shelves: {list(config['shelves'])})")
    listed = page.get("claim_order")
    missing = [s for s in config["shelves"] if listed is not None and s not in listed]
    if missing:  # a shelf's rank on the page is a decision: an added shelf must be placed, not defaulted
        raise InputError(f"config: page.claim_order misses shelf(s) {missing}: list every shelf in the order they "
                         f"claim items (now: {list(listed)})")
    check_experiments(config)


FAMILIAR_SOURCES = ("history",)  # the only candidate source made of the listener's own plays


def _check_familiar(name: str, shelf: dict) -> None:
    """Shelf key ``familiar``. A familiar shelf ("Jump back in") shows
    only entities the listener played before as_of, so a source that proposes anything else
    (neighbours, popularity) would turn it into a discovery shelf: refused here, at load time,
    rather than discovered in the labels. Raises InputError naming the shelf and the key."""
    if shelf.get("familiar"):
        others = [s for s in (shelf.get("sources") or {}) if s not in FAMILIAR_SOURCES]
        if others:
            raise InputError(f"config: shelves.{name} is familiar (familiar: true), so only the "
                             f"{', '.join(FAMILIAR_SOURCES)} source may fill it; remove source(s) "
                             f"{', '.join(others)} or set shelves.{name}.familiar: false")
        if shelf.get("exclude_played"):
            raise InputError(f"config: shelves.{name} is familiar (familiar: true), and exclude_played: true "
                             f"would remove every candidate it has; set one of them to false")


def fingerprint(config: dict) -> str:
    """Short sha256 of the canonical JSON of ``config``: recorded in manifests to tell runs apart."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
