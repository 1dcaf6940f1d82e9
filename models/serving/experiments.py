"""Experiments: serve variants of the Home page to shares of the audience and tell them apart.

Config section ``experiments`` (empty by default): one experiment at a time, by name::

    experiments:
      podcasts_sources:
        variants:
          control: {share: 0.9}
          challenger:
            share: 0.1
            shelves: {podcasts: {sources: {colisten: 200, popular: 50, onboarding: 50}}}  # config overrides
            models: {podcasts: challenger}   # a registry alias or version, instead of production

The section is checked when the config is loaded (:func:`transforms.config.config.check_experiments`).
A listener's variant comes from a salted hash of ``(experiment, listener_id)``: SipHash-2-4 of the
id (``pandas.util.hash_array``) keyed by the first 16 hex digits of sha256(experiment name), as
a uniform number in [0, 1) placed on the cumulative shares. The same listener gets the same
variant every day (the key depends only on the name), and the assignments of two experiments
are independent (different keys). Every output row carries ``experiment`` and ``variant``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from models.serving.serving_models import ModelChoice, choose_models
from transforms.config.config import VARIANT_KEYS, merged
from transforms.errors import InputError
from transforms.io.hashing import uniform_hash


@dataclass
class Variant:
    """One way the page is served: ``name`` (None without an experiment), its ``config`` (shelf
    overrides merged in), ``models`` (the base choice with the variant's models swapped in) and
    ``share`` of the audience."""

    name: str | None
    config: dict
    models: ModelChoice
    share: float = 1.0
    model_refs: dict = field(default_factory=dict)   # shelf -> alias or version asked for
    overrides: dict = field(default_factory=dict)    # shelf -> the keys the variant overrides


def build_variants(config: dict, base: ModelChoice, registry: str | None) -> tuple[str | None, list[Variant]]:
    """(experiment name or None, variants in config order) for a run; one unnamed variant without
    an experiment (run :func:`models.config_checks.check_config` first). A variant's ``models`` are
    resolved in ``registry`` (an alias, else a version)
    and loaded once here. Raises InputError when a variant names models without a registry, or a
    model that cannot be found or loaded: an experiment must not quietly serve its control."""
    exp = active_experiment(config)
    if exp is None:
        return None, [Variant(None, config, base)]
    name, specs = exp
    out = []
    for v, spec in specs.items():
        refs = dict(spec.get("models") or {})
        models = ModelChoice(dict(base.paths), dict(base.versions), dict(base.fallbacks), dict(base.baselines))
        if refs:
            if not registry:
                raise InputError(f"experiment {name}: variant {v} names models {refs} but no --models registry "
                                 f"is given")
            chosen = choose_models(_resolve(registry, refs, f"experiment {name}, variant {v}"))
            if chosen.fallbacks:
                raise InputError(f"experiment {name}, variant {v}: model(s) unusable: {chosen.fallbacks}")
            models.paths.update(chosen.paths)
            models.versions.update(chosen.versions)
            for shelf in chosen.paths:
                models.fallbacks.pop(shelf, None)
        out.append(Variant(v, variant_config(config, spec), models, float(spec["share"]), refs,
                           dict(spec.get("shelves") or {})))
    return name, out


def _resolve(registry: str, refs: dict, where: str) -> dict:
    """shelf -> (version folder, version) for aliases or versions of ``registry``."""
    from models.lifecycle.registry import Registry

    reg = Registry(registry)
    out = {}
    from models.lifecycle.registry import ALIASES

    for shelf, ref in refs.items():
        version = (reg.alias(shelf, ref) if ref in ALIASES else None) or ref
        try:
            out[shelf] = (reg.verify(shelf, version), version)
        except InputError as err:
            raise InputError(f"{where}: shelf {shelf}: {ref!r} is neither an alias nor a usable version in "
                             f"{registry}: {err}") from err
    return out


def active_experiment(config: dict) -> tuple[str, dict] | None:
    """(name, variants) of the configured experiment, or None. Variants keep config order."""
    experiments = config.get("experiments") or {}
    if not experiments:
        return None
    name = next(iter(experiments))
    return name, experiments[name]["variants"]


def assign(listener_ids: np.ndarray, experiment: str, variants: dict) -> np.ndarray:
    """int64 (n,): the index of each listener's variant (in ``variants``' order) for
    ``experiment`` (see the module docstring for the hash)."""
    key = hashlib.sha256(experiment.encode()).hexdigest()[:16]
    u = uniform_hash(listener_ids, key)
    edges = np.cumsum([float(v["share"]) for v in variants.values()])
    return np.minimum(np.searchsorted(edges, u, side="right"), len(edges) - 1).astype(np.int64)


def variant_config(config: dict, variant: dict) -> dict:
    """``config`` with the variant's shelf overrides deep-merged in, by the same rule as a
    ``--config`` file (:func:`transforms.config.config.merged`): a new dict."""
    return merged(config, {"shelves": variant.get("shelves") or {}})


__all__ = ["VARIANT_KEYS", "Variant", "active_experiment", "build_variants", "assign", "variant_config"]
