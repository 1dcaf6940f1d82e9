"""What a batch of listeners is served with, besides the listeners: :class:`ServingContext` (its own module,
so the shelf-kind, filter and rule registries can name it without importing ``models.serving.home``)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from transforms.listeners.aggregates import SideTables
from transforms.listeners.batch import Codebook
from transforms.listeners.catalog import Catalog


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


__all__ = ["ServingContext"]
