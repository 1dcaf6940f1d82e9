"""Per-listener history: the events of one listener as sorted numpy arrays, plus their profile.

Built once per listener in the pipeline, then viewed at any ``as_of`` (:meth:`ListenerState.before`),
which is how the daily job and the training-example job see exactly the same history.
Timestamps are int64 **milliseconds since the epoch, UTC**.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from transforms.io.packing import Columns, pack, unpack

EVENT_FIELDS = ("item_id", "item_type", "context_id", "ts_ms", "ms_played")
MS_PER_DAY = 86_400_000


def to_ms(ts) -> int:
    """A timestamp (str, datetime, pandas Timestamp) to epoch milliseconds UTC."""
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return int(t.value // 1_000_000)


def event_block(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Accepted ``events`` rows (contract columns) to a compact block of arrays:
    item_id/item_type/context_id object, ts_ms int64 (epoch ms UTC), ms_played float64 (NaN = unknown)."""
    return {
        "item_id": frame["item_id"].to_numpy(dtype=object),
        "item_type": frame["item_type"].to_numpy(dtype=object),
        "context_id": frame["context_id"].to_numpy(dtype=object) if "context_id" in frame else
        np.full(len(frame), None, dtype=object),
        "ts_ms": (frame["ts"].astype("datetime64[ns, UTC]").astype("int64") // 1_000_000).to_numpy(dtype=np.int64),
        "ms_played": pd.to_numeric(frame["ms_played"], errors="coerce").astype("float64").to_numpy(),
    }


def concat_blocks(blocks) -> dict[str, np.ndarray]:
    """Concatenate event blocks and sort them (:func:`event_order`) so order never depends on arrival."""
    blocks = list(blocks)
    if not blocks:
        return {k: np.zeros(0, dtype=np.int64 if k == "ts_ms" else (np.float64 if k == "ms_played" else object))
                for k in EVENT_FIELDS}
    out = {k: np.concatenate([b[k] for b in blocks]) for k in EVENT_FIELDS}
    order = event_order(out)
    return {k: v[order] for k, v in out.items()}


def str_order_codes(values: np.ndarray) -> np.ndarray:
    """int64 codes (n,) that sort like ``values.astype(str)`` and are equal exactly where those
    strings are equal.

    Why: sorting n strings compares strings O(n log n) times; hashing them once
    (``pd.factorize``) and sorting only the distinct ones leaves an integer sort key, several
    times cheaper for events, where each item id repeats many times.
    """
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=False)
    _, rank = np.unique(np.asarray(uniques, dtype=object).astype(str), return_inverse=True)
    return rank.astype(np.int64)[codes]


def event_order(events: dict[str, np.ndarray], who: np.ndarray | None = None) -> np.ndarray:
    """Indices that sort events by (who, ts, item id, ms played, context id): a total order on
    what an event holds, so the order never depends on which file or row group arrived first."""
    item = str_order_codes(events["item_id"])
    main = (item, events["ts_ms"]) if who is None else (item, events["ts_ms"], who)
    order = np.lexsort(main)
    # ms played and context only break ties, which are rare: sort on them only when some exist
    tied = np.ones(max(len(order) - 1, 0), dtype=bool)
    for key in main:
        ranked = key[order]
        tied &= ranked[1:] == ranked[:-1]
    if not tied.any():
        return order
    context = pd.Series(events["context_id"], dtype=object).fillna("").astype(str).to_numpy()
    return np.lexsort((context, np.nan_to_num(events["ms_played"], nan=-1.0)) + main)


@dataclass
class Profile:
    """A listener's side-table row. ``registered_ms`` is epoch ms UTC; ``derived`` is True when the
    listener had events but no ``listeners`` row (registered_at then = first play)."""

    registered_ms: int
    market: str
    product: str | None = None
    onboarding_genres: frozenset = field(default_factory=frozenset)
    birth_year: int | None = None
    derived: bool = False


@dataclass
class ListenerState:
    """One listener: id, profile, and all their accepted events (sorted by time)."""

    listener_id: str
    profile: Profile
    events: dict[str, np.ndarray]

    @property
    def n_events(self) -> int:
        return len(self.events["ts_ms"])

    def before(self, as_of_ms: int) -> dict[str, np.ndarray]:
        """Events with ``ts < as_of`` (the only ones any feature may use)."""
        cut = int(np.searchsorted(self.events["ts_ms"], as_of_ms, side="left"))
        return {k: v[:cut] for k, v in self.events.items()}

    def window(self, start_ms: int, end_ms: int) -> dict[str, np.ndarray]:
        """Events with ``start <= ts < end`` (labels use ``[as_of, as_of + horizon)``)."""
        ts = self.events["ts_ms"]
        lo, hi = np.searchsorted(ts, start_ms, side="left"), np.searchsorted(ts, end_ms, side="left")
        return {k: v[lo:hi] for k, v in self.events.items()}

    def tenure_days(self, as_of_ms: int) -> float:
        return (as_of_ms - self.profile.registered_ms) / MS_PER_DAY

    def is_registered(self, as_of_ms: int) -> bool:
        return self.profile.registered_ms < as_of_ms


def profile_from_row(row: dict, default_market: str) -> Profile:
    """A validated ``listeners`` row (dict of contract columns) to a :class:`Profile`."""
    genres = row.get("onboarding_genres")
    by = row.get("birth_year")
    return Profile(
        registered_ms=to_ms(row["registered_at"]),
        market=row.get("country") or default_market,
        product=row.get("product"),
        onboarding_genres=frozenset(genres.split("|")) if isinstance(genres, str) and genres else frozenset(),
        birth_year=None if by is None or pd.isna(by) else int(by),
    )


def build_state(listener_id: str, blocks: list, profile_rows: list[dict], default_market: str
                ) -> tuple[ListenerState | None, list[dict]]:
    """Join a listener's event blocks with their ``listeners`` rows.

    The first profile row (by source file, then row number) wins; the others are returned as
    duplicates to reject. A listener with events but no row gets a derived profile
    (registered_at = first play, default market). Returns ``(None, dups)`` when there is neither.
    """
    rows = sorted(profile_rows, key=lambda r: (str(r.get("_source_file", "")), int(r.get("_row_number", 0))))
    events = concat_blocks(blocks)
    if rows:
        profile = profile_from_row(rows[0], default_market)
    elif len(events["ts_ms"]):
        profile = Profile(registered_ms=int(events["ts_ms"][0]), market=default_market, derived=True)
    else:
        return None, rows[1:]
    return ListenerState(listener_id, profile, events), rows[1:]


@dataclass
class ListenerColumns:
    """Many listeners' profiles and events as columns, ids still strings (the codebook encodes them).

    Listener arrays have length B; event arrays length E, sorted by (who, ts, item id), so each
    listener's events are contiguous and in time order, as in :class:`ListenerState`.
    ``onboarding``: object (B,) of frozensets of genre names; ``birth_year``: float64, NaN unknown;
    ``derived``: bool, the listener had events but no ``listeners`` row."""

    listener_id: np.ndarray
    market: np.ndarray
    registered_ms: np.ndarray
    birth_year: np.ndarray
    onboarding: np.ndarray
    derived: np.ndarray
    who: np.ndarray
    events: dict[str, np.ndarray]

    @property
    def size(self) -> int:
        return len(self.listener_id)

    def __reduce__(self):
        # Beam pickles batches between stages: send object columns as integer codes (transforms.io.packing)
        arrays = [pack(getattr(self, f)) for f in _LISTENER_ARRAYS]
        return _unpack_listener_columns, (arrays, Columns(self.events))

    @classmethod
    def from_states(cls, states: list[ListenerState]) -> "ListenerColumns":
        """Stack :class:`ListenerState` objects (tests and in-memory tools)."""
        sizes = np.fromiter((s.n_events for s in states), dtype=np.int64, count=len(states))
        events = concat_blocks([])
        if states:
            events = {k: np.concatenate([s.events[k] for s in states]) for k in EVENT_FIELDS}
        onboarding = np.empty(len(states), dtype=object)
        onboarding[:] = [s.profile.onboarding_genres for s in states]
        return cls(np.asarray([s.listener_id for s in states], dtype=object),
                   np.asarray([s.profile.market for s in states], dtype=object),
                   np.asarray([s.profile.registered_ms for s in states], dtype=np.int64),
                   np.asarray([np.nan if s.profile.birth_year is None else float(s.profile.birth_year) for s in states],
                              dtype=np.float64),
                   onboarding, np.asarray([s.profile.derived for s in states], dtype=bool),
                   np.repeat(np.arange(len(states), dtype=np.int64), sizes), events)

    def split(self, max_listeners: int) -> list["ListenerColumns"]:
        """Consecutive slices of at most ``max_listeners`` listeners (events follow their listener)."""
        bounds = np.searchsorted(self.who, np.arange(0, self.size + max_listeners, max_listeners))
        out = []
        for i, lo in enumerate(range(0, self.size, max_listeners)):
            hi = min(lo + max_listeners, self.size)
            e0, e1 = bounds[i], bounds[i + 1] if i + 1 < len(bounds) else len(self.who)
            out.append(ListenerColumns(*(a[lo:hi] for a in (self.listener_id, self.market, self.registered_ms,
                                                            self.birth_year, self.onboarding, self.derived)),
                                       self.who[e0:e1] - lo, {k: v[e0:e1] for k, v in self.events.items()}))
        return out

    def take(self, listeners: np.ndarray) -> "ListenerColumns":
        """The listeners at sorted indices ``listeners`` (int64), with their events, in a new object."""
        listeners = np.asarray(listeners, dtype=np.int64)
        new_index = np.full(self.size, -1, dtype=np.int64)
        new_index[listeners] = np.arange(len(listeners))
        keep = new_index[self.who] >= 0
        return ListenerColumns(*(a[listeners] for a in (self.listener_id, self.market, self.registered_ms,
                                                        self.birth_year, self.onboarding, self.derived)),
                               new_index[self.who[keep]], {k: v[keep] for k, v in self.events.items()})

    def stacked(self) -> dict[str, np.ndarray]:
        """Events with ``who`` and the listener's ``market`` per event (population aggregates)."""
        return {**self.events, "who": self.who, "market": self.market[self.who]}


_LISTENER_ARRAYS = ("listener_id", "market", "registered_ms", "birth_year", "onboarding", "derived", "who")


def _unpack_listener_columns(arrays, events) -> ListenerColumns:
    return ListenerColumns(*(unpack(a) for a in arrays), dict(events))


def build_listeners(blocks: list[dict], profiles: pd.DataFrame | None, default_market: str
                    ) -> tuple[ListenerColumns, pd.DataFrame]:
    """Join the event blocks and ``listeners`` rows of many listeners (e.g. one shard) into columns.

    ``blocks``: dicts of :data:`EVENT_FIELDS` arrays plus ``listener_id``; ``profiles``: accepted
    ``listeners`` rows with ``_source_file`` and ``_row_number``. The first row per listener (by
    source file, then row number) wins; the other rows are returned to be rejected as duplicates.
    A listener with events but no row gets a derived profile (registered_at = first play, default
    market). Listeners are in id order; their events sorted as in :func:`event_order`.
    Returns ``(columns, rejected duplicate rows)`` (reason ``duplicate_key``).
    """
    if blocks:
        ev = {k: np.concatenate([b[k] for b in blocks]) for k in EVENT_FIELDS + ("listener_id",)}
    else:
        ev = {**concat_blocks([]), "listener_id": np.zeros(0, dtype=object)}
    from transforms.io import contract
    from transforms.io.validate import reject_duplicate_keys, rejected_frame

    dups = rejected_frame("listeners", "", [], [], [], [])
    if profiles is not None and len(profiles):
        profiles = profiles.sort_values(["_source_file", "_row_number"], kind="stable")
        profiles, dups = reject_duplicate_keys(profiles, contract.LISTENERS)
    else:
        profiles = pd.DataFrame(columns=["listener_id"])
    # distinct event listeners by hashing, then sort only those: sorting every event's id string
    # was the costliest line of this function
    ev_codes, ev_ids = pd.factorize(ev["listener_id"].astype(object))
    ids = np.unique(np.concatenate([np.asarray(ev_ids, dtype=object), profiles["listener_id"].to_numpy(dtype=object)]))
    who = np.searchsorted(ids, np.asarray(ev_ids, dtype=object)).astype(np.int64)[ev_codes] if len(ids) \
        else np.zeros(0, np.int64)
    order = event_order(ev, who)
    who = who[order]
    events = {k: ev[k][order] for k in EVENT_FIELDS}
    n = len(ids)
    at = np.searchsorted(ids, profiles["listener_id"].to_numpy(dtype=object)) if len(profiles) else np.zeros(0, int)
    has_row = np.zeros(n, dtype=bool)
    has_row[at] = True
    first_ts = np.zeros(n, dtype=np.int64)
    starts = np.searchsorted(who, np.arange(n))
    with_events = np.bincount(who, minlength=n) > 0
    first_ts[with_events] = events["ts_ms"][starts[with_events]]
    registered = first_ts.copy()
    market = np.full(n, default_market, dtype=object)
    birth = np.full(n, np.nan)
    onboarding = np.empty(n, dtype=object)
    onboarding[:] = [frozenset()] * n
    if len(profiles):
        # the columns of profile_from_row, for all rows at once
        reg = pd.to_datetime(profiles["registered_at"], utc=True).astype("datetime64[ns, UTC]")
        registered[at] = (reg.astype("int64") // 1_000_000).to_numpy(dtype=np.int64)
        if "country" in profiles:
            country = profiles["country"].to_numpy(dtype=object)
            market[at] = np.where(pd.notna(country) & (country != ""), country, default_market)
        if "birth_year" in profiles:
            birth[at] = pd.to_numeric(profiles["birth_year"], errors="coerce").to_numpy(dtype=np.float64)
        if "onboarding_genres" in profiles:
            genres = profiles["onboarding_genres"].to_numpy(dtype=object)
            onboarding[at] = [frozenset(g.split("|")) if isinstance(g, str) and g else frozenset() for g in genres]
    return ListenerColumns(ids.astype(object), market, registered, birth, onboarding, ~has_row, who, events), dups
