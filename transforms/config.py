"""Configuration: the packaged defaults (``default_config.yaml``) deep-merged with a user file.

Shelves, their item types, sizes, candidate caps, heuristic weights and rules are all declared
here, not in code, so a new rule or editorial shelf needs no code change.
"""
from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from typing import Any

import yaml

from transforms import storage
from transforms.errors import InputError

SHELF_KINDS = ("model", "rule", "editorial")


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
    """The packaged default configuration as a fresh dict."""
    text = resources.files("transforms").joinpath("default_config.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def load_config(path: str | None = None, overrides: dict | None = None) -> dict[str, Any]:
    """Defaults, deep-merged with the YAML file at ``path`` (local or gs://), then with ``overrides``.

    Raises InputError naming the file when it is missing or not a YAML mapping, or naming the key
    when a shelf is malformed.
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
        refuse_unknown_keys(user or {}, config, f"config file {path}")
        config = _deep_merge(config, user or {})
    if overrides:
        refuse_unknown_keys(overrides, config, "config overrides")
        config = _deep_merge(config, overrides)
    _check(config)
    return config


# Maps whose keys are names chosen by the user (shelves, sources, features, xgboost parameters),
# with '*' for a name; and the keys a named entry may hold ("shelves.*": any key of a default shelf).
VARIANT_KEYS = ("share", "shelves", "models")   # what an experiment's variant may set (models/experiments.py)
OPEN_MAPS = ("shelves", "shelves.*.sources", "shelves.*.heuristic_weights", "ranker.params", "ranker.shelves",
             "ranker.shelves.*.params", "gate.thresholds", "drift.thresholds.features", "page.layout.base_rates")


def _templates(defaults: dict) -> dict[str, dict]:
    shelf_keys: dict = {}
    for shelf in (defaults.get("shelves") or {}).values():
        shelf_keys.update(shelf or {})
    shelf_keys.setdefault("rule", None)
    return {"shelves.*": shelf_keys, "ranker.shelves.*": defaults.get("ranker", {})}


def refuse_unknown_keys(user: dict, defaults: dict, where: str) -> None:
    """Raise InputError for the first key of ``user`` the defaults do not define, naming its dotted
    path and the closest valid key (a misspelt ``gate.tresholds`` would otherwise be ignored and
    the default threshold would gate promotions). Keys under :data:`OPEN_MAPS` are names and pass."""
    templates = _templates(defaults)

    def walk(node: dict, schema: dict, path: str, pattern: str) -> None:
        for key, value in node.items():
            dotted, dotted_pattern = f"{path}.{key}" if path else str(key), f"{pattern}.{key}" if pattern else str(key)
            if pattern in OPEN_MAPS:
                dotted_pattern = f"{pattern}.*"
                child = templates.get(dotted_pattern)
            elif key in schema:
                child = schema[key]
            else:
                import difflib

                close = difflib.get_close_matches(str(key), [str(k) for k in schema], n=1, cutoff=0.6)
                hint = f"did you mean `{close[0]}`?" if close else f"valid keys: {', '.join(sorted(map(str, schema)))}"
                raise InputError(f"{where}: `{dotted}`: unknown key; {hint}")
            if dotted_pattern == "experiments":   # user-named all the way down: check_experiments checks it
                if not isinstance(value, dict):
                    raise InputError(f"{where}: `experiments` must be a mapping of names to experiments")
                continue
            wants_mapping = isinstance(child, dict) or dotted_pattern in OPEN_MAPS
            if wants_mapping and not isinstance(value, dict):
                if value is None and dotted_pattern == "shelves.*":   # `name: null` disables a shelf
                    continue
                raise InputError(f"{where}: `{dotted}` must be a mapping of keys to values, "
                                 f"got {type(value).__name__} {value!r}")
            if isinstance(value, dict):
                walk(value, child if isinstance(child, dict) else {}, dotted, dotted_pattern)
            else:
                _check_leaf_type(where, dotted, value, child)

    walk(user, defaults, "", "")


def _check_leaf_type(where: str, dotted: str, value, default) -> None:
    """A value whose default is a boolean must be a boolean (YAML `"false"` is a true string), and a
    list's must be a list (a bare `shortcuts` would be read letter by letter); null passes (off)."""
    if value is None:
        return
    if isinstance(default, bool) and not isinstance(value, bool):
        raise InputError(f"{where}: `{dotted}` must be true or false, got {type(value).__name__} {value!r}")
    if isinstance(default, int) and not isinstance(default, bool) and (isinstance(value, bool)
                                                                      or not isinstance(value, int)):
        raise InputError(f"{where}: `{dotted}` must be an integer, got {type(value).__name__} {value!r}")
    if isinstance(default, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise InputError(f"{where}: `{dotted}` must be a number, got {type(value).__name__} {value!r}")
    if isinstance(default, list) and not isinstance(value, list):
        raise InputError(f"{where}: `{dotted}` must be a list, e.g. [{value}], got {type(value).__name__} {value!r}")


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
            # the shelf keys of an override are the shelves' keys: a misspelt one would do nothing
            refuse_unknown_keys({"shelves": spec.get("shelves") or {}}, config, f"{where} (shelf overrides)")
            share = spec.get("share")
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
                raise InputError(f"{where}.share must be a number in (0, 1], got {share!r}")
            total += float(share)
            for shelf, override in (spec.get("shelves") or {}).items():
                if shelf not in config["shelves"]:
                    raise InputError(f"{where}.shelves: {shelf!r} is not a shelf of the config")
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
    for name, shelf in config.get("shelves", {}).items():
        if shelf is None:  # a user file may disable a shelf with `name: null`
            continue
        kind = shelf.get("kind")
        if kind not in SHELF_KINDS:
            raise InputError(f"config: shelves.{name}.kind must be one of {SHELF_KINDS}, got {kind!r}")
        if int(shelf.get("size", 0)) <= 0:
            raise InputError(f"config: shelves.{name}.size must be a positive integer")
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
    """Shelf keys ``familiar`` and ``active_within_days``. A familiar shelf ("Jump back in") shows
    only entities the listener played before as_of, so a source that proposes anything else
    (neighbours, popularity) would turn it into a discovery shelf: refused here, at load time,
    rather than discovered in the labels. Raises InputError naming the shelf and the key."""
    familiar = shelf.get("familiar", False)
    if not isinstance(familiar, bool):
        raise InputError(f"config: shelves.{name}.familiar must be true or false, got {familiar!r}")
    if familiar:
        others = [s for s in (shelf.get("sources") or {}) if s not in FAMILIAR_SOURCES]
        if others:
            raise InputError(f"config: shelves.{name} is familiar (familiar: true), so only the "
                             f"{', '.join(FAMILIAR_SOURCES)} source may fill it; remove source(s) "
                             f"{', '.join(others)} or set shelves.{name}.familiar: false")
        if shelf.get("exclude_played"):
            raise InputError(f"config: shelves.{name} is familiar (familiar: true), and exclude_played: true "
                             f"would remove every candidate it has; set one of them to false")
    days = shelf.get("active_within_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, (int, float)) or days <= 0):
        raise InputError(f"config: shelves.{name}.active_within_days must be a positive number of days "
                         f"or null, got {days!r}")


def fingerprint(config: dict) -> str:
    """Short sha256 of the canonical JSON of ``config``: recorded in manifests to tell runs apart."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
