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
