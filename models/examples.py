"""Training examples: the serving candidates and features at a past ``as_of``, plus labels.

:func:`examples_for_batch` calls :func:`models.home.shelf_candidates`, the very function the daily
job serves from, so an example's features equal, bit for bit, what the daily job computed for
that listener, item and date.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.home import ServingContext, in_audience, shelf_candidates
from transforms.feature_spec import FEATURE_SPECS, feature_names
from transforms.labels import positives

EXAMPLE_KEYS = ["listener_id", "as_of", "item_id", "candidate_source"]


def examples_for_batch(states, ctx: ServingContext, horizon_ms: int) -> tuple[dict, dict]:
    """Examples and candidate-recall counts of a batch of listeners at ``ctx.as_of_ms``.

    Only listeners with at least one play in ``[as_of, as_of + horizon)`` get examples (the others
    have no positives); candidate recall is unaffected, since their positives are zero.

    Returns ``(frames, recall)``: ``frames[shelf]`` has EXAMPLE_KEYS (as_of a UTC Timestamp), the
    spec's feature columns (float32) and ``label`` (int8); ``recall[shelf]`` is
    ``{"positives": P, "found": F, "listeners": L}`` where F counts positives that were among the
    candidates, over listeners in the shelf's audience (including those with no candidates).
    """
    as_of = pd.Timestamp(ctx.as_of_ms, unit="ms", tz="UTC")
    # A listener with no play in the label window has no positive on any shelf: their query groups
    # would teach a ranker nothing and never count in evaluation, so they are not materialised.
    states = [s for s in states if len(s.window(ctx.as_of_ms, ctx.as_of_ms + horizon_ms)["ts_ms"])]
    frames, recall = {}, {}
    for shelf in ctx.config["shelves"]:
        if shelf not in FEATURE_SPECS:
            continue
        types = ctx.entity_types[shelf]
        per = shelf_candidates(states, shelf, ctx)
        with_cands = {s.listener_id for s, _, _ in per}
        counts = {"positives": 0, "found": 0, "listeners": 0}
        labels = []
        for state, cands, _ in per:
            pos = positives(shelf, state, ctx.as_of_ms, horizon_ms, ctx.catalog, types, ctx.config)
            hit = pd.Index(cands.ids).isin(pos)
            labels.append(hit.astype(np.int8))
            counts["positives"] += len(pos)
            counts["found"] += int(hit.sum())
            counts["listeners"] += 1
        # audience members without candidates still own positives the candidates missed
        for state in states:
            if state.listener_id in with_cands or not state.is_registered(ctx.as_of_ms):
                continue
            if in_audience(state, ctx.config["shelves"][shelf], ctx):
                n = len(positives(shelf, state, ctx.as_of_ms, horizon_ms, ctx.catalog, types, ctx.config))
                counts["positives"] += n
                counts["listeners"] += 1
        recall[shelf] = counts
        if not per:
            continue
        X = np.concatenate([x for _, _, x in per])
        frame = pd.DataFrame(X, columns=feature_names(shelf))
        frame.insert(0, "listener_id", np.repeat([s.listener_id for s, _, _ in per], [len(c) for _, c, _ in per]))
        frame.insert(1, "as_of", as_of)
        frame.insert(2, "item_id", np.concatenate([c.ids for _, c, _ in per]))
        frame.insert(3, "candidate_source", sum((c.source_labels() for _, c, _ in per), []))
        frame["label"] = np.concatenate(labels)
        frames[shelf] = frame
    return frames, recall


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
