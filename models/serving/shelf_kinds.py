"""Shelf kinds as a registry: ``{kind: handler}``, so ``models.serving.home`` serves a shelf with one lookup.

A handler takes a :class:`ShelfJob` (one shelf over a whole batch of listeners) and returns
:class:`ShelfRows`. The kinds:

- ``model``: candidates (:mod:`models.candidates.candidates`), features, one scoring call, then the
  post-ranking filters (:data:`models.serving.filters.FILTERS`), the diversity caps
  (``max_per_creator``, then ``max_per_parent``), the items an earlier shelf claimed dropped, the
  editorial slots and the cut to ``size``;
- ``rule``: rows from a rule of :data:`models.serving.rule_shelves.RULES` (no model, no features),
  then the same claims, slots and cut;
- ``editorial``: the ``curation`` table only.

To add a kind: a handler (here or in its own module), one line in :data:`SHELF_KINDS`, and its shelf
model in ``transforms/config/config_schema.py`` (``SHELF_MODELS`` and ``SHELF_KINDS``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from models.candidates.candidates import CandidateSet, SourceInput, generate_candidates
from models.serving.context import ServingContext
from models.serving.filters import FilterInput, filter_mask
from models.serving.page import dedup_enabled
from models.serving.rule_shelves import RULES, RuleInput
from models.serving.rules import diversify
from models.serving.shelf_rows import blocked, empty_rows, output_rows, place
from transforms.features.feature_spec import FEATURE_SPECS, feature_names
from transforms.features.features import batch_features
from transforms.listeners.batch import History, ListenerBatch, take

log = logging.getLogger(__name__)
_warned: set = set()


@dataclass
class ShelfJob:
    """One shelf over a batch: the plays before as_of (``hist``), the shelf's name and config, per
    listener of the batch (bool (B,)) ``served`` (registered, in its markets and audience) and
    ``minor``; ``slotting``: its editorial slots (``models.serving.shelf_rows``); ``claimed``: int64
    keys ``listener * span + item`` that earlier shelves of the page claimed."""

    hist: History
    shelf: str
    cfg: dict
    ctx: ServingContext
    served: np.ndarray
    minor: np.ndarray
    slotting: tuple
    claimed: np.ndarray


@dataclass
class ShelfRows:
    """A handler's result: ``frame`` (OUTPUT_COLUMNS and the ``_key`` of the page's claims), ``removed``
    (items an earlier shelf claimed), ``n_candidates`` (model shelves, else None) and ``features``
    (the logged feature frame when ``ctx.log_features``, else None)."""

    frame: pd.DataFrame
    removed: int = 0
    n_candidates: int | None = None
    features: pd.DataFrame | None = None


def shelf_candidates(hist: History, shelf: str, ctx: ServingContext, served: np.ndarray
                     ) -> tuple[CandidateSet, np.ndarray]:
    """Candidates and the feature matrix (float32, (n, spec)) of the ``served`` listeners of a
    batch on ``shelf``. Shared by serving and training examples (the one feature code path).
    On a ``familiar`` shelf plays count toward each of their entity levels (item, context,
    parent, creator), so an artist or album heard only through a playlist is a candidate too."""
    types, cfg = ctx.entity_types[shelf], ctx.config["shelves"][shelf]
    familiar = bool(cfg.get("familiar"))  # every entity level of a play, in candidates and features alike
    cands = generate_candidates(SourceInput(hist, shelf, types, served, familiar), cfg)
    X = batch_features(shelf, hist, types, cands.who, cands.code, cands.sources,
                       hist.batch.codebook.neighbours.get(shelf), familiar)
    return cands, X


def model_rows(job: ShelfJob) -> ShelfRows:
    """``kind: model``: rank the candidates by ``ctx.scorers[shelf]``, then filters, caps, claims,
    editorial slots and the cut (module docstring). A shelf without a feature spec serves nothing
    (the config checks refuse one)."""
    hist, shelf, cfg, ctx = job.hist, job.shelf, job.cfg, job.ctx
    if shelf not in FEATURE_SPECS:
        return ShelfRows(empty_rows())
    cands, X = shelf_candidates(hist, shelf, ctx, job.served)
    if not len(cands):
        if job.served.sum() >= 100 and ("no_candidates", shelf) not in _warned:   # a whole batch, empty
            _warned.add(("no_candidates", shelf))
            log.warning("shelf %s: no candidate for any of the %d listeners it serves in a batch: check its "
                        "sources %s (colisten without --neighbours has pairs only for the shelves of "
                        "colisten.beam_shelves)", shelf, int(job.served.sum()), list(cfg.get("sources") or {}))
        return ShelfRows(empty_rows(), n_candidates=0)
    scorer = ctx.scorers[shelf]
    scores = np.asarray(scorer.score(X), dtype=np.float64)  # one call for the whole batch
    batch = hist.batch
    order = np.lexsort((batch.id_rank(cands.code), -scores, cands.who))
    who, code, score, label = cands.who[order], cands.code[order], scores[order], cands.source_labels()[order]
    keep = filter_mask(FilterInput(hist, shelf, cfg, ctx, who, code, job.minor))
    who, code, score, label = who[keep], code[keep], score[keep], label[keep]
    cb = batch.codebook
    keep = diversify(take(cb.creator, code, -1), take(cb.parent, code, -1), cfg.get("max_per_creator"),
                     cfg.get("max_per_parent"), groups=who)
    placed, removed = place(batch, job.slotting, np.unique(cands.who), who[keep], code[keep], job.claimed,
                            int(cfg["size"]), {"score": score[keep], "candidate_source": label[keep]})
    ed = placed["editorial"].to_numpy()
    frame = output_rows(batch, shelf, placed, ctx,
                        score=np.where(ed, np.nan, placed["score"].to_numpy(np.float64)),
                        source=np.where(ed, "editorial", scorer.source),
                        candidate_source=np.where(ed, "editorial", placed["candidate_source"].to_numpy(dtype=object)),
                        model_version=np.where(ed, None, scorer.version))
    features = _feature_frame(batch, cands, X, shelf) if ctx.log_features else None
    return ShelfRows(frame, removed, len(cands), features)


def rule_rows(job: ShelfJob) -> ShelfRows:
    """``kind: rule``: ``rule`` (the schema fills in the shelf's name) names a rule of
    :data:`models.serving.rule_shelves.RULES`. ``source=rule``, ``candidate_source=rule:<rule>``, no
    model_version, and ``score`` null: a rule has no score, its order is ``position``. Items claimed by
    an earlier shelf are dropped and editorial slots inserted as on model shelves; a listener with no
    rule rows gets no rows. Raises ValueError naming an unknown rule (the config checks refuse one first)."""
    hist, shelf, cfg, ctx = job.hist, job.shelf, job.cfg, job.ctx
    name = cfg["rule"]
    if name not in RULES:
        raise ValueError(f"shelf {shelf!r}: unknown rule {name!r} (known: {list(RULES)})")
    size = int(cfg["size"])
    depth = None if dedup_enabled(ctx.config) else size  # uncut, so a claimed item is replaced by the next
    picked = RULES[name](RuleInput(hist, shelf, cfg, job.served, blocked(cfg, job.minor), depth, ctx))
    if not len(picked.code):
        return ShelfRows(empty_rows())
    placed, removed = place(hist.batch, job.slotting, np.unique(picked.who), picked.who, picked.code, job.claimed,
                            size, {})
    ed = placed["editorial"].to_numpy()
    n = len(placed)
    frame = output_rows(hist.batch, shelf, placed, ctx, score=np.full(n, np.nan),
                        source=np.where(ed, "editorial", "rule"),
                        candidate_source=np.where(ed, "editorial", f"rule:{name}"),
                        model_version=np.full(n, None, dtype=object))
    return ShelfRows(frame, removed)


def editorial_rows(job: ShelfJob) -> ShelfRows:
    """``kind: editorial``: each served listener's live slots, renumbered 1..n, cut to ``size``."""
    set_of, sets = job.slotting[:2]
    parts = []
    for i, slots in enumerate(sets):
        slots = slots.head(int(job.cfg["size"]))
        ls = np.flatnonzero(job.served & (set_of == i))
        if not len(slots) or not len(ls):
            continue
        k = len(slots)
        parts.append(pd.DataFrame({"who": np.repeat(ls, k), "code": np.tile(slots["code"].to_numpy(), len(ls)),
                                   "item_id": np.tile(slots["item_id"].to_numpy(dtype=object), len(ls)),
                                   "position": np.tile(np.arange(1, k + 1), len(ls))}))
    if not parts:
        return ShelfRows(empty_rows())
    placed = pd.concat(parts, ignore_index=True).sort_values(["who", "position"], kind="stable", ignore_index=True)
    n = len(placed)
    return ShelfRows(output_rows(job.hist.batch, job.shelf, placed, job.ctx, score=np.full(n, np.nan),
                                 source=np.full(n, "editorial", dtype=object),
                                 candidate_source=np.full(n, "editorial", dtype=object),
                                 model_version=np.full(n, None, dtype=object)))


SHELF_KINDS: dict[str, Callable[[ShelfJob], ShelfRows]] = {
    "model": model_rows,
    "rule": rule_rows,
    "editorial": editorial_rows,
}


def _feature_frame(batch: ListenerBatch, cands: CandidateSet, X: np.ndarray, shelf: str) -> pd.DataFrame:
    frame = pd.DataFrame(X, columns=feature_names(shelf))
    frame.insert(0, "listener_id", batch.listener_id[cands.who])
    frame.insert(1, "item_id", batch.ids(cands.code))
    frame.insert(2, "candidate_source", cands.source_labels())
    return frame


__all__ = ["ShelfJob", "ShelfRows", "SHELF_KINDS", "shelf_candidates", "model_rows", "rule_rows", "editorial_rows"]
