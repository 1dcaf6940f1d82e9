"""Item-to-item neighbours from co-listening before ``as_of``, computed with Spark.

Two methods, one listener x entity matrix:

- ``cooccurrence``: cosine similarity over the *binary* listener-entity matrix,
  ``score(a, b) = n_ab / sqrt(n_a * n_b)`` (item-based CF, Sarwar et al., WWW 2001): the same measure as the
  in-Beam co-listening of :mod:`transforms.listeners.aggregates`, so popular items are damped relative to raw
  co-occurrence counts. It is a Spark SQL self-join on the listener (pairs ``a < b`` aggregated once,
  then mirrored), followed by a window top-N.
- ``als``: implicit-feedback ALS (``pyspark.ml.recommendation.ALS(implicitPrefs=True)``, Hu, Koren &
  Volinsky 2008) on play counts, then item-item cosine of the item factors. The top-N search is a
  blocked brute force distributed by Spark: the L2-normalised factors of one entity type are broadcast,
  and each task scores a block of query items against all items of that type (one float32 matrix
  product per block) and keeps the top N. Cost is O(I^2 * rank) per type: 52 s for the 86,725 tracks of
  the 10M-event benchmark on two cores, so about 2 hours there for 1M entities of one type (it divides by
  the cores of a cluster). The broadcast is I * rank float32 (1M x 32 = 128 MB), collected on the driver
  first. Beyond ~1M per type, replace :func:`als_neighbours` by LSH blocking
  (``BucketedRandomProjectionLSH``) or an ANN index; ``als.max_items_per_type`` guards against an
  accidental quadratic run (the type's factors are still written).
- The cosine self-join costs listeners x types x cap^2 / 2 pair rows (157M on the 10M-event set), hence
  the per-listener cap.

What a play counts toward (the entities of the matrix)
-------------------------------------------------------
The daily job maps plays to shelf entities with :func:`transforms.listeners.catalog.resolve_entities`
(priority: the played item, its context, its parent, its creator). Here the same rule is applied
**once per item type T** (``targets={T}``): a track played from playlist P, on album X by artist A,
counts toward track T, playlist P, album X and artist A. Pairs are formed only between entities of the
same type, so every neighbour has the type of its item, and a shelf that shows albums finds album
neighbours of the albums a listener played, exactly as the shelf itself resolves plays.
When no ``items`` table is given, plays count toward the played item (by its ``item_type``) and toward
``context_id`` under the pseudo-type ``context`` (albums/playlists/shows cannot be told apart without the
catalog); parents and creators are then unknown.

Activity caps (one heavy listener or one hit cannot dominate)
--------------------------------------------------------------
Per listener and type, only the ``cap_listener_items`` most recently played distinct entities are kept
(ties by id). Per entity, at most ``cap_item_listeners`` listeners are kept, chosen by the smallest
``xxhash64(listener_id, seed)``: the same hash order for every entity (coordinated sampling), so two
capped items keep overlapping listener samples and their cosine stays nearly unbiased. Entities with
fewer than ``min_item_listeners`` listeners (after the caps) are dropped: one listener's items would
otherwise all be perfect neighbours of each other. The capped matrix feeds both methods.

Minimum similarity (``min_score``, per method)
----------------------------------------------
A pair enters the table only if its score is at least ``min_score.<method>`` (null: no minimum). Both
methods apply it before their top N, here, so the job's table (which training and serving both read) never
holds a pair below its method's minimum. It matters for ALS: items that no listener connects (disjoint parts of
the catalog) get near-orthogonal factors (cosine near 0), which would otherwise fill the top N wherever a type
has fewer related items than ``top_n``. A co-occurrence pair always has ``min_cooccurrence`` shared listeners.

Determinism: ids are indexed by sorted order, ALS uses ``seed``, ties in a top-N are broken by
neighbour id, and the item-cap sampling hashes with ``seed``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from transforms.io import contract
from transforms.errors import InputError

log = logging.getLogger("home_recs.neighbours")

METHODS: tuple[str, ...] = ("cooccurrence", "als")
CONTEXT_TYPE = "context"  # pseudo item type of context_id entities when no catalog is given
NEIGHBOUR_COLUMNS: tuple[str, ...] = ("item_id", "neighbour_id", "score", "method")
FACTOR_COLUMNS: tuple[str, ...] = ("item_id", "factors")
NEIGHBOURS_SCHEMA = "item_id string, neighbour_id string, score double, method string"


def defaults() -> dict[str, Any]:
    """The defaults of the ``neighbours:`` section: :class:`transforms.config.config_schema.Neighbours`, the one place
    they are written (a user config overrides any key). A fresh dict on every call. Read lazily, so that Spark
    workers unpickling this module's functions do not import the configuration code."""
    from transforms.config.config_schema import Neighbours

    return Neighbours().model_dump()


@dataclass(frozen=True)
class AlsParams:
    """The resolved ``neighbours.als`` sub-section (defaults: :func:`defaults`)."""

    rank: int
    max_iter: int
    reg_param: float
    alpha: float
    rating: str                    # log1p (confidence grows with log play count) | count
    num_blocks: int | None         # ALS user/item blocks; None: Spark's default parallelism
    max_items_per_type: int


@dataclass(frozen=True)
class MinScores:
    """``neighbours.min_score``: per method, the smallest similarity (the ``score`` column, a cosine in
    [-1, 1]) a pair needs to enter the neighbours table; None keeps every pair of the top N."""

    cooccurrence: float | None
    als: float | None

    def of(self, method: str) -> float | None:
        return getattr(self, method)


@dataclass(frozen=True)
class NeighbourParams:
    """The resolved ``neighbours:`` config section (defaults: :func:`defaults`)."""

    top_n: int
    methods: tuple[str, ...]
    item_types: tuple[str, ...]
    cap_listener_items: int | None
    cap_item_listeners: int | None
    min_item_listeners: int
    min_cooccurrence: int
    min_score: MinScores
    seed: int
    als: AlsParams

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("als", "min_score")}
        out["methods"], out["item_types"] = list(self.methods), list(self.item_types)
        out["min_score"] = {f.name: getattr(self.min_score, f.name) for f in fields(self.min_score)}
        out["als"] = {f.name: getattr(self.als, f.name) for f in fields(self.als)}
        return out


def neighbour_params(config: dict | NeighbourParams | None) -> NeighbourParams:
    """Resolve the ``neighbours`` section of a full config (or the section itself) over :func:`defaults`
    (``als`` and ``min_score`` are merged key by key). Raises InputError naming the key of an unknown key or
    a bad value."""
    if isinstance(config, NeighbourParams):
        return config
    config = config or {}
    base = defaults()
    nested = ("als", "min_score")
    section = config.get("neighbours", config if set(config) & set(base) else {}) or {}
    merged = {**base, **{k: v for k, v in section.items() if k not in nested}}
    for key in nested:
        given = section.get(key, {})
        if given is None and key == "als":
            given = {}
        if not isinstance(given, dict):
            raise InputError(f"config: neighbours.{key} must be a mapping, got {given!r}"
                             + (" (a method set to null keeps every pair)" if key == "min_score" else ""))
        merged[key] = {**base[key], **given}
    unknown = (sorted(set(merged) - set(base))
               + [f"{key}.{k}" for key in nested for k in sorted(set(merged[key]) - set(base[key]))])
    if unknown:
        raise InputError(f"config: unknown key(s) in neighbours: {', '.join(unknown)}")

    def integer(key, value, minimum, allow_none=False):
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InputError(f"config: neighbours.{key} must be an integer >= {minimum}"
                             f"{' or null' if allow_none else ''}, got {value!r}")
        return value

    def number(key, value, minimum):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
            raise InputError(f"config: neighbours.{key} must be a number >= {minimum}, got {value!r}")
        return float(value)

    def similarity(key, value):  # both methods score a cosine
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1 <= value <= 1:
            raise InputError(f"config: neighbours.{key} must be a number in [-1, 1] or null, got {value!r}")
        return float(value)

    methods = tuple(merged["methods"] or ())
    if not methods or any(m not in METHODS for m in methods):
        raise InputError(f"config: neighbours.methods must be a non-empty subset of {list(METHODS)}, "
                         f"got {merged['methods']!r}")
    types = tuple(merged["item_types"] or ())
    if not types or any(t not in contract.ITEM_TYPES for t in types):
        raise InputError(f"config: neighbours.item_types must be a non-empty subset of {list(contract.ITEM_TYPES)}, "
                         f"got {merged['item_types']!r}")
    als = merged["als"]
    if als["rating"] not in ("log1p", "count"):
        raise InputError(f"config: neighbours.als.rating must be 'log1p' or 'count', got {als['rating']!r}")
    caps = {}
    for key in ("cap_listener_items", "cap_item_listeners"):  # 0 or null: no cap
        caps[key] = integer(key, merged[key], 0, allow_none=True) or None
    return NeighbourParams(
        top_n=integer("top_n", merged["top_n"], 1), methods=methods, item_types=types, **caps,
        min_item_listeners=integer("min_item_listeners", merged["min_item_listeners"], 1),
        min_cooccurrence=integer("min_cooccurrence", merged["min_cooccurrence"], 1),
        min_score=MinScores(**{m: similarity(f"min_score.{m}", merged["min_score"][m]) for m in METHODS}),
        seed=integer("seed", merged["seed"], 0),
        als=AlsParams(rank=integer("als.rank", als["rank"], 1), max_iter=integer("als.max_iter", als["max_iter"], 1),
                      reg_param=number("als.reg_param", als["reg_param"], 0),
                      alpha=number("als.alpha", als["alpha"], 0), rating=als["rating"],
                      num_blocks=integer("als.num_blocks", als["num_blocks"], 0, allow_none=True) or None,
                      max_items_per_type=integer("als.max_items_per_type",
                                                                       als["max_items_per_type"], 1)))


def as_of_micros(as_of) -> int:
    """``as_of`` (date string, datetime or Timestamp; naive means UTC) as epoch microseconds."""
    ts = pd.Timestamp(as_of)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000)


# --------------------------------------------------------------------------------------------------
# The listener x entity matrix
# --------------------------------------------------------------------------------------------------

def entity_plays(events_df, as_of, config, items_df=None):
    """Plays before ``as_of`` per listener and entity.

    ``events_df``: contract columns ``listener_id, item_id, item_type, ts`` (+ optional ``context_id``);
    rows with a null id or ts are ignored. ``items_df`` (optional catalog): ``item_id, item_type`` and
    optional ``parent_id, creator_id``. Returns ``listener_id, entity_type, item_id, plays (long),
    last_us (epoch microseconds of the last play)``; see the module docstring for the mapping.
    """
    from pyspark.sql import functions as F

    params = neighbour_params(config)
    cut = as_of_micros(as_of)
    ctx = (F.col("context_id").cast("string") if "context_id" in events_df.columns
           else F.lit(None).cast("string"))
    ev = (events_df
          .select(F.col("listener_id").cast("string").alias("listener_id"),
                  F.col("item_id").cast("string").alias("item_id"),
                  F.col("item_type").cast("string").alias("item_type"),
                  F.when(F.trim(ctx) != "", ctx).alias("context_id"),
                  F.unix_micros(F.col("ts")).alias("ts_us"))
          .where(F.col("listener_id").isNotNull() & F.col("item_id").isNotNull() & F.col("ts_us").isNotNull())
          .where(F.col("ts_us") < F.lit(cut)))
    # one row per listener, item and context first: far fewer rows to join with the catalog
    plays = ev.groupBy("listener_id", "item_id", "item_type", "context_id").agg(
        F.count(F.lit(1)).alias("plays"), F.max("ts_us").alias("last_us"))
    null = F.lit(None).cast("string")
    types = list(params.item_types)
    if items_df is not None:
        cols = items_df.columns
        cat = items_df.select(
            F.col("item_id").cast("string").alias("cid"),
            F.struct(F.col("item_type").cast("string").alias("ctype"),
                     (F.col("parent_id").cast("string") if "parent_id" in cols else null).alias("cparent"),
                     (F.col("creator_id").cast("string") if "creator_id" in cols else null).alias("ccreator")
                     ).alias("s")).where(F.col("cid").isNotNull())
        # a duplicated item_id (rejected by validation) resolves to the smallest row: deterministic
        cat = (cat.groupBy("cid").agg(F.min("s").alias("s")).select("cid", "s.ctype", "s.cparent", "s.ccreator")
               .persist())  # small, and joined three times
        plays = (plays
                 .join(cat.select(F.col("cid").alias("item_id"), F.col("cparent").alias("parent_id"),
                                  F.col("ccreator").alias("creator_id")), "item_id", "left")
                 .join(cat.select(F.col("cid").alias("context_id"), F.col("ctype").alias("ctx_type")),
                       "context_id", "left")
                 .join(cat.select(F.col("cid").alias("parent_id"), F.col("ctype").alias("parent_type")),
                       "parent_id", "left"))
    else:
        plays = plays.select("*", F.when(F.col("context_id").isNotNull(), F.lit(CONTEXT_TYPE)).alias("ctx_type"),
                             null.alias("parent_id"), null.alias("parent_type"), null.alias("creator_id"))
        types.append(CONTEXT_TYPE)

    def entity_of(t: str):
        # resolve_entities(..., targets={t}): the item itself, its context, its parent, its creator
        return F.coalesce(F.when(F.col("item_type") == t, F.col("item_id")),
                          F.when(F.col("ctx_type") == t, F.col("context_id")),
                          F.when(F.col("parent_type") == t, F.col("parent_id")),
                          F.col("creator_id") if t == "artist" else null)

    resolved = F.array(*[F.struct(F.lit(t).alias("entity_type"), entity_of(t).alias("entity")) for t in types])
    return (plays.select("listener_id", "plays", "last_us", F.explode(resolved).alias("e"))
            .where(F.col("e.entity").isNotNull())
            .groupBy("listener_id", F.col("e.entity_type").alias("entity_type"), F.col("e.entity").alias("item_id"))
            .agg(F.sum("plays").alias("plays"), F.max("last_us").alias("last_us")))


def listener_item_matrix(events_df, as_of, config, items_df=None):
    """The capped implicit matrix both methods use: ``listener_id, entity_type, item_id, plays, last_us,
    n_listeners`` (listeners of the entity after the caps), one row per listener and entity.

    Caps and minimum support as in the module docstring: per (listener, type) the most recent
    ``cap_listener_items`` entities; per entity the ``cap_item_listeners`` listeners with the smallest
    ``xxhash64(listener_id, seed)``; then entities with fewer than ``min_item_listeners`` listeners go.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    params = neighbour_params(config)
    m = entity_plays(events_df, as_of, params, items_df)
    if params.cap_listener_items:
        recent = Window.partitionBy("listener_id", "entity_type").orderBy(F.desc("last_us"), F.asc("item_id"))
        m = m.withColumn("_r", F.row_number().over(recent)).where(F.col("_r") <= params.cap_listener_items).drop("_r")
    per_item = Window.partitionBy("entity_type", "item_id")
    n_all = F.count(F.lit(1)).over(per_item)
    if params.cap_item_listeners:
        sample = per_item.orderBy(F.xxhash64("listener_id", F.lit(params.seed)), "listener_id")
        m = (m.withColumn("_r", F.row_number().over(sample))
             .withColumn("n_listeners", F.least(n_all, F.lit(params.cap_item_listeners)).cast("long"))
             .where(F.col("_r") <= params.cap_item_listeners).drop("_r"))
    else:
        m = m.withColumn("n_listeners", n_all.cast("long"))
    return m.where(F.col("n_listeners") >= params.min_item_listeners)


# --------------------------------------------------------------------------------------------------
# Integer ids (ALS needs them; the cosine self-join and its top-N are much faster on them)
# --------------------------------------------------------------------------------------------------

def _dense_index(df, cols: list[str], name: str):
    """``cols`` + ``name`` (int): the 0-based rank of each distinct key in sorted order (deterministic).

    A global ``row_number`` window: Spark sorts the distinct keys in one task. That is seconds for
    millions of keys (and 5x cheaper here than a Python ``zipWithIndex``); past ~50M distinct
    listeners, switch to an RDD ``zipWithIndex``.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.orderBy(*cols)
    return df.select(*cols).distinct().withColumn(name, (F.row_number().over(order) - 1).cast("int"))


@dataclass
class IndexedMatrix:
    """The matrix with integer ids, persisted: ``ratings`` = ``uid, tcode, iid, plays, n_listeners``
    (tcode: the entity type as a small int); ``items`` = ``entity_type, item_id, n_listeners, iid``, iid ascending
    in (entity_type, item_id), so ordering by iid within a type is ordering by item id."""

    ratings: Any
    items: Any

    def unpersist(self) -> None:
        self.ratings.unpersist()
        self.items.unpersist()


def index_matrix(matrix) -> IndexedMatrix:
    """Dense integer ids for the listeners and entities of :func:`listener_item_matrix`."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    users = _dense_index(matrix, ["listener_id"], "uid")
    # n_listeners is constant per entity: carried in the item index for the cosine denominators
    items = _dense_index(matrix, ["entity_type", "item_id", "n_listeners"], "iid").persist(StorageLevel.MEMORY_AND_DISK)
    codes = F.array(*[F.lit(t) for t in list(contract.ITEM_TYPES) + [CONTEXT_TYPE]])
    ratings = (matrix.join(users, "listener_id").join(items.drop("n_listeners"), ["entity_type", "item_id"])
               .select("uid", F.array_position(codes, F.col("entity_type")).cast("int").alias("tcode"), "iid",
                       "plays", "n_listeners")
               .persist(StorageLevel.MEMORY_AND_DISK))
    return IndexedMatrix(ratings, items)


def _named(pairs, items, method: str):
    """``a, b, score`` (iids) to ``item_id, neighbour_id, score, method``."""
    from pyspark.sql import functions as F

    names = items.select("iid", "item_id")
    return (pairs.join(names.withColumnRenamed("iid", "a"), "a")
            .join(names.select(F.col("iid").alias("b"), F.col("item_id").alias("neighbour_id")), "b")
            .select("item_id", "neighbour_id", F.col("score").cast("double").alias("score"),
                    F.lit(method).alias("method")))


# --------------------------------------------------------------------------------------------------
# Co-occurrence (cosine) neighbours
# --------------------------------------------------------------------------------------------------

def cooccurrence_neighbours(matrix, config, indexed: IndexedMatrix | None = None):
    """Cosine neighbours from :func:`listener_item_matrix`: ``item_id, neighbour_id, score, method``.

    Self-join on (listener, entity type) with ``a < b``: each listener contributes at most
    ``cap^2 / 2`` pairs per type, which bounds the join. Pairs seen by fewer than
    ``min_cooccurrence`` listeners, or whose cosine is below ``min_score.cooccurrence``, are dropped.
    Pairs are counted once, mirrored, then the top N per item are kept (score desc, then neighbour id).
    Returns ``item_id, neighbour_id`` (str), ``score`` (float64 cosine in (0, 1]), ``method``.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    params = neighbour_params(config)
    indexed = indexed or index_matrix(matrix)
    side = indexed.ratings.select("uid", "tcode", "iid")
    a = side.select("uid", "tcode", F.col("iid").alias("a"))
    b = side.select("uid", "tcode", F.col("iid").alias("b"))
    # one long key per pair (a < b): the aggregate hashes and shuffles 8 bytes, not two ints + counts
    key = (F.shiftleft(F.col("a").cast("long"), 31) + F.col("b")).alias("k")
    counts = (a.join(b, ["uid", "tcode"]).where(F.col("a") < F.col("b")).select(key)
              .groupBy("k").agg(F.count(F.lit(1)).alias("n_ab"))
              .where(F.col("n_ab") >= params.min_cooccurrence))
    support = indexed.items.select("iid", "n_listeners")
    pairs = (counts.select(F.shiftright("k", 31).cast("int").alias("a"),
                           F.col("k").bitwiseAND(F.lit((1 << 31) - 1)).cast("int").alias("b"), "n_ab")
             .join(F.broadcast(support.select(F.col("iid").alias("a"), F.col("n_listeners").alias("n_a"))), "a")
             .join(F.broadcast(support.select(F.col("iid").alias("b"), F.col("n_listeners").alias("n_b"))), "b")
             .select("a", "b", (F.col("n_ab").cast("double")
                                / F.sqrt(F.col("n_a").cast("double") * F.col("n_b").cast("double"))).alias("score")))
    floor = params.min_score.of("cooccurrence")
    if floor is not None:  # before the top N: a weak pair never takes a place (same result, fewer rows)
        pairs = pairs.where(F.col("score") >= F.lit(floor))
    # both directions from one pass over the aggregate (a union would run the self-join twice)
    both = pairs.select(F.explode(F.array(
        F.struct(F.col("a").alias("a"), F.col("b").alias("b"), F.col("score").alias("score")),
        F.struct(F.col("b").alias("a"), F.col("a").alias("b"), F.col("score").alias("score")))).alias("p")
    ).select("p.a", "p.b", "p.score")
    best = Window.partitionBy("a").orderBy(F.desc("score"), F.asc("b"))
    top = both.withColumn("_r", F.row_number().over(best)).where(F.col("_r") <= params.top_n).drop("_r")
    return _named(top, indexed.items, "cooccurrence")


# --------------------------------------------------------------------------------------------------
# ALS factors and neighbours
# --------------------------------------------------------------------------------------------------

def als_factors(matrix, config, indexed: IndexedMatrix | None = None):
    """Fit implicit ALS on the matrix. Returns ``entity_type, item_id, factors (array<float>)``, one row
    per entity of the matrix (every entity with at least ``min_item_listeners`` listeners).

    Rating: ``log1p(plays)`` (or the raw count, ``als.rating: count``); confidence is
    ``1 + alpha * rating`` inside ALS. ``als.num_blocks`` (null: Spark's default parallelism) sets the
    user and item blocks; more blocks than cores only adds tasks (10 blocks on 2 cores: 2.3x slower).
    """
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    params = neighbour_params(config)
    indexed = indexed or index_matrix(matrix)
    rating = F.log1p("plays") if params.als.rating == "log1p" else F.col("plays")
    ratings = indexed.ratings.select("uid", "iid", rating.cast("float").alias("rating"))
    blocks = params.als.num_blocks or max(1, ratings.sparkSession.sparkContext.defaultParallelism)
    als = ALS(rank=params.als.rank, maxIter=params.als.max_iter, regParam=params.als.reg_param,
              alpha=params.als.alpha, implicitPrefs=True, seed=params.seed, userCol="uid", itemCol="iid",
              ratingCol="rating", nonnegative=False, numUserBlocks=blocks, numItemBlocks=blocks)
    model = als.fit(ratings)
    return (model.itemFactors.join(indexed.items, F.col("id") == F.col("iid"))
            .select("entity_type", "item_id", F.col("features").alias("factors")))


def _top_n_block(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top ``k`` columns of ``scores`` (score desc, then column index asc, deterministic even
    with ties at the cut). Returns (rows, cols), sorted by row then rank."""
    kth = np.partition(scores, scores.shape[1] - k, axis=1)[:, scores.shape[1] - k]
    rows, cols = np.nonzero(scores >= kth[:, None])  # all ties at the k-th value are candidates
    order = np.lexsort((cols, -scores[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)  # position within the row
    keep = rank < k
    return rows[keep], cols[keep]


def als_neighbours(spark, factors, config, block_cells: int = 16_000_000):
    """Top-N cosine neighbours of ALS item factors, within each entity type, by a blocked brute force
    distributed over Spark tasks (see the module docstring for its scaling limits).

    ``factors``: ``entity_type, item_id, factors``. Returns ``item_id, neighbour_id`` (str), ``score``
    (float64 cosine in [-1, 1]), ``method`` ('als'): the top N per item among the pairs whose cosine is at
    least ``min_score.als`` (fewer than N, or none, when fewer pass). Items that never co-occur end up with
    near-orthogonal factors (cosine near 0); without the minimum they would fill the top N of small types.
    ``block_cells`` bounds the score block of one task (rows x items of the type, float32).
    """
    from pyspark.sql import functions as F

    params = neighbour_params(config)
    sizes = {r["entity_type"]: int(r["count"]) for r in factors.groupBy("entity_type").count().collect()}
    for etype, size in sorted(sizes.items()):
        if size > params.als.max_items_per_type:
            log.warning("als neighbours: %d %s entities exceed als.max_items_per_type=%d; skipped (their factors "
                        "are still written)", size, etype, params.als.max_items_per_type)
    allowed = sorted(t for t, size in sizes.items() if size <= params.als.max_items_per_type)
    frame = factors.where(F.col("entity_type").isin(allowed)).toPandas() if allowed else None
    if frame is None:
        return spark.createDataFrame([], NEIGHBOURS_SCHEMA)
    by_type: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    blocks: list[tuple[str, int, int]] = []
    for etype, group in frame.groupby("entity_type", sort=True):
        group = group.sort_values("item_id", kind="stable")
        mat = np.stack([np.asarray(f, dtype=np.float32) for f in group["factors"]]) if len(group) else None
        if mat is None:
            continue
        norms = np.linalg.norm(mat, axis=1)
        ok = norms > 0
        ids = group["item_id"].to_numpy(dtype=object)[ok]
        mat = (mat[ok] / norms[ok, None]).astype(np.float32)
        if len(ids) < 2:
            continue
        by_type[etype] = (ids, mat)
        step = max(1, min(4096, block_cells // len(ids)))
        blocks += [(etype, s, min(s + step, len(ids))) for s in range(0, len(ids), step)]
    if not blocks:
        return spark.createDataFrame([], NEIGHBOURS_SCHEMA)
    shared = spark.sparkContext.broadcast(by_type)
    top_n = params.top_n
    floor = params.min_score.of("als")
    # compared with the float32 scores; None: below every cosine, still above the self-pairs' -inf
    floor = np.float32(-2.0 if floor is None else floor)

    def score_blocks(batches):
        for batch in batches:
            for etype, start, stop in zip(batch["entity_type"], batch["start"], batch["stop"]):
                ids, mat = shared.value[etype]
                scores = mat[start:stop] @ mat.T
                scores[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # no self-pairs
                rows, cols = _top_n_block(scores, min(top_n, len(ids) - 1))
                # thresholding the top N = the top N of the pairs above the threshold (score order is kept)
                keep = scores[rows, cols] >= floor
                rows, cols = rows[keep], cols[keep]
                yield pd.DataFrame({"item_id": ids[start + rows], "neighbour_id": ids[cols],
                                    "score": scores[rows, cols].astype(np.float64), "method": "als"})

    spec = spark.createDataFrame(pd.DataFrame(blocks, columns=["entity_type", "start", "stop"]))
    parts = max(1, min(len(blocks), spark.sparkContext.defaultParallelism * 4))
    return spec.repartition(parts, "entity_type", "start").mapInPandas(score_blocks, NEIGHBOURS_SCHEMA)


# --------------------------------------------------------------------------------------------------
# The whole computation
# --------------------------------------------------------------------------------------------------

def item_neighbours(spark, events_df, as_of, config, items_df=None, stats: dict | None = None):
    """Item-item neighbours from events with ``ts < as_of``.

    Returns ``(neighbours_df, factors_df)``: ``item_id (str), neighbour_id (str), score (float64),
    method ('cooccurrence' | 'als')``, top ``top_n`` per item and method among the pairs scoring at least
    ``min_score.<method>``, no self-pairs; and
    ``item_id, factors (array<float>)`` (empty when ``als`` is not among ``methods``).
    ``config`` is the full job config (its ``neighbours:`` section) or the section itself.
    When ``stats`` is a dict it receives the matrix counts (listeners, rows, entities per type).
    The integer matrix, its item index and the factors stay cached (MEMORY_AND_DISK) for the lazy results.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    params = neighbour_params(config)
    matrix = listener_item_matrix(events_df, as_of, params, items_df).persist(StorageLevel.MEMORY_AND_DISK)
    indexed = index_matrix(matrix)
    if stats is not None:
        per_type = matrix.groupBy("entity_type").agg(F.count(F.lit(1)).alias("rows"),
                                                     F.countDistinct("item_id").alias("entities")).collect()
        stats["matrix_rows"] = int(sum(r["rows"] for r in per_type))
        stats["matrix_listeners"] = int(matrix.select("listener_id").distinct().count())
        stats["entities_per_type"] = {r["entity_type"]: int(r["entities"]) for r in sorted(per_type)}
        stats["catalog"] = items_df is not None
    # both methods read only the integer matrix: materialise it and free the string one (10M events with
    # --driver-memory 2g: the cosine ran out of Java heap with both cached, and passes without)
    indexed.ratings.count()
    matrix.unpersist()
    parts = []
    if "cooccurrence" in params.methods:
        parts.append(cooccurrence_neighbours(matrix, params, indexed))
    factors = matrix.sparkSession.createDataFrame([], "entity_type string, item_id string, factors array<float>")
    if "als" in params.methods:
        factors = als_factors(matrix, params, indexed).persist(StorageLevel.MEMORY_AND_DISK)
        parts.append(als_neighbours(spark, factors, params))
    neighbours = parts[0]
    for part in parts[1:]:
        neighbours = neighbours.unionByName(part)
    return neighbours, factors.select("item_id", "factors")
