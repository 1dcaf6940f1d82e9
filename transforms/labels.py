"""Labels for training examples, from events in ``[as_of, as_of + horizon)`` only.

Positives are computed from the label window alone, independently of the candidates, so
candidate recall (the share of positives that were among the candidates) is an honest ceiling.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.catalog import Catalog, resolve_entities
from transforms.history import ListenerState


def positives(shelf: str, state: ListenerState, as_of_ms: int, horizon_ms: int, catalog: Catalog,
              entity_types: list[str], config: dict) -> np.ndarray:
    """Entities (object array, unique, sorted) that count as a positive for ``shelf``.

    - ``shortcuts``: the listener played the entity in the window.
    - ``podcasts``: a show the listener had not played before as_of, played in the window for at
      least ``labels.podcasts_min_minutes`` minutes in total (a "start").
    - other shelves (``playlists``): the entity was played in the window; with ``exclude_played``
      only entities not played before as_of count (discovery).
    """
    window = state.window(as_of_ms, as_of_ms + horizon_ms)
    ent, _ = resolve_entities(window["item_id"], window["item_type"], window["context_id"], catalog, entity_types)
    ok = ent != None  # noqa: E711
    if not ok.any():
        return np.zeros(0, dtype=object)
    played = pd.Series(np.nan_to_num(window["ms_played"][ok], nan=0.0)).groupby(ent[ok]).sum()
    cfg = config["shelves"][shelf]
    if shelf == "podcasts":
        played = played[played >= float(config["labels"]["podcasts_min_minutes"]) * 60_000]
    if cfg.get("exclude_played") or shelf == "podcasts":
        before = state.before(as_of_ms)
        old, _ = resolve_entities(before["item_id"], before["item_type"], before["context_id"], catalog, entity_types)
        played = played[~played.index.isin(old[old != None])]  # noqa: E711
    return np.asarray(sorted(played.index), dtype=object)
