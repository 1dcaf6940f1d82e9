"""Shared fixtures. Real datasets are read from ../shared/data (never copied into the repo)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from transforms.config import load_config

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def utc(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def ms(s: str) -> int:
    return int(utc(s).value // 1_000_000)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture()
def config() -> dict:
    return load_config()


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole test run (starting one costs about 5 s)."""
    from models.spark_session import get_spark

    session = get_spark("local[2]", "home-recs-tests")
    yield session
    session.stop()


def one_batch(states, catalog, side):
    """A :class:`ListenerBatch` of ``states`` with a codebook of ``catalog`` and ``side``."""
    from transforms.batch import Codebook, ListenerBatch

    return ListenerBatch.from_states(list(states), Codebook(catalog, side))


def listener_features(shelf, state, as_of_ms, candidates, sources, catalog, side, entity_types):
    """The batch feature function on one listener's candidates (id strings): float32 (n, spec)."""
    import numpy as np

    from transforms.features import batch_features

    batch = one_batch([state], catalog, side)
    codes = batch.encode(np.asarray(candidates, dtype=object))
    return batch_features(shelf, batch.before(as_of_ms), entity_types, np.zeros(len(codes), np.int64), codes,
                          sources, batch.codebook.neighbours.get(shelf))
