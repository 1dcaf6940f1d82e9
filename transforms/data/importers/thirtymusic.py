"""Import the 30Music listening-sessions sample (real per-play Last.fm scrobbles) into the data contract.

Source: ``30music-sessions-sample/`` (see its SOURCE.md): ``sessions_sample_10.parquet``, or
``sessions_sample_10.csv.gz`` when the Parquet file is absent (same rows). Columns used:
``user_id``, ``song_id``, ``ts`` (epoch seconds UTC), ``playtime`` (seconds played).
``session_id`` is not used (the contract has no session column).

Licence: research / non-commercial use only (30Music, collected through the Last.fm API; cite
Turrin et al., RecSys 2015). The files are read in place from ../shared/data (or any local or
gs:// directory); this importer never copies them into the project.

Mapping (ids carry no prefix: the dataset is imported on its own, so bare numbers are unique):

  events     listener_id   = str(user_id)
             item_id       = str(song_id)
             item_type     = "track"
             ts            = ts read as epoch seconds, UTC
             ms_played     = playtime * 1000
             context_id    = null (no album/playlist/show is known)
  listeners  listener_id   = str(user_id), one row per user
             registered_at = the listener's first play (min ts over their events)
             country, product, onboarding_genres, birth_year = null
  items      item_id       = str(song_id), one row per distinct song
             item_type     = "track"; name and every other column null (the sample has no metadata)

Events keep the source file's row order; listeners and items are sorted by numeric id.
"""
from __future__ import annotations

import pandas as pd

from transforms.io import storage
from transforms.errors import InputError
from transforms.data.importers import conform, epoch_to_utc, read_frame, require_columns

PARQUET_FILE = "sessions_sample_10.parquet"
CSV_FILE = "sessions_sample_10.csv.gz"
SOURCE_COLUMNS = ("user_id", "song_id", "ts", "playtime")
LICENCE = "30Music (Last.fm API): research / non-commercial use only; read in place, never copied"


def source_file(source: str) -> str:
    """The file the importer reads in ``source``: the Parquet file, else the csv.gz."""
    for name in (PARQUET_FILE, CSV_FILE):
        path = storage.join(source, name)
        if storage.exists(path):
            return path
    raise InputError(f"{storage.join(source, PARQUET_FILE)}: file not found "
                     f"(nor the fallback {storage.join(source, CSV_FILE)})")


def import_30music(source: str) -> dict[str, pd.DataFrame]:
    """Read the 30Music sample under directory ``source`` and return ``events``, ``listeners``, ``items``."""
    path = source_file(source)
    raw = read_frame(path, "parquet" if path.endswith(".parquet") else "csv")
    require_columns(raw, SOURCE_COLUMNS, path)

    for col in SOURCE_COLUMNS:
        if not pd.api.types.is_integer_dtype(raw[col]):
            raise InputError(f"{path}: column {col!r} must hold integers, found {raw[col].dtype}")
    ts = epoch_to_utc(raw["ts"], "s")
    events = pd.DataFrame({
        "listener_id": raw["user_id"].astype("int64").astype(str),
        "item_id": raw["song_id"].astype("int64").astype(str),
        "item_type": "track",
        "ts": ts,
        "ms_played": raw["playtime"].astype("int64") * 1000,
    })

    first = (pd.DataFrame({"user": raw["user_id"].astype("int64"), "ts": ts})
             .groupby("user", sort=True)["ts"].min())
    listeners = pd.DataFrame({"listener_id": first.index.astype(str), "registered_at": first.to_numpy()})

    songs = pd.Series(sorted(raw["song_id"].astype("int64").unique()))
    items = pd.DataFrame({"item_id": songs.astype(str), "item_type": "track"})

    return {"events": conform(events, "events"), "listeners": conform(listeners, "listeners"),
            "items": conform(items, "items")}
