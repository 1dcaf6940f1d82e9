"""The typed configuration: one pydantic model per section, the one place every key, type and default lives.

:func:`transforms.config.config.load_config` validates the merged YAML through :class:`Config` and hands the
callers its plain-dict dump (``Config().model_dump()`` is the default config). Every model refuses
unknown keys (``extra="forbid"``) and is strict: YAML ``"false"`` is not a boolean, ``28`` in quotes
is not a number. ``docs/CONFIG.md`` is generated from these fields (``home-recs config docs``).
Times are UTC; durations are in days unless the key says otherwise.
"""
from __future__ import annotations

import copy
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

SHELF_KINDS = ("model", "rule", "editorial")


def F(default: Any = ..., description: str = "", **kw) -> Any:
    """A pydantic Field with its default (``...``: required) and one-line description; a mutable
    default (dict, list, model) is deep-copied for every instance, so no two configs share one."""
    if isinstance(default, (dict, list, BaseModel)):
        return Field(default_factory=lambda: copy.deepcopy(default), description=description, **kw)
    return Field(default, description=description, **kw)


class Section(BaseModel):
    """Base of every section: unknown keys refused, no type coercion but int -> float."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=False)


class Run(Section):
    """``run:`` how the daily job cuts its work (memory and parallelism, not results)."""

    event_chunk_rows: int = F(50_000, "rows per validation chunk (bounds worker memory)", gt=0)
    events_per_block: int = F(1_000_000, "accepted events of one file part joined up to this many rows before "
                                         "they are cut by listener shard", gt=0)
    events_per_shard: int = F(500_000, "listeners are grouped into shards of about this many events (hash of the id)",
                              gt=0)
    listener_batch_size: int = F(4096, "listeners per batch: stages 1 and 2 run on all of them at once", gt=0)
    spill_listeners: bool = F(True, "write event blocks and listener shards under the run's staging folder, so "
                                    "memory is bounded by one shard (transforms/io/spill.py)")


class Listeners(Section):
    """``listeners:`` who counts as new, and the market of listeners without a country."""

    new_listener_days: int = F(14, "tenure below this at as_of makes a new listener (cold start)", ge=0)
    default_market: str = F("unknown", "market of listeners without a country")


class Popularity(Section):
    """``popularity:`` the popular-items side table."""

    window_days: int = F(28, "popularity = distinct listeners in [as_of - window_days, as_of)", gt=0)
    trend_days: int = F(7, "trend = share of the window's listeners in the last trend_days", gt=0)
    top_n_per_market: int = F(300, "popular items kept per (market, item type)", gt=0)


class Colisten(Section):
    """``colisten:`` the Beam co-listening neighbours (used when no --neighbours table is given)."""

    max_items_per_listener: int = F(50, "items per listener before pairing (one heavy listener cannot dominate)", gt=0)
    beam_shelves: Optional[list[str]] = F(["podcasts", "playlists"], "shelves whose pairs Beam counts when no "
                                                                     "--neighbours table is given (null: none)")
    top_n_neighbours: int = F(50, "neighbours kept per item", gt=0)


class MinScore(Section):
    """``neighbours.min_score:`` per method, the smallest cosine a pair needs to enter the table (null: none)."""

    cooccurrence: Optional[float] = F(0.0, "co-occurrence pairs already share >= min_cooccurrence listeners",
                                      ge=-1, le=1)
    als: Optional[float] = F(0.1, "unrelated items get near-orthogonal ALS factors (cosine 1e-6..1e-3); on 30Music "
                                  "every top-50 ALS score is >= 0.42", ge=-1, le=1)


class Als(Section):
    """``neighbours.als:`` Spark ALS on the listener x entity matrix."""

    rank: int = F(32, "latent factors", ge=1)
    max_iter: int = F(10, "ALS iterations", ge=1)
    reg_param: float = F(0.1, "L2 regularisation", ge=0)
    alpha: float = F(10.0, "confidence = 1 + alpha * rating", ge=0)
    rating: Literal["log1p", "count"] = F("log1p", "log1p (log play count) | count")
    num_blocks: Optional[int] = F(None, "ALS user/item blocks; null: Spark's default parallelism", ge=0)
    max_items_per_type: int = F(1_000_000, "above it a type gets no ALS neighbours (quadratic search)", ge=1)


class Neighbours(Section):
    """``neighbours:`` ``home-recs item-neighbours`` (Spark, models/candidates/neighbours.py checks the values)."""

    top_n: int = F(50, "neighbours kept per item and method", ge=1)
    methods: list[Literal["cooccurrence", "als"]] = F(["cooccurrence", "als"], "similarity methods", min_length=1)
    item_types: list[str] = F(["track", "album", "artist", "playlist", "show", "episode"],
                              "entity types paired (within one type)", min_length=1)
    cap_listener_items: Optional[int] = F(50, "per listener and type: the most recently played entities "
                                              "(0/null: no cap)", ge=0)
    cap_item_listeners: Optional[int] = F(10_000, "per entity: listeners kept, by a seeded hash order (0/null: no cap)",
                                              ge=0)
    min_item_listeners: int = F(2, "entities with fewer listeners are dropped", ge=1)
    min_cooccurrence: int = F(1, "listeners a co-occurrence pair must share", ge=1)
    min_score: MinScore = F(MinScore(), "per method, the smallest score a pair needs (null: no minimum)")
    seed: int = F(42, "seed of the listener sampling and ALS", ge=0)
    als: Als = F(Als(), "Spark ALS parameters")


# ------------------------------------------------------------------------------------------------- shelves

class ShelfBase(Section):
    """Keys every kind of shelf has. Each kind is served by its handler in models/serving/shelf_kinds.py SHELF_KINDS."""

    kind: Literal["model", "rule", "editorial"] = F(..., "model | rule | editorial (each kind has its own keys)")
    title: str = F("", "title shown on the Home page")
    size: int = F(..., "items shown", gt=0)
    markets: Optional[list[str]] = F(None, "whitelist of listener markets served; null: every market")
    block_explicit_for_minors: bool = F(True, "listeners who may be under 18 at as_of never get explicit items, "
                                              "editorial included")


class _Served(ShelfBase):
    """Keys of shelves filled per listener (model and rule shelves)."""

    item_types: list[str] = F([], "entity types the shelf shows")
    fallback_item_types: list[str] = F([], "used when the catalog holds none of item_types (30Music: tracks only)")
    audience: Optional[Literal["new_listeners"]] = F(None, "new_listeners: only listeners with tenure < "
                                                           "listeners.new_listener_days; null: everyone")
    active_within_days: Optional[float] = F(None, "serve only listeners with a play in [as_of - N days, as_of); "
                                                  "null: every listener", gt=0)
    followed_min_plays: int = F(2, "plays of a show before as_of that make it followed (one trial play is not)",
                                gt=0)
    max_per_parent: Optional[int] = F(None, "at most N items per catalog parent_id, after the creator cap "
                                            "(null: no cap)")


class ModelShelf(_Served):
    """``kind: model``: candidates from sources, ranked by the shelf's production model."""

    kind: Literal["model"] = F(..., "model | rule | editorial (each kind has its own keys)")
    max_candidates: int = F(200, "candidates per listener after merging the sources", gt=0)
    exclude_played: bool = F(False, "drop every entity the listener ever played (before as_of)")
    # the post-ranking filters (models/serving/filters.py FILTERS) each read their key: these two and
    # block_explicit_for_minors
    exclude_played_within_hours: Optional[float] = F(None, "drop entities played in [as_of - N h, as_of); null: off")
    exclude_followed_shows: bool = F(False, "drop shows the listener follows (see followed_min_plays)")
    max_per_creator: Optional[int] = F(None, "at most N items per creator_id (null: no cap)")
    familiar: bool = F(False, "only entities the listener played before as_of; the history source alone")
    sources: dict[str, int] = F({}, "candidate source -> quota (models/candidates/candidates.py SOURCES)")
    heuristic_weights: dict[str, float] = F({}, "feature -> weight of the heuristic scorer (no model yet)")


class RuleShelf(_Served):
    """``kind: rule``: no model, no candidates; a rule of models/serving/rule_shelves RULES fills it."""

    kind: Literal["rule"] = F(..., "model | rule | editorial (each kind has its own keys)")
    rule: Optional[str] = F(None, "the rule to run (models/serving/rule_shelves RULES); null: the shelf's name")
    max_age_days: float = F(7.0, "new_episodes: episodes released in [as_of - N days, as_of)", gt=0)


class EditorialShelf(ShelfBase):
    """``kind: editorial``: filled only from the curation table, by market and validity dates."""

    kind: Literal["editorial"] = F(..., "model | rule | editorial (each kind has its own keys)")


Shelf = Annotated[Union[ModelShelf, RuleShelf, EditorialShelf], Field(discriminator="kind")]
SHELF_MODELS = {"model": ModelShelf, "rule": RuleShelf, "editorial": EditorialShelf}

DEFAULT_SHELVES: dict[str, dict] = {
    "shortcuts": dict(
        title="Jump back in", kind="model", item_types=["album", "playlist", "show", "artist"],
        fallback_item_types=["track"], size=6, max_per_creator=2, max_per_parent=2,
        # only what the listener played before as_of (issue 14): neighbours and popularity belong to the
        # discovery shelves. (With co-listening and ALS neighbours topping it up, 30Music recall@200 was 0.181
        # against history's 0.088, but half its labels were then discovery, where the ranker is blind.)
        # No play in the last 28 days: the familiar items are stale, so no shelf (README "Jump back in").
        familiar=True, active_within_days=28, sources={"history": 200},
        heuristic_weights={"frecency_7d": 1.0, "plays_28d": 0.05, "last_play_days": -0.01}),
    "podcasts": dict(
        title="Shows you might like", kind="model", item_types=["show"], size=10, exclude_played=True,
        exclude_followed_shows=True, max_per_creator=2,
        sources={"colisten": 150, "popular": 100, "onboarding": 50},
        heuristic_weights={"colisten_score": 1.0, "pop_market_log": 0.2, "genre_match": 0.5}),
    "playlists": dict(
        title="Try something else", kind="model", audience="new_listeners", item_types=["playlist"],
        fallback_item_types=["track"], size=10, exclude_played=True, max_per_creator=3, max_per_parent=2,
        sources={"popular": 150, "onboarding": 100, "colisten": 50},
        heuristic_weights={"pop_market_log": 1.0, "genre_match": 2.0, "trend": 0.5, "colisten_score": 8.0}),
    "new_episodes": dict(
        title="New episodes of your shows", kind="rule", rule="new_episodes", item_types=["episode"], size=10,
        max_age_days=7.0, max_per_parent=2),
    "editors_picks": dict(title="Editors' picks", kind="editorial", size=10),
}


# ---------------------------------------------------------------------------------------------------- page

class Layout(Section):
    """``page.layout:`` the order of each listener's shelves (models/serving/layout.py)."""

    pinned: list[str] = F(["shortcuts"], "first, in this order, for every listener who has them")
    new_listeners_first: list[str] = F(["playlists"], "next for new listeners")
    window_days: int = F(28, "plays in this window give the listener's affinity to a shelf's item types", gt=0)
    prior: float = F(0.2, "affinity prior (a shelf without item types has affinity prior)", gt=0)
    prior_plays: float = F(5.0, "weight of the prior, in plays", ge=0)
    base_rates: dict[str, float] = F(
        {"shortcuts": 0.483, "new_episodes": 0.105, "playlists": 0.0625, "podcasts": 0.0316, "editors_picks": 0.0105},
        "shelf -> share of shown listeners who played from it the next day (home-recs layout-report)")
    default_base_rate: float = F(0.1, "a shelf without a measured base rate")


class Page(Section):
    """``page:`` the Home page as a whole (models/serving/page.py)."""

    dedup: bool = F(True, "an item appears at most once on a listener's Home (shelves claim in claim_order)")
    claim_order: Optional[list[str]] = F(["editors_picks", "shortcuts", "podcasts", "playlists", "new_episodes"],
                                         "every shelf once, in the order they claim items (null: config order)")
    layout: Layout = F(Layout(), "shelf order per listener")


class FeatureStats(Section):
    """``feature_stats:`` published feature statistics."""

    min_listeners: int = F(5, "privacy: no value or bin published for fewer distinct listeners", ge=1)
    training_sample_rate: float = F(0.25, "build-examples: the training statistics describe this share of every "
                                    "served listener, active in the label window or not, as serving's do "
                                    "(0 = on the examples)", ge=0, le=1)


class Labels(Section):
    """``labels:`` what counts as a positive."""

    podcasts_min_minutes: float = F(10.0, "a podcast start = at least this many minutes of a new show in the window",
                                    ge=0)


# -------------------------------------------------------------------------------------------------- ranker

class RankerSpark(Section):
    """``ranker.spark:`` the SparkXGBRanker back-end."""

    master: str = F("local[2]", "Spark master")
    num_workers: int = F(1, "xgboost workers", gt=0)


class RankerOverride(Section):
    """``ranker.shelves.<shelf>:`` any ranker key but ``shelves``, merged over ``ranker:`` for one shelf."""

    backend: Optional[Literal["local", "spark"]] = F(None, "ranker.backend for this shelf (null: the section's)")
    objective: Optional[str] = F(None, "ranker.objective for this shelf (null: the section's)")
    eval_metric: Optional[str] = F(None, "ranker.eval_metric for this shelf (null: the section's)")
    num_boost_round: Optional[int] = F(None, "ranker.num_boost_round for this shelf (null: the section's)")
    early_stopping_rounds: Optional[int] = F(None, "ranker.early_stopping_rounds for this shelf (null: the section's)")
    validation_days: Optional[int] = F(None, "ranker.validation_days for this shelf (null: the section's)")
    params: Optional[dict[str, Any]] = F(None, "ranker.params for this shelf (null: the section's)")
    spark: Optional[RankerSpark] = F(None, "ranker.spark for this shelf (null: the section's)")


class Ranker(Section):
    """``ranker:`` training of the shelves' XGBoost rankers (models/ranking/ranker.py)."""

    backend: Literal["local", "spark"] = F("local", "local (xgboost on numpy) | spark (SparkXGBRanker)")
    objective: str = F("rank:ndcg", "rank:ndcg | rank:pairwise | binary:logistic")
    eval_metric: str = F("ndcg@10", "early-stopping metric")
    num_boost_round: int = F(500, "boosting rounds at most", gt=0)
    early_stopping_rounds: int = F(50, "rounds without improvement before stopping", gt=0)
    validation_days: int = F(1, "the latest N as_of dates validate (never a random split)", gt=0)
    # shallow, regularised trees: discovery shelves have few positive query groups per day
    params: dict[str, Any] = F({"eta": 0.05, "max_depth": 4, "min_child_weight": 10, "subsample": 0.8,
                                "colsample_bytree": 0.8, "tree_method": "hist", "seed": 7}, "xgboost parameters")
    shelves: dict[str, RankerOverride] = F({}, "per-shelf overrides, e.g. {playlists: {params: {max_depth: 4}}}")
    spark: RankerSpark = F(RankerSpark(), "Spark back-end settings")

    @field_serializer("shelves")
    def _only_given(self, shelves: dict[str, RankerOverride]) -> dict:
        # an override holds only the keys the user set: None must not replace the section's value
        return {name: o.model_dump(exclude_unset=True, exclude_none=True) for name, o in shelves.items()}


class Gate(Section):
    """``gate:`` when a retrained model may be promoted (models/lifecycle/gate.py)."""

    metric: str = F("ndcg@10", "from home-recs evaluate, on the window after the training data")
    default_threshold: float = F(0.05, "absolute floor of a shelf not in thresholds")
    thresholds: dict[str, float] = F({"shortcuts": 0.05, "podcasts": 0.05, "playlists": 0.01},
                                     "shelf -> absolute floor of the metric")
    tolerance: float = F(0.005, "allowed drop against the production model on the same window", ge=0)
    baseline_margin: Optional[float] = F(0.0, "the bootstrap interval of (model - best baseline) must lie above it; "
                                              "null: no baseline check")
    baseline_resamples: int = F(1000, "bootstrap resamples over queries", gt=0)
    baseline_confidence: float = F(0.95, "two-sided interval of the baseline check", gt=0, lt=1)
    min_queries: int = F(30, "evaluate and retrain stop (exit 2) on a window with fewer queries with a positive: "
                             "a metric over fewer is noise", ge=1)


class Retrain(Section):
    """``retrain:`` the windows of ``home-recs retrain``."""

    train_days: int = F(28, "as_of dates [as_of - train_days, as_of) train (the last validation_days validate)", gt=0)
    eval_days: int = F(7, "as_of dates [as_of, as_of + eval_days) evaluate for the gate", gt=0)
    horizon: str = F("1d", "label horizon after as_of")


class DriftThresholds(Section):
    """``drift.thresholds:`` L-infinity thresholds of feature drift and skew."""

    default_numeric: float = F(0.1, "L-infinity over the training bins")
    default_categorical: float = F(0.1, "L-infinity over the top-k values + __other__")
    features: dict[str, float] = F({}, "feature (or shelf.feature) -> threshold")


class Drift(Section):
    """``drift:`` ``home-recs drift`` and the daily job's drift step (transforms/monitoring/drift.py)."""

    thresholds: DriftThresholds = F(DriftThresholds(), "distance thresholds")
    noise_alpha: Optional[float] = F(0.001, "raise each threshold to the two-sample noise bound at this level; "
                                            "null: off", gt=0, lt=1)
    max_count_change: float = F(0.5, "|relative change| of a shelf's rows vs the baseline day", ge=0)
    max_missing_rate_increase: float = F(0.1, "rise of a feature's missing rate (0.1 = 10 points)", ge=0)
    fail_on_alert: bool = F(True, "home-recs drift exits 1 when an alert fires")
    run_after_daily: bool = F(True, "the daily job writes drift/dt=D/ after publishing")


class Config(Section):
    """The whole configuration. ``Config().model_dump()`` is the default config."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)   # DEFAULT_SHELVES are dicts

    run: Run = F(Run(), "work cutting of the daily job")
    listeners: Listeners = F(Listeners(), "listener definitions")
    popularity: Popularity = F(Popularity(), "popular-items side table")
    colisten: Colisten = F(Colisten(), "Beam co-listening")
    neighbours: Neighbours = F(Neighbours(), "Spark item neighbours")
    shelves: dict[str, Optional[Shelf]] = F(DEFAULT_SHELVES, "shelf name -> shelf (null disables a default shelf)")
    page: Page = F(Page(), "the Home page as a whole")
    experiments: dict[str, Any] = F({}, "one experiment at a time: name -> {variants: {v: {share, shelves, models}}} "
                                        "(models/serving/experiments.py)")
    feature_stats: FeatureStats = F(FeatureStats(), "published feature statistics")
    labels: Labels = F(Labels(), "label definitions")
    ranker: Ranker = F(Ranker(), "ranker training")
    gate: Gate = F(Gate(), "promotion gate")
    retrain: Retrain = F(Retrain(), "retrain windows")
    drift: Drift = F(Drift(), "drift and skew monitoring")

    @model_validator(mode="after")
    def _rule_defaults_to_name(self) -> "Config":
        for name, shelf in self.shelves.items():
            if isinstance(shelf, RuleShelf) and shelf.rule is None:
                shelf.rule = name
        return self


def default_config() -> dict[str, Any]:
    """The default configuration as a fresh plain dict (every section, every default)."""
    return Config().model_dump()
