"""One Home page per listener: no item on two shelves (cross-shelf deduplication).

Each shelf is ranked on its own, so without this step the same item can reach a listener on two
shelves (on the ``make run`` data, 924 of 2,000 listeners saw 1,009 items twice: mostly a curated
item of ``editors_picks`` also ranked or curated on ``podcasts``). Config section ``page``:

- ``dedup`` (default true): an item appears at most once on a listener's Home.
- ``claim_order``: shelves claim items in this order; it must list every shelf (the config
  refuses one that misses a shelf; a config built in code without it claims in config order).

Claiming happens in two rounds, both in ``claim_order``: first every shelf's editorial slots (a
curated item is placed on purpose, so it outranks any ranked row), then every shelf's ranked or
rule rows. A shelf drops the rows whose item a shelf before it claimed, after its filters and
diversity caps and before its editorial slots and the cut to ``size``, so it backfills from its own
next-ranked candidates and shrinks only when they run out. A curated slot claimed by an earlier
shelf's slot is removed from the later shelf, whose other slots keep their configured positions.
A shelf's first ``size`` slots claim their items for every listener the shelf serves (market and
audience), even when a short list would leave a slot off: an item may then be missing from a
later shelf, never shown twice.

Keys are ``listener * span + item code`` int64 within one :class:`transforms.listeners.batch.ListenerBatch`.
"""
from __future__ import annotations

import numpy as np


def claim_order(config: dict) -> list[str]:
    """Shelves of ``config`` in the order they claim items: ``page.claim_order`` first, then the
    others in config order. A listed shelf that the config disabled (``name: null``) is skipped;
    :func:`transforms.config.config.load_config` refuses names that were never shelves."""
    shelves = list(config["shelves"])
    listed = [s for s in (config.get("page") or {}).get("claim_order") or [] if s in shelves]
    return list(dict.fromkeys(listed + shelves))


def dedup_enabled(config: dict) -> bool:
    """``page.dedup`` (default in the schema: true)."""
    return bool(config["page"]["dedup"])


def split_slot_sets(set_of: np.ndarray, codes: list[np.ndarray], claimed: np.ndarray, span: int
                    ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Remove claimed items from listeners' editorial slot sets.

    ``set_of``: int64 (B,), the slot set of each listener of the batch; ``codes``: per set, the
    item codes of its slots (int64 (K_i,), position order; -1 = unknown item, never claimed);
    ``claimed``: int64 keys already claimed. Listeners of one set who lose the same slots share a
    new set. Returns (new ``set_of`` (B,), per new set the indices into its old set's slots that
    stay, old set index per new set (int64 (S',))).
    """
    set_of = np.asarray(set_of, dtype=np.int64)
    new_of = np.full(len(set_of), -1, dtype=np.int64)
    keep, parent = [], []
    for i, c in enumerate(codes):
        rows = np.flatnonzero(set_of == i)
        if not len(rows):
            continue
        c = np.asarray(c, dtype=np.int64)
        taken = np.isin(rows[:, None] * span + c[None, :], claimed) & (c >= 0)[None, :]
        patterns, inverse = np.unique(taken, axis=0, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)
        for j, pattern in enumerate(patterns):
            new_of[rows[inverse == j]] = len(keep)
            keep.append(np.flatnonzero(~pattern))
            parent.append(i)
    return new_of, keep, np.asarray(parent, dtype=np.int64)


def slot_claims(set_of: np.ndarray, codes: list[np.ndarray], served: np.ndarray, size: int, span: int) -> np.ndarray:
    """Keys claimed by editorial slots: for each ``served`` listener (bool (B,)), the first ``size``
    slots of their set (only those can be shown: see :func:`models.serving.rules.editorial_layout`)."""
    parts = [np.zeros(0, np.int64)]
    for i, c in enumerate(codes):
        ls = np.flatnonzero(served & (set_of == i))
        c = np.asarray(c, dtype=np.int64)[:size]
        c = c[c >= 0]
        if len(ls) and len(c):
            parts.append((ls[:, None] * span + c[None, :]).ravel())
    return np.concatenate(parts)


def drop_claimed(who: np.ndarray, code: np.ndarray, claimed: np.ndarray, span: int, shown,
                 exempt: np.ndarray | None = None, uncounted: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Keep mask (bool (n,)) of ranked rows (``who``, ``code`` int64, grouped by listener in rank
    order) whose item no earlier shelf claimed, and how many dropped rows the shelf would have
    shown: those among the first ``shown`` of their listener's rows (int, or int64 (n,) per row:
    the shelf's size less the listener's editorial slots), counting only rows not ``uncounted``.
    ``exempt`` (bool (n,)): rows never dropped here (the shelf's own editorial items, removed when
    slots are placed); ``uncounted`` (bool (n,)): rows that would not have shown as ranked rows
    (items of the shelf's slots before the claims: a lost slot is counted once, as a slot)."""
    who = np.asarray(who, dtype=np.int64)
    keys = who * span + np.asarray(code, dtype=np.int64)
    drop = np.isin(keys, claimed) if len(claimed) else np.zeros(len(keys), dtype=bool)
    if exempt is not None:
        drop &= ~exempt
    ranked = np.ones(len(who), dtype=bool) if uncounted is None else ~uncounted
    # rank of each row among its listener's ranked rows (rows before it that count)
    before = np.cumsum(ranked) - ranked
    start = np.searchsorted(who, who, side="left")
    rank = before - before[start] if len(who) else before
    return ~drop, int((drop & ranked & (rank < shown)).sum())


__all__ = ["claim_order", "dedup_enabled", "split_slot_sets", "slot_claims", "drop_claimed"]
