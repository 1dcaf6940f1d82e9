"""Stage 1 + stage 2 for a batch of listeners: candidates, features, one scoring call per shelf,
rules, editorial slots, and the output rows of DESIGN.md "Outputs".

Pure Python over in-memory objects; the Beam job calls :func:`recommend_batch` on batches of
listeners, so scoring runs on one stacked float32 matrix per shelf and batch.

Shelf kinds: ``model`` (candidates, features, ranker, then the rules of :mod:`models.rules`),
``rule`` (rows from a rule of :mod:`models.rules`, no model, no features) and ``editorial`` (the
``curation`` table only). The order of the post-ranking rules on a listener's list: shelf
``markets`` whitelist (the listener gets nothing on the shelf, editorial rows included), then the
filters (``exclude_played_within_hours``, ``exclude_followed_shows``, ``block_explicit_for_minors``),
then the diversity caps (``max_per_creator``, then ``max_per_parent``) on what the filters kept,
then the editorial slots (explicit ones removed for minors), then the cut to ``size``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.candidates import CandidateSet, generate_candidates, listener_view
from models.rules import (FOLLOWED_MIN_PLAYS, NEW_EPISODES_MAX_AGE_DAYS, RULES, diversify, editorial_slots,
                          explicit_allowed, followed_shows, insert_editorial, is_minor, market_allowed,
                          new_episodes, not_followed, not_played_within, rank_order, recent_episodes)
from transforms.aggregates import SideTables
from transforms.catalog import Catalog, resolve_entities
from transforms.feature_spec import FEATURE_SPECS, feature_names
from transforms.features import compute_features
from transforms.history import MS_PER_DAY, ListenerState

log = logging.getLogger(__name__)

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

    Listeners registered at or after as_of are skipped, and so are, per shelf, listeners outside
    its ``markets`` whitelist. A listener with no candidates (or no rule rows) on a shelf gets no
    rows there (editorial slots alone still fill an editorial shelf).
    """
    as_of = pd.Timestamp(ctx.as_of_ms, unit="ms", tz="UTC")
    facts = _Facts(ctx)
    frames, features, n_cands = [], {}, {}
    for shelf, cfg in ctx.config["shelves"].items():
        served = [s for s in states if market_allowed(s.profile.market, cfg.get("markets"))]
        if cfg["kind"] == "editorial":
            frames.append(_editorial_rows(served, shelf, cfg, ctx, as_of, facts))
            continue
        if cfg["kind"] == "rule":
            frames.append(_rule_rows(served, shelf, cfg, ctx, as_of, facts))
            continue
        if shelf not in FEATURE_SPECS:
            continue
        per = shelf_candidates(served, shelf, ctx)
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
                                          scorer, facts).items():
                columns[col].extend(values)
        frames.append(columns)
        if ctx.log_features:
            features[shelf] = _feature_frame(per, shelf)
    frames = [pd.DataFrame(f) if isinstance(f, dict) else f for f in frames]
    frames = [f for f in frames if len(f)]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OUTPUT_COLUMNS)
    return BatchResult(rows[OUTPUT_COLUMNS], features, n_cands)


class _Facts:
    """Per-batch memo of what the rules need about a listener (history mapped to entities, minor
    flag, followed shows), so several shelves of one listener share the work."""

    def __init__(self, ctx: ServingContext):
        self.ctx = ctx
        self._hist: dict = {}
        self._resolved: dict = {}
        self._minor: dict = {}
        self.per_batch: dict = {}  # shelf-level things computed once per batch (recent episodes)

    def hist(self, state: ListenerState) -> dict:
        if state.listener_id not in self._hist:
            self._hist[state.listener_id] = state.before(self.ctx.as_of_ms)
        return self._hist[state.listener_id]

    def played(self, state: ListenerState, types) -> tuple[np.ndarray, np.ndarray]:
        """The listener's plays before as_of mapped to entities of ``types``: (entity, ts_ms)."""
        key = (state.listener_id, tuple(types))
        if key not in self._resolved:
            h = self.hist(state)
            ent, _ = resolve_entities(h["item_id"], h["item_type"], h["context_id"], self.ctx.catalog, types)
            ok = ent != None  # noqa: E711
            self._resolved[key] = (ent[ok], h["ts_ms"][ok])
        return self._resolved[key]

    def followed(self, state: ListenerState, min_plays: int) -> np.ndarray:
        return followed_shows(self.played(state, ["show"])[0], min_plays)

    def minor(self, state: ListenerState) -> bool:
        if state.listener_id not in self._minor:
            self._minor[state.listener_id] = is_minor(state.profile.birth_year, self.ctx.as_of_ms)
        return self._minor[state.listener_id]


def _blocks_minor(state: ListenerState, cfg: dict, facts: _Facts) -> bool:
    """Shelf key ``block_explicit_for_minors`` (default true: fail safe) and the listener a minor."""
    return bool(cfg.get("block_explicit_for_minors", True)) and facts.minor(state)


def _filter_mask(state, shelf, cfg, ids: np.ndarray, ctx: ServingContext, facts: _Facts) -> np.ndarray:
    """Keep mask of the shelf's post-ranking filters over ``ids`` (rank order)."""
    keep = np.ones(len(ids), dtype=bool)
    if not len(ids):
        return keep
    hours = cfg.get("exclude_played_within_hours")
    if hours is not None:
        played, ts = facts.played(state, ctx.entity_types[shelf])
        keep &= not_played_within(ids, played, ts, ctx.as_of_ms, hours)
    if cfg.get("exclude_followed_shows"):
        keep &= not_followed(ids, facts.followed(state, int(cfg.get("followed_min_plays", FOLLOWED_MIN_PLAYS))))
    if _blocks_minor(state, cfg, facts):
        keep &= explicit_allowed(ctx.catalog.lookup(ids, "explicit"), True)
    return keep


def _slots(state, shelf, cfg, ctx: ServingContext, as_of, facts: _Facts) -> pd.DataFrame:
    """Live editorial slots of the shelf in the listener's market, explicit ones removed for minors."""
    slots = editorial_slots(ctx.curation, shelf, state.profile.market, as_of)
    if len(slots) and _blocks_minor(state, cfg, facts):
        slots = slots[explicit_allowed(ctx.catalog.lookup(slots["item_id"], "explicit"), True)]
    return slots


def _rank_rows(state, shelf, cfg, cands: CandidateSet, scores, ctx: ServingContext, as_of, scorer,
               facts: _Facts | None = None) -> dict:
    facts = facts or _Facts(ctx)
    order = rank_order(scores, cands.ids)
    ids = cands.ids[order]
    ids = ids[_filter_mask(state, shelf, cfg, ids, ctx, facts)]
    keep = diversify(ctx.catalog.lookup(ids, "creator_id"), ctx.catalog.lookup(ids, "parent_id"),
                     cfg.get("max_per_creator"), cfg.get("max_per_parent"))
    ranked = list(ids[keep])
    placed = insert_editorial(ranked, _slots(state, shelf, cfg, ctx, as_of, facts), int(cfg["size"]))
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


def _editorial_rows(states, shelf, cfg, ctx: ServingContext, as_of, facts: _Facts | None = None) -> pd.DataFrame:
    facts = facts or _Facts(ctx)
    frames = []
    by_market: dict[tuple, pd.DataFrame] = {}
    for state in states:
        if not state.is_registered(ctx.as_of_ms):
            continue
        key = (state.profile.market, _blocks_minor(state, cfg, facts))
        if key not in by_market:
            by_market[key] = _slots(state, shelf, cfg, ctx, as_of, facts).head(int(cfg["size"]))
        slots = by_market[key]
        if slots.empty:
            continue
        items = slots["item_id"].tolist()
        frames.append(pd.DataFrame({
            "listener_id": state.listener_id, "shelf": shelf, "position": np.arange(1, len(items) + 1),
            "item_id": items, "item_type": _types(items, ctx, shelf), "score": np.nan, "source": "editorial",
            "candidate_source": "editorial", "model_version": None, "run_id": ctx.run_id}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OUTPUT_COLUMNS)


_warned: set = set()


def _release_ms(catalog: Catalog) -> np.ndarray | None:
    """Catalog ``release_date`` as epoch ms UTC (float64, NaN unknown); None when the catalog does
    not carry the column."""
    if "release_date" not in catalog.frame.columns:
        return None
    ts = pd.to_datetime(catalog.frame["release_date"], utc=True, errors="coerce")
    return ((ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(milliseconds=1)).to_numpy(dtype=np.float64)


def _recent_episodes(shelf, cfg, ctx: ServingContext, facts: _Facts) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(episodes in the release window, the same without explicit ones), once per batch and shelf."""
    key = ("recent_episodes", shelf)
    if key not in facts.per_batch:
        release = _release_ms(ctx.catalog)
        if release is None:
            if shelf not in _warned:
                _warned.add(shelf)
                log.warning("shelf %s: the catalog has no release_date column, so the rule serves nothing", shelf)
            recent = recent_episodes([], [], [], [], ctx.as_of_ms)
        else:
            frame = ctx.catalog.frame
            recent = recent_episodes(frame.index.to_numpy(dtype=object), frame["item_type"].to_numpy(dtype=object),
                                     frame["parent_id"].to_numpy(dtype=object), release, ctx.as_of_ms,
                                     float(cfg.get("max_age_days", NEW_EPISODES_MAX_AGE_DAYS)))
        clean = recent[explicit_allowed(ctx.catalog.lookup(recent["item_id"], "explicit"), True)]
        facts.per_batch[key] = (recent, clean)
    return facts.per_batch[key]


def _rule_rows(states, shelf, cfg, ctx: ServingContext, as_of, facts: _Facts) -> pd.DataFrame:
    """Rows of a ``kind: rule`` shelf: ``rule`` (default: the shelf's name) names a rule of
    :data:`models.rules.RULES`. ``source=rule``, ``candidate_source=rule:<rule>``, no
    model_version, and ``score`` null: a rule has no score, its order is ``position`` (for
    ``new_episodes``: release time, newest first). Editorial slots of the shelf are inserted as on
    model shelves; a listener with no rule rows gets no rows."""
    rule = cfg.get("rule", shelf)
    if rule not in RULES:
        raise ValueError(f"shelf {shelf!r}: unknown rule {rule!r} (known: {list(RULES)})")
    size = int(cfg["size"])
    recent, clean = _recent_episodes(shelf, cfg, ctx, facts)
    frames = []
    for state in states:
        if not state.is_registered(ctx.as_of_ms) or not in_audience(state, cfg, ctx):
            continue
        minor = _blocks_minor(state, cfg, facts)
        followed = facts.followed(state, int(cfg.get("followed_min_plays", FOLLOWED_MIN_PLAYS)))
        if not len(followed):
            continue
        picked = new_episodes(clean if minor else recent, followed, facts.hist(state)["item_id"], size,
                              cfg.get("max_per_parent"))
        if picked.empty:
            continue
        placed = insert_editorial(list(picked["item_id"]), _slots(state, shelf, cfg, ctx, as_of, facts), size)
        items = [i for i, _ in placed]
        frames.append(pd.DataFrame({
            "listener_id": state.listener_id, "shelf": shelf, "position": np.arange(1, len(items) + 1),
            "item_id": items, "item_type": _types(items, ctx, shelf), "score": np.nan,
            "source": ["editorial" if ed else "rule" for _, ed in placed],
            "candidate_source": ["editorial" if ed else f"rule:{rule}" for _, ed in placed],
            "model_version": None, "run_id": ctx.run_id}))
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
