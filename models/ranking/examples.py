"""Training examples: the serving candidates and features at a past ``as_of``, plus labels.

:func:`examples_for_batch` calls :func:`models.serving.home.shelf_candidates`, the very function the daily
job serves from, so an example's features equal, bit for bit, what the daily job computed for
that listener, item and date.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.candidates.candidates import familiar_pairs, played_pairs
from models.serving.home import ServingContext, audience_mask, shelf_candidates
from transforms.listeners.batch import ListenerBatch
from transforms.features.feature_spec import FEATURE_SPECS, feature_names
from transforms.listeners.history import ListenerColumns
from transforms.listeners.labels import positive_keys
from transforms.io.hashing import uniform_hash

EXAMPLE_KEYS = ["listener_id", "as_of", "item_id", "candidate_source"]


def examples_for_batch(listeners, ctx: ServingContext, horizon_ms: int, stats_rate: float = 0.0
                       ) -> tuple[dict, dict, dict]:
    """Examples and candidate-recall counts of a batch of listeners at ``ctx.as_of_ms``.

    ``listeners``: a :class:`transforms.listeners.history.ListenerColumns` (the Beam job) or a list of
    :class:`transforms.listeners.history.ListenerState`.

    Only listeners with at least one play in ``[as_of, as_of + horizon)`` get examples (the others
    have no positives); candidate recall is unaffected, since their positives are zero.

    The training statistics must describe the population serving scores, active in the label window
    or not (issue 14.5): ``stats_rate`` is the share of the shelf's served listeners, drawn by
    :func:`in_stats_sample` whether active or not, whose candidate features go to ``stats``.
    A uniform sample needs no weights; inactive listeners never reach the ranker, which could not
    learn from a query group without a positive anyway.

    Returns ``(frames, recall, stats)``: ``frames[shelf]`` has EXAMPLE_KEYS (as_of a UTC Timestamp),
    the spec's feature columns (float32) and ``label`` (int8); ``recall[shelf]`` is
    ``{"positives": P, "found": F, "listeners": L}`` where F counts positives that were among the
    candidates, over listeners in the shelf's audience (including those with no candidates);
    ``stats[shelf]`` has ``listener_id`` and the feature columns of the sampled listeners.
    """
    batch = (ListenerBatch.from_columns(listeners, ctx.codebook) if isinstance(listeners, ListenerColumns)
             else ListenerBatch.from_states(listeners, ctx.codebook))
    as_of = pd.Timestamp(ctx.as_of_ms, unit="ms", tz="UTC")
    hist = batch.before(ctx.as_of_ms)
    window = batch.window(ctx.as_of_ms, ctx.as_of_ms + horizon_ms)
    # A listener with no play in the label window has no positive on any shelf: their query groups
    # would teach a ranker nothing and never count in evaluation, so they are not materialised.
    active = np.bincount(window.who, minlength=batch.size) > 0
    sample = in_stats_sample(batch.listener_id, stats_rate)
    frames, recall, stats = {}, {}, {}
    for shelf, cfg in ctx.config["shelves"].items():
        if shelf not in FEATURE_SPECS:
            continue
        types = ctx.entity_types[shelf]
        audience = audience_mask(batch, cfg, ctx)
        served = active & audience
        # one candidate pass serves both: the example listeners and the statistics sample
        cands, X = shelf_candidates(hist, shelf, ctx, audience & (active | sample))
        if sample.any():
            rows = sample[cands.who]
            stats[shelf] = pd.DataFrame(X[rows], columns=feature_names(shelf))
            stats[shelf].insert(0, "listener_id", batch.listener_id[cands.who[rows]])
            rows = active[cands.who]
            cands, X = cands.take(np.flatnonzero(rows)), X[rows]
        before = label_history(hist, shelf, cfg, types)
        pos = positive_keys(shelf, window, types, ctx.config, before)
        pos = pos[served[pos // batch.span]]
        labels = np.isin(cands.who * batch.span + cands.code, pos)
        recall[shelf] = {"positives": int(len(pos)), "found": int(labels.sum()), "listeners": int(served.sum())}
        if not len(cands):
            continue
        frame = pd.DataFrame(X, columns=feature_names(shelf))
        frame.insert(0, "listener_id", batch.listener_id[cands.who])
        frame.insert(1, "as_of", as_of)
        frame.insert(2, "item_id", batch.ids(cands.code))
        frame.insert(3, "candidate_source", cands.source_labels())
        frame["label"] = labels.astype(np.int8)
        frames[shelf] = frame
    return frames, recall, stats


def in_stats_sample(listener_ids, rate: float) -> np.ndarray:
    """bool (n,): listeners in the training-statistics sample, a deterministic ``rate`` share of all
    listeners (a salted SipHash of the id, so the same listener is in or out at every as_of and on
    every worker). ``rate`` in [0, 1]; 0 selects none, 1 all."""
    if rate <= 0:
        return np.zeros(len(listener_ids), dtype=bool)
    ids = pd.Series(np.asarray(listener_ids, dtype=object)).astype(str).to_numpy(dtype=object)
    return uniform_hash(ids, "home-recs-stats1") < rate


def label_history(hist, shelf: str, cfg: dict, types) -> np.ndarray | None:
    """The ``played_before`` keys :func:`transforms.listeners.labels.positive_keys` needs for ``shelf``:
    every entity level played before as_of on a familiar shelf, the shelf's entities on discovery
    shelves (``exclude_played``, ``podcasts``), else None."""
    if cfg.get("familiar"):
        return familiar_pairs(hist, types)
    return played_pairs(hist, types) if cfg.get("exclude_played") or shelf == "podcasts" else None


def merge_recall(parts) -> dict:
    """Sum recall counts over batches and add ``recall = found / positives`` (None without positives)."""
    total: dict = {}
    for part in parts:
        for shelf, c in part.items():
            t = total.setdefault(shelf, {"positives": 0, "found": 0, "listeners": 0})
            for k in t:
                t[k] += c[k]
    for t in total.values():
        t["recall"] = t["found"] / t["positives"] if t["positives"] else None
    return total
