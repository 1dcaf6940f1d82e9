"""Stage 1 + stage 2 for a batch of listeners, in columns: candidates, features, one scoring call
per shelf, rules, editorial slots, and the output rows of DESIGN.md "Outputs".

Every step works on all listeners of the batch at once (:class:`transforms.listeners.batch.ListenerBatch`),
so the cost per listener is a share of a few array operations, not a loop of small pandas calls.
What does not depend on the listener - the codebook of ids, editorial slots per (market, minor),
recent episodes - is built once per worker and ``as_of`` and kept in ``ServingContext.cache``.

A shelf is served by the handler of its kind, one lookup in :data:`models.serving.shelf_kinds.SHELF_KINDS`
(``model``, ``rule``, ``editorial``). The order of the post-ranking rules on a listener's list: shelf
``markets`` whitelist and audience (the listener gets nothing on the shelf, editorial rows included), then
the filters of :data:`models.serving.filters.FILTERS` in registry order (``exclude_played_within_hours``,
``exclude_followed_shows``, ``block_explicit_for_minors``), then the diversity caps (``max_per_creator``,
then ``max_per_parent``) on what the filters kept, then the items an earlier shelf claimed are dropped
(one item at most once per Home page: :mod:`models.serving.page`), then the editorial slots (explicit
ones removed for minors), then the cut to ``size``. Rule shelves take their rows from
:data:`models.serving.rule_shelves.RULES`, then the same claims, slots and cut. Shelves are computed in
the page's claim order; rows come out in config order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.serving.context import ServingContext
from models.serving.layout import affinity, expected_engagement, layout_frame
from models.serving.page import claim_order, dedup_enabled, slot_claims, split_slot_sets
from models.serving.rules import is_minor
from models.serving.shelf_kinds import SHELF_KINDS, ShelfJob, shelf_candidates
from models.serving.shelf_rows import OUTPUT_COLUMNS, blocked, slot_sets
from transforms.listeners.batch import History, ListenerBatch
from transforms.listeners.history import MS_PER_DAY, ListenerState


@dataclass
class BatchResult:
    """``rows``: OUTPUT_COLUMNS frame; ``features``: shelf -> frame (listener_id, item_id,
    candidate_source + spec columns) when feature logging is on; ``candidates``: shelf -> count;
    ``dedup_removed``: shelf -> items it would have shown that an earlier shelf claimed; ``layout``:
    the order of each listener's shelves (:mod:`models.serving.layout`)."""

    rows: pd.DataFrame
    features: dict = field(default_factory=dict)
    candidates: dict = field(default_factory=dict)
    dedup_removed: dict = field(default_factory=dict)  # shelf -> items lost to an earlier shelf (models.serving.page)
    layout: pd.DataFrame | None = None  # models.serving.layout.LAYOUT_COLUMNS: each listener's shelves in order


def audience_mask(batch: ListenerBatch, shelf_config: dict, ctx: ServingContext) -> np.ndarray:
    """bool (B,): listeners registered before as_of and in the shelf's audience. A shelf with
    ``audience: new_listeners`` serves only listeners whose tenure at as_of is below
    ``listeners.new_listener_days``; one with ``active_within_days: N`` only listeners with a play
    in ``[as_of - N days, as_of)`` (a lapsed listener's familiar items are stale). Serving and the
    training examples both call it, so the model trains on the population it serves."""
    mask = batch.registered_before(ctx.as_of_ms)
    if shelf_config.get("audience") == "new_listeners":
        mask &= batch.tenure_days(ctx.as_of_ms) < float(ctx.config["listeners"]["new_listener_days"])
    days = shelf_config.get("active_within_days")
    if days is not None:
        mask &= active_within(batch, ctx.as_of_ms, float(days))
    return mask


def active_within(batch: ListenerBatch, as_of_ms: int, days: float) -> np.ndarray:
    """bool (B,): listeners with at least one play in ``[as_of - days, as_of)`` (``days`` in days)."""
    recent = (batch.ts_ms >= as_of_ms - days * MS_PER_DAY) & (batch.ts_ms < as_of_ms)
    return np.bincount(batch.who[recent], minlength=batch.size) > 0


def market_mask(batch: ListenerBatch, shelf_config: dict) -> np.ndarray:
    """bool (B,): shelf key ``markets``, a whitelist of listener markets (None: every market)."""
    markets = shelf_config.get("markets")
    return np.ones(batch.size, dtype=bool) if markets is None else np.isin(batch.market.astype(str), list(markets))


def recommend_batch(states: list[ListenerState], ctx: ServingContext) -> BatchResult:
    """Home shelves for a batch of listeners at ``ctx.as_of_ms`` (see :func:`recommend`)."""
    return recommend(ListenerBatch.from_states(states, ctx.codebook), ctx)


def recommend(batch: ListenerBatch, ctx: ServingContext) -> BatchResult:
    """Home shelves for a :class:`ListenerBatch` at ``ctx.as_of_ms``.

    Listeners registered at or after as_of are skipped, and so are, per shelf, listeners outside
    its ``markets`` whitelist. A listener with no candidates (or no rule rows) on a shelf gets no
    rows there (editorial slots alone still fill an editorial shelf).
    """
    hist = batch.before(ctx.as_of_ms)
    minor = is_minor(batch.birth_year, ctx.as_of_ms)
    order, dedup = claim_order(ctx.config), dedup_enabled(ctx.config)
    served = {shelf: _served(batch, ctx.config["shelves"][shelf], ctx) for shelf in order}
    slots, claimed, removed = _page_slots(batch, ctx, minor, order, served, dedup)
    frames, features, n_cands = {}, {}, {}
    for shelf in order:  # models.serving.page: shelves claim items in this order
        cfg = ctx.config["shelves"][shelf]
        out = _handler(shelf, cfg)(ShelfJob(hist, shelf, cfg, ctx, served[shelf], minor, slots[shelf], claimed))
        removed[shelf] = removed.get(shelf, 0) + out.removed
        if out.n_candidates is not None:
            n_cands[shelf] = out.n_candidates
        if out.features is not None:
            features[shelf] = out.features
        frame = out.frame
        if dedup and len(frame):
            ranked = frame["source"].to_numpy(dtype=object) != "editorial"  # slots claimed in the first round
            claimed = np.concatenate([claimed, frame["_key"].to_numpy(np.int64)[ranked]])
        frames[shelf] = frame
    layout = _layout(hist, frames, order, ctx)
    frames = [frames[s] for s in ctx.config["shelves"] if s in frames and len(frames[s])]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OUTPUT_COLUMNS)
    return BatchResult(rows[OUTPUT_COLUMNS], features, n_cands, {s: n for s, n in removed.items() if n}, layout)


def _layout(hist: History, frames: dict, order: list, ctx: ServingContext) -> pd.DataFrame:
    """The shelves each listener of the batch has rows on, ranked by :mod:`models.serving.layout`."""
    batch, lay = hist.batch, ctx.config["page"]["layout"]
    who, shelf, aff_of, score = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)], [np.zeros(0)]
    for i, name in enumerate(order):
        frame = frames.get(name)
        if frame is None or not len(frame):
            continue
        listeners = np.unique(frame["_key"].to_numpy(np.int64) // batch.span)
        aff = affinity(hist, ctx.entity_types.get(name) or [], batch.size, lay["window_days"], lay["prior"],
                       lay["prior_plays"])
        who.append(listeners)
        shelf.append(np.full(len(listeners), i))
        aff_of.append(aff[listeners])
        score.append(expected_engagement(name, aff[listeners], lay))
    new = audience_mask(batch, {"audience": "new_listeners"}, ctx)
    return layout_frame(batch.listener_id, np.concatenate(who), np.concatenate(shelf), np.concatenate(aff_of),
                        np.concatenate(score), new, order, lay)


def _handler(shelf: str, cfg: dict):
    """The handler of the shelf's kind; ValueError naming the known kinds (the config refuses others first)."""
    try:
        return SHELF_KINDS[cfg["kind"]]
    except KeyError:
        raise ValueError(f"shelf {shelf!r}: unknown kind {cfg['kind']!r} (known: {list(SHELF_KINDS)})") from None


def _served(batch: ListenerBatch, cfg: dict, ctx: ServingContext) -> np.ndarray:
    """bool (B,): listeners a shelf serves: registered before as_of, in its ``markets`` and audience (an
    editorial shelf has no audience keys: every registered listener of its markets)."""
    return market_mask(batch, cfg) & audience_mask(batch, cfg, ctx)


def _page_slots(batch: ListenerBatch, ctx: ServingContext, minor, order, served, dedup: bool):
    """First claiming round of :mod:`models.serving.page`: each shelf's editorial slots per listener, in
    claim order, without the items an earlier shelf's slots claimed. Returns (shelf -> (set_of
    (B,), slot frames, the same before the claims), the keys claimed, shelf -> slots removed among
    served listeners)."""
    span = batch.span
    claimed, out, removed = np.zeros(0, np.int64), {}, {}
    for shelf in order:
        cfg = ctx.config["shelves"][shelf]
        set_of, sets = original = slot_sets(shelf, cfg, ctx, batch, blocked(cfg, minor))
        size = int(cfg["size"])
        if dedup and len(claimed):
            codes = [s["code"].to_numpy(np.int64) for s in sets]
            # slots that could have shown (the first `size` of a served listener's set) and are claimed
            removed[shelf] = int(np.isin(slot_claims(set_of, codes, served[shelf], size, span), claimed).sum())
            set_of, keep, parent = split_slot_sets(set_of, codes, claimed, span)
            sets = [sets[p].iloc[k].reset_index(drop=True) for p, k in zip(parent, keep)]
        out[shelf] = (set_of, sets, original)
        if dedup:
            codes = [s["code"].to_numpy(np.int64) for s in sets]
            claimed = np.concatenate([claimed, slot_claims(set_of, codes, served[shelf], size, span)])
    return out, claimed, removed


def day_start_ms(date: str) -> int:
    """``YYYY-MM-DD`` to epoch ms of 00:00 UTC that day (the daily job's as_of)."""
    return int(pd.Timestamp(date, tz="UTC").value // 1_000_000)


__all__ = ["OUTPUT_COLUMNS", "ServingContext", "BatchResult", "recommend_batch", "recommend", "shelf_candidates",
           "audience_mask", "active_within", "day_start_ms", "MS_PER_DAY"]
