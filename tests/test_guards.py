"""Guards that keep parallel definitions in step (issue 13.4): every model shelf of the default
config has a feature spec and a label definition. (The DAG's shelves against the config's model
shelves: tests/test_deploy.py; Spark's play-to-entity mapping against ``resolve_entities``:
tests/test_neighbours.py.)"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.ranking.examples import label_history
from tests.conftest import ms, one_batch
from transforms.listeners.aggregates import SideTables
from transforms.listeners.catalog import Catalog, shelf_item_types
from transforms.config.config import load_config
from transforms.features.feature_spec import FEATURE_SPECS, feature_names
from transforms.listeners.history import ListenerState, Profile, event_block
from transforms.listeners.labels import positive_keys

CONFIG = load_config()
MODEL_SHELVES = [s for s, c in CONFIG["shelves"].items() if c["kind"] == "model"]
AS_OF = ms("2025-01-10")

# t1 (album A, artist R) played before as_of and again in the label window; in the window also t2
# (album B, artist R2) from playlist P, and 20 minutes of episode e1 (show S, host H)
CATALOG = Catalog.from_items(pd.DataFrame({
    "item_id": ["t1", "t2", "A", "B", "P", "e1", "S"],
    "item_type": ["track", "track", "album", "album", "playlist", "episode", "show"],
    "creator_id": ["R", "R2", "R", "R2", "ed", "H", "H"],
    "parent_id": ["A", "B", None, None, None, "S", None],
    "genres": "rock", "duration_ms": [200_000, 200_000, None, None, None, 1_800_000, None]}))
PLAYS = [("t1", "track", None, "2025-01-08 12:00", 200_000),
         ("t1", "track", None, "2025-01-11 12:00", 200_000),
         ("t2", "track", "P", "2025-01-12 12:00", 200_000),
         ("e1", "episode", None, "2025-01-13 12:00", 1_200_000)]
# positives in [as_of, as_of + 7 days), worked out by hand from each shelf's definition (transforms/listeners/labels.py)
EXPECTED_POSITIVES = {
    # familiar: every level of a window play (A R / P B R2 / S H) that was also played before (A R)
    "shortcuts": ["A", "R"],
    # a show not played before, at least labels.podcasts_min_minutes (10) in the window: 20 minutes of S
    "podcasts": ["S"],
    # one entity per play, not played before: only t2's context is a playlist
    "playlists": ["P"],
}


def window_positives(shelf: str) -> list[str]:
    """The ids positive_keys finds for ``shelf`` on :data:`PLAYS` (one listener)."""
    frame = pd.DataFrame(PLAYS, columns=["item_id", "item_type", "context_id", "ts", "ms_played"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    state = ListenerState("L", Profile(registered_ms=ms("2024-01-01"), market="SE"), event_block(frame))
    batch = one_batch([state], CATALOG, SideTables(AS_OF, {}, {}, {}, {}))
    cfg = CONFIG["shelves"][shelf]
    types = shelf_item_types(cfg, CATALOG)
    before = label_history(batch.before(AS_OF), shelf, cfg, types)
    keys = positive_keys(shelf, batch.window(AS_OF, AS_OF + 7 * 86_400_000), types, CONFIG, before)
    assert (keys // batch.span == 0).all()
    return sorted(batch.ids(keys % batch.span))


@pytest.mark.parametrize("shelf", MODEL_SHELVES)
def test_every_model_shelf_has_a_feature_spec_and_a_label(shelf):
    assert shelf in FEATURE_SPECS, f"model shelf {shelf!r} has no feature spec (transforms/features/feature_spec.py)"
    names = feature_names(shelf)
    assert len(names) == len(set(names)) > 0
    assert shelf in EXPECTED_POSITIVES, f"model shelf {shelf!r}: work out its label on PLAYS and add it here"
    assert window_positives(shelf) == EXPECTED_POSITIVES[shelf]


def test_the_hand_worked_labels_name_exactly_the_model_shelves():
    # the reverse of the guard above: a shelf that stopped being a model shelf leaves no stale entry
    assert set(EXPECTED_POSITIVES) == set(MODEL_SHELVES)
