"""Synthetic input data with planted, measurable structure (DESIGN.md "Real data": what the public sets lack).

:func:`generate` returns the four contract tables (:mod:`transforms.io.contract`): ``events``, ``items``,
``listeners`` and ``curation``. :func:`generate_with_truth` also returns the hidden parameters
(:class:`Truth`) so tests and notebooks can check that a model recovers them. Everything is drawn
from one ``numpy.random.default_rng(seed)``: the same ``(n_listeners, n_days, seed, end)`` gives
identical frames. The simulation is vectorised over listeners, sessions and plays; the only Python
loops are one per simulated day and a few per catalog entity (ids and names).

Time: events cover ``[end - n_days, end)`` UTC, ``end`` a date at 00:00 UTC (exclusive). Listeners
live in local time (fixed UTC offsets per country, no DST); ``ts`` is UTC. Durations are in ms.

Planted structure (constants below hold the parameters; "Measure" says how to recover it; the
tests in tests/test_synthetic.py assert each one on 2000 listeners x 30 days)
------------------------------------------------------------------------------------------------
1. **Catalog and popularity.** Sizes grow with ``sqrt(n_listeners)``: artists ``max(60, 20 sqrt(n))``,
   1 + Poisson(1.5) albums per artist (25% singles/EPs of 1-4 tracks, else 6 + Poisson(6) tracks),
   playlists ``max(40, 3 sqrt(n))`` of 20 + Poisson(30) distinct tracks, shows ``max(30, 2 sqrt(n))``
   publishing every 7 / 3.5 / 2 / 1 days (p = .50/.25/.15/.10) with up to 40 back-catalog episodes
   (15 min - 3 h). Popularity is Zipf-like: artist weight ``rank**-1.0`` (ranks shuffled), album =
   artist x LogNormal(0, 0.7), track = album x ``position**-0.6`` x LogNormal(0, 0.4); playlists
   ``rank**-1.0``, shows ``rank**-1.1``. Measure: slope of log(plays) on log(rank) of the top 2000
   tracks (about -0.8); the top 1% of tracks take > 10% of plays.
2. **Genres.** 20 music genres (:data:`GENRES`, weights ``rank**-0.9``); an artist has a primary
   genre (drawn with its home country's genre prior) and with p = 0.3 a second one; albums and tracks
   inherit both. Playlists have 1-2 genres (the first 20 playlists cover every genre); 85% of their
   tracks come from those genres. 10 podcast genres (:data:`PODCAST_GENRES`, ``rank**-0.8``), one per
   show, inherited by its episodes. About 5% of tracks are explicit (18% of hip-hop, 2% baseline).
3. **Markets.** 6 countries (:data:`COUNTRIES`, shares .36/.20/.15/.06/.13/.10, fixed UTC offsets),
   one language each. 45% of artists and shows are international (English); the rest have a home
   country drawn by country share. A listener weights an item by :data:`LOCAL_BOOST` = 8 when its
   language is the country's, 1 for English and ``mul`` (global playlists), :data:`FOREIGN_WEIGHT`
   = 0.1 otherwise. :data:`COUNTRY_GENRE_BOOST` tilts tastes and local artists' genres (MX reggaeton
   and latin x3, JP k-pop x3, ...). 40% of playlists are local (one market, its language).
   Measure: each non-English country plays its language > 1.5x (measured 2.7-3.8x) its catalog share.
4. **Listeners and taste.** Premium with p = :data:`PREMIUM_SHARE` per country; ``birth_year`` from
   age ~ N(31, 11) clipped to 13-85 (about 10% minors, age < 18 at ``end``); 85% of minors have an
   explicit-content filter and never play ``explicit == 1`` items. Each listener has a dominant
   genre d ~ country genre prior (the *taste segment*) and a taste
   ``theta ~ Dirichlet(3 * country prior + 3 * onehot(d))`` (theta[d] about 0.55 on average).
   Measure: cosine(per-listener genre histogram of plays, theta) has median > 0.8 (0.86).
5. **Activity and time.** Daily active probability ~ Beta(2, 2) (x1.1 premium, x0.6 in cold start,
   capped at 0.98) times the day-of-week factor :data:`DOW_ACTIVITY` (Mon..Sun .92/.92/.95/1/1.08/1.25/1.18);
   1 + Poisson(m) music sessions per active day (m ~ Gamma(2, 0.5) per listener), 1 + Poisson(lambda - 1)
   plays per session (lambda ~ LogNormal(log 4, 0.35), x1.15 at weekends, x0.6 in cold start).
   About 8 plays per active listener-day, 130 events per listener per 30 days. Each listener has a
   preferred daypart (:data:`DAYPARTS` morning 6-10 / daytime 10-17 / evening 17-23 / night 23-6 local,
   p = .25/.30/.35/.10); 70% of sessions start in it, the rest follow :data:`HOURLY_PROFILE`; 60% of
   weekday podcast sessions start in the 06:30-09:30 commute. Plays inside a session are back to back
   (``ms_played`` + 0-3 s); a listener's sessions never overlap (>= 60 s apart).
   Measure: 76% of plays fall in the listener's preferred daypart (local hour); weekday episodes
   start in the morning more than 2x as often as tracks.
6. **Heavy rotation (shortcuts).** Listeners registered more than 14 days before the window start
   with 2 + Binomial(4, 0.5) rotation contexts (60% albums, 40% playlists, drawn by taste and market;
   ``Truth.initial_rotation``), slot weights ``slot**-1``. A music session replays a rotation
   context with the listener's habit strength h ~ Beta(4, 4); otherwise the most recently discovered
   context with p = :data:`RECENT_REPLAY` = 0.25; otherwise it discovers: album .45 / playlist .30 /
   genre radio .25 (tracks without ``context_id``). Album sessions start at track 1 with p = 0.5 and
   play in order; playlist sessions shuffle. After each day the latest discovered context joins the
   front of the rotation with p = :data:`ADOPT_RATE` = 0.05 (0.35 in cold start), pushing out the
   last slot (recency). Replayed contexts are skipped less (x0.6).
   Measure: 50% of established listeners' music plays come from their initial rotation (bound:
   between 0.6 mean(h) and mean(h) + 0.25 (1 - mean(h))); per-listener share vs h has Spearman
   0.7; a listener's top-3 contexts of days 1-15 hold 42% of their context plays of days 16-30
   (the global top-3: 7%).
7. **Podcasts (shows you might like).** 30% of listeners (40% of premium) are podcast listeners,
   with podcast taste ``phi ~ Dirichlet(0.5 * podcast prior)``. On a day (p ~ Beta(3, 3) per
   listener, x0.6 at weekends) they have 1 + Poisson(0.3) one-episode sessions. Established ones
   follow 1 + Binomial(4, 0.4) shows (``Truth.initial_follows``, drawn from the start distribution).
   A session plays a followed show (slot weights ``slot**-1``; the newest released episode, or
   Geometric(0.55) - 1 episodes older) unless the listener explores (p = :data:`EXPLORE_RATE` =
   0.12, always without follows). An exploration is a *trial* with p = :data:`TRIAL_SHARE` = 0.35:
   a show drawn by popularity x market only, played 5 s - 9 min 50 s. Otherwise it is a *start*: a
   show the listener has not started, drawn with weight ``popularity**0.8 x market x (0.05 +
   phi[show genre]) x (SEGMENT_BOOST = 15 if the show is affine to the listener's dominant genre)``,
   played >= 10 min (:data:`START_MIN_MS`), from the first catalog episode with p = 0.3, followed
   afterwards with p = 0.6. Each music genre has ``max(3, round(0.15 n_shows))`` affine shows drawn
   uniformly (``Truth.affine_shows``), so listeners with similar music taste start the same shows:
   a co-listening signal independent of popularity. Label: a start is the first play >= 10 min of
   a show by a listener. Measure: affine share of starts 52% vs 19% of trials (popularity draws);
   mean phi[genre] of started shows > 1.5x that of trials.
8. **New listeners (cold start).** 10% of listeners register in the 14 days before ``end``.
   Everyone registered within 365 days of ``end`` has 2-4 ``onboarding_genres`` drawn from theta
   without replacement. In a listener's first 14 days: activity x0.6, 1 + Poisson(0.3) sessions,
   sessions x0.6 long, discovery album .30 / playlist .55 / radio .15; album and radio genres are
   uniform over the onboarding genres; playlists are drawn with weight ``popularity x market x
   (ONBOARDING_PLAYLIST_BOOST = 10 if the playlist's genres overlap the onboarding genres)``. No
   event precedes ``registered_at``. Measure: 76% of new listeners' playlist plays overlap their
   onboarding genres vs 29% for a uniformly drawn playlist; local playlists are over-represented.
9. **Completion (ms_played).** For tracks, affinity a = theta[primary genre] / max(theta): skip
   (2-29 s, < 30 000 ms) with p = (0.45 - 0.35 a) (x0.6 in rotation/replayed contexts); otherwise a
   full play with p = 0.35 + 0.45 a, else 30-100% of the track (at least 30 s). Episodes: completion
   ~ Beta(1.5 + 3 b, 1.2), b = phi[genre] / max(phi); starts map it onto [10 min, duration].
   Measure: mean completion by affinity quintile 0.55 -> 0.86, skip rate 0.33 -> 0.08 (monotone).
10. **Freshness.** 3% of albums are released inside the window (00:00 UTC, playable from the next
    local day), weighted x(1 + 5 exp(-age_days / 10)) in discovery. No play precedes an item's
    ``release_date`` (episodes included).
11. **Curation.** About 20 rows: ``podcasts`` (4 global + 2 each for BR and DE), ``playlists`` (2
    global + 1 per country), ``editors_picks`` (the 2 newest albums, a playlist, a show). Positions
    start at 1 per (shelf, market), as on the served shelf. Most rows are valid at ``end``; two expired before it, one
    starts after it, one has no ``valid_to`` (open-ended). Curation does not change listening.

Not planted: no friendships, no search queries, no exposure/position bias, no churn.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Iterator

import numpy as np
import pandas as pd

from transforms.io import contract

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1"

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

# --- markets -----------------------------------------------------------------------------------
COUNTRIES: tuple[str, ...] = ("US", "BR", "DE", "SE", "JP", "MX")
COUNTRY_WEIGHTS = np.array([0.36, 0.20, 0.15, 0.06, 0.13, 0.10])
# Language index i < 6 is the language of COUNTRIES[i]; index 6 ("mul") marks a global playlist.
LANGUAGES: tuple[str, ...] = ("en", "pt", "de", "sv", "ja", "es", "mul")
COUNTRY_UTC_OFFSET_H = np.array([-5, -3, 1, 1, 9, -6])
PREMIUM_SHARE = np.array([0.50, 0.30, 0.45, 0.60, 0.35, 0.30])
INTERNATIONAL_SHARE = 0.45      # artists and shows from the US, in English, popular everywhere
LOCAL_BOOST = 8.0               # weight of an item in the listener's country language
FOREIGN_WEIGHT = 0.10           # weight of an item in another language than English / the local one
LOCAL_PLAYLIST_SHARE = 0.40

# --- genres ------------------------------------------------------------------------------------
GENRES: tuple[str, ...] = (
    "pop", "hip-hop", "rock", "electronic", "r&b", "latin", "indie", "country", "metal", "k-pop",
    "jazz", "classical", "reggaeton", "soul", "folk", "punk", "ambient", "blues", "funk", "world",
)
GENRE_ZIPF = 0.9
COUNTRY_GENRE_BOOST: dict[str, dict[str, float]] = {
    "US": {"country": 2.5, "hip-hop": 1.5},
    "BR": {"latin": 2.0, "funk": 3.0},
    "DE": {"electronic": 2.0, "metal": 1.5},
    "SE": {"metal": 2.0, "pop": 1.3},
    "JP": {"k-pop": 3.0, "jazz": 2.0},
    "MX": {"reggaeton": 3.0, "latin": 3.0},
}
PODCAST_GENRES: tuple[str, ...] = (
    "comedy", "news", "true-crime", "society", "sports", "business", "education", "health",
    "technology", "history",
)
PODCAST_GENRE_ZIPF = 0.8
SECOND_GENRE_SHARE = 0.30
PLAYLIST_SECOND_GENRE_SHARE = 0.30
PLAYLIST_GENRE_PURITY = 0.85
TASTE_CONCENTRATION = 3.0
DOMINANT_MASS = 3.0             # extra Dirichlet mass on the listener's dominant genre (taste segment)
PODCAST_TASTE_CONCENTRATION = 0.5

# --- catalog -----------------------------------------------------------------------------------
MIN_ARTISTS, ARTISTS_PER_SQRT_LISTENER = 60, 20.0
MIN_PLAYLISTS, PLAYLISTS_PER_SQRT_LISTENER = 40, 3.0
MIN_SHOWS, SHOWS_PER_SQRT_LISTENER = 30, 2.0
EXTRA_ALBUMS_PER_ARTIST = 1.5
SINGLE_SHARE = 0.25
ARTIST_ZIPF, PLAYLIST_ZIPF, SHOW_ZIPF = 1.0, 1.0, 1.1
ALBUM_POP_SIGMA, TRACK_POP_SIGMA, TRACK_POSITION_DECAY = 0.7, 0.4, 0.6
TRACK_MEDIAN_MS = 205_000
EXPLICIT_P = 0.02
EXPLICIT_P_BY_GENRE = {"hip-hop": 0.18, "reggaeton": 0.12, "punk": 0.10, "metal": 0.08}
NEW_RELEASE_SHARE = 0.03
FRESH_BOOST, FRESH_TAU_DAYS = 5.0, 10.0
BACK_CATALOG_MEAN_DAYS = 1200.0
SHOW_INTERVAL_DAYS = np.array([7.0, 3.5, 2.0, 1.0])
SHOW_INTERVAL_P = np.array([0.50, 0.25, 0.15, 0.10])
MAX_BACK_EPISODES = 40
EPISODE_MIN_MS = 15 * 60_000

# --- listeners ---------------------------------------------------------------------------------
NEW_LISTENER_SHARE = 0.10
COLD_START_DAYS = 14
ONBOARDING_LAUNCH_DAYS = 365
REGISTRATION_SPAN_DAYS = 5 * 365
MINOR_AGE = 18
MINOR_FILTER_P = 0.85
DOW_ACTIVITY = np.array([0.92, 0.92, 0.95, 1.00, 1.08, 1.25, 1.18])   # Monday .. Sunday
PREMIUM_ACTIVITY = 1.10
COLD_ACTIVITY, COLD_EXTRA_SESSIONS, COLD_SESSION_LENGTH = 0.6, 0.3, 0.6
WEEKEND_SESSION_LENGTH = 1.15
PLAYS_PER_SESSION_MEDIAN = 4.0
DAYPARTS: tuple[str, ...] = ("morning", "daytime", "evening", "night")
DAYPART_HOURS = np.array([[6, 10], [10, 17], [17, 23], [23, 30]], dtype=float)   # local; 30 = 06:00 next day
DAYPART_PREFERENCE = np.array([0.25, 0.30, 0.35, 0.10])
DAYPART_LOYALTY = 0.70
HOURLY_PROFILE = np.array([0.5, 0.3, 0.2, 0.15, 0.15, 0.3, 0.8, 1.5, 2.0, 1.6, 1.3, 1.3,
                           1.4, 1.3, 1.3, 1.4, 1.7, 2.0, 2.1, 2.0, 1.8, 1.5, 1.1, 0.8])
SESSION_GAP_MS, PLAY_GAP_MAX_MS = 60_000, 3_000

# --- habits (shortcuts) ------------------------------------------------------------------------
ROTATION_MAX = 6
ROTATION_ALBUM_SHARE = 0.6
ROTATION_ZIPF = 1.0
HABIT_BETA = (4.0, 4.0)
RECENT_REPLAY = 0.25
ADOPT_RATE, ADOPT_RATE_COLD = 0.05, 0.35
DISCOVERY_MIX = np.array([0.45, 0.30, 0.25])        # album, playlist, radio (no context)
COLD_DISCOVERY_MIX = np.array([0.30, 0.55, 0.15])
ONBOARDING_PLAYLIST_BOOST = 10.0
ALBUM_FROM_START = 0.5

# --- podcasts ----------------------------------------------------------------------------------
PODCAST_LISTENER_SHARE, PODCAST_PREMIUM_EXTRA = 0.30, 0.10
PODCAST_DOW = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.6, 0.6])
PODCAST_EXTRA_SESSIONS = 0.3
COMMUTE_HOURS, COMMUTE_SHARE = (6.5, 9.5), 0.6
FOLLOW_MAX = 8
EXPLORE_RATE, TRIAL_SHARE = 0.12, 0.35
FOLLOW_AFTER_START = 0.6
SEGMENT_BOOST = 15.0
AFFINE_SHOW_SHARE = 0.15        # affine shows per music genre: this share of all shows (at least 3)
PODCAST_GENRE_FLOOR = 0.05
START_POP_EXPONENT = 0.8          # starts weight popularity ** this (trials use plain popularity)
START_MIN_MS = 600_000
START_FROM_FIRST = 0.3
EPISODE_LAG_P = 0.55

# --- completion --------------------------------------------------------------------------------
SKIP_MS = 30_000
SKIP_P_DISLIKED, SKIP_P_FAVOURITE = 0.45, 0.10
FAMILIAR_SKIP_FACTOR = 0.6
FULL_PLAY_P0, FULL_PLAY_P1 = 0.35, 0.45

# Event sources (``Truth.event_source`` codes): why the simulator produced a play.
SOURCES: tuple[str, ...] = ("rotation", "recent", "album", "playlist", "radio", "onboarding_playlist",
                            "followed_show", "show_start", "show_trial")
(SRC_ROTATION, SRC_RECENT, SRC_ALBUM, SRC_PLAYLIST, SRC_RADIO, SRC_ONBOARDING_PLAYLIST,
 SRC_FOLLOWED, SRC_START, SRC_TRIAL) = range(len(SOURCES))

_ADJ = np.array(["Midnight", "Golden", "Electric", "Silent", "Wild", "Blue", "Broken", "Neon", "Velvet",
                 "Paper", "Crystal", "Hollow", "Lucky", "Northern", "Savage", "Gentle", "Faded", "Burning",
                 "Little", "Endless", "Secret", "Sweet", "Cold", "Lonely", "Bright"], dtype=object)
_NOUN = np.array(["River", "Heart", "City", "Dream", "Fire", "Road", "Moon", "Garden", "Echo", "Signal",
                  "Harbor", "Mirror", "Summer", "Shadow", "Ocean", "Engine", "Letter", "Window", "Forest",
                  "Radio", "Station", "Horizon", "Island", "Thunder", "Satellite"], dtype=object)
_SHOW_WORD = np.array(["Podcast", "Hour", "Show", "Talk", "Daily", "Weekly", "Files", "Club"], dtype=object)
_PLAYLIST_WORD = np.array(["Essentials", "Hits", "Mix", "Chill", "Rising", "Classics", "Workout", "Focus",
                           "Party", "Deep Cuts"], dtype=object)


@dataclass
class Truth:
    """The hidden parameters behind one generated dataset (row order = the frames' row order).

    Arrays indexed by listener follow ``frames["listeners"]`` rows; ``event_source`` follows
    ``frames["events"]`` rows and holds indices into :data:`SOURCES`.
    """

    taste: np.ndarray                 # (n_listeners, len(GENRES)) float64, rows sum to 1
    podcast_taste: np.ndarray         # (n_listeners, len(PODCAST_GENRES)) float64, rows sum to 1
    listener: pd.DataFrame            # listener_id, dominant_genre, habit, daypart, utc_offset_h,
    #                                   podcast_listener, explicit_filter, activity, cold_start_at_end
    initial_rotation: pd.DataFrame    # listener_id, slot, context_id (heavy rotation at window start)
    initial_follows: pd.DataFrame     # listener_id, slot, show_id (followed shows at window start)
    affine_shows: pd.DataFrame        # genre, show_id (co-listening segments of the podcasts shelf)
    playlist_tracks: pd.DataFrame     # playlist_id, track_id (playlist membership)
    event_source: np.ndarray          # (n_events,) int8, index into SOURCES
    params: dict[str, Any] = field(default_factory=dict)


def generate(n_listeners: int, n_days: int, seed: int, end: str = "2026-11-28") -> dict[str, pd.DataFrame]:
    """Generate a synthetic dataset in the data contract (see the module docstring for its structure).

    ``n_listeners`` accounts, events over the ``n_days`` days before ``end`` (a ``YYYY-MM-DD`` date,
    00:00 UTC, exclusive). Returns ``{"events", "items", "listeners", "curation"}`` DataFrames with
    exactly the columns of :data:`transforms.io.contract.TABLES`, in contract order:

    - ids, types, names, genres (``|``-joined), languages, countries: ``str`` (object dtype);
      nullable ones (``context_id``, ``parent_id``, ``creator_id`` of artists, ``onboarding_genres``)
      hold ``None``;
    - ``ts``, ``registered_at``, ``release_date``, ``valid_from``, ``valid_to``: ``datetime64[ns, UTC]``
      (one curation row has ``valid_to`` NaT: open-ended);
    - ``ms_played``, ``duration_ms`` (ms), ``explicit`` (0/1), ``birth_year``, ``position``: ``int64``.

    Events are sorted by ``ts``; ``events`` holds tracks and episodes only. About 8 plays per
    active listener-day; roughly 130 events per listener for 30 days (13.4 M for 100 000 x 30).
    Same arguments -> identical frames. Raises ValueError for ``n_listeners < 1``, ``n_days < 1``,
    a negative or non-integer ``seed``, or an ``end`` that is not a ``YYYY-MM-DD`` date.
    """
    frames, _truth = generate_with_truth(n_listeners, n_days, seed, end)
    return frames


def generate_with_truth(n_listeners: int, n_days: int, seed: int,
                        end: str = "2026-11-28") -> tuple[dict[str, pd.DataFrame], Truth]:
    """Like :func:`generate`, and also return the hidden parameters as a :class:`Truth`.

    Same frames as :func:`generate` for the same arguments; same errors.
    """
    end_ts, rng, start_ms, end_ms, start_dow, cat = _window_and_catalog(n_listeners, n_days, seed, end)
    lis = _build_listeners(rng, n_listeners, start_ms, end_ms, end_ts.year)
    state = _initial_state(rng, cat, lis, start_ms)
    ev = _simulate(rng, cat, lis, state, start_ms, end_ms, n_days, start_dow)
    log.info("synthetic: %d events for %d listeners over %d days", len(ev["ts"]), n_listeners, n_days)
    frames = {
        "events": _events_frame(cat, lis, ev),
        "items": _items_frame(cat),
        "listeners": _listeners_frame(lis),
        "curation": _curation_frame(rng, cat, start_ms, end_ms),
    }
    truth = _truth(cat, lis, state, ev, end_ms)
    truth.params = {"n_listeners": n_listeners, "n_days": n_days, "seed": seed, "end": end_ts.date().isoformat(),
                    "generator_version": GENERATOR_VERSION}
    return frames, truth


# ------------------------------------------------------------------------------------------------
# helpers


PART_LISTENERS = 200_000   # listeners simulated together by generate_parts (about 3 GB of memory per part)


def generate_parts(n_listeners: int, n_days: int, seed: int, end: str = "2026-11-28",
                   part_listeners: int = PART_LISTENERS) -> Iterator[dict[str, pd.DataFrame]]:
    """The dataset of :func:`generate`, yielded in parts so that memory is bounded by one part.

    With ``n_listeners <= part_listeners``, yields one dict of all four tables, identical to
    :func:`generate` for the same arguments. Otherwise yields ``{"items", "curation"}`` first, then
    ``{"events", "listeners"}`` for each consecutive block of ``part_listeners`` listeners (ids
    continue across parts). All parts share one catalog, sized for ``n_listeners``; each part's
    listeners and plays are drawn from their own stream ``default_rng([seed, part + 1])``, so the
    same arguments give the same parts, and the planted structure holds within every part (a
    part is a complete population: nothing in the simulation couples listeners). Raises
    ValueError like :func:`generate`, and for ``part_listeners < 1``.
    """
    if isinstance(part_listeners, bool) or not isinstance(part_listeners, (int, np.integer)) or part_listeners < 1:
        raise ValueError(f"part_listeners must be an int >= 1, got {part_listeners!r}")
    if n_listeners <= part_listeners:
        yield generate(n_listeners, n_days, seed, end)
        return
    end_ts, rng, start_ms, end_ms, start_dow, cat = _window_and_catalog(n_listeners, n_days, seed, end)
    log.info("synthetic: %d listeners in parts of %d", n_listeners, part_listeners)
    yield {"items": _items_frame(cat), "curation": _curation_frame(rng, cat, start_ms, end_ms)}
    for part, first in enumerate(range(0, n_listeners, part_listeners)):
        prng = np.random.default_rng([seed, part + 1])
        lis = _build_listeners(prng, min(part_listeners, n_listeners - first), start_ms, end_ms, end_ts.year)
        lis.first = first
        ev = _simulate(prng, cat, lis, _initial_state(prng, cat, lis, start_ms), start_ms, end_ms, n_days, start_dow)
        log.info("synthetic: part %d: %d events for listeners %d-%d", part, len(ev["ts"]), first, first + lis.n - 1)
        yield {"events": _events_frame(cat, lis, ev), "listeners": _listeners_frame(lis)}


def _window_and_catalog(n_listeners: int, n_days: int, seed: int, end: Any):
    """Checked arguments -> (end, the seeded generator after the catalog draws, window start and
    end in epoch ms, weekday of the start, catalog): the first draws of every dataset."""
    end_ts = _validate(n_listeners, n_days, seed, end)
    rng = np.random.default_rng(seed)
    end_ms = int(end_ts.value // 1_000_000)
    start_ms = end_ms - n_days * DAY_MS
    start_dow = (end_ts - pd.Timedelta(days=n_days)).dayofweek
    cat = _build_catalog(rng, n_listeners, start_ms, end_ms, n_days)
    log.info("synthetic: catalog of %d items (%d tracks, %d albums, %d playlists, %d shows, %d episodes)",
             cat.n_items, cat.nT, cat.nAl, cat.nP, cat.nS, cat.nE)
    return end_ts, rng, start_ms, end_ms, start_dow, cat


def _validate(n_listeners: int, n_days: int, seed: int, end: Any) -> pd.Timestamp:
    for name, value in (("n_listeners", n_listeners), ("n_days", n_days), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an int, got {value!r}")
    if n_listeners < 1:
        raise ValueError(f"n_listeners must be >= 1, got {n_listeners}")
    if n_days < 1:
        raise ValueError(f"n_days must be >= 1, got {n_days}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    try:
        day = end if isinstance(end, dt.date) and not isinstance(end, dt.datetime) else dt.date.fromisoformat(str(end))
    except ValueError as err:
        raise ValueError(f"end must be a YYYY-MM-DD date, got {end!r}") from err
    return pd.Timestamp(day.isoformat(), tz="UTC")


def _zipf(n: int, s: float) -> np.ndarray:
    return np.arange(1, n + 1, dtype=float) ** -s


def _zipf_shuffled(rng: np.random.Generator, n: int, s: float) -> np.ndarray:
    return _zipf(n, s)[rng.permutation(n)]


def _pick_rows(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row of cumulative weights ``cum`` (k, m): the first column whose cumulative weight exceeds
    ``u * row total`` (u in [0, 1)), i.e. a draw proportional to the row's weights."""
    target = u * cum[:, -1]
    idx = (cum <= target[:, None]).sum(axis=1)
    return np.minimum(idx, cum.shape[1] - 1)


def _dirichlet(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    """Rows ~ Dirichlet(alpha row); ``alpha`` (k, m). Rows that underflow to 0 become uniform."""
    g = rng.gamma(alpha)
    tot = g.sum(axis=1, keepdims=True)
    bad = tot[:, 0] <= 0
    g[bad] = 1.0
    tot[bad] = g.shape[1]
    return g / tot


def _market_weights() -> np.ndarray:
    """(7 markets, 7 languages): market < 6 is a country, market 6 is global (all weights 1)."""
    w = np.full((len(COUNTRIES) + 1, len(LANGUAGES)), FOREIGN_WEIGHT)
    w[:, 0] = 1.0                      # English
    w[:, 6] = 1.0                      # global ("mul") playlists
    w[np.arange(len(COUNTRIES)), np.arange(len(COUNTRIES))] = LOCAL_BOOST
    w[len(COUNTRIES)] = 1.0
    return w


MARKET_WEIGHTS = _market_weights()


def _country_genre_prior() -> np.ndarray:
    base = _zipf(len(GENRES), GENRE_ZIPF)
    prior = np.tile(base, (len(COUNTRIES), 1))
    for ci, country in enumerate(COUNTRIES):
        for genre, factor in COUNTRY_GENRE_BOOST.get(country, {}).items():
            prior[ci, GENRES.index(genre)] *= factor
    return prior / prior.sum(axis=1, keepdims=True)


class _Sampler:
    """Draw one item per query from one of many weighted segments (inverse CDF, one searchsorted).

    ``seg`` must be non-decreasing; every segment ``0..n_segments-1`` must have a positive total.
    """

    def __init__(self, seg: np.ndarray, items: np.ndarray, weights: np.ndarray, n_segments: int):
        tot = np.bincount(seg, weights=weights, minlength=n_segments)
        if len(tot) != n_segments or (tot <= 0).any():
            raise RuntimeError("synthetic: a sampling segment is empty (catalog too small?)")
        cw = np.cumsum(weights / tot[seg])
        starts = np.searchsorted(seg, np.arange(n_segments))
        prefix = np.concatenate([[0.0], cw])[starts]
        self.key = seg + (cw - prefix[seg])
        pos = np.where(weights > 0, np.arange(len(seg)), -1)
        self.last = np.maximum.reduceat(pos, starts)        # last positive-weight index per segment
        self.items = items

    def sample(self, seg: np.ndarray, u: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.key, seg + u, side="right")
        return self.items[np.minimum(idx, self.last[seg])]


def _genre_pairs(g1: np.ndarray, g2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(genre, entity) pairs for entities with a primary and an optional (>= 0) second genre, by genre."""
    ent = np.arange(len(g1))
    has2 = g2 >= 0
    genre = np.concatenate([g1, g2[has2]])
    entity = np.concatenate([ent, ent[has2]])
    order = np.argsort(genre, kind="stable")
    return genre[order], entity[order]


def _market_sampler(pair_genre: np.ndarray, pair_entity: np.ndarray, entity_weight: np.ndarray,
                    entity_lang: np.ndarray, n_markets: int) -> _Sampler:
    """A sampler with segment ``market * len(GENRES) + genre`` over entities weighted by market."""
    G = len(GENRES)
    seg = (np.arange(n_markets)[:, None] * G + pair_genre[None, :]).ravel()
    w = (entity_weight[pair_entity][None, :] * MARKET_WEIGHTS[:n_markets][:, entity_lang[pair_entity]]).ravel()
    return _Sampler(seg, np.tile(pair_entity, n_markets), w, n_markets * G)


def _names(rng: np.random.Generator, n: int, prefix: str = "", suffix_words: np.ndarray | None = None) -> np.ndarray:
    out = _ADJ[rng.integers(0, len(_ADJ), n)] + " " + _NOUN[rng.integers(0, len(_NOUN), n)]
    if suffix_words is not None:
        out = out + " " + suffix_words[rng.integers(0, len(suffix_words), n)]
    if prefix:
        out = prefix + out
    return out


def _ids(prefix: str, n: int, first: int = 0) -> np.ndarray:
    return np.array([f"{prefix}{i:07d}" for i in range(first, first + n)], dtype=object)


def _listener_ids(lis: SimpleNamespace) -> np.ndarray:
    return _ids("L", lis.n, getattr(lis, "first", 0))


def _fresh_weight(base: np.ndarray, release_ms: np.ndarray, avail_ms: int) -> np.ndarray:
    """Discovery weight of albums/tracks on a day: 0 before release, boosted while new."""
    age = (avail_ms - release_ms) / DAY_MS
    boost = 1.0 + FRESH_BOOST * np.exp(-np.maximum(age, 0.0) / FRESH_TAU_DAYS)
    return np.where(age >= 0, base * boost, 0.0)


# ------------------------------------------------------------------------------------------------
# catalog


def _build_catalog(rng: np.random.Generator, n_listeners: int, start_ms: int, end_ms: int,
                   n_days: int) -> SimpleNamespace:
    G, PG, C = len(GENRES), len(PODCAST_GENRES), len(COUNTRIES)
    root = math.sqrt(n_listeners)
    c = SimpleNamespace()
    genre_prior = _zipf(G, GENRE_ZIPF)
    genre_prior /= genre_prior.sum()
    prior_cg = _country_genre_prior()

    # artists
    nA = max(MIN_ARTISTS, round(ARTISTS_PER_SQRT_LISTENER * root))
    intl = rng.random(nA) < INTERNATIONAL_SHARE
    a_country = np.where(intl, 0, rng.choice(C, size=nA, p=COUNTRY_WEIGHTS))
    a_g1 = _pick_rows(np.cumsum(prior_cg[a_country], axis=1), rng.random(nA))
    a_g1[:G] = np.arange(G)                                    # every genre has an artist
    a_g2 = np.where(rng.random(nA) < SECOND_GENRE_SHARE, rng.choice(G, size=nA, p=genre_prior), -1)
    a_g2[a_g2 == a_g1] = -1
    a_pop = _zipf_shuffled(rng, nA, ARTIST_ZIPF)

    # albums (contiguous per artist)
    n_alb = 1 + rng.poisson(EXTRA_ALBUMS_PER_ARTIST, nA)
    alb_artist = np.repeat(np.arange(nA), n_alb)
    nAl = len(alb_artist)
    alb_pop = a_pop[alb_artist] * rng.lognormal(0.0, ALBUM_POP_SIGMA, nAl)
    new = (rng.random(nAl) < NEW_RELEASE_SHARE) & (alb_artist >= G)
    back_days = np.minimum(1 + np.floor(rng.exponential(BACK_CATALOG_MEAN_DAYS, nAl)), 40 * 365)
    alb_rel = np.where(new, start_ms + rng.integers(0, n_days, nAl) * DAY_MS,
                       start_ms - back_days.astype(np.int64) * DAY_MS).astype(np.int64)
    n_tr = np.where(rng.random(nAl) < SINGLE_SHARE, rng.integers(1, 5, nAl), 6 + rng.poisson(6, nAl))

    # tracks (contiguous per album)
    trk_album = np.repeat(np.arange(nAl), n_tr)
    nT = len(trk_album)
    alb_first = np.cumsum(n_tr) - n_tr
    trk_pos = np.arange(nT) - alb_first[trk_album]
    trk_artist = alb_artist[trk_album]
    trk_pop = alb_pop[trk_album] * (trk_pos + 1.0) ** -TRACK_POSITION_DECAY * rng.lognormal(0.0, TRACK_POP_SIGMA, nT)
    trk_dur = np.clip(rng.lognormal(math.log(TRACK_MEDIAN_MS), 0.28, nT), 60_000, 720_000).astype(np.int64)
    p_exp = np.full(G, EXPLICIT_P)
    for genre, p in EXPLICIT_P_BY_GENRE.items():
        p_exp[GENRES.index(genre)] = p
    trk_explicit = (rng.random(nT) < p_exp[a_g1[trk_artist]]).astype(np.int64)
    alb_dur = np.add.reduceat(trk_dur, alb_first)
    alb_explicit = np.maximum.reduceat(trk_explicit, alb_first)
    art_first_alb = np.cumsum(n_alb) - n_alb
    art_dur = np.add.reduceat(alb_dur, art_first_alb)
    art_explicit = np.maximum.reduceat(alb_explicit, art_first_alb)
    art_debut = np.minimum.reduceat(alb_rel, art_first_alb)

    # genre pairs (sorted by genre) for albums and tracks
    alb_pg, alb_pe = _genre_pairs(a_g1[alb_artist], a_g2[alb_artist])
    trk_pg, trk_pe = _genre_pairs(a_g1[trk_artist], a_g2[trk_artist])
    trk_lang = a_country[trk_artist]

    # playlists: built at the window start from back-catalog tracks, 7 markets (6 + global)
    nP = max(MIN_PLAYLISTS, round(PLAYLISTS_PER_SQRT_LISTENER * root))
    p_g1 = rng.choice(G, size=nP, p=genre_prior)
    p_g1[:G] = np.arange(G)
    p_g2 = np.where(rng.random(nP) < PLAYLIST_SECOND_GENRE_SHARE, rng.choice(G, size=nP, p=genre_prior), -1)
    p_g2[p_g2 == p_g1] = -1
    p_local = rng.random(nP) < LOCAL_PLAYLIST_SHARE
    p_country = rng.choice(C, size=nP, p=COUNTRY_WEIGHTS)
    p_lang = np.where(p_local, p_country, 6)
    p_market = np.where(p_local, p_country, C)                # C = the global market
    p_pop = _zipf_shuffled(rng, nP, PLAYLIST_ZIPF)
    p_size = 20 + rng.poisson(30, nP)
    base_trk_w = _fresh_weight(trk_pop, alb_rel[trk_album], start_ms - 1)
    base_trk_sampler = _market_sampler(trk_pg, trk_pe, base_trk_w, trk_lang, C + 1)
    slot_pl = np.repeat(np.arange(nP), p_size)
    u = rng.random((3, len(slot_pl)))
    slot_genre = np.where((p_g2[slot_pl] >= 0) & (u[0] < 0.5), p_g2[slot_pl], p_g1[slot_pl])
    off_genre = rng.choice(G, size=len(slot_pl), p=genre_prior)
    slot_genre = np.where(u[1] < PLAYLIST_GENRE_PURITY, slot_genre, off_genre)
    slot_trk = base_trk_sampler.sample(p_market[slot_pl] * G + slot_genre, u[2])
    _, first_idx = np.unique(slot_pl.astype(np.int64) * nT + slot_trk, return_index=True)
    first_idx.sort()
    pl_of_member, pl_tracks = slot_pl[first_idx], slot_trk[first_idx]
    pl_len = np.bincount(pl_of_member, minlength=nP)
    pl_off = np.cumsum(pl_len) - pl_len
    p_dur = np.add.reduceat(trk_dur[pl_tracks], pl_off)
    p_explicit = np.maximum.reduceat(trk_explicit[pl_tracks], pl_off)
    p_created = start_ms - rng.integers(30, 1500, nP) * DAY_MS
    pl_pg, pl_pe = _genre_pairs(p_g1, p_g2)
    pl_sampler = _market_sampler(pl_pg, pl_pe, p_pop, p_lang, C)
    p_mask = (np.int64(1) << p_g1) | np.where(p_g2 >= 0, np.int64(1) << np.maximum(p_g2, 0), 0)
    pl_market_pop = p_pop[None, :] * MARKET_WEIGHTS[:C][:, p_lang]        # (C, nP)

    # shows and episodes (contiguous per show, by release time)
    nS = max(MIN_SHOWS, round(SHOWS_PER_SQRT_LISTENER * root))
    pod_prior = _zipf(PG, PODCAST_GENRE_ZIPF)
    pod_prior /= pod_prior.sum()
    s_cat = rng.choice(PG, size=nS, p=pod_prior)
    s_cat[:PG] = np.arange(PG)
    s_country = np.where(rng.random(nS) < INTERNATIONAL_SHARE, 0, rng.choice(C, size=nS, p=COUNTRY_WEIGHTS))
    s_pop = _zipf_shuffled(rng, nS, SHOW_ZIPF)
    s_publisher = rng.integers(0, max(1, (2 * nS) // 3), nS)
    risky = np.isin(s_cat, [PODCAST_GENRES.index("comedy"), PODCAST_GENRES.index("true-crime")])
    s_explicit = (rng.random(nS) < np.where(risky, 0.20, 0.03)).astype(np.int64)
    interval = (rng.choice(SHOW_INTERVAL_DAYS, size=nS, p=SHOW_INTERVAL_P) * DAY_MS).astype(np.int64)
    anchor = start_ms - (rng.random(nS) * interval).astype(np.int64)        # last release before start
    launch_age = rng.uniform(30, 1500, nS) * DAY_MS
    n_back = np.minimum(MAX_BACK_EPISODES, np.floor(launch_age / interval)).astype(np.int64) + 1
    n_fwd = np.maximum(np.ceil((end_ms - anchor) / interval).astype(np.int64) - 1, 0)
    n_ep = n_back + n_fwd
    ep_show = np.repeat(np.arange(nS), n_ep)
    nE = len(ep_show)
    ep_first = np.cumsum(n_ep) - n_ep
    ep_k = np.arange(nE) - ep_first[ep_show]
    ep_rel = anchor[ep_show] + (ep_k - (n_back[ep_show] - 1)) * interval[ep_show]
    ep_rel = ep_rel - ep_rel % 60_000                                       # whole minutes
    show_len = rng.uniform(20, 90, nS) * 60_000
    ep_dur = np.clip(rng.lognormal(np.log(show_len[ep_show]), 0.2), EPISODE_MIN_MS, 3 * HOUR_MS).astype(np.int64)
    s_dur = np.add.reduceat(ep_dur, ep_first)
    s_first_rel = ep_rel[ep_first]
    ep_base = int(ep_rel.min())
    ep_key = ep_show.astype(np.int64) * (1 << 42) + (ep_rel - ep_base)
    show_base = s_pop[None, :] * MARKET_WEIGHTS[:C][:, s_country]           # (C, nS)
    show_start_base = s_pop[None, :] ** START_POP_EXPONENT * MARKET_WEIGHTS[:C][:, s_country]
    show_sampler = _Sampler(np.repeat(np.arange(C), nS), np.tile(np.arange(nS), C), show_base.ravel(), C)
    n_affine = int(min(nS, max(3, round(AFFINE_SHOW_SHARE * nS))))
    affine = np.stack([rng.choice(nS, size=n_affine, replace=False) for _ in range(G)])   # (G, n_affine)
    seg_boost = np.ones((G, nS))
    seg_boost[np.repeat(np.arange(G), n_affine), affine.ravel()] = SEGMENT_BOOST

    # item table layout: artists, albums, tracks, playlists, shows, episodes
    c.nA, c.nAl, c.nT, c.nP, c.nS, c.nE = nA, nAl, nT, nP, nS, nE
    c.ALB0 = nA
    c.TRK0 = c.ALB0 + nAl
    c.PL0 = c.TRK0 + nT
    c.SH0 = c.PL0 + nP
    c.EP0 = c.SH0 + nS
    c.n_items = c.EP0 + nE
    type_code = np.repeat(np.arange(6), [nA, nAl, nT, nP, nS, nE])      # ("artist", "album", ...) below
    c.type_names = np.array(["artist", "album", "track", "playlist", "show", "episode"], dtype=object)
    c.type_code = type_code
    # music genre of each item (-1 for podcasts), podcast genre (-1 for music)
    c.music_genre = np.concatenate([a_g1, a_g1[alb_artist], a_g1[trk_artist], p_g1,
                                    np.full(nS + nE, -1)])
    c.podcast_genre = np.concatenate([np.full(nA + nAl + nT + nP, -1), s_cat, s_cat[ep_show]])
    c.duration = np.concatenate([art_dur, alb_dur, trk_dur, p_dur, s_dur, ep_dur]).astype(np.int64)
    c.explicit = np.concatenate([art_explicit, alb_explicit, trk_explicit, p_explicit,
                                 s_explicit, s_explicit[ep_show]]).astype(np.int64)
    c.release_ms = np.concatenate([art_debut, alb_rel, alb_rel[trk_album], p_created, s_first_rel,
                                   ep_rel]).astype(np.int64)
    c.popularity = np.concatenate([a_pop, alb_pop, trk_pop, p_pop, s_pop, s_pop[ep_show]])

    # string columns
    art_ids, alb_ids, trk_ids = _ids("ar", nA), _ids("al", nAl), _ids("tr", nT)
    pl_ids, sh_ids, ep_ids = _ids("pl", nP), _ids("sh", nS), _ids("ep", nE)
    c.item_id = np.concatenate([art_ids, alb_ids, trk_ids, pl_ids, sh_ids, ep_ids])
    genre_names = np.array(GENRES, dtype=object)
    art_genres = np.where(a_g2 >= 0, genre_names[a_g1] + "|" + genre_names[np.maximum(a_g2, 0)], genre_names[a_g1])
    pl_genres = np.where(p_g2 >= 0, genre_names[p_g1] + "|" + genre_names[np.maximum(p_g2, 0)], genre_names[p_g1])
    pod_names = np.array(PODCAST_GENRES, dtype=object)
    c.genres = np.concatenate([art_genres, art_genres[alb_artist], art_genres[trk_artist], pl_genres,
                               pod_names[s_cat], pod_names[s_cat][ep_show]])
    langs = np.array(LANGUAGES, dtype=object)
    c.language = np.concatenate([langs[a_country], langs[a_country][alb_artist], langs[trk_lang], langs[p_lang],
                                 langs[s_country], langs[s_country][ep_show]])
    country_names = np.array(COUNTRIES, dtype=object)
    publishers = _ids("pub", int(s_publisher.max()) + 1)
    editors = np.where(p_local, "editorial-" + country_names[p_country], "editorial")
    c.creator_id = np.concatenate([np.full(nA, None, dtype=object), art_ids[alb_artist], art_ids[trk_artist],
                                   editors.astype(object), publishers[s_publisher], publishers[s_publisher][ep_show]])
    c.parent_id = np.concatenate([np.full(nA + nAl, None, dtype=object), alb_ids[trk_album],
                                  np.full(nP + nS, None, dtype=object), sh_ids[ep_show]])
    art_names = _names(rng, nA, prefix="The ")
    alb_names = _names(rng, nAl)
    trk_names = _names(rng, nT)
    genre_title = np.array([g.title() for g in GENRES], dtype=object)
    pl_names = genre_title[p_g1] + " " + _PLAYLIST_WORD[rng.integers(0, len(_PLAYLIST_WORD), nP)]
    pl_names = np.where(p_local, pl_names + " " + country_names[p_country], pl_names)
    sh_names = _names(rng, nS, suffix_words=_SHOW_WORD)
    ep_no = (ep_k + 1).astype(str).astype(object)
    ep_names = sh_names[ep_show] + " #" + ep_no
    c.name = np.concatenate([art_names, alb_names, trk_names, pl_names, sh_names, ep_names])

    # samplers and lookups used by the simulation
    c.alb_pop, c.alb_rel, c.alb_first, c.alb_ntr = alb_pop, alb_rel, alb_first, n_tr
    c.alb_lang = a_country[alb_artist]
    c.alb_pg, c.alb_pe = alb_pg, alb_pe
    c.trk_pop, c.trk_rel, c.trk_lang, c.trk_pg, c.trk_pe = trk_pop, alb_rel[trk_album], trk_lang, trk_pg, trk_pe
    c.pl_sampler, c.pl_off, c.pl_len, c.pl_tracks = pl_sampler, pl_off, pl_len, pl_tracks
    c.pl_mask, c.pl_market_pop, c.pl_lang = p_mask, pl_market_pop, p_lang
    c.s_cat, c.s_country, c.s_pop = s_cat, s_country, s_pop
    c.show_base, c.show_start_base, c.show_sampler = show_base, show_start_base, show_sampler
    c.seg_boost, c.affine = seg_boost, affine
    c.ep_first, c.ep_key, c.ep_base = ep_first, ep_key, ep_base
    return c


def _daily_samplers(cat: SimpleNamespace, avail_ms: int) -> tuple[_Sampler, _Sampler]:
    """Album and track (radio) samplers for a day: released items only, with the freshness boost."""
    C = len(COUNTRIES)
    alb_w = _fresh_weight(cat.alb_pop, cat.alb_rel, avail_ms)
    trk_w = _fresh_weight(cat.trk_pop, cat.trk_rel, avail_ms)
    return (_market_sampler(cat.alb_pg, cat.alb_pe, alb_w, cat.alb_lang, C),
            _market_sampler(cat.trk_pg, cat.trk_pe, trk_w, cat.trk_lang, C))


# ------------------------------------------------------------------------------------------------
# listeners


def _build_listeners(rng: np.random.Generator, n: int, start_ms: int, end_ms: int, end_year: int) -> SimpleNamespace:
    G, PG, C = len(GENRES), len(PODCAST_GENRES), len(COUNTRIES)
    s = SimpleNamespace(n=n)
    s.country = rng.choice(C, size=n, p=COUNTRY_WEIGHTS)
    s.premium = rng.random(n) < PREMIUM_SHARE[s.country]
    new = rng.random(n) < NEW_LISTENER_SHARE
    cold_ms = COLD_START_DAYS * DAY_MS
    u = rng.random(n)
    s.reg_ms = np.where(new, end_ms - 1 - (u * (cold_ms - 1)).astype(np.int64),
                        end_ms - cold_ms - 1 - (u * ((REGISTRATION_SPAN_DAYS - COLD_START_DAYS) * DAY_MS)).astype(np.int64))
    s.reg_ms = (s.reg_ms - s.reg_ms % 1000).astype(np.int64)           # whole seconds
    prior = _country_genre_prior()[s.country]
    s.dominant = _pick_rows(np.cumsum(prior, axis=1), rng.random(n))
    alpha = TASTE_CONCENTRATION * prior
    alpha[np.arange(n), s.dominant] += DOMINANT_MASS
    s.taste = _dirichlet(rng, alpha)
    s.theta_cum = np.cumsum(s.taste, axis=1)
    s.aff = s.taste / s.taste.max(axis=1, keepdims=True)
    # onboarding genres: 2-4 genres drawn from taste without replacement (Gumbel top-k)
    has_onb = s.reg_ms >= end_ms - ONBOARDING_LAUNCH_DAYS * DAY_MS
    k = rng.integers(2, 5, n)
    keys = np.log(s.taste + 1e-300) + rng.gumbel(size=(n, G))
    order = np.argsort(-keys, axis=1)[:, :4]
    s.onb_n = np.where(has_onb, k, 0)
    s.onb_list = np.where(np.arange(4)[None, :] < s.onb_n[:, None], order, -1)
    s.onb_mask = ((np.int64(1) << np.maximum(s.onb_list, 0)) * (s.onb_list >= 0)).sum(axis=1).astype(np.int64)
    age = np.clip(np.round(rng.normal(31, 11, n)), 13, 85).astype(np.int64)
    s.birth_year = (end_year - age - (rng.random(n) < 0.5)).astype(np.int64)
    s.minor = s.birth_year > end_year - MINOR_AGE
    s.explicit_filter = s.minor & (rng.random(n) < MINOR_FILTER_P)
    s.activity = np.minimum(rng.beta(2, 2, n) * np.where(s.premium, PREMIUM_ACTIVITY, 1.0), 0.98)
    s.sess_extra = rng.gamma(2.0, 0.5, n)
    s.plays_lambda = rng.lognormal(math.log(PLAYS_PER_SESSION_MEDIAN), 0.35, n)
    s.habit = rng.beta(*HABIT_BETA, n)
    s.daypart = rng.choice(len(DAYPARTS), size=n, p=DAYPART_PREFERENCE)
    s.podcast = rng.random(n) < PODCAST_LISTENER_SHARE + PODCAST_PREMIUM_EXTRA * s.premium
    pod_prior = _zipf(PG, PODCAST_GENRE_ZIPF)
    pod_prior /= pod_prior.sum()
    s.podcast_taste = _dirichlet(rng, np.tile(PODCAST_TASTE_CONCENTRATION * pod_prior, (n, 1)))
    s.pod_aff = s.podcast_taste / s.podcast_taste.max(axis=1, keepdims=True)
    s.pod_day = rng.beta(3, 3, n)
    s.pod_row = np.where(s.podcast, np.cumsum(s.podcast) - 1, -1)
    s.offset_ms = COUNTRY_UTC_OFFSET_H[s.country].astype(np.int64) * HOUR_MS
    return s


def _start_weights(cat: SimpleNamespace, lis: SimpleNamespace, L: np.ndarray, played: np.ndarray) -> np.ndarray:
    """(len(L), n_shows) weights of starting each show (0 for shows already started)."""
    w = cat.show_start_base[lis.country[L]] * cat.seg_boost[lis.dominant[L]]
    w *= (PODCAST_GENRE_FLOOR + lis.podcast_taste[L])[:, cat.s_cat]
    w *= ~played[lis.pod_row[L]]
    return w


def _initial_state(rng: np.random.Generator, cat: SimpleNamespace, lis: SimpleNamespace, start_ms: int) -> SimpleNamespace:
    """Heavy rotation and followed shows of listeners registered before the window (- cold start)."""
    n, G = lis.n, len(GENRES)
    st = SimpleNamespace()
    established = lis.reg_ms < start_ms - COLD_START_DAYS * DAY_MS
    alb_sampler, _ = _daily_samplers(cat, start_ms - DAY_MS - 9 * HOUR_MS)
    r = np.where(established, 2 + rng.binomial(ROTATION_MAX - 2, 0.5, n), 0)
    u = rng.random((3, n, ROTATION_MAX))
    L = np.repeat(np.arange(n)[:, None], ROTATION_MAX, axis=1)
    g = _pick_rows(lis.theta_cum[L.ravel()], u[0].ravel()).reshape(n, ROTATION_MAX)
    seg = lis.country[:, None] * G + g
    alb = cat.ALB0 + alb_sampler.sample(seg.ravel(), u[1].ravel()).reshape(n, ROTATION_MAX)
    pl = cat.PL0 + cat.pl_sampler.sample(seg.ravel(), u[1].ravel()).reshape(n, ROTATION_MAX)
    ctx = np.where(u[2] < ROTATION_ALBUM_SHARE, alb, pl)
    st.rot = np.where(np.arange(ROTATION_MAX)[None, :] < r[:, None], ctx, -1).astype(np.int64)
    st.rot_n = r.astype(np.int64)
    st.initial_rot = st.rot.copy()
    st.last_disc = np.full(n, -1, dtype=np.int64)
    st.busy = np.full(n, np.iinfo(np.int64).min // 4, dtype=np.int64)
    # podcasts: followed shows (Gumbel top-k on the start distribution), marked as started
    n_pod = int(lis.podcast.sum())
    st.played = np.zeros((n_pod, cat.nS), dtype=bool)
    st.follow = np.full((n, FOLLOW_MAX), -1, dtype=np.int64)
    st.fol_n = np.zeros(n, dtype=np.int64)
    f = np.where(established & lis.podcast, 1 + rng.binomial(4, 0.4, n), 0)
    who = np.flatnonzero(f > 0)
    for lo in range(0, len(who), 4096):
        rows = who[lo:lo + 4096]
        w = _start_weights(cat, lis, rows, st.played)
        keys = np.log(w + 1e-300) + rng.gumbel(size=w.shape)
        top = np.argsort(-keys, axis=1)[:, :5]
        k = np.minimum(f[rows], cat.nS)
        valid = np.arange(5)[None, :] < k[:, None]
        st.follow[rows, :5] = np.where(valid, top, -1)
        st.fol_n[rows] = k
        rr, cc = np.nonzero(valid)
        st.played[lis.pod_row[rows[rr]], top[rr, cc]] = True
    st.initial_follow = st.follow.copy()
    return st


# ------------------------------------------------------------------------------------------------
# simulation


def _slot_cum(n_max: int, s: float) -> np.ndarray:
    """(n_max + 1, n_max) cumulative Zipf slot weights for 0..n_max filled slots."""
    out = np.zeros((n_max + 1, n_max))
    for k in range(1, n_max + 1):
        w = np.zeros(n_max)
        w[:k] = _zipf(k, s)
        out[k] = np.cumsum(w)
    return out


_ROT_CUM = _slot_cum(ROTATION_MAX, ROTATION_ZIPF)
_FOL_CUM = _slot_cum(FOLLOW_MAX, 1.0)
_HOURLY_CUM = np.cumsum(HOURLY_PROFILE) / HOURLY_PROFILE.sum()


def _grouped_exclusive_cumsum(values: np.ndarray, group_first: np.ndarray) -> np.ndarray:
    """Exclusive cumulative sum of ``values`` restarting at each index where ``group_first`` is True."""
    cs = np.cumsum(values) - values
    starts = np.flatnonzero(group_first)
    grp = np.cumsum(group_first) - 1
    return cs - cs[starts][grp]


def _simulate(rng: np.random.Generator, cat: SimpleNamespace, lis: SimpleNamespace, st: SimpleNamespace,
              start_ms: int, end_ms: int, n_days: int, start_dow: int) -> dict[str, np.ndarray]:
    n, G, C = lis.n, len(GENRES), len(COUNTRIES)
    everyone = np.arange(n)
    max_offset = int(COUNTRY_UTC_OFFSET_H.max()) * HOUR_MS
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("L", "item", "ctx", "ts", "ms", "src")}
    report_every = max(1, n_days // 5)
    for d in range(-1, n_days):                       # local calendar days; day -1 warms up the edges
        day_ms = start_ms + d * DAY_MS
        dow = int((start_dow + d) % 7)
        weekend = dow >= 5
        alb_sampler, trk_sampler = _daily_samplers(cat, day_ms - max_offset)

        # who plays today, how many sessions
        reg_ok = lis.reg_ms < day_ms + DAY_MS + 12 * HOUR_MS
        cold = lis.reg_ms > day_ms - COLD_START_DAYS * DAY_MS
        p_act = np.minimum(lis.activity * DOW_ACTIVITY[dow] * np.where(cold, COLD_ACTIVITY, 1.0), 0.98)
        active = (rng.random(n) < p_act) & reg_ok
        n_mus = np.where(active, 1 + rng.poisson(np.where(cold, COLD_EXTRA_SESSIONS, lis.sess_extra)), 0)
        pod_on = lis.podcast & reg_ok & (rng.random(n) < lis.pod_day * PODCAST_DOW[dow])
        n_pod = np.where(pod_on, 1 + rng.poisson(PODCAST_EXTRA_SESSIONS, n), 0)
        L = np.concatenate([np.repeat(everyone, n_mus), np.repeat(everyone, n_pod)])
        is_pod = np.concatenate([np.zeros(n_mus.sum(), bool), np.ones(n_pod.sum(), bool)])

        # session start: preferred daypart or the hourly profile; podcasts on weekday commutes
        u = rng.random((5, len(L)))
        hours = DAYPART_HOURS[lis.daypart[L]]
        hour = np.where(u[0] < DAYPART_LOYALTY, hours[:, 0] + u[1] * (hours[:, 1] - hours[:, 0]),
                        np.searchsorted(_HOURLY_CUM, u[2], side="right") + u[1])
        if not weekend:
            commute = is_pod & (u[3] < COMMUTE_SHARE)
            hour = np.where(commute, COMMUTE_HOURS[0] + u[4] * (COMMUTE_HOURS[1] - COMMUTE_HOURS[0]), hour)
        s = day_ms + (hour * HOUR_MS).astype(np.int64) - lis.offset_ms[L]
        keep = (s >= lis.reg_ms[L]) & (s < end_ms)
        L, is_pod, s = L[keep], is_pod[keep], s[keep]
        order = np.lexsort((s, L))
        L, is_pod, s = L[order], is_pod[order], s[order]
        S = len(L)
        src = np.full(S, -1, dtype=np.int64)
        ctx = np.full(S, -1, dtype=np.int64)       # global item index of the context, -1 for none
        genre = np.full(S, -1, dtype=np.int64)     # radio genre
        episode = np.full(S, -1, dtype=np.int64)   # global item index of the episode
        cold_s = cold[L]

        # music sessions: rotation, recent replay, or discovery
        mi = np.flatnonzero(~is_pod)
        Lm = L[mi]
        u = rng.random((6, len(mi)))
        rn = st.rot_n[Lm]
        is_rot = (rn > 0) & (u[0] < lis.habit[Lm])
        r_i = np.flatnonzero(is_rot)
        slot = _pick_rows(_ROT_CUM[rn[r_i]], u[1][r_i])
        ctx[mi[r_i]] = st.rot[Lm[r_i], slot]
        src[mi[r_i]] = SRC_ROTATION
        last = st.last_disc[Lm]
        is_rec = ~is_rot & (last >= 0) & (u[1] < RECENT_REPLAY)
        ctx[mi[is_rec]] = last[is_rec]
        src[mi[is_rec]] = SRC_RECENT
        disc = ~is_rot & ~is_rec
        cm = cold_s[mi]
        mix = np.where(cm[:, None], np.cumsum(COLD_DISCOVERY_MIX), np.cumsum(DISCOVERY_MIX))
        kind = np.minimum((mix <= u[2][:, None]).sum(axis=1), 2)
        g_taste = _pick_rows(lis.theta_cum[Lm], u[3])
        onb_n = lis.onb_n[Lm]
        g_onb = lis.onb_list[Lm, np.minimum((u[3] * onb_n).astype(np.int64), 3)]
        use_onb = cm & (onb_n > 0)
        g = np.where(use_onb, g_onb, g_taste)
        seg = lis.country[Lm] * G + g
        a_i = np.flatnonzero(disc & (kind == 0))
        ctx[mi[a_i]] = cat.ALB0 + alb_sampler.sample(seg[a_i], u[4][a_i])
        src[mi[a_i]] = SRC_ALBUM
        p_i = np.flatnonzero(disc & (kind == 1) & ~use_onb)
        ctx[mi[p_i]] = cat.PL0 + cat.pl_sampler.sample(seg[p_i], u[4][p_i])
        src[mi[p_i]] = SRC_PLAYLIST
        o_i = np.flatnonzero(disc & (kind == 1) & use_onb)
        for lo in range(0, len(o_i), 8192):       # cold start: onboarding-matched playlists
            rows = o_i[lo:lo + 8192]
            Lr = Lm[rows]
            match = (cat.pl_mask[None, :] & lis.onb_mask[Lr][:, None]) != 0
            w = cat.pl_market_pop[lis.country[Lr]] * np.where(match, ONBOARDING_PLAYLIST_BOOST, 1.0)
            ctx[mi[rows]] = cat.PL0 + _pick_rows(np.cumsum(w, axis=1), u[4][rows])
        src[mi[o_i]] = SRC_ONBOARDING_PLAYLIST
        d_i = np.flatnonzero(disc & (kind == 2))
        genre[mi[d_i]] = g[d_i]
        src[mi[d_i]] = SRC_RADIO

        # podcast sessions: followed show, trial, or start
        pi = np.flatnonzero(is_pod)
        Lp = L[pi]
        u = rng.random((5, len(pi)))
        fn = st.fol_n[Lp]
        explore = (fn == 0) | (u[0] < EXPLORE_RATE)
        trial = explore & (u[1] < TRIAL_SHARE)
        start = explore & ~trial
        show = np.full(len(pi), -1, dtype=np.int64)
        f_i = np.flatnonzero(~explore)
        show[f_i] = st.follow[Lp[f_i], _pick_rows(_FOL_CUM[fn[f_i]], u[2][f_i])]
        s_i = np.flatnonzero(start)
        if len(s_i):
            w = _start_weights(cat, lis, Lp[s_i], st.played)
            ok = w.sum(axis=1) > 0
            picked = _pick_rows(np.cumsum(w, axis=1), u[2][s_i])
            show[s_i[ok]] = picked[ok]
            trial[s_i[~ok]] = True                   # everything started already: browse instead
            start[s_i[~ok]] = False
        t_i = np.flatnonzero(trial)
        show[t_i] = cat.show_sampler.sample(lis.country[Lp[t_i]], u[2][t_i])
        # a second start of the same show the same day is a replay of it
        s_i = np.flatnonzero(start)
        _, first = np.unique(Lp[s_i] * cat.nS + show[s_i], return_index=True)
        dup = np.ones(len(s_i), bool)
        dup[first] = False
        start[s_i[dup]] = False
        kind_p = np.where(start, SRC_START, np.where(trial, SRC_TRIAL, SRC_FOLLOWED))
        newest = np.searchsorted(cat.ep_key, show * (1 << 42) + (s[pi] - cat.ep_base), side="right") - 1
        lag = rng.geometric(EPISODE_LAG_P, len(pi)) - 1
        ep = np.where(start & (u[3] < START_FROM_FIRST), cat.ep_first[show], newest - lag)
        ep = np.maximum(np.minimum(ep, newest), cat.ep_first[show])
        ctx[pi] = cat.SH0 + show
        episode[pi] = cat.EP0 + ep
        src[pi] = kind_p

        # plays per session
        wk = WEEKEND_SESSION_LENGTH if weekend else 1.0
        lam = lis.plays_lambda[L] * np.where(cold_s, COLD_SESSION_LENGTH, 1.0) * wk
        n_plays = np.where(is_pod, 1, 1 + rng.poisson(np.maximum(lam - 1.0, 0.0)))
        sp = np.repeat(np.arange(S), n_plays)
        k = np.arange(len(sp)) - np.repeat(np.cumsum(n_plays) - n_plays, n_plays)
        P = len(sp)
        u = rng.random((4, P))
        item = np.full(P, -1, dtype=np.int64)
        c_p = ctx[sp]
        alb_p = (c_p >= cat.ALB0) & (c_p < cat.TRK0)
        a = c_p[alb_p] - cat.ALB0
        first_pos = np.where(rng.random(S) < ALBUM_FROM_START, 0.0, rng.random(S))
        start_pos = (first_pos[sp[alb_p]] * cat.alb_ntr[a]).astype(np.int64)
        item[alb_p] = cat.TRK0 + cat.alb_first[a] + (start_pos + k[alb_p]) % cat.alb_ntr[a]
        pl_p = (c_p >= cat.PL0) & (c_p < cat.SH0)
        p = c_p[pl_p] - cat.PL0
        item[pl_p] = cat.TRK0 + cat.pl_tracks[cat.pl_off[p] + (u[0][pl_p] * cat.pl_len[p]).astype(np.int64)]
        rad_p = src[sp] == SRC_RADIO
        item[rad_p] = cat.TRK0 + trk_sampler.sample(lis.country[L[sp[rad_p]]] * G + genre[sp[rad_p]], u[0][rad_p])
        pod_p = is_pod[sp]
        item[pod_p] = episode[sp[pod_p]]

        # explicit-content filter of minors: those plays never happen
        Lp_all = L[sp]
        keep = ~(lis.explicit_filter[Lp_all] & (cat.explicit[item] == 1))
        sp, item, Lp_all, u = sp[keep], item[keep], Lp_all[keep], u[:, keep]
        n_plays = np.bincount(sp, minlength=S)
        alive = n_plays > 0

        # ms_played
        dur = cat.duration[item]
        ms = np.empty(len(item), dtype=np.int64)
        src_p = src[sp]
        mus = ~is_pod[sp]
        aff = lis.aff[Lp_all[mus], cat.music_genre[item[mus]]]
        familiar = np.isin(src_p[mus], (SRC_ROTATION, SRC_RECENT))
        p_skip = (SKIP_P_DISLIKED - (SKIP_P_DISLIKED - SKIP_P_FAVOURITE) * aff) * np.where(familiar, FAMILIAR_SKIP_FACTOR, 1.0)
        skip = u[1][mus] < p_skip
        full = u[2][mus] < FULL_PLAY_P0 + FULL_PLAY_P1 * aff
        dm = dur[mus]
        partial = np.maximum(SKIP_MS, (0.3 + 0.7 * u[3][mus]) * dm)
        ms[mus] = np.where(skip, 2_000 + u[3][mus] * (SKIP_MS - 2_001), np.where(full, dm, partial)).astype(np.int64)
        pod = ~mus
        bp = lis.pod_aff[Lp_all[pod], cat.podcast_genre[item[pod]]]
        comp = rng.beta(1.5 + 3.0 * bp, 1.2)
        dp = dur[pod]
        sp_pod = src_p[pod]
        ms[pod] = np.where(sp_pod == SRC_START, START_MIN_MS + comp * (dp - START_MIN_MS),
                           np.where(sp_pod == SRC_TRIAL, 5_000 + u[3][pod] * (START_MIN_MS - 15_000),
                                    comp * dp)).astype(np.int64)

        # timestamps: plays back to back inside a session; sessions of a listener never overlap
        step = ms + (u[0] * PLAY_GAP_MAX_MS).astype(np.int64)
        sess_first = np.ones(len(sp), dtype=bool)
        sess_first[1:] = sp[1:] != sp[:-1]
        offset = _grouped_exclusive_cumsum(step, sess_first)
        length = np.bincount(sp, weights=step, minlength=S).astype(np.int64)
        al = np.flatnonzero(alive)
        La, sa, blk = L[al], s[al], length[al] + SESSION_GAP_MS
        lfirst = np.r_[True, La[1:] != La[:-1]] if len(La) else np.zeros(0, bool)
        c_ex = _grouped_exclusive_cumsum(blk, lfirst)
        v = sa - c_ex
        grp = np.cumsum(lfirst) - 1
        if len(v):
            base = v.min()
            big = int(v.max() - base) + 1
            running = np.maximum.accumulate((v - base) + grp * big) - grp * big + base
        else:
            running = v
        s_new = np.full(S, 0, dtype=np.int64)
        s_new[al] = c_ex + np.maximum(running, st.busy[La] + SESSION_GAP_MS)
        ts = s_new[sp] + offset
        llast = np.r_[La[1:] != La[:-1], True] if len(La) else np.zeros(0, bool)
        st.busy[La[llast]] = s_new[al][llast] + length[al][llast]

        # state: recent discovery, rotation adoption, podcast starts and follows (alive sessions only)
        dsess = np.flatnonzero(alive & np.isin(src, (SRC_ALBUM, SRC_PLAYLIST, SRC_ONBOARDING_PLAYLIST)))
        if len(dsess):
            Ld = L[dsess]
            is_last = np.r_[Ld[1:] != Ld[:-1], True]
            lastd = dsess[is_last]
            who, what = L[lastd], ctx[lastd]
            st.last_disc[who] = what
            rate = np.where(cold[who], ADOPT_RATE_COLD, ADOPT_RATE)
            present = (st.rot[who] == what[:, None]).any(axis=1)
            adopt = (rng.random(len(who)) < rate) & ~present
            who, what = who[adopt], what[adopt]
            st.rot[who] = np.concatenate([what[:, None], st.rot[who, :-1]], axis=1)
            st.rot_n[who] = np.minimum(st.rot_n[who] + 1, ROTATION_MAX)
        ssess = np.flatnonzero(alive & (src == SRC_START))
        if len(ssess):
            who, what = L[ssess], ctx[ssess] - cat.SH0
            st.played[lis.pod_row[who], what] = True
            fol = (rng.random(len(who)) < FOLLOW_AFTER_START) & ~(st.follow[who] == what[:, None]).any(axis=1)
            # several follows by one listener the same day: keep the last one
            who, what = who[fol], what[fol]
            uniq = np.r_[who[1:] != who[:-1], True] if len(who) else np.zeros(0, bool)
            who, what = who[uniq], what[uniq]
            st.follow[who] = np.concatenate([what[:, None], st.follow[who, :-1]], axis=1)
            st.fol_n[who] = np.minimum(st.fol_n[who] + 1, FOLLOW_MAX)

        inside = (ts >= start_ms) & (ts < end_ms)
        out["L"].append(Lp_all[inside].astype(np.int32))
        out["item"].append(item[inside].astype(np.int32))
        out["ctx"].append(np.where(src_p == SRC_RADIO, -1, ctx[sp])[inside].astype(np.int32))
        out["ts"].append(ts[inside])
        out["ms"].append(ms[inside])
        out["src"].append(src_p[inside].astype(np.int8))
        if d >= 0 and (d + 1) % report_every == 0:
            log.info("synthetic: simulated day %d/%d", d + 1, n_days)

    ev = {k: np.concatenate(v) for k, v in out.items()}
    order = np.argsort(ev["ts"], kind="stable")
    return {k: v[order] for k, v in ev.items()}


# ------------------------------------------------------------------------------------------------
# frames


def _utc(ms: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(ms, dtype=np.int64), unit="ms", utc=True))


def _events_frame(cat: SimpleNamespace, lis: SimpleNamespace, ev: dict[str, np.ndarray]) -> pd.DataFrame:
    listener_ids = _listener_ids(lis)
    with_none = np.append(cat.item_id, None)            # index -1 -> None (no context)
    return pd.DataFrame({
        "listener_id": listener_ids[ev["L"]],
        "item_id": cat.item_id[ev["item"]],
        "item_type": cat.type_names[cat.type_code[ev["item"]]],
        "ts": _utc(ev["ts"]),
        "ms_played": ev["ms"].astype(np.int64),
        "context_id": with_none[ev["ctx"]],
    }, columns=list(contract.EVENTS.column_names))


def _items_frame(cat: SimpleNamespace) -> pd.DataFrame:
    return pd.DataFrame({
        "item_id": cat.item_id,
        "item_type": cat.type_names[cat.type_code],
        "name": cat.name,
        "creator_id": cat.creator_id,
        "parent_id": cat.parent_id,
        "genres": cat.genres,
        "language": cat.language,
        "release_date": _utc(cat.release_ms),
        "duration_ms": cat.duration.astype(np.int64),
        "explicit": cat.explicit.astype(np.int64),
    }, columns=list(contract.ITEMS.column_names))


def _listeners_frame(lis: SimpleNamespace) -> pd.DataFrame:
    genre_names = list(GENRES)
    onb = np.array([("|".join(genre_names[g] for g in row[:k]) if k else None)
                    for row, k in zip(lis.onb_list.tolist(), lis.onb_n.tolist())], dtype=object)
    return pd.DataFrame({
        "listener_id": _listener_ids(lis),
        "registered_at": _utc(lis.reg_ms),
        "country": np.array(COUNTRIES, dtype=object)[lis.country],
        "product": np.where(lis.premium, "premium", "free").astype(object),
        "onboarding_genres": onb,
        "birth_year": lis.birth_year.astype(np.int64),
    }, columns=list(contract.LISTENERS.column_names))


def _curation_frame(rng: np.random.Generator, cat: SimpleNamespace, start_ms: int, end_ms: int) -> pd.DataFrame:
    """Editorial rows; most valid at ``end``, two expired, one not yet valid, one open-ended."""
    C = len(COUNTRIES)
    rows: list[tuple[str, int, int, str]] = []            # shelf, global item index, position, market

    def by_pop(candidates: np.ndarray, pop: np.ndarray, k: int) -> np.ndarray:
        k = min(k, len(candidates))
        return rng.choice(candidates, size=k, replace=False, p=pop / pop.sum()) if k else candidates[:0]

    shows = np.arange(cat.nS)
    for pos, sh in enumerate(by_pop(shows, cat.s_pop, 4), start=1):   # positions are 1-based, as served
        rows.append(("podcasts", cat.SH0 + int(sh), pos, "*"))
    for country in ("BR", "DE"):
        ci = COUNTRIES.index(country)
        local = shows[cat.s_country == ci]
        pick = by_pop(local, cat.s_pop[local], 2) if len(local) else by_pop(shows, cat.s_pop, 2)
        for pos, sh in enumerate(pick, start=1):
            rows.append(("podcasts", cat.SH0 + int(sh), pos, country))
    pls = np.arange(cat.nP)
    pl_pop = cat.popularity[cat.PL0:cat.SH0]
    glob = pls[cat.pl_lang == 6]
    for pos, p in enumerate(by_pop(glob if len(glob) else pls, pl_pop[glob] if len(glob) else pl_pop, 2), start=1):
        rows.append(("playlists", cat.PL0 + int(p), pos, "*"))
    for ci, country in enumerate(COUNTRIES):
        local = pls[cat.pl_lang == ci]
        pick = by_pop(local, pl_pop[local], 1) if len(local) else by_pop(pls, pl_pop, 1)
        rows.append(("playlists", cat.PL0 + int(pick[0]), 1, country))
    newest_albums = np.argsort(-cat.alb_rel[:cat.nAl], kind="stable")[:2]
    picks = [cat.ALB0 + int(a) for a in newest_albums]
    picks.append(cat.PL0 + int(by_pop(pls, pl_pop, 1)[0]))
    picks.append(cat.SH0 + int(by_pop(shows, cat.s_pop, 1)[0]))
    for pos, it in enumerate(picks, start=1):
        rows.append(("editors_picks", it, pos, "*"))

    n = len(rows)
    valid_from = end_ms - rng.integers(2, 29, n) * DAY_MS
    valid_to = (end_ms + rng.integers(1, 29, n) * DAY_MS).astype(float)
    special = rng.choice(n, size=4, replace=False)
    for i in special[:2]:                                    # expired before end
        valid_to[i] = end_ms - int(rng.integers(1, 6)) * DAY_MS
        valid_from[i] = int(valid_to[i]) - int(rng.integers(7, 29)) * DAY_MS
    valid_from[special[2]] = end_ms + 2 * DAY_MS             # starts after end
    valid_to[special[2]] = end_ms + 30 * DAY_MS
    valid_to[special[3]] = np.nan                            # open-ended
    vt = pd.Series(pd.to_datetime(valid_to, unit="ms", utc=True))
    return pd.DataFrame({
        "shelf": np.array([r[0] for r in rows], dtype=object),
        "item_id": cat.item_id[np.array([r[1] for r in rows])],
        "position": np.array([r[2] for r in rows], dtype=np.int64),
        "market": np.array([r[3] for r in rows], dtype=object),
        "valid_from": _utc(valid_from),
        "valid_to": vt,
    }, columns=list(contract.CURATION.column_names))


def _truth(cat: SimpleNamespace, lis: SimpleNamespace, st: SimpleNamespace, ev: dict[str, np.ndarray],
           end_ms: int) -> Truth:
    listener_ids = _listener_ids(lis)
    rr, cc = np.nonzero(st.initial_rot >= 0)
    fr, fc = np.nonzero(st.initial_follow >= 0)
    G = len(GENRES)
    n_aff = cat.affine.shape[1]
    return Truth(
        taste=lis.taste,
        podcast_taste=lis.podcast_taste,
        listener=pd.DataFrame({
            "listener_id": listener_ids,
            "dominant_genre": np.array(GENRES, dtype=object)[lis.dominant],
            "habit": lis.habit,
            "daypart": np.array(DAYPARTS, dtype=object)[lis.daypart],
            "utc_offset_h": COUNTRY_UTC_OFFSET_H[lis.country].astype(np.int64),
            "podcast_listener": lis.podcast,
            "explicit_filter": lis.explicit_filter,
            "activity": lis.activity,
            "cold_start_at_end": lis.reg_ms > end_ms - COLD_START_DAYS * DAY_MS,
        }),
        initial_rotation=pd.DataFrame({"listener_id": listener_ids[rr], "slot": cc.astype(np.int64),
                                       "context_id": cat.item_id[st.initial_rot[rr, cc]]}),
        initial_follows=pd.DataFrame({"listener_id": listener_ids[fr], "slot": fc.astype(np.int64),
                                      "show_id": cat.item_id[cat.SH0 + st.initial_follow[fr, fc]]}),
        affine_shows=pd.DataFrame({"genre": np.repeat(np.array(GENRES, dtype=object), n_aff),
                                   "show_id": cat.item_id[cat.SH0 + cat.affine.ravel()]}),
        playlist_tracks=pd.DataFrame({
            "playlist_id": cat.item_id[cat.PL0 + np.repeat(np.arange(cat.nP), cat.pl_len)],
            "track_id": cat.item_id[cat.TRK0 + cat.pl_tracks]}),
        event_source=ev["src"],
    )
