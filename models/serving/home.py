"""Stage 1 + stage 2 for a batch of listeners, in columns: candidates, features, one scoring call
per shelf, rules, editorial slots, and the output rows of DESIGN.md "Outputs".

Every step works on all listeners of the batch at once (:class:`transforms.listeners.batch.ListenerBatch`),
so the cost per listener is a share of a few array operations, not a loop of small pandas calls.
What does not depend on the listener - the codebook of ids, editorial slots per (market, minor),
recent episodes - is built once per worker and ``as_of`` and kept in ``ServingContext.cache``.

Shelf kinds: ``model`` (candidates, features, ranker, then the rules of :mod:`models.serving.rules`),
``rule`` (rows from a rule of :mod:`models.serving.rules`, no model, no features) and ``editorial`` (the
``curation`` table only). The order of the post-ranking rules on a listener's list: shelf
``markets`` whitelist (the listener gets nothing on the shelf, editorial rows included), then the
filters (``exclude_played_within_hours``, ``exclude_followed_shows``, ``block_explicit_for_minors``),
then the diversity caps (``max_per_creator``, then ``max_per_parent``) on what the filters kept,
then the items an earlier shelf claimed are dropped (one item at most once per Home page:
:mod:`models.serving.page`), then the editorial slots (explicit ones removed for minors), then the cut to
``size``. Shelves are computed in the page's claim order; rows come out in config order.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.candidates.candidates import CandidateSet, SourceInput, generate_candidates, pair_span
from models.serving.layout import affinity, expected_engagement, layout_frame
from models.serving.page import claim_order, dedup_enabled, drop_claimed, slot_claims, split_slot_sets
from models.serving.rules import (RULES, diversify, editorial_layout,
                          editorial_slots, explicit_allowed, followed_shows, is_minor, new_episodes, not_followed,
                          not_played_within, recent_episodes)
from transforms.io import contract
from transforms.listeners.aggregates import SideTables
from transforms.listeners.batch import ARTIST, Codebook, History, ListenerBatch, take
from transforms.listeners.catalog import Catalog
from transforms.features.feature_spec import FEATURE_SPECS, feature_names
from transforms.features.features import batch_features
from transforms.listeners.history import MS_PER_DAY, ListenerState

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ["listener_id", "shelf", "position", "item_id", "item_type", "score", "source",
                  "candidate_source", "model_version", "run_id"]
_TYPE_NAMES = np.asarray(list(contract.ITEM_TYPES) + [None], dtype=object)  # index -1 -> None


@dataclass
class ServingContext:
    """Everything a batch needs besides the listeners. ``scorers``: shelf -> object with
    ``score(X) -> float64 (n,)``, ``source`` and ``version``; ``entity_types``: shelf -> item types.
    ``cache``: listener-independent work kept between batches of one worker (pass the same dict
    for batches that share catalog, side tables, curation and as_of)."""

    as_of_ms: int
    catalog: Catalog
    side: SideTables
    curation: pd.DataFrame | None
    config: dict
    entity_types: dict
    scorers: dict
    run_id: str
    log_features: bool = False
    cache: dict = field(default_factory=dict)

    @property
    def codebook(self) -> Codebook:
        if "codebook" not in self.cache:
            self.cache["codebook"] = Codebook(self.catalog, self.side)
        return self.cache["codebook"]


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
        if cfg["kind"] == "editorial":
            frame = _editorial_rows(batch, served[shelf], shelf, cfg, ctx, slots[shelf])
        elif cfg["kind"] == "rule":
            frame, lost = _rule_rows(hist, served[shelf], shelf, cfg, ctx, minor, slots[shelf], claimed)
            removed[shelf] = removed.get(shelf, 0) + lost
        elif shelf not in FEATURE_SPECS:
            continue
        else:
            cands, X = shelf_candidates(hist, shelf, ctx, served[shelf])
            n_cands[shelf] = len(cands)
            if not len(cands):
                if served[shelf].sum() >= 100 and ("no_candidates", shelf) not in _warned:   # a whole batch, empty
                    _warned.add(("no_candidates", shelf))
                    log.warning("shelf %s: no candidate for any of the %d listeners it serves in a batch: check its "
                                "sources %s (colisten without --neighbours has pairs only for the shelves of "
                                "colisten.beam_shelves)", shelf, int(served[shelf].sum()), list(cfg.get("sources") or {}))
                continue
            scorer = ctx.scorers[shelf]
            scores = scorer.score(X)  # one call for the whole batch
            frame, lost = _rank_rows(hist, shelf, cfg, cands, scores, scorer, ctx, minor, slots[shelf], claimed)
            removed[shelf] = removed.get(shelf, 0) + lost
            if ctx.log_features:
                features[shelf] = _feature_frame(batch, cands, X, shelf)
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


def _served(batch: ListenerBatch, cfg: dict, ctx: ServingContext) -> np.ndarray:
    """bool (B,): listeners a shelf serves (an editorial shelf: every registered listener of its markets)."""
    if cfg["kind"] == "editorial":
        return market_mask(batch, cfg) & batch.registered_before(ctx.as_of_ms)
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
        set_of, sets = original = _slot_sets(shelf, cfg, ctx, batch, _blocked(cfg, minor))
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


def _blocked(cfg: dict, minor: np.ndarray) -> np.ndarray:
    """Shelf key ``block_explicit_for_minors`` (its default, in the schema, is true: fail safe) and the listener
    a minor."""
    return minor & bool(cfg["block_explicit_for_minors"])


def _filter_mask(hist: History, shelf, cfg, who, code, ctx: ServingContext, minor) -> np.ndarray:
    """Keep mask of the shelf's post-ranking filters over candidate rows (rank order)."""
    keep = np.ones(len(code), dtype=bool)
    span = pair_span(hist)
    keys = who * span + code
    hours = cfg.get("exclude_played_within_hours")
    if hours is not None:
        play, ent = hist.entity_pairs(ctx.entity_types[shelf], bool(cfg.get("familiar")))
        keep &= not_played_within(keys, hist.who[play] * span + ent, hist.ts_ms[play], ctx.as_of_ms, hours)
    if cfg.get("exclude_followed_shows"):
        keep &= not_followed(keys, _followed(hist, cfg))
    keep &= explicit_allowed(take(hist.batch.codebook.explicit, code, np.nan), _blocked(cfg, minor)[who])
    return keep


def _followed(hist: History, cfg: dict) -> np.ndarray:
    """Keys ``listener * span + show`` of the shows each listener follows (see models.serving.rules)."""
    min_plays = int(cfg["followed_min_plays"])

    def build():
        show, _ = hist.entities(["show"])
        return followed_shows(np.where(show >= 0, hist.who * pair_span(hist) + show, -1), min_plays)
    return hist.memo(("followed", min_plays), build)


def _slot_sets(shelf: str, cfg: dict, ctx: ServingContext, batch: ListenerBatch, blocked: np.ndarray):
    """Editorial slots per (market, blocked minor) of the batch's listeners: returns (set index
    per listener (B,), list of slot frames with position, item_id, code). Built once per worker."""
    as_of = pd.Timestamp(ctx.as_of_ms, unit="ms", tz="UTC")
    keys = list(zip(batch.market.tolist(), blocked.tolist()))
    distinct = list(dict.fromkeys(keys))
    sets = []
    for market, minor in distinct:
        cache_key = ("slots", shelf, market, minor)
        if cache_key not in ctx.cache:
            slots = editorial_slots(ctx.curation, shelf, market, as_of)
            if cfg.get("familiar") and len(slots):
                # a curated item is not one the listener played: a familiar shelf shows none
                if ("familiar_curation", shelf) not in _warned:
                    _warned.add(("familiar_curation", shelf))
                    log.warning("shelf %s is familiar: its %d curation row(s) are not served", shelf, len(slots))
                slots = slots.iloc[:0]
            if len(slots) and minor:
                slots = slots[explicit_allowed(ctx.catalog.lookup(slots["item_id"], "explicit"), True)]
            ctx.cache[cache_key] = slots.reset_index(drop=True)
        slots = ctx.cache[cache_key].copy()
        slots["code"] = batch.encode(slots["item_id"].to_numpy(dtype=object))
        sets.append(slots)
    index = {k: i for i, k in enumerate(distinct)}
    return np.asarray([index[k] for k in keys], dtype=np.int64), sets


def _ranked_shown(slotting, size: int, who: np.ndarray) -> np.ndarray:
    """int64 (n,): how many ranked rows each row's listener would see on the shelf, before any
    claim: ``size`` less their slots (at most ``size`` slots can show: models.serving.rules.editorial_layout)."""
    set_of, sets = slotting[2]
    n_slots = np.asarray([min(len(s), size) for s in sets] + [0], dtype=np.int64)
    return size - n_slots[set_of[who]]


def _own_slots(batch: ListenerBatch, slotting, who: np.ndarray, code: np.ndarray) -> np.ndarray:
    """bool (n,): rows whose item is one of the listener's editorial slots on this shelf (``slotting``:
    set per listener and slot frames)."""
    set_of, sets = slotting[:2]
    span = batch.span
    slot_keys = np.concatenate([i * span + s["code"].to_numpy(np.int64)[s["code"].to_numpy() >= 0]
                                for i, s in enumerate(sets)] + [np.zeros(0, np.int64)])
    return np.isin(set_of[who] * span + code, slot_keys)


def _with_editorial(batch: ListenerBatch, slotting, listeners: np.ndarray, who: np.ndarray, code: np.ndarray,
                    columns: dict, size: int) -> pd.DataFrame:
    """Place each listener's editorial slots (``slotting``: set per listener and slot frames, from
    :func:`_page_slots`) among their ranked rows (``who``, ``code`` and ``columns`` per row, in rank
    order) and cut to ``size``; ``listeners`` are those who get a list.
    Returns who, code, item_id, editorial (bool), position (1-based) and ``columns``."""
    set_of, sets = slotting[:2]
    rest = ~_own_slots(batch, slotting, who, code)
    who, code = who[rest], code[rest]
    columns = {k: v[rest] for k, v in columns.items()}
    rank = np.arange(len(who)) - np.searchsorted(who, who, side="left")
    n_rest = np.bincount(who, minlength=batch.size)
    final = rank.copy()
    parts = []
    row_of = np.full(batch.size, -1, dtype=np.int64)
    for i, slots in enumerate(sets):
        if not len(slots):
            continue
        ls = listeners[set_of[listeners] == i]
        rest_at, ed_at = editorial_layout(slots["position"].to_numpy(), n_rest[ls], size)
        row_of[ls] = np.arange(len(ls))
        mine = np.flatnonzero((set_of[who] == i) & (rank < size))
        final[mine] = rest_at[row_of[who[mine]], rank[mine]]
        final[(set_of[who] == i) & (rank >= size)] = size  # beyond the cut either way
        parts.append(pd.DataFrame({"who": np.repeat(ls, len(slots)), "code": np.tile(slots["code"].to_numpy(), len(ls)),
                                   "item_id": np.tile(slots["item_id"].to_numpy(dtype=object), len(ls)),
                                   "editorial": True, "final": ed_at.ravel()}))
    ranked = pd.DataFrame({"who": who, "code": code, "item_id": batch.ids(code), "editorial": False, "final": final,
                           **columns})
    out = pd.concat([ranked] + parts, ignore_index=True) if parts else ranked
    out = out[out["final"].to_numpy() < size].sort_values(["who", "final"], kind="stable", ignore_index=True)
    out["position"] = out["final"].to_numpy(np.int64) + 1
    return out


def _type_names(batch: ListenerBatch, code: np.ndarray, shelf: str) -> np.ndarray:
    """Item type per code: the catalog's, else the side tables' (e.g. an artist), else None."""
    cb = batch.codebook
    types = take(cb.item_type, code, -1).astype(np.int64)
    fill = cb.fill_type.get(shelf)
    if fill is not None:
        types = np.where(types < 0, take(fill, code, -1), types)
    # a creator outside the catalog (a familiar shelf's artist level) is an artist, as in resolve_codes
    types = np.where((types < 0) & np.isin(code, cb.creator[cb.creator >= 0]), ARTIST, types)
    return _TYPE_NAMES[types]


def _rank_rows(hist: History, shelf, cfg, cands: CandidateSet, scores, scorer, ctx: ServingContext, minor,
               slotting, claimed: np.ndarray) -> tuple[pd.DataFrame, int]:
    """Output rows of a model shelf (rank by score, filters, diversity caps, items claimed by an
    earlier shelf dropped, editorial slots, cut) and how many items an earlier shelf claimed."""
    batch = hist.batch
    order = np.lexsort((batch.id_rank(cands.code), -np.asarray(scores, dtype=np.float64), cands.who))
    who, code = cands.who[order], cands.code[order]
    score, label = np.asarray(scores, dtype=np.float64)[order], cands.source_labels()[order]
    keep = _filter_mask(hist, shelf, cfg, who, code, ctx, minor)
    who, code, score, label = who[keep], code[keep], score[keep], label[keep]
    cb = batch.codebook
    keep = diversify(take(cb.creator, code, -1), take(cb.parent, code, -1), cfg.get("max_per_creator"),
                     cfg.get("max_per_parent"), groups=who)
    who, code, score, label = who[keep], code[keep], score[keep], label[keep]
    keep, removed = drop_claimed(who, code, claimed, batch.span, _ranked_shown(slotting, int(cfg["size"]), who),
                                 exempt=_own_slots(batch, slotting, who, code),
                                 uncounted=_own_slots(batch, slotting[2], who, code))
    placed = _with_editorial(batch, slotting, np.unique(cands.who), who[keep], code[keep],
                             {"score": score[keep], "candidate_source": label[keep]}, int(cfg["size"]))
    ed = placed["editorial"].to_numpy()
    return _output(batch, shelf, placed, ctx,
                   score=np.where(ed, np.nan, placed["score"].to_numpy(np.float64)),
                   source=np.where(ed, "editorial", scorer.source),
                   candidate_source=np.where(ed, "editorial", placed["candidate_source"].to_numpy(dtype=object)),
                   model_version=np.where(ed, None, scorer.version)), removed


def _output(batch: ListenerBatch, shelf: str, placed: pd.DataFrame, ctx: ServingContext, **columns) -> pd.DataFrame:
    n = len(placed)
    who, code = placed["who"].to_numpy(np.int64), placed["code"].to_numpy(np.int64)
    return pd.DataFrame({
        "listener_id": batch.listener_id[who], "shelf": np.full(n, shelf, dtype=object),
        "position": placed["position"].to_numpy(np.int64), "item_id": placed["item_id"].to_numpy(dtype=object),
        "item_type": _type_names(batch, code, shelf),
        **{k: np.asarray(v, dtype=np.float64 if k == "score" else object) for k, v in columns.items()},
        "run_id": np.full(n, ctx.run_id, dtype=object),
        "_key": who * batch.span + code})  # (listener, item) key for models.serving.page; not an output column


def _editorial_rows(batch: ListenerBatch, served: np.ndarray, shelf, cfg, ctx: ServingContext, slotting
                    ) -> pd.DataFrame:
    """Rows of a ``kind: editorial`` shelf: each served listener's live slots, renumbered 1..n."""
    set_of, sets = slotting[:2]
    parts = []
    for i, slots in enumerate(sets):
        slots = slots.head(int(cfg["size"]))
        ls = np.flatnonzero(served & (set_of == i))
        if not len(slots) or not len(ls):
            continue
        k = len(slots)
        parts.append(pd.DataFrame({"who": np.repeat(ls, k), "code": np.tile(slots["code"].to_numpy(), len(ls)),
                                   "item_id": np.tile(slots["item_id"].to_numpy(dtype=object), len(ls)),
                                   "position": np.tile(np.arange(1, k + 1), len(ls))}))
    if not parts:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    placed = pd.concat(parts, ignore_index=True).sort_values(["who", "position"], kind="stable", ignore_index=True)
    n = len(placed)
    return _output(batch, shelf, placed, ctx, score=np.full(n, np.nan), source=np.full(n, "editorial", dtype=object),
                   candidate_source=np.full(n, "editorial", dtype=object), model_version=np.full(n, None, dtype=object))


_warned: set = set()


def _recent_episodes(shelf, cfg, ctx: ServingContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(episodes in the release window, the same without explicit ones), once per worker and shelf;
    columns item_id, show_id, release_ms, item (code), show (code)."""
    key = ("recent_episodes", shelf)
    if key not in ctx.cache:
        frame = ctx.catalog.frame
        if "release_date" not in frame.columns:
            if shelf not in _warned:
                _warned.add(shelf)
                log.warning("shelf %s: the catalog has no release_date column, so the rule serves nothing", shelf)
            recent = recent_episodes([], [], [], [], ctx.as_of_ms)
        else:
            ts = pd.to_datetime(frame["release_date"], utc=True, errors="coerce")
            release = ((ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(milliseconds=1)).to_numpy(dtype=np.float64)
            recent = recent_episodes(frame.index.to_numpy(dtype=object), frame["item_type"].to_numpy(dtype=object),
                                     frame["parent_id"].to_numpy(dtype=object), release, ctx.as_of_ms,
                                     float(cfg["max_age_days"]))
        cb = ctx.codebook
        recent = recent.assign(item=cb.encode_known(recent["item_id"].to_numpy(dtype=object)),
                               show=cb.encode_known(recent["show_id"].to_numpy(dtype=object)))
        clean = recent[explicit_allowed(ctx.catalog.lookup(recent["item_id"], "explicit"), True)].reset_index(drop=True)
        ctx.cache[key] = (recent, clean)
    return ctx.cache[key]


def _rule_rows(hist: History, served: np.ndarray, shelf, cfg, ctx: ServingContext, minor, slotting,
               claimed: np.ndarray) -> tuple[pd.DataFrame, int]:
    """Rows of a ``kind: rule`` shelf: ``rule`` (default: the shelf's name) names a rule of
    :data:`models.serving.rules.RULES`. ``source=rule``, ``candidate_source=rule:<rule>``, no
    model_version, and ``score`` null: a rule has no score, its order is ``position`` (for
    ``new_episodes``: release time, newest first). Items claimed by an earlier shelf are dropped
    and editorial slots inserted as on model shelves; a listener with no rule rows gets no rows.
    Returns the rows and how many items an earlier shelf claimed."""
    rule = cfg["rule"]   # the schema fills in the shelf's name
    if rule not in RULES:
        raise ValueError(f"shelf {shelf!r}: unknown rule {rule!r} (known: {list(RULES)})")
    batch, size = hist.batch, int(cfg["size"])
    span = pair_span(hist)
    followed = _followed(hist, cfg)
    followed = followed[served[followed // span]]
    blocked = _blocked(cfg, minor)
    played = hist.who * span + hist.item
    picks = []
    depth = None if dedup_enabled(ctx.config) else size  # uncut, so a claimed episode is replaced by the next
    for is_blocked, episodes in zip((False, True), _recent_episodes(shelf, cfg, ctx)):
        mine = followed[blocked[followed // span] == is_blocked]
        who, row = new_episodes(episodes["show"].to_numpy(np.int64), episodes["item"].to_numpy(np.int64), mine, played,
                                span, depth, cfg.get("max_per_parent"))
        picks.append(pd.DataFrame({"who": who, "code": episodes["item"].to_numpy(np.int64)[row]}))
    picked = pd.concat(picks, ignore_index=True).sort_values("who", kind="stable")
    if not len(picked):
        return pd.DataFrame(columns=OUTPUT_COLUMNS), 0
    who, code = picked["who"].to_numpy(np.int64), picked["code"].to_numpy(np.int64)
    keep, removed = drop_claimed(who, code, claimed, span, _ranked_shown(slotting, size, who),
                                 exempt=_own_slots(batch, slotting, who, code),
                                 uncounted=_own_slots(batch, slotting[2], who, code))
    placed = _with_editorial(batch, slotting, np.unique(who), who[keep], code[keep], {}, size)
    ed = placed["editorial"].to_numpy()
    n = len(placed)
    return _output(batch, shelf, placed, ctx, score=np.full(n, np.nan), source=np.where(ed, "editorial", "rule"),
                   candidate_source=np.where(ed, "editorial", f"rule:{rule}"),
                   model_version=np.full(n, None, dtype=object)), removed


def _feature_frame(batch: ListenerBatch, cands: CandidateSet, X: np.ndarray, shelf: str) -> pd.DataFrame:
    frame = pd.DataFrame(X, columns=feature_names(shelf))
    frame.insert(0, "listener_id", batch.listener_id[cands.who])
    frame.insert(1, "item_id", batch.ids(cands.code))
    frame.insert(2, "candidate_source", cands.source_labels())
    return frame


def day_start_ms(date: str) -> int:
    """``YYYY-MM-DD`` to epoch ms of 00:00 UTC that day (the daily job's as_of)."""
    return int(pd.Timestamp(date, tz="UTC").value // 1_000_000)


__all__ = ["OUTPUT_COLUMNS", "ServingContext", "BatchResult", "recommend_batch", "recommend", "shelf_candidates",
           "audience_mask", "active_within", "day_start_ms", "MS_PER_DAY"]
