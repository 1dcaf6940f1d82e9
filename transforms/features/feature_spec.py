"""The feature spec: the one declared list of features per shelf.

Training, serving, statistics and drift all read :data:`FEATURE_SPECS`; the feature function in
:mod:`transforms.features.features` returns columns in exactly this order. Changing a spec changes its
fingerprint, and serving refuses a model trained on another fingerprint.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Feature:
    """One feature: ``dtype`` is the matrix dtype (always float32; NaN = missing);
    ``kind`` is ``numeric`` or ``categorical`` (statistics and drift treat the two differently)."""

    name: str
    kind: str
    definition: str
    dtype: str = "float32"


_ALL = {f.name: f for f in [
    Feature("plays_7d", "numeric", "listener's plays of the item in [as_of-7d, as_of)"),
    Feature("plays_28d", "numeric", "listener's plays of the item in [as_of-28d, as_of)"),
    Feature("plays_all", "numeric", "listener's plays of the item before as_of"),
    Feature("frecency_7d", "numeric", "sum over the item's plays of exp(-age_days/7)"),
    Feature("actr_activation", "numeric", "ACT-R base-level activation: sum over the item's plays of age_days**-0.5 "
            "(age floored at 1 s; 0 if never played). Reiter-Haas et al., RecSys 2021"),
    Feature("last_play_days", "numeric", "days from the item's last play to as_of; missing if never played"),
    Feature("completion_ratio", "numeric", "mean of min(ms_played/duration_ms, 1) over the item's plays; missing if unknown"),
    Feature("skip_rate", "numeric", "share of the item's plays shorter than 30 s; missing if never played"),
    Feature("tod_affinity", "numeric", "share of the item's plays in the listener's most active 6-hour daypart (UTC)"),
    Feature("dow_affinity", "numeric", "share of the item's plays on as_of's weekday (UTC)"),
    Feature("pop_market_log", "numeric", "log1p(distinct listeners in the listener's market who played the item in 28d)"),
    Feature("pop_global_log", "numeric", "log1p(distinct listeners in all markets who played the item in 28d)"),
    Feature("pop_cohort_log", "numeric", "log1p(distinct listeners of the listener's taste cohort (most played "
            "primary genre) who played the item in 28d)"),
    Feature("onboarding_overlap", "numeric", "share of the item's genres among the listener's onboarding genres"),
    Feature("shelf_genre_overlap", "numeric", "share of the item's genres among genres of items the listener "
            "played on this shelf"),
    Feature("trend", "numeric", "share of the item's 28d market listeners who played it in the last 7d"),
    Feature("colisten_score", "numeric", "sum of cosine co-listening similarity to items the listener played"),
    Feature("genre_match", "numeric", "Jaccard of item genres and listener genres (onboarding + top played)"),
    Feature("tenure_days", "numeric", "days from registered_at to as_of"),
    Feature("listener_plays_28d", "numeric", "listener's plays of anything in [as_of-28d, as_of)"),
    Feature("listener_active_days_28d", "numeric", "distinct UTC days with a play in [as_of-28d, as_of)"),
    Feature("src_history", "categorical", "1 if the 'history' candidate source produced the item"),
    Feature("src_colisten", "categorical", "1 if the 'colisten' candidate source produced the item"),
    Feature("src_popular", "categorical", "1 if the 'popular' candidate source produced the item"),
    Feature("src_onboarding", "categorical", "1 if the 'onboarding' candidate source produced the item"),
]}

_SHELF_FEATURES = {
    "shortcuts": ["plays_7d", "plays_28d", "plays_all", "frecency_7d", "actr_activation", "last_play_days",
                  "completion_ratio",
                  "skip_rate", "tod_affinity", "dow_affinity", "pop_market_log", "trend", "genre_match",
                  "tenure_days", "listener_plays_28d", "listener_active_days_28d", "src_history"],
    "podcasts": ["colisten_score", "pop_market_log", "pop_global_log", "pop_cohort_log", "trend", "genre_match",
                 "shelf_genre_overlap", "tenure_days", "listener_plays_28d", "listener_active_days_28d",
                 "src_colisten", "src_popular", "src_onboarding"],
    "playlists": ["pop_market_log", "pop_global_log", "pop_cohort_log", "trend", "genre_match", "onboarding_overlap",
                  "colisten_score", "tenure_days", "listener_plays_28d", "src_popular", "src_onboarding",
                  "src_colisten"],
}
FEATURE_SPECS: dict[str, tuple[Feature, ...]] = {
    shelf: tuple(_ALL[n] for n in names) for shelf, names in _SHELF_FEATURES.items()}
ALL_FEATURES: dict[str, Feature] = _ALL


def feature_names(shelf: str) -> list[str]:
    """Column order of ``shelf``'s feature matrix. Raises KeyError for a shelf without a spec."""
    return [f.name for f in FEATURE_SPECS[shelf]]


# Bumped when the code behind a shelf's features changes meaning while the declared list stays the
# same, so that a model trained on the old meaning is refused (and the shelf falls back, with the
# reason in the manifest) instead of being served features it has never seen.
# shortcuts 2: familiar shelf, a play counts at every entity level (item, context, parent, creator).
SPEC_REVISIONS: dict[str, int] = {"shortcuts": 2}


def spec_fingerprint(shelf: str) -> str:
    """sha256 (first 16 hex) of the shelf's spec as canonical JSON, with its revision
    (:data:`SPEC_REVISIONS`, 1 when absent; revision 1 hashes as the spec alone, as before)."""
    spec = [asdict(f) for f in FEATURE_SPECS[shelf]]
    revision = SPEC_REVISIONS.get(shelf, 1)
    payload = json.dumps(spec if revision == 1 else {"features": spec, "revision": revision}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
