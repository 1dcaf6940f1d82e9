"""Stage 1 + stage 2 for a batch of listeners: candidates, features, one scoring call per shelf,
rules, editorial slots, and the output rows of DESIGN.md "Outputs".

Pure Python over in-memory objects; the Beam job calls :func:`recommend_batch` on batches of
listeners, so scoring runs on one stacked float32 matrix per shelf and batch.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.candidates import CandidateSet, generate_candidates, listener_view
from models.rules import cap_per_creator, editorial_slots, insert_editorial, rank_order
from transforms.aggregates import SideTables
from transforms.catalog import Catalog
from transforms.feature_spec import FEATURE_SPECS, feature_names
from transforms.features import compute_features
from transforms.history import MS_PER_DAY, ListenerState

OUTPUT_COLUMNS = ["listener_id", "shelf", "position", "item_id", "item_type", "score", "source",
                  "candidate_source", "model_version", "run_id"]


@dataclass
class ServingContext:
    """Everything a batch needs besides the listeners. ``scorers``: shelf -> object with
    ``score(X) -> float64 (n,)``, ``source`` and ``version``; ``entity_types``: shelf -> item types."""

    as_of_ms: int
    catalog: Catalog
    side: SideTables
    curation: pd.DataFrame | None
    config: dict
    entity_types: dict
    scorers: dict
    run_id: str
    log_features: bool = False


@dataclass
class BatchResult:
    """``rows``: OUTPUT_COLUMNS frame; ``features``: shelf -> frame (listener_id, item_id,
    candidate_source + spec columns) when feature logging is on; ``candidates``: shelf -> count."""

    rows: pd.DataFrame
    features: dict = field(default_factory=dict)
    candidates: dict = field(default_factory=dict)


def in_audience(state: ListenerState, shelf_config: dict, ctx: ServingContext) -> bool:
    """A shelf with ``audience: new_listeners`` serves only listeners whose tenure at as_of is
    below ``listeners.new_listener_days``; other shelves serve every registered listener."""
    if shelf_config.get("audience") == "new_listeners":
        return state.tenure_days(ctx.as_of_ms) < float(ctx.config["listeners"]["new_listener_days"])
    return True


def shelf_candidates(states: list[ListenerState], shelf: str, ctx: ServingContext
                     ) -> list[tuple[ListenerState, CandidateSet, np.ndarray]]:
    """Candidates and feature matrices of every listener in the shelf's audience with at least one
    candidate. Shared by serving and training examples (the one feature code path)."""
    cfg = ctx.config["shelves"][shelf]
    types = ctx.entity_types[shelf]
    out = []
    for state in states:
        if not state.is_registered(ctx.as_of_ms) or not in_audience(state, cfg, ctx):
            continue
        view = listener_view(state, ctx.as_of_ms, shelf, types, ctx.catalog, ctx.side)
        cands = generate_candidates(view, cfg)
        if len(cands) == 0:
            continue
        X = compute_features(shelf, state, ctx.as_of_ms, cands.ids, cands.sources, ctx.catalog, ctx.side, types)
        out.append((state, cands, X))
    return out


def recommend_batch(states: list[ListenerState], ctx: ServingContext) -> BatchResult:
    """Home shelves for a batch of listeners at ``ctx.as_of_ms``.

    Listeners registered at or after as_of are skipped. A listener with no candidates on a shelf
    gets no rows there (editorial slots alone still fill an editorial shelf).
    """
    as_of = pd.Timestamp(ctx.as_of_ms, unit="ms", tz="UTC")
    frames, features, n_cands = [], {}, {}
    for shelf, cfg in ctx.config["shelves"].items():
        if cfg["kind"] == "editorial":
            frames.append(_editorial_rows(states, shelf, cfg, ctx, as_of))
            continue
        if shelf not in FEATURE_SPECS:
            continue
        per = shelf_candidates(states, shelf, ctx)
        n_cands[shelf] = sum(len(c) for _, c, _ in per)
        if not per:
            continue
        X = np.concatenate([x for _, _, x in per])
        scorer = ctx.scorers[shelf]
        scores = scorer.score(X)  # one call for the whole batch
        offsets = np.cumsum([0] + [len(c) for _, c, _ in per])
        columns: dict[str, list] = {c: [] for c in OUTPUT_COLUMNS}
        for k, (state, cands, _) in enumerate(per):
            for col, values in _rank_rows(state, shelf, cfg, cands, scores[offsets[k]:offsets[k + 1]], ctx, as_of,
                                          scorer).items():
                columns[col].extend(values)
        frames.append(columns)
        if ctx.log_features:
            features[shelf] = _feature_frame(per, shelf)
    frames = [pd.DataFrame(f) if isinstance(f, dict) else f for f in frames]
    frames = [f for f in frames if len(f)]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OUTPUT_COLUMNS)
    return BatchResult(rows[OUTPUT_COLUMNS], features, n_cands)


def _rank_rows(state, shelf, cfg, cands: CandidateSet, scores, ctx: ServingContext, as_of, scorer) -> dict:
    order = rank_order(scores, cands.ids)
    ids = cands.ids[order]
    keep = cap_per_creator(ctx.catalog.lookup(ids, "creator_id"), cfg.get("max_per_creator"))
    ranked = list(ids[keep])
    slots = editorial_slots(ctx.curation, shelf, state.profile.market, as_of)
    placed = insert_editorial(ranked, slots, int(cfg["size"]))
    score_of = dict(zip(cands.ids, scores))
    label_of = dict(zip(cands.ids, cands.source_labels()))
    items = [i for i, _ in placed]
    n = len(placed)
    return {
        "listener_id": [state.listener_id] * n, "shelf": [shelf] * n, "position": list(range(1, n + 1)),
        "item_id": items, "item_type": list(_types(items, ctx, shelf)),
        "score": [np.nan if ed else float(score_of[i]) for i, ed in placed],
        "source": ["editorial" if ed else scorer.source for _, ed in placed],
        "candidate_source": ["editorial" if ed else label_of[i] for i, ed in placed],
        "model_version": [None if ed else scorer.version for _, ed in placed],
        "run_id": [ctx.run_id] * n,
    }


def _editorial_rows(states, shelf, cfg, ctx: ServingContext, as_of) -> pd.DataFrame:
    frames = []
    by_market: dict[str, pd.DataFrame] = {}
    for state in states:
        if not state.is_registered(ctx.as_of_ms):
            continue
        market = state.profile.market
        if market not in by_market:
            by_market[market] = editorial_slots(ctx.curation, shelf, market, as_of).head(int(cfg["size"]))
        slots = by_market[market]
        if slots.empty:
            continue
        items = slots["item_id"].tolist()
        frames.append(pd.DataFrame({
            "listener_id": state.listener_id, "shelf": shelf, "position": np.arange(1, len(items) + 1),
            "item_id": items, "item_type": _types(items, ctx, shelf), "score": np.nan, "source": "editorial",
            "candidate_source": "editorial", "model_version": None, "run_id": ctx.run_id}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OUTPUT_COLUMNS)


def _types(items, ctx: ServingContext, shelf: str) -> np.ndarray:
    types = ctx.catalog.lookup(items, "item_type")
    known = ctx.side.entity_types.get(shelf)
    if known is not None and len(items):
        fill = known.reindex(np.asarray(items, dtype=object)).to_numpy(dtype=object)
        types = np.where(types == None, fill, types)  # noqa: E711
    return types


def _feature_frame(per, shelf: str) -> pd.DataFrame:
    names = feature_names(shelf)
    X = np.concatenate([x for _, _, x in per])
    frame = pd.DataFrame(X, columns=names)
    frame.insert(0, "listener_id", np.repeat([s.listener_id for s, _, _ in per], [len(c) for _, c, _ in per]))
    frame.insert(1, "item_id", np.concatenate([c.ids for _, c, _ in per]))
    frame.insert(2, "candidate_source", sum((c.source_labels() for _, c, _ in per), []))
    return frame


def day_start_ms(date: str) -> int:
    """``YYYY-MM-DD`` to epoch ms of 00:00 UTC that day (the daily job's as_of)."""
    return int(pd.Timestamp(date, tz="UTC").value // 1_000_000)


__all__ = ["OUTPUT_COLUMNS", "ServingContext", "BatchResult", "recommend_batch", "shelf_candidates",
           "day_start_ms", "MS_PER_DAY"]
