"""Labels for training examples, from events in ``[as_of, as_of + horizon)`` only.

Positives are computed from the label window alone, independently of the candidates, so
candidate recall (the share of positives that were among the candidates) is an honest ceiling.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.batch import History


def positive_keys(shelf: str, window: History, entity_types, config: dict,
                  played_before: np.ndarray | None = None) -> np.ndarray:
    """Positives of a batch as sorted unique int64 keys ``listener * span + entity``
    (``span = window.batch.span``).

    - ``shortcuts``: the listener played the entity in the window.
    - ``podcasts``: a show the listener had not played before as_of, played in the window for at
      least ``labels.podcasts_min_minutes`` minutes in total (a "start").
    - other shelves (``playlists``): the entity was played in the window; with ``exclude_played``
      only entities not played before as_of count (discovery).

    ``played_before``: keys of what each listener played before as_of (same mapping); required
    for ``podcasts`` and shelves with ``exclude_played``, ignored when None.
    """
    ent, _ = window.entities(entity_types)
    ok = ent >= 0
    if not ok.any():
        return np.zeros(0, dtype=np.int64)
    keys = window.who[ok] * window.batch.span + ent[ok]
    played = pd.Series(np.nan_to_num(window.ms_played[ok], nan=0.0)).groupby(keys).sum()
    if shelf == "podcasts":
        played = played[played >= float(config["labels"]["podcasts_min_minutes"]) * 60_000]
    out = played.index.to_numpy(np.int64)
    if played_before is not None:
        out = out[~np.isin(out, played_before)]
    return np.sort(out)
