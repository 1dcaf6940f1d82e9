"""Import the Apple Podcasts "Popular Podcasts" catalogue (Nov 2019) as show items of the data contract.

Source: ``apple-podcasts-popular-2019/`` (see its SOURCE.md): ``podcasts_info.json`` (the upstream
file verbatim: a JSON array of {title, producer, genre, description, num_episodes, rating,
num_reviews, link}; failed scrapes hold the string "NA") and ``podcasts.csv`` (the same records
flattened, plus ``itunes_id`` parsed from ``link``; missing values are empty cells). Both are read
and joined on ``link`` (unique in each file).

Licence: the upstream repository is MIT, but titles and descriptions are the publishers' text shown
by Apple Podcasts: internal research and testing only, do not republish. The files are read in place
from ../shared/data (or any local or gs:// directory); this importer never copies them.

There is NO listening data in this source: the importer writes only the ``items`` table (no
events, no listeners). Mapping, one row per show (per distinct ``link``), in JSON order:

  item_id      <- podcasts.csv ``itunes_id`` (the Apple collection id; CSV only). When a link is
                  missing from the CSV, the ``id<digits>`` at the end of the link is used instead.
  item_type    =  "show"
  name         <- podcasts_info.json ``title``
  creator_id   <- podcasts_info.json ``producer`` (the publisher/network text; there is no producer id)
  genres       <- podcasts_info.json ``genre`` (one Apple top-level genre; a ``|`` in it would become ``/``)
  language, parent_id, release_date, duration_ms, explicit = null (not in the source)
  For a link found only in the CSV, name/creator_id/genres come from the CSV columns of the same names.
  "NA" (JSON) and empty cells (CSV) become null. The 50 failed scrapes are kept (valid ids, every
  other field null). description, num_episodes, rating, num_reviews and link are not contract
  columns and are not written.
"""
from __future__ import annotations

import pandas as pd

from transforms.io import storage
from transforms.data.importers import conform, read_frame, require_columns, to_id, to_text

JSON_FILE = "podcasts_info.json"
CSV_FILE = "podcasts.csv"
JSON_COLUMNS = ("title", "producer", "genre", "link")
CSV_COLUMNS = ("itunes_id", "title", "producer", "genre", "link")
LICENCE = ("Apple Podcasts catalogue 2019 (repo MIT; show text belongs to publishers/Apple): "
           "internal research only; read in place, never copied")


def import_apple_podcasts(source: str) -> dict[str, pd.DataFrame]:
    """Read both catalogue files under ``source`` and return ``{"items": shows}``."""
    json_path, csv_path = storage.join(source, JSON_FILE), storage.join(source, CSV_FILE)
    info = read_frame(json_path, "json")
    require_columns(info, JSON_COLUMNS, json_path)
    flat = read_frame(csv_path, "csv", dtype=str, keep_default_na=False)
    require_columns(flat, CSV_COLUMNS, csv_path)

    info = pd.DataFrame({c: to_text(info[c], nulls=("", "NA")) for c in JSON_COLUMNS})
    flat = pd.DataFrame({c: to_text(flat[c], nulls=("",)) for c in CSV_COLUMNS})
    info = info[info["link"].notna()].drop_duplicates("link")
    flat = flat[flat["link"].notna()].drop_duplicates("link")
    info["_json_row"], flat["_csv_row"] = range(len(info)), range(len(flat))
    shows = (info.merge(flat, on="link", how="outer", suffixes=("", "_csv"), indicator=True)
             .sort_values(["_json_row", "_csv_row"], na_position="last", kind="stable").reset_index(drop=True))
    in_json = shows["_merge"] != "right_only"

    from_link = shows["link"].str.extract(r"/id(\d+)", expand=False)
    item_id = shows["itunes_id"].where(shows["itunes_id"].notna(), from_link)
    items = pd.DataFrame({
        "item_id": to_id(item_id),
        "item_type": "show",
        "name": shows["title"].where(in_json, shows["title_csv"]),
        "creator_id": shows["producer"].where(in_json, shows["producer_csv"]),
        "genres": shows["genre"].where(in_json, shows["genre_csv"]).str.strip().str.replace("|", "/", regex=False),
    })
    for col in ("name", "creator_id", "genres"):
        items[col] = items[col].astype(object).where(items[col].notna(), None)
    return {"items": conform(items, "items")}
