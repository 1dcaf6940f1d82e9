"""Importers: real datasets -> data contract, checked against values computed here from the raw files.

The datasets are read in place from ../shared/data (never copied into the repository); a test
that needs one is skipped when it is absent.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs import importers as import_job
from tests.conftest import SHARED_DATA
from transforms.io import contract
from transforms.errors import InputError
from transforms.data.importers import apple_podcasts, generic, hetrec, thirtymusic

DATA = SHARED_DATA   # ../shared/data, or HOME_RECS_SHARED_DATA (tests/conftest.py)
MUSIC30 = DATA / "30music-sessions-sample"
HETREC = DATA / "hetrec2011-lastfm-2k"
APPLE = DATA / "apple-podcasts-popular-2019"


def need(path: Path) -> str:
    if not path.exists():
        pytest.skip(f"real dataset not staged at {path} (expected ../shared/data relative to the repo root)")
    return str(path)


def run_cli(argv: list[str]) -> int:
    """``jobs.cli.main(argv)``; if another sub-command module in COMMAND_MODULES cannot be imported
    yet, run the same argv through a parser holding only ``import`` (same exit-code rule)."""
    from jobs import cli

    try:
        cli.build_parser()
    except ImportError as err:
        others = set(cli.COMMAND_MODULES) - {"jobs.importers"}
        if getattr(err, "name", None) not in others:
            raise
        parser = argparse.ArgumentParser(prog="home-recs")
        import_job.register(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(argv)
        try:
            return int(args.func(args, []) or 0)
        except InputError:
            return 2
    return cli.main(argv)


def assert_contract_types(frames: dict[str, pd.DataFrame]) -> None:
    """Every contract table has exactly the contract columns, ids as str, ts tz-aware UTC."""
    for name, frame in frames.items():
        spec = contract.TABLES.get(name)
        if spec is None:
            continue
        assert tuple(frame.columns) == spec.column_names, name
        for col in spec.columns:
            values = frame[col.name]
            if col.kind == "ts":
                assert str(values.dtype) == "datetime64[ns, UTC]", (name, col.name)
            elif col.kind == "int":
                assert str(values.dtype) in ("int64", "Int64"), (name, col.name)
            else:
                present = values.dropna()
                assert present.map(type).eq(str).all(), (name, col.name)


# ---------------------------------------------------------------- 30music

@pytest.fixture(scope="module")
def raw30() -> pd.DataFrame:
    return pd.read_parquet(Path(need(MUSIC30)) / "sessions_sample_10.parquet")


@pytest.fixture(scope="module")
def music30() -> dict[str, pd.DataFrame]:
    return thirtymusic.import_30music(need(MUSIC30))


def test_30music_counts_and_types(music30, raw30):
    assert len(music30["events"]) == len(raw30) == 343_183
    assert len(music30["listeners"]) == raw30["user_id"].nunique() == 14_262
    assert len(music30["items"]) == raw30["song_id"].nunique() == 9_999
    assert_contract_types(music30)
    ev = music30["events"]
    assert set(ev["item_type"]) == {"track"} and ev["context_id"].isna().all()
    assert set(music30["items"]["item_type"]) == {"track"} and music30["items"]["name"].isna().all()
    assert music30["listeners"]["listener_id"].is_unique and music30["items"]["item_id"].is_unique
    assert music30["listeners"][["country", "product"]].isna().all().all()


def test_30music_values_match_raw_rows(music30, raw30):
    ev = music30["events"]
    for i in (0, 1000, 343_182):
        row = raw30.iloc[i]
        assert ev.at[i, "listener_id"] == str(row["user_id"])
        assert ev.at[i, "item_id"] == str(row["song_id"])
        assert ev.at[i, "ts"] == pd.Timestamp(int(row["ts"]), unit="s", tz="UTC")
        assert ev.at[i, "ms_played"] == row["playtime"] * 1000
    assert ev.at[1000, "ms_played"] == 215_000  # user 1000, song 661, playtime 215 s
    assert ev["ts"].min() == pd.Timestamp("2014-01-20 09:24:42", tz="UTC")
    assert ev["ts"].max() == pd.Timestamp("2015-01-20 09:19:45", tz="UTC")


def test_30music_registered_at_is_first_play(music30, raw30):
    listeners = music30["listeners"].set_index("listener_id")
    heaviest = int(raw30["user_id"].value_counts().index[0])  # 23127, 867 plays
    for user in (heaviest, 4, int(raw30["user_id"].iloc[-1])):
        expected = pd.Timestamp(int(raw30.loc[raw30["user_id"] == user, "ts"].min()), unit="s", tz="UTC")
        assert listeners.at[str(user), "registered_at"] == expected
    assert listeners.at["23127", "registered_at"] == pd.Timestamp(1396050283, unit="s", tz="UTC")


def test_30music_csv_fallback(tmp_path, music30):
    (tmp_path / "sessions_sample_10.csv.gz").symlink_to(Path(need(MUSIC30)) / "sessions_sample_10.csv.gz")
    assert thirtymusic.source_file(str(tmp_path)).endswith(".csv.gz")
    frames = thirtymusic.import_30music(str(tmp_path))
    assert {k: len(v) for k, v in frames.items()} == {k: len(v) for k, v in music30.items()}
    # the csv.gz is sorted differently: compare as multisets of rows
    key = ["listener_id", "item_id", "ts", "ms_played"]
    a = frames["events"][key].sort_values(key).reset_index(drop=True)
    b = music30["events"][key].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(frames["listeners"], music30["listeners"])


def test_30music_missing_file_and_column(tmp_path):
    with pytest.raises(InputError, match="sessions_sample_10.parquet"):
        thirtymusic.import_30music(str(tmp_path))
    pd.DataFrame({"user_id": [1], "song_id": [2], "ts": [3], "session_id": [4]}).to_parquet(
        tmp_path / "sessions_sample_10.parquet")
    with pytest.raises(InputError, match=r"sessions_sample_10\.parquet.*'playtime'"):
        thirtymusic.import_30music(str(tmp_path))


def test_30music_cli_writes_contract_parquet(tmp_path, raw30):
    out = tmp_path / "out30"
    assert run_cli(["import", "30music", "--source", need(MUSIC30), "--output", str(out)]) == 0
    events = pq.read_table(out / "events.parquet")
    assert events.num_rows == 343_183
    assert str(events.schema.field("ts").type) == "timestamp[ms, tz=UTC]"
    assert str(events.schema.field("listener_id").type) == "string"
    assert events.column("ms_played").to_pylist()[1000] == 215_000
    summary = json.loads((out / "_dataset.json").read_text())
    assert summary["tables"] == {"events": 343_183, "listeners": 14_262, "items": 9_999}
    assert summary["provenance"]["importer"] == "30music"
    # a missing source is an InputError -> exit code 2
    assert run_cli(["import", "30music", "--source", str(tmp_path / "nope"), "--output", str(out)]) == 2


# ---------------------------------------------------------------- hetrec

@pytest.fixture(scope="module")
def het_raw() -> dict[str, pd.DataFrame]:
    root = Path(need(HETREC))
    read = dict(sep="\t", quoting=csv.QUOTE_NONE)
    return {
        "ua": pd.read_csv(root / "user_artists.dat", **read),
        "ut": pd.read_csv(root / "user_taggedartists.dat", **read),
        "tags": pd.read_csv(root / "tags.dat", encoding="latin-1", keep_default_na=False, **read),
        "artists": pd.read_csv(root / "artists.dat", keep_default_na=False, **read),
        "friends": pd.read_csv(root / "user_friends.dat", **read),
    }


@pytest.fixture(scope="module")
def het() -> dict[str, pd.DataFrame]:
    return hetrec.import_hetrec_lastfm(need(HETREC))


def _valid_tag_dates(ut: pd.DataFrame) -> pd.DataFrame:
    dated = ut.assign(date=pd.to_datetime(ut[["year", "month", "day"]], utc=True))
    return dated[dated["year"] >= 2002]  # the documented rule: pre-2002 (pre-Last.fm) dates are ignored


def test_hetrec_counts_and_types(het, het_raw):
    assert {k: len(v) for k, v in het.items()} == {
        "events": 92_834, "listeners": 1_892, "items": 17_632,
        "play_counts": 92_834, "friends": 25_434, "tag_assignments": 186_479,
    }
    assert len(het["events"]) == len(het_raw["ua"])
    assert_contract_types(het)
    assert set(het["events"]["item_type"]) == {"artist"} and set(het["items"]["item_type"]) == {"artist"}
    assert het["events"]["ms_played"].isna().all()
    assert het["friends"].columns.tolist() == ["listener_id", "friend_id"]
    assert het["play_counts"]["play_count"].dtype == "int64"


def test_hetrec_count_rule_hand_picked_pairs(het, het_raw):
    snapshot = _valid_tag_dates(het_raw["ut"])["date"].max()
    assert snapshot == pd.Timestamp("2011-05-09", tz="UTC") == hetrec.snapshot_of(need(HETREC))
    ev = het["events"].set_index(["listener_id", "item_id"])
    counts = het["play_counts"].set_index(["listener_id", "item_id"])["play_count"]
    cases = {
        ("2", "51"): (pd.Timestamp("2011-05-09", tz="UTC"), 13_883),  # never tagged -> snapshot
        ("2", "52"): (pd.Timestamp("2009-04-01", tz="UTC"), 11_690),  # tagged 1/4/2009
        ("133", "2984"): (snapshot, 399),  # only tag dated 1957 (bogus) -> snapshot
        ("43", "1395"): (pd.Timestamp("2010-10-01", tz="UTC"), 548),  # 1956 ignored; earliest valid 2010-10
    }
    for pair, (ts, plays) in cases.items():
        assert ev.at[pair, "ts"] == ts, pair
        assert counts.at[pair] == plays, pair
        raw = het_raw["ua"]
        assert raw.loc[(raw.userID == int(pair[0])) & (raw.artistID == int(pair[1])), "weight"].item() == plays


def test_hetrec_count_rule_holds_for_every_pair(het, het_raw):
    """One event per user_artists row; ts = earliest valid tag date of the pair, else the snapshot."""
    dated = _valid_tag_dates(het_raw["ut"])
    first = dated.groupby(["userID", "artistID"])["date"].min().rename("first").reset_index()
    expected = het_raw["ua"].merge(first, on=["userID", "artistID"], how="left")
    expected["ts"] = expected["first"].fillna(dated["date"].max())
    got = het["events"]
    assert got["listener_id"].tolist() == expected["userID"].astype(str).tolist()
    assert got["item_id"].tolist() == expected["artistID"].astype(str).tolist()
    assert (got["ts"].to_numpy() == expected["ts"].to_numpy()).all()
    assert int(expected["first"].notna().sum()) == 20_664
    assert het["play_counts"]["play_count"].tolist() == expected["weight"].tolist()


def test_hetrec_listeners_items_friends(het, het_raw):
    dated = _valid_tag_dates(het_raw["ut"])
    listeners = het["listeners"].set_index("listener_id")
    for user in (2, 43, 133, 2100):
        assert listeners.at[str(user), "registered_at"] == dated.loc[dated.userID == user, "date"].min()
    assert listeners.at["43", "registered_at"].year > 2002  # the 1956 tag is not a registration date
    items = het["items"].set_index("item_id")
    assert items.at["1686", "name"] == '"Weird Al" Yankovic'  # quotes kept verbatim
    assert items.at["707", "name"] == "Metallica"
    # genres: top 5 tags by distinct users, ties by tag text, computed independently
    tag_text = het_raw["tags"].set_index("tagID")["tagValue"]
    for artist in (707, 289, 1):
        rows = het_raw["ut"][het_raw["ut"].artistID == artist]
        users = rows.assign(tag=rows.tagID.map(tag_text)).groupby("tag")["userID"].nunique()
        top = sorted(users.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        assert items.at[str(artist), "genres"] == "|".join(t for t, _ in top)
    assert items.at["707", "genres"] == "metal|heavy metal|thrash metal|hard rock|rock"
    untagged = set(het_raw["artists"]["id"]) - set(het_raw["ut"]["artistID"])
    assert items.loc[[str(a) for a in sorted(untagged)[:20]], "genres"].isna().all()
    fr = het["friends"]
    assert fr.iloc[0].tolist() == ["2", "275"]
    assert len(fr) == len(het_raw["friends"])


def test_hetrec_cli_writes_extra_tables(tmp_path):
    out = tmp_path / "het"
    args = argparse.Namespace(source=need(HETREC), output=str(out))
    assert import_job.run_hetrec(args, []) == 0
    assert pq.read_schema(out / "play_counts.parquet").names == ["listener_id", "item_id", "play_count"]
    assert pq.read_table(out / "friends.parquet").num_rows == 25_434
    summary = json.loads((out / "_dataset.json").read_text())
    assert summary["provenance"]["snapshot"].startswith("2011-05-09")


def test_hetrec_missing_column(tmp_path):
    for name in ("user_taggedartists.dat", "tags.dat", "artists.dat", "user_friends.dat"):
        (tmp_path / name).symlink_to(Path(need(HETREC)) / name)
    with pytest.raises(InputError, match="user_artists.dat.*file not found"):
        hetrec.import_hetrec_lastfm(str(tmp_path))
    (tmp_path / "user_artists.dat").write_text("userID\tartistID\tplays\n2\t51\t3\n")
    with pytest.raises(InputError, match=r"user_artists\.dat.*'weight'"):
        hetrec.import_hetrec_lastfm(str(tmp_path))


# ---------------------------------------------------------------- apple podcasts

@pytest.fixture(scope="module")
def apple() -> dict[str, pd.DataFrame]:
    return apple_podcasts.import_apple_podcasts(need(APPLE))


def test_apple_catalogue(apple):
    assert list(apple) == ["items"]
    items = apple["items"]
    raw = pd.read_csv(Path(need(APPLE)) / "podcasts.csv", dtype=str)
    assert len(items) == len(raw) == 4_560
    assert items["item_id"].is_unique and set(items["item_type"]) == {"show"}
    assert_contract_types(apple)
    show = items.set_index("item_id").loc["1352800687"]
    assert show["name"] == "History Hyenas with Chris Distefano and Yannis Pappas"
    assert show["genres"] == "Comedy" and show["creator_id"] == "RiotCast Network"
    assert items.set_index("item_id").at["1080871005", "name"] == "Spirits"
    assert items["name"].isna().sum() == 50  # failed scrapes kept with null fields
    genres = items["genres"].value_counts()
    assert len(genres) == 19 and genres.min() == 227 and genres.max() == 240


def test_apple_fields_come_from_the_json(apple):
    info = json.loads((Path(need(APPLE)) / "podcasts_info.json").read_text())
    items = apple["items"]
    assert len(info) == len(items)
    for i in (0, 17, 4559):
        rec = info[i]
        assert items.at[i, "item_id"] == rec["link"].rsplit("/id", 1)[1]
        assert items.at[i, "name"] == (None if rec["title"] == "NA" else rec["title"])
        assert items.at[i, "creator_id"] == (None if rec["producer"] == "NA" else rec["producer"])


def test_apple_needs_both_files(tmp_path):
    (tmp_path / "podcasts_info.json").symlink_to(Path(need(APPLE)) / "podcasts_info.json")
    with pytest.raises(InputError, match="podcasts.csv"):
        apple_podcasts.import_apple_podcasts(str(tmp_path))


# ---------------------------------------------------------------- generic events

CSV_TEXT = """user,song,played_at,ms,ctx,kind,extra
u1,s1,2024-03-01T10:00:00Z,1000,pl1,track,x
u2,s2,2024-03-01T09:00:00+01:00,,,episode,y
u1,s2,2024-02-28T23:59:59.5Z,-5,,track,z
,s3,2024-03-02T00:00:00Z,3,,track,w
u3,s1,not a date,abc,,podcast,v
"""


def test_generic_csv_mapping_and_derived_tables(tmp_path):
    src = tmp_path / "plays.csv"
    src.write_text(CSV_TEXT)
    frames = generic.import_events(str(src), "listener_id=user,item_id=song,ts=played_at,ms_played=ms,"
                                             "context_id=ctx,item_type=kind")
    assert_contract_types(frames)
    ev = frames["events"]
    assert len(ev) == 5  # nothing dropped: bad rows go on to validation
    assert ev["listener_id"].tolist() == ["u1", "u2", "u1", "", "u3"]
    assert ev["item_type"].tolist() == ["track", "episode", "track", "track", "podcast"]
    assert ev["ts"].tolist()[:3] == [pd.Timestamp("2024-03-01 10:00", tz="UTC"), pd.Timestamp("2024-03-01 08:00", tz="UTC"),
                                     pd.Timestamp("2024-02-28 23:59:59.5", tz="UTC")]
    assert pd.isna(ev.at[4, "ts"])
    assert ev["ms_played"].tolist()[:3] == [1000, pd.NA, -5] and pd.isna(ev.at[4, "ms_played"])
    assert ev["context_id"].tolist() == ["pl1", None, None, None, None]
    listeners = frames["listeners"].set_index("listener_id")["registered_at"]
    assert listeners["u1"] == pd.Timestamp("2024-02-28 23:59:59.5", tz="UTC")  # first play, not first row
    assert listeners["u2"] == pd.Timestamp("2024-03-01 08:00", tz="UTC")
    assert pd.isna(listeners["u3"])
    assert frames["items"][["item_id", "item_type"]].values.tolist() == [
        ["s1", "track"], ["s2", "episode"], ["s2", "track"], ["s3", "track"], ["s1", "podcast"]]

    out = tmp_path / "out"
    argv = ["import", "events", "--source", str(src), "--map", "listener_id=user,item_id=song,ts=played_at",
            "--item-type", "episode", "--output", str(out)]
    assert run_cli(argv) == 0
    written = pq.read_table(out / "events.parquet").to_pandas()
    assert set(written["item_type"]) == {"episode"} and "extra" not in written.columns
    assert pq.read_table(out / "listeners.parquet").num_rows == 4  # u1, u2, "" and u3


def test_generic_units_and_formats(tmp_path):
    frame = pd.DataFrame({"who": [7, 8], "what": [70, 80], "when": [1_700_000_000_123, 1_700_000_001_000]})
    frame.to_parquet(tmp_path / "p.parquet")
    ev = generic.import_events(str(tmp_path / "p.parquet"), {"listener_id": "who", "item_id": "what", "ts": "when"},
                               ts_unit="ms")["events"]
    assert ev["listener_id"].tolist() == ["7", "8"] and ev["item_type"].tolist() == ["track", "track"]
    assert ev.at[0, "ts"] == pd.Timestamp("2023-11-14 22:13:20.123", tz="UTC")
    (tmp_path / "p.data").write_text('{"who": 1, "what": "a", "when": 1700000000}\n'
                                      '{"who": null, "what": "b", "when": "2024-01-01"}\n')
    ev = generic.import_events(str(tmp_path / "p.data"), "listener_id=who,item_id=what,ts=when", fmt="jsonl")["events"]
    assert ev["listener_id"].tolist() == ["1", None]
    assert ev["ts"].tolist() == [pd.Timestamp(1_700_000_000, unit="s", tz="UTC"), pd.Timestamp("2024-01-01", tz="UTC")]


def test_generic_errors_name_the_problem(tmp_path):
    src = tmp_path / "plays.csv"
    src.write_text(CSV_TEXT)
    with pytest.raises(InputError, match="'user_name'"):
        generic.import_events(str(src), "listener_id=user,item_id=song,ts=played_at,user_name=user")
    with pytest.raises(InputError, match=r"plays\.csv.*'listener'"):
        generic.import_events(str(src), "listener_id=listener,item_id=song,ts=played_at")
    with pytest.raises(InputError, match=r"nowhere\.csv"):
        generic.import_events(str(tmp_path / "nowhere.csv"), "listener_id=user,item_id=song,ts=played_at")
    with pytest.raises(InputError, match="'ts'"):
        generic.import_events(str(src), "listener_id=user,item_id=song")
    with pytest.raises(InputError, match="not both"):
        generic.import_events(str(src), "listener_id=user,item_id=song,ts=played_at,item_type=kind", item_type="track")
    assert run_cli(["import", "events", "--source", str(src), "--map", "listener_id=user,item_id=nope,ts=played_at",
                    "--output", str(tmp_path / "o")]) == 2


def test_the_cli_lists_every_command_with_its_modules_help_without_importing_it():
    import subprocess
    import sys

    from jobs import cli

    full = cli.build_parser()
    registered = {a.dest: a.help for a in full._subparsers._group_actions[0]._choices_actions}
    assert registered == {name: help_text for name, (_, help_text) in cli.COMMANDS.items()}
    # `home-recs --help` imports no job module, hence neither Beam nor xgboost
    probe = ("import sys, contextlib, io\nfrom jobs import cli\nwith contextlib.suppress(SystemExit), "
             "contextlib.redirect_stdout(io.StringIO()):\n    cli.main(['--help'])\n"
             "print(sorted(m for m in ('apache_beam', 'xgboost', 'jobs.daily') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert cli._command_in(["--log-level", "INFO", "-v", "daily", "--date", "x"]) == "daily"
    assert cli._command_in(["--version"]) is None and cli._command_in(["dayly"]) is None
