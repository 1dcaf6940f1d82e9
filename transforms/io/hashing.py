"""Deterministic per-listener uniform draws, equal across processes and workers."""
from __future__ import annotations

import numpy as np
import pandas as pd


def uniform_hash(ids, key: str) -> np.ndarray:
    """float64 (n,) in [0, 1): the top 53 bits of a SipHash of each id (``pandas.util.hash_array``
    keyed by ``key``, 16 characters), exact in float64. Unlike ``hash()`` it is stable across
    processes, so a listener lands in the same experiment variant or sample on every worker."""
    h = pd.util.hash_array(np.asarray(ids, dtype=object), hash_key=key, categorize=False)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
