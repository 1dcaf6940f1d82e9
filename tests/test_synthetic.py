"""The synthetic generator: determinism, the data contract, and the planted structure (measured).

Two datasets: a small one (300 listeners x 14 days) for the contract, and 2000 x 30 (< 1 s) for the
planted signals, whose bounds come from the parameters in transforms/data/synthetic.py.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs import generate as generate_job
from transforms.data import synthetic as syn
from transforms.io import contract, datasets
from transforms.io.validate import validate_frame

END = "2026-11-28"
END_TS = pd.Timestamp(END, tz="UTC")


@pytest.fixture(scope="module")
def small():
    return syn.generate_with_truth(300, 14, 7, end=END)


@pytest.fixture(scope="module")
def medium():
    return syn.generate_with_truth(2000, 30, 7, end=END)


def _lidx(listener_ids: pd.Series) -> np.ndarray:
    return listener_ids.str[1:].astype(int).to_numpy()


def _sources(truth) -> np.ndarray:
    return np.array(syn.SOURCES, dtype=object)[truth.event_source]


def _local_hour(events: pd.DataFrame, listeners: pd.DataFrame) -> np.ndarray:
    offset = dict(zip(syn.COUNTRIES, syn.COUNTRY_UTC_OFFSET_H.tolist()))
    hours = events.listener_id.map(listeners.set_index("listener_id").country).map(offset)
    return (events.ts + pd.to_timedelta(hours, unit="h")).dt.hour.to_numpy()


# ---------------------------------------------------------------------------------------------
# determinism and arguments


def test_same_seed_gives_identical_frames_and_another_seed_differs(small):
    again = syn.generate(300, 14, 7, end=END)
    for name in contract.TABLE_NAMES:
        pd.testing.assert_frame_equal(small[0][name], again[name])
    other = syn.generate(300, 14, 8, end=END)
    assert len(other["events"]) != len(small[0]["events"]) or not other["events"].equals(small[0]["events"])
    assert not other["listeners"].equals(small[0]["listeners"])


@pytest.mark.parametrize("kwargs", [
    dict(n_listeners=0, n_days=14, seed=1), dict(n_listeners=10, n_days=0, seed=1),
    dict(n_listeners=10, n_days=14, seed=-1), dict(n_listeners=2.5, n_days=14, seed=1),
    dict(n_listeners=10, n_days=14, seed=1, end="2026-13-01"), dict(n_listeners=10, n_days=14, seed=1, end="soon"),
])
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        syn.generate(**kwargs)


def test_tiny_sizes_still_satisfy_the_contract():
    frames = syn.generate(1, 1, 0, end=END)
    assert set(frames) == set(contract.TABLE_NAMES)
    for name, frame in frames.items():
        assert list(frame.columns) == list(contract.TABLES[name].column_names)
    assert len(frames["listeners"]) == 1


# ---------------------------------------------------------------------------------------------
# the data contract


def test_tables_have_exactly_the_contract_columns_and_dtypes(small):
    frames, _ = small
    for name, spec in contract.TABLES.items():
        frame = frames[name]
        assert list(frame.columns) == list(spec.column_names), name
        for col in spec.columns:
            s = frame[col.name]
            if col.kind == "ts":
                assert str(s.dtype) == "datetime64[ns, UTC]", (name, col.name)
                if col.required:
                    assert s.notna().all()
            elif col.kind == "int":
                assert s.dtype == np.int64, (name, col.name)
                if col.minimum is not None:
                    assert (s >= col.minimum).all(), (name, col.name)
            else:
                assert s.dtype == object, (name, col.name)
                values = s.dropna()
                assert values.map(type).eq(str).all(), (name, col.name)
                if col.required:
                    assert s.notna().all() and (values.str.strip() != "").all(), (name, col.name)
    items = frames["items"]
    assert items.item_id.is_unique and frames["listeners"].listener_id.is_unique
    assert set(items.item_type) == set(contract.ITEM_TYPES)
    assert set(frames["events"].item_type) == {"track", "episode"}
    assert frames["listeners"]["product"].isin(["free", "premium"]).all()
    genres = set(syn.GENRES) | set(syn.PODCAST_GENRES)
    assert items.genres.str.split("|").map(lambda gs: set(gs) <= genres).all()


def test_events_reference_known_items_contexts_and_listeners(small):
    frames, truth = small
    ev, items, listeners = frames["events"], frames["items"], frames["listeners"]
    by_id = items.set_index("item_id")
    assert ev.item_id.isin(items.item_id).all()
    ctx = ev.context_id.dropna()
    assert ctx.isin(items.item_id).all()
    assert ev.listener_id.isin(listeners.listener_id).all()
    assert (ev.item_type.to_numpy() == ev.item_id.map(by_id.item_type).to_numpy()).all()
    # contexts: album -> the track's album, show -> the episode's show, playlist -> a member track
    parent = ev.item_id.map(by_id.parent_id)
    ctype = ev.context_id.map(by_id.item_type)
    album_ctx = ctype == "album"
    assert (ev.context_id[album_ctx] == parent[album_ctx]).all()
    episodes = ev.item_type == "episode"
    assert (ev.context_id[episodes] == parent[episodes]).all() and (ctype[episodes] == "show").all()
    members = set(zip(truth.playlist_tracks.playlist_id, truth.playlist_tracks.track_id))
    pl = ev[ctype == "playlist"]
    assert all(pair in members for pair in zip(pl.context_id, pl.item_id))
    assert set(ctype.dropna()) <= {"album", "playlist", "show"}
    # catalog hierarchy
    tracks, eps = items[items.item_type == "track"], items[items.item_type == "episode"]
    assert tracks.parent_id.map(by_id.item_type).eq("album").all()
    assert tracks.creator_id.map(by_id.item_type).eq("artist").all()
    assert eps.parent_id.map(by_id.item_type).eq("show").all()


def test_timestamps_lie_in_the_window_and_after_registration_and_release(small):
    frames, _ = small
    ev = frames["events"]
    assert ev.ts.min() >= END_TS - pd.Timedelta(days=14) and ev.ts.max() < END_TS
    assert ev.ts.is_monotonic_increasing
    reg = ev.listener_id.map(frames["listeners"].set_index("listener_id").registered_at)
    assert (ev.ts >= reg).all()
    release = ev.item_id.map(frames["items"].set_index("item_id").release_date)
    assert (ev.ts >= release).all()
    assert (frames["listeners"].registered_at < END_TS).all()
    # every day of the window has events (no hole at either edge)
    assert ev.ts.dt.floor("D").nunique() == 14


def test_ms_played_is_bounded_by_duration_and_plays_of_a_listener_never_overlap(small):
    frames, _ = small
    ev = frames["events"]
    dur = ev.item_id.map(frames["items"].set_index("item_id").duration_ms)
    assert (ev.ms_played >= 0).all() and (ev.ms_played <= dur).all()
    e = ev.sort_values(["listener_id", "ts"], kind="stable")
    same = e.listener_id.to_numpy()[1:] == e.listener_id.to_numpy()[:-1]
    end_prev = (e.ts + pd.to_timedelta(e.ms_played, unit="ms")).to_numpy()[:-1]
    assert (e.ts.to_numpy()[1:][same] >= end_prev[same]).all()


def test_new_listeners_have_onboarding_genres_and_no_early_events(medium):
    frames, _ = medium
    li, ev = frames["listeners"], frames["events"]
    new = li[li.registered_at >= END_TS - pd.Timedelta(days=syn.COLD_START_DAYS)]
    assert 0.07 <= len(new) / len(li) <= 0.13
    assert new.onboarding_genres.notna().all()
    onb = new.onboarding_genres.str.split("|")
    assert onb.map(len).between(2, 4).all() and onb.map(lambda gs: set(gs) <= set(syn.GENRES)).all()
    first = ev.groupby("listener_id").ts.min().rename("first_play")
    played = new.join(first, on="listener_id", how="inner")
    assert len(played) > 0.5 * len(new) and (played.first_play >= played.registered_at).all()
    # few plays: new listeners play far less per day registered than established ones
    per_new = ev.listener_id.isin(new.listener_id).sum() / ((END_TS - new.registered_at).dt.total_seconds() / 86400).sum()
    per_old = (~ev.listener_id.isin(new.listener_id)).sum() / ((len(li) - len(new)) * 30)
    assert per_new < 0.6 * per_old


def test_population_markets_products_and_minors(medium):
    frames, _ = medium
    li = frames["listeners"]
    share = li.country.value_counts(normalize=True)
    assert set(share.index) == set(syn.COUNTRIES) and share.max() > 2 * share.min()
    assert 0.3 <= (li["product"] == "premium").mean() <= 0.6
    minors = (END_TS.year - li.birth_year) < 18
    assert 0.05 <= minors.mean() <= 0.2
    tracks = frames["items"][frames["items"].item_type == "track"]
    assert 0.01 <= tracks.explicit.mean() <= 0.10


def test_curation_rows_cover_end_mostly(small):
    frames, _ = small
    cur = frames["curation"]
    assert set(cur.shelf) == {"podcasts", "playlists", "editors_picks"}
    assert cur.item_id.isin(frames["items"].item_id).all()
    assert cur.market.isin(list(syn.COUNTRIES) + ["*"]).all()
    assert (cur.position >= 1).all()   # 1-based, as served
    assert not cur.duplicated(["shelf", "market", "position"]).any()
    closed = cur.valid_to.notna()
    assert (cur.valid_to[closed] >= cur.valid_from[closed]).all()
    covers = (cur.valid_from <= END_TS) & (cur.valid_to.isna() | (cur.valid_to > END_TS))
    assert covers.mean() >= 0.7 and (~covers).sum() >= 2
    types = cur.item_id.map(frames["items"].set_index("item_id").item_type)
    assert set(types[cur.shelf == "podcasts"]) == {"show"} and set(types[cur.shelf == "playlists"]) == {"playlist"}


def test_written_dataset_passes_contract_validation(small, tmp_path):
    frames, _ = small
    summary = datasets.write_dataset(frames, str(tmp_path), provenance={"generator": "test"})
    assert summary["tables"] == {name: len(frames[name]) for name in contract.TABLE_NAMES}
    for name, spec in contract.TABLES.items():
        table = pq.read_table(tmp_path / f"{name}.parquet").to_pandas()
        accepted, rejected = validate_frame(table, spec, now=END_TS, source_file=name)
        assert len(rejected) == 0, rejected.head().to_dict()
        assert len(accepted) == len(frames[name])


def test_generate_subcommand_writes_the_dataset(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="home-recs")
    generate_job.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "syn"
    args = parser.parse_args(["generate", "--listeners", "50", "--days", "3", "--seed", "3", "--output", str(out)])
    assert args.func(args, []) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("generate: events ") and str(out) in line
    meta = json.loads((out / "_dataset.json").read_text())
    assert meta["provenance"]["listeners"] == 50 and meta["provenance"]["seed"] == 3
    assert pq.read_table(out / "events.parquet").num_rows == meta["tables"]["events"] > 0
    with pytest.raises(SystemExit):
        parser.parse_args(["generate", "--listeners", "0", "--output", str(out)])


def test_one_part_is_exactly_generate(small):
    frames, _ = small
    parts = list(syn.generate_parts(300, 14, 7, end=END, part_listeners=300))
    assert len(parts) == 1
    for name in contract.TABLE_NAMES:
        pd.testing.assert_frame_equal(parts[0][name], frames[name])


def test_generate_in_parts_writes_part_files_with_continuing_ids(tmp_path):
    parser = argparse.ArgumentParser(prog="home-recs")
    generate_job.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "syn"
    base = ["generate", "--days", "3", "--seed", "3", "--output", str(out)]
    args = parser.parse_args(base + ["--listeners", "20"])       # an older one-file dataset in the same folder
    assert args.func(args, []) == 0 and (out / "events.parquet").exists()
    args = parser.parse_args(base + ["--listeners", "120", "--part-listeners", "50"])
    assert args.func(args, []) == 0
    assert not (out / "events.parquet").exists() and not (out / "listeners.parquet").exists()
    assert sorted(p.name for p in (out / "events").iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    ids = [pq.read_table(out / "listeners" / f"part-0000{i}.parquet").column("listener_id").to_pylist()
           for i in range(3)]
    assert [len(x) for x in ids] == [50, 50, 20]
    assert sum(ids, []) == [f"L{i:07d}" for i in range(120)]
    total = 0
    for i in range(3):   # a part's events belong to that part's listeners
        events = pq.read_table(out / "events" / f"part-0000{i}.parquet").to_pandas()
        assert set(events["listener_id"]) <= set(ids[i]) and len(events) > 0
        total += len(events)
    meta = json.loads((out / "_dataset.json").read_text())
    assert meta["tables"]["events"] == total and meta["tables"]["listeners"] == 120
    # the catalog is the one generate() builds for 120 listeners (drawn first, from the same seed)
    pd.testing.assert_frame_equal(pq.read_table(out / "items.parquet").to_pandas(),
                                  datasets.to_arrow(syn.generate(120, 3, 3, end=END)["items"], contract.ITEMS).to_pandas())
    again = list(syn.generate_parts(120, 3, 3, end=END, part_listeners=50))   # same arguments, same parts
    written = pq.read_table(out / "events" / "part-00001.parquet").to_pandas()
    for column in ("listener_id", "item_id", "ms_played"):
        assert again[2]["events"][column].tolist() == written[column].tolist()
    with pytest.raises(ValueError, match="part_listeners"):
        next(syn.generate_parts(120, 3, 3, end=END, part_listeners=0))


# ---------------------------------------------------------------------------------------------
# planted structure, measured on 2000 listeners x 30 days


def test_volume_plays_per_active_listener_day(medium):
    frames, _ = medium
    ev = frames["events"]
    per_day = ev.groupby(["listener_id", ev.ts.dt.floor("D")]).size()
    assert 5 <= per_day.mean() <= 15


def test_popularity_is_zipf_like(medium):
    frames, _ = medium
    counts = frames["events"].query("item_type == 'track'").item_id.value_counts().to_numpy()
    rank = np.arange(1, len(counts) + 1)
    top = slice(0, 2000)
    slope = np.polyfit(np.log(rank[top]), np.log(counts[top]), 1)[0]
    assert -1.4 < slope < -0.5
    assert counts[: len(counts) // 100].sum() / counts.sum() > 0.10


def test_local_language_plays_beat_catalog_share(medium):
    frames, _ = medium
    ev, items, li = frames["events"], frames["items"], frames["listeners"]
    tr = ev[ev.item_type == "track"]
    lang = tr.item_id.map(items.set_index("item_id").language).to_numpy()
    country = tr.listener_id.map(li.set_index("listener_id").country).to_numpy()
    catalog = items[items.item_type == "track"].language.value_counts(normalize=True)
    for c, language in zip(syn.COUNTRIES[1:], syn.LANGUAGES[1:]):   # non-English markets
        played = (lang[country == c] == language).mean()
        assert played > 1.5 * catalog.get(language, 0), (c, played, catalog.get(language, 0))


def test_listener_taste_is_recoverable_from_genre_histograms(medium):
    frames, truth = medium
    ev, items = frames["events"], frames["items"]
    tr = ev[ev.item_type == "track"]
    gi = {g: i for i, g in enumerate(syn.GENRES)}
    g1 = tr.item_id.map(items.set_index("item_id").genres).str.split("|").str[0].map(gi).to_numpy()
    H = np.zeros_like(truth.taste)
    np.add.at(H, (_lidx(tr.listener_id), g1), 1.0)
    ok = H.sum(axis=1) >= 30
    cos = (H[ok] * truth.taste[ok]).sum(1) / np.linalg.norm(H[ok], axis=1) / np.linalg.norm(truth.taste[ok], axis=1)
    shuffled = truth.taste[ok][np.random.default_rng(0).permutation(ok.sum())]
    cos_random = (H[ok] * shuffled).sum(1) / np.linalg.norm(H[ok], axis=1) / np.linalg.norm(shuffled, axis=1)
    assert np.median(cos) > 0.7 and np.median(cos) > np.median(cos_random) + 0.2


def test_heavy_rotation_share_tracks_habit_strength(medium):
    frames, truth = medium
    ev = frames["events"]
    rot = truth.initial_rotation
    music = ev[(ev.item_type == "track") & ev.listener_id.isin(rot.listener_id)]
    keys = set(zip(rot.listener_id, rot.context_id))
    in_rot = np.fromiter((k in keys for k in zip(music.listener_id, music.context_id)), bool, len(music))
    habit = truth.listener.set_index("listener_id").habit
    mean_h = habit.reindex(rot.listener_id.unique()).mean()
    # a rotation session is chosen with p = h; over 30 days about 0.05 adoptions per active day move
    # new contexts to the front, so at least 60% of rotation plays stay on the initial contexts
    assert 0.6 * mean_h <= in_rot.mean() <= mean_h + syn.RECENT_REPLAY * (1 - mean_h)
    per = pd.DataFrame({"l": music.listener_id.to_numpy(), "r": in_rot}).groupby("l").r.agg(["mean", "size"])
    per = per[per["size"] >= 30]
    assert per["mean"].corr(habit.reindex(per.index), method="spearman") > 0.5
    # from data only: a listener's top-3 contexts of the first half hold far more of their
    # second-half context plays than the global top-3 contexts
    mid = END_TS - pd.Timedelta(days=15)
    m = ev[(ev.item_type == "track") & ev.context_id.notna()]
    h1, h2 = m[m.ts < mid], m[m.ts >= mid]
    top = (h1.groupby(["listener_id", "context_id"]).size().rename("n").reset_index()
           .sort_values(["listener_id", "n"], ascending=[True, False]).groupby("listener_id").head(3))
    own = set(zip(top.listener_id, top.context_id))
    h2 = h2[h2.listener_id.isin(top.listener_id)]
    own_share = np.mean([k in own for k in zip(h2.listener_id, h2.context_id)])
    global_share = h2.context_id.isin(h1.context_id.value_counts().index[:3]).mean()
    assert own_share > 0.3 and own_share > 3 * global_share


def test_podcast_starts_follow_taste_segments_and_genre(medium):
    frames, truth = medium
    ev, items = frames["events"], frames["items"]
    src = _sources(truth)
    tl = truth.listener.set_index("listener_id")
    listens = ev[ev.item_type == "episode"].listener_id.unique()
    assert 0.25 <= len(listens) / len(tl) <= 0.45
    starts, trials = ev[src == "show_start"], ev[src == "show_trial"]
    assert (starts.ms_played >= syn.START_MIN_MS).all() and (trials.ms_played < syn.START_MIN_MS).all()
    assert len(starts) > 300
    affine = set(zip(truth.affine_shows.genre, truth.affine_shows.show_id))

    def affine_share(df):
        return np.mean([k in affine for k in zip(df.listener_id.map(tl.dominant_genre), df.context_id)])

    # trials are drawn by popularity x market only: they are the baseline for the segment boost
    assert affine_share(starts) > 0.4 and affine_share(starts) > 2.5 * affine_share(trials)
    cat = {g: i for i, g in enumerate(syn.PODCAST_GENRES)}
    show_genre = items.set_index("item_id").genres

    def genre_match(df):
        return truth.podcast_taste[_lidx(df.listener_id), df.context_id.map(show_genre).map(cat).to_numpy()].mean()

    assert genre_match(starts) > 1.5 * genre_match(trials)
    # data-defined starts (first >= 10-min play of a show by a listener) are shows new to them
    first = ev[(ev.item_type == "episode") & (ev.ms_played >= syn.START_MIN_MS)].drop_duplicates(["listener_id", "context_id"])
    followed = set(zip(truth.initial_follows.listener_id, truth.initial_follows.show_id))
    fresh = first[[k not in followed for k in zip(first.listener_id, first.context_id)]]
    assert set(zip(starts.listener_id, starts.context_id)) <= set(zip(fresh.listener_id, fresh.context_id))


def test_new_listeners_play_playlists_matching_onboarding_genres(medium):
    frames, _ = medium
    ev, items, li = frames["events"], frames["items"], frames["listeners"]
    new = li[li.registered_at >= END_TS - pd.Timedelta(days=syn.COLD_START_DAYS)].set_index("listener_id")
    plays = ev[ev.listener_id.isin(new.index) & ev.context_id.str.startswith("pl", na=False)]
    assert len(plays) > 300
    pl = items[items.item_type == "playlist"].set_index("item_id")
    pl_genres = pl.genres.str.split("|").map(set)
    onb = plays.listener_id.map(new.onboarding_genres).str.split("|").map(set)
    overlap = np.array([bool(pl_genres[c] & o) for c, o in zip(plays.context_id, onb)])
    # baseline: a playlist drawn uniformly from the catalog
    baseline = np.mean([np.mean([bool(g & o) for g in pl_genres]) for o in onb])
    assert overlap.mean() > 0.6 and overlap.mean() > baseline + 0.25
    # ... weighted by popularity in the listener's market: local playlists beat their catalog share
    lang = dict(zip(syn.COUNTRIES, syn.LANGUAGES))
    local = plays.context_id.map(pl.language).to_numpy() == plays.listener_id.map(new.country).map(lang).to_numpy()
    catalog_local = np.mean([(pl.language == lang[c]).mean() for c in plays.listener_id.map(new.country)])
    assert local.mean() > 1.3 * catalog_local


def test_completion_and_skips_depend_on_genre_affinity(medium):
    frames, truth = medium
    ev, items = frames["events"], frames["items"]
    tr = ev[ev.item_type == "track"]
    gi = {g: i for i, g in enumerate(syn.GENRES)}
    g1 = tr.item_id.map(items.set_index("item_id").genres).str.split("|").str[0].map(gi).to_numpy()
    li = _lidx(tr.listener_id)
    aff = truth.taste[li, g1] / truth.taste[li].max(axis=1)
    q = np.clip((aff * 5).astype(int), 0, 4)
    completion = tr.ms_played.to_numpy() / tr.item_id.map(items.set_index("item_id").duration_ms).to_numpy()
    skip = tr.ms_played.to_numpy() < syn.SKIP_MS
    by_q = [completion[q == k].mean() for k in range(5)]
    skips = [skip[q == k].mean() for k in range(5)]
    assert all(np.diff(by_q) > 0) and by_q[4] - by_q[0] > 0.2
    assert all(np.diff(skips) < 0) and skips[0] > 2 * skips[4]


def test_time_of_day_habits(medium):
    frames, truth = medium
    ev, li = frames["events"], frames["listeners"]
    hour = _local_hour(ev, li)
    pref = ev.listener_id.map(truth.listener.set_index("listener_id").daypart).to_numpy()
    inside = np.zeros(len(ev), bool)
    for name, (lo, hi) in zip(syn.DAYPARTS, syn.DAYPART_HOURS):
        h = (hour >= lo) & (hour < hi) if hi <= 24 else (hour >= lo) | (hour < hi - 24)
        inside |= (pref == name) & h
    assert inside.mean() > syn.DAYPART_LOYALTY * 0.9
    weekday = ev.ts.dt.dayofweek.to_numpy() < 5
    morning = (hour >= 6) & (hour < 10)
    episodes = ev.item_type.to_numpy() == "episode"
    assert morning[weekday & episodes].mean() > 2 * morning[weekday & ~episodes].mean()


def test_minors_with_the_filter_never_play_explicit_items(medium):
    frames, truth = medium
    ev, items = frames["events"], frames["items"]
    explicit = ev.item_id.map(items.set_index("item_id").explicit).to_numpy()
    filtered = ev.listener_id.map(truth.listener.set_index("listener_id").explicit_filter).to_numpy()
    assert filtered.any() and explicit[filtered].sum() == 0
    assert explicit[~filtered].mean() > 0.01
