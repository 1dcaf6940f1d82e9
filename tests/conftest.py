"""Shared fixtures. Real datasets are read from ../shared/data (never copied into the repo); the core
suite runs without them on a small synthetic dataset generated in-process (``synthetic_data``).

``HOME_RECS_SHARED_DATA=DIR`` points the real-data tests elsewhere; ``HOME_RECS_SHARED_DATA=/nonexistent``
hides the data, as CI without ``../shared/data`` sees it (those tests then skip, the rest must pass).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from transforms.config.config import load_config

SHARED_DATA = Path(os.environ.get("HOME_RECS_SHARED_DATA")
                   or Path(__file__).resolve().parents[1].parent / "shared" / "data")

# The synthetic dataset of the self-contained end-to-end and skew tests: 200 listeners, three weeks of
# plays ending (exclusive) at END, a fixed seed; generating it takes about 0.1 s. The day served is a
# week before the end, so build-examples has a full 7-day label window of plays after it. END lies in
# the past of any clock this runs on: events at or after the wall clock are rejected as future.
SYNTHETIC = {"n_listeners": 200, "n_days": 21, "seed": 7, "end": "2025-03-01"}
SYNTHETIC_AS_OF = "2025-02-22"
SYNTHETIC_HORIZON_DAYS = 7
# A second events file beside the generated one: one good play and four rows the job must reject, so
# the manifest's read = accepted + rejected is checked on numbers that are not all zeros.
EXTRA_EVENTS_REASONS = {2: "empty_id", 3: "bad_timestamp", 4: "negative_value", 5: "item_type_mismatch"}


def utc(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def ms(s: str) -> int:
    return int(utc(s).value // 1_000_000)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> SimpleNamespace:
    """The :data:`SYNTHETIC` dataset on disk: ``path`` (a dataset folder; events as a folder of a
    generated Parquet part and ``part-00001.csv`` holding the 5 rows of ``extra_events``), ``frames``
    (the generated DataFrames, the extra rows not included), ``as_of`` (the day to serve, a
    ``YYYY-MM-DD`` string) and ``horizon_days``."""
    from transforms.data import synthetic
    from transforms.io.datasets import write_dataset_parts

    frames = synthetic.generate(**SYNTHETIC)
    path = tmp_path_factory.mktemp("synthetic") / "data"
    write_dataset_parts([frames], str(path), folder_tables=["events"])
    ev = frames["events"]
    track = ev[ev["item_type"] == "track"].iloc[0]
    listener = frames["listeners"]["listener_id"].iloc[0]
    # row numbers count the header as row 1, as the job's rejected table does
    extra = ("listener_id,item_id,item_type,ts,ms_played,context_id\n"
             f"{listener},{track.item_id},track,2025-02-20T10:00:00Z,120000,\n"   # 1 ok
             f",{track.item_id},track,2025-02-20T10:00:00Z,120000,\n"             # 2 empty id
             f"{listener},{track.item_id},track,yesterday,120000,\n"              # 3 bad timestamp
             f"{listener},{track.item_id},track,2025-02-20T10:00:00Z,-5,\n"       # 4 negative ms
             f"{listener},{track.item_id},episode,2025-02-20T11:00:00Z,60000,\n")  # 5 a track in the catalog
    (path / "events" / "part-00001.csv").write_text(extra)
    return SimpleNamespace(path=path, frames=frames, as_of=SYNTHETIC_AS_OF, horizon_days=SYNTHETIC_HORIZON_DAYS,
                           extra_events=extra, extra_listener=listener, extra_item=track.item_id)


@pytest.fixture(scope="session")
def synthetic_daily(synthetic_data, tmp_path_factory) -> SimpleNamespace:
    """One ``daily --log-features`` run on :func:`synthetic_data` at its ``as_of``, shared by the
    end-to-end and skew tests (a Beam run costs about 10 s): ``out`` (the output folder),
    ``recs`` (the day's recommendations) and ``manifest`` (dict)."""
    from jobs.cli import main

    out = tmp_path_factory.mktemp("synthetic-daily") / "out"
    day = synthetic_data.as_of
    assert main(["daily", "--date", day, "--input", str(synthetic_data.path), "--output", str(out),
                 "--runner", "DirectRunner", "--log-features"]) == 0
    recs = pd.read_parquet(out / "recommendations" / f"dt={day}")
    recs["shelf"] = recs["shelf"].astype(str)
    manifest = json.loads((out / "_manifests" / f"dt={day}" / "manifest.json").read_text())
    return SimpleNamespace(out=out, recs=recs, manifest=manifest)


@pytest.fixture(scope="session")
def synthetic_examples(synthetic_data, tmp_path_factory) -> Path:
    """The folder of one ``build-examples`` run on :func:`synthetic_data` at the same ``as_of`` as
    :func:`synthetic_daily`, every model shelf, horizon ``horizon_days`` (about 8 s)."""
    from jobs.cli import main

    ex = tmp_path_factory.mktemp("synthetic-examples") / "ex"
    assert main(["build-examples", "--as-of", synthetic_data.as_of, "--horizon", f"{synthetic_data.horizon_days}d",
                 "--input", str(synthetic_data.path), "--output", str(ex)]) == 0
    return ex


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
    from transforms.listeners.batch import Codebook, ListenerBatch

    return ListenerBatch.from_states(list(states), Codebook(catalog, side))


def listener_features(shelf, state, as_of_ms, candidates, sources, catalog, side, entity_types):
    """The batch feature function on one listener's candidates (id strings): float32 (n, spec)."""
    import numpy as np

    from transforms.features.features import batch_features

    batch = one_batch([state], catalog, side)
    codes = batch.encode(np.asarray(candidates, dtype=object))
    return batch_features(shelf, batch.before(as_of_ms), entity_types, np.zeros(len(codes), np.int64), codes,
                          sources, batch.codebook.neighbours.get(shelf))
