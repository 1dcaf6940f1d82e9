"""What a rule shelf's rule sees: :class:`RuleInput`, one whole batch of listeners at once."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.serving.context import ServingContext
from transforms.listeners.batch import History


@dataclass
class RuleInput:
    """A rule's input: the batch's plays before as_of (``hist``), the shelf's name and config, and
    per listener of the batch (bool (B,)) ``served`` (registered, in the shelf's markets and audience:
    others get no rows) and ``blocked`` (a minor on a shelf with ``block_explicit_for_minors``: the
    rule must not pick explicit items for them). ``depth``: the rows per listener the shelf can use
    (``size``), or None when the page's dedup may drop some, so the rule returns every row it has.
    ``ctx``: the batch's :class:`models.serving.context.ServingContext` (catalog, codebook, worker cache)."""

    hist: History
    shelf: str
    cfg: dict
    served: np.ndarray
    blocked: np.ndarray
    depth: int | None
    ctx: ServingContext
