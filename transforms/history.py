"""Per-listener history: the events of one listener as sorted numpy arrays, plus their profile.

Built once per listener in the pipeline, then viewed at any ``as_of`` (:meth:`ListenerState.before`),
which is how the daily job and the training-example job see exactly the same history.
Timestamps are int64 **milliseconds since the epoch, UTC**.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

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
    """Concatenate event blocks and sort by (ts_ms, item_id) so order never depends on arrival."""
    blocks = list(blocks)
    if not blocks:
        return {k: np.zeros(0, dtype=np.int64 if k == "ts_ms" else (np.float64 if k == "ms_played" else object))
                for k in EVENT_FIELDS}
    out = {k: np.concatenate([b[k] for b in blocks]) for k in EVENT_FIELDS}
    order = np.lexsort((out["item_id"].astype(str), out["ts_ms"]))
    return {k: v[order] for k, v in out.items()}


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
