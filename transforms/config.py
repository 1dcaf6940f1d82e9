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
        except yaml.YAMLError as err:
            raise InputError(f"config file {path} is not valid YAML: {err}") from err
        if user is not None and not isinstance(user, dict):
            raise InputError(f"config file {path} must hold a YAML mapping at the top level")
        config = _deep_merge(config, user or {})
    if overrides:
        config = _deep_merge(config, overrides)
    _check(config)
    return config


def _check(config: dict) -> None:
    for name, shelf in config.get("shelves", {}).items():
        if shelf is None:  # a user file may disable a shelf with `name: null`
            continue
        kind = shelf.get("kind")
        if kind not in SHELF_KINDS:
            raise InputError(f"config: shelves.{name}.kind must be one of {SHELF_KINDS}, got {kind!r}")
        if int(shelf.get("size", 0)) <= 0:
            raise InputError(f"config: shelves.{name}.size must be a positive integer")
    config["shelves"] = {k: v for k, v in config.get("shelves", {}).items() if v is not None}


def fingerprint(config: dict) -> str:
    """Short sha256 of the canonical JSON of ``config``: recorded in manifests to tell runs apart."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
