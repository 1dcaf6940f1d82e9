"""Labels for training examples, from events in ``[as_of, as_of + horizon)`` only.

Positives are computed from the label window alone, independently of the candidates, so
candidate recall (the share of positives that were among the candidates) is an honest ceiling.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.listeners.batch import History


def positive_keys(shelf: str, window: History, entity_types, config: dict,
                  played_before: np.ndarray | None = None) -> np.ndarray:
    """Positives of a batch as sorted unique int64 keys ``listener * span + entity``
    (``span = window.batch.span``).

    - a ``familiar`` shelf (``shortcuts``): the next familiar listen. A play in the window counts
      toward every entity level it has (the item, its context, its parent, its creator;
      :meth:`History.entity_pairs`), and an entity is positive when the listener played it in
      the window AND before as_of (``played_before`` holds the keys of
      :func:`models.candidates.candidates.familiar_pairs`). A first listen is discovery, not a shortcut.
    - ``podcasts``: a show the listener had not played before as_of, played in the window for at
      least ``labels.podcasts_min_minutes`` minutes in total (a "start").
    - other shelves (``playlists``): the entity was played in the window; with ``exclude_played``
      only entities not played before as_of count (discovery).

    ``played_before``: keys of what each listener played before as_of (same mapping); required
    for familiar shelves (ValueError without it), ``podcasts`` and shelves with ``exclude_played``,
    ignored by the others when None.
    """
    familiar = bool((config.get("shelves", {}).get(shelf) or {}).get("familiar"))
    if familiar and played_before is None:
        raise ValueError(f"shelf {shelf!r} is familiar: its label needs the keys played before as_of")
    play, ent = window.entity_pairs(entity_types, familiar)
    if not len(play):
        return np.zeros(0, dtype=np.int64)
    keys = window.who[play] * window.batch.span + ent
    played = pd.Series(np.nan_to_num(window.ms_played[play], nan=0.0)).groupby(keys).sum()
    if shelf == "podcasts":
        played = played[played >= float(config["labels"]["podcasts_min_minutes"]) * 60_000]
    out = played.index.to_numpy(np.int64)
    if familiar:
        out = out[np.isin(out, played_before)]
    elif played_before is not None:
        out = out[~np.isin(out, played_before)]
    return np.sort(out)
