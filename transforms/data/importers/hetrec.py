"""Import HetRec 2011 Last.fm 2K (listener-artist play counts, dated tags, friendships) into the data contract.

Source: ``hetrec2011-lastfm-2k/`` (see its SOURCE.md), tab-separated files with one header line,
read with no quote handling (artist names such as ``"Weird Al" Yankovic`` contain quotes):
``user_artists.dat`` (userID, artistID, weight), ``user_taggedartists.dat`` (userID, artistID,
tagID, day, month, year), ``tags.dat`` (tagID, tagValue; Latin-1), ``artists.dat`` (id, name;
UTF-8), ``user_friends.dat`` (userID, friendID).

Licence: non-commercial use only (HetRec 2011 / Last.fm; cite the HetRec 2011 workshop and
Last.fm). The files are read in place from ../shared/data (or any local or gs:// directory);
this importer never copies them into the project.

Ids carry no prefix: listener_id = str(userID), item_id = str(artistID).

Tag dates. A tag assignment's date is year-month-day UTC midnight (day is almost always 1, so
read it as month granularity). Dates before 2002-01-01 (before Last.fm existed; 5 rows dated
1956, 1957, 1979 in the staged file) are bogus and are ignored for every timestamp below; those
assignments still count for genres. SNAPSHOT = the latest valid tag date in the file
(2011-05-09 00:00 UTC for the staged file): the last observed activity, used where no date exists.

Play counts -> events (the rule): ONE event per (userID, artistID) row of user_artists.dat.
  events       listener_id = str(userID), item_id = str(artistID), item_type = "artist"
               ts          = the earliest valid date on which that user tagged that artist,
                             else SNAPSHOT (the counts are totals as of the snapshot)
               ms_played   = null (unknown), context_id = null
  play_counts  listener_id, item_id, play_count = weight (int64): the total play count, one row per event
  Why not one row per play: weight sums to about 69 million plays with no dates, so every
  expanded row would carry an invented timestamp; one row per pair keeps the data exact and small.
  The tag date is the earliest evidence that the listener knew the artist. About 22% of pairs
  (20,664 of 92,834) have one; the rest sit at SNAPSHOT, so a time split on this dataset only
  separates tagged pairs.

Other tables:
  listeners    listener_id = every userID in user_artists, user_taggedartists or user_friends
               registered_at = the user's earliest valid tag date (any artist, listened or not);
                               a user with no valid tag date gets SNAPSHOT
               country, product = null
  items        one row per artists.dat row: item_id = str(id), item_type = "artist", name = name
               genres = the artist's top 5 tags by number of distinct users who applied them
                        (ties: tag text ascending), ``|``-joined; tag text stripped, a literal ``|``
                        in a tag becomes ``/``; null when nobody tagged the artist
               Artists tagged but absent from artists.dat (390 in the staged file) get no item row
               and no genres; no event refers to them.
  friends      listener_id = str(userID), friend_id = str(friendID), as in the file (both directions)
  tag_assignments  listener_id, item_id, tag (text), tagged_at (UTC, the raw date, bogus years kept):
               one row per user_taggedartists.dat row whose tagID is in tags.dat
"""
from __future__ import annotations

import csv

import pandas as pd

from transforms.io import storage
from transforms.errors import InputError
from transforms.data.importers import conform, read_frame, require_columns

FILES = {
    "user_artists": ("user_artists.dat", ("userID", "artistID", "weight"), "utf-8"),
    "user_taggedartists": ("user_taggedartists.dat", ("userID", "artistID", "tagID", "day", "month", "year"), "utf-8"),
    "tags": ("tags.dat", ("tagID", "tagValue"), "latin-1"),
    "artists": ("artists.dat", ("id", "name"), "utf-8"),
    "user_friends": ("user_friends.dat", ("userID", "friendID"), "utf-8"),
}
EARLIEST_VALID_TAG_DATE = pd.Timestamp("2002-01-01", tz="UTC")
TOP_TAGS = 5
LICENCE = "HetRec 2011 Last.fm 2K: non-commercial use only; read in place, never copied"


def _read(source: str, key: str) -> pd.DataFrame:
    name, columns, encoding = FILES[key]
    path = storage.join(source, name)
    frame = read_frame(path, "csv", sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False,
                       encoding=encoding)
    require_columns(frame, columns, path)
    return frame


def _ints(frame: pd.DataFrame, column: str, path: str) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    if values.isna().any():
        row = int(values.isna().to_numpy().argmax())
        raise InputError(f"{path}: column {column!r} holds a non-integer value {frame[column].iloc[row]!r} "
                         f"(data row {row + 1})")
    return values.astype("int64")


def tag_dates(tagged: pd.DataFrame, path: str = "user_taggedartists.dat") -> pd.Series:
    """UTC midnight of each tag assignment's day/month/year (NaT when the date does not exist)."""
    parts = pd.DataFrame({c: _ints(tagged, c, path) for c in ("year", "month", "day")})
    return pd.to_datetime(parts, errors="coerce", utc=True)


def import_hetrec_lastfm(source: str) -> dict[str, pd.DataFrame]:
    """Read HetRec Last.fm 2K under ``source``; return ``events``, ``listeners``, ``items`` plus the
    non-contract tables ``play_counts``, ``friends`` and ``tag_assignments`` (see the module docstring)."""
    ua = _read(source, "user_artists")
    ut = _read(source, "user_taggedartists")
    tags = _read(source, "tags")
    artists = _read(source, "artists")
    friends_raw = _read(source, "user_friends")
    ut_path = storage.join(source, FILES["user_taggedartists"][0])

    # Dated tag assignments; bogus (pre-Last.fm) or impossible dates do not date anything.
    dates = tag_dates(ut, ut_path)
    valid = dates.notna() & (dates >= EARLIEST_VALID_TAG_DATE)
    if not valid.any():
        raise InputError(f"{ut_path}: no valid tag date (day/month/year on or after 2002-01-01)")
    snapshot = dates[valid].max()
    dated = pd.DataFrame({"userID": ut["userID"], "artistID": ut["artistID"], "date": dates})[valid]

    # Events: one per (user, artist) pair; ts = earliest tag date of the pair, else the snapshot.
    first_tag = dated.groupby(["userID", "artistID"], sort=False)["date"].min().rename("first_tag")
    pairs = ua.join(first_tag, on=["userID", "artistID"])
    events = pd.DataFrame({
        "listener_id": pairs["userID"],
        "item_id": pairs["artistID"],
        "item_type": "artist",
        "ts": pairs["first_tag"].fillna(snapshot),
    })
    play_counts = pd.DataFrame({
        "listener_id": ua["userID"],
        "item_id": ua["artistID"],
        "play_count": _ints(ua, "weight", storage.join(source, FILES["user_artists"][0])),
    })

    # Listeners: everyone in any user file; registered at their earliest valid tag date.
    users = pd.concat([ua["userID"], ut["userID"], friends_raw["userID"], friends_raw["friendID"]]).unique()
    users = sorted(users, key=lambda u: (len(u), u))  # numeric order for numeric ids
    first_seen = dated.groupby("userID")["date"].min()
    registered = pd.Series(users, dtype=object).map(first_seen)
    listeners = pd.DataFrame({
        "listener_id": pd.Series(users, dtype=object),
        "registered_at": pd.to_datetime(registered, utc=True).fillna(snapshot),
    })

    # Items: artists.dat, genres = top tags by distinct users.
    tag_text = tags.set_index("tagID")["tagValue"].str.strip().str.replace("|", "/", regex=False)
    assigned = pd.DataFrame({"userID": ut["userID"], "artistID": ut["artistID"], "tag": ut["tagID"].map(tag_text),
                             "tagged_at": dates})
    assigned = assigned[assigned["tag"].notna()]
    genres = _top_tags(assigned[assigned["tag"] != ""])
    items = pd.DataFrame({
        "item_id": artists["id"],
        "item_type": "artist",
        "name": artists["name"].where(artists["name"] != "", None),
        "genres": artists["id"].map(genres),
    })
    items["genres"] = items["genres"].astype(object).where(items["genres"].notna(), None)

    friends = pd.DataFrame({"listener_id": friends_raw["userID"], "friend_id": friends_raw["friendID"]})
    tag_assignments = pd.DataFrame({
        "listener_id": assigned["userID"], "item_id": assigned["artistID"],
        "tag": assigned["tag"], "tagged_at": assigned["tagged_at"].astype("datetime64[ms, UTC]"),
    }).reset_index(drop=True)

    return {
        "events": conform(events, "events"),
        "listeners": conform(listeners, "listeners"),
        "items": conform(items, "items"),
        "play_counts": play_counts.reset_index(drop=True),
        "friends": friends.reset_index(drop=True),
        "tag_assignments": tag_assignments,
    }


def snapshot_of(source: str) -> pd.Timestamp:
    """SNAPSHOT for the dataset under ``source``: the latest valid tag date."""
    ut = _read(source, "user_taggedartists")
    dates = tag_dates(ut, storage.join(source, FILES["user_taggedartists"][0]))
    return dates[dates >= EARLIEST_VALID_TAG_DATE].max()


def _top_tags(assigned: pd.DataFrame) -> pd.Series:
    """artistID -> the ``TOP_TAGS`` tags most users applied (ties by tag text), ``|``-joined."""
    counts = (assigned.groupby(["artistID", "tag"])["userID"].nunique().rename("users").reset_index()
              .sort_values(["artistID", "users", "tag"], ascending=[True, False, True]))
    top = counts.groupby("artistID", sort=False).head(TOP_TAGS)
    return top.groupby("artistID", sort=False)["tag"].agg("|".join)
