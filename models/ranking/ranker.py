"""XGBoost learning-to-rank per shelf: time-split training, two back-ends, and the model artifact.

A model artifact is a folder (local or gs://) holding ``model.json`` (XGBoost's own JSON format),
``metadata.json`` (parameters, effective XGBoost config, feature spec fingerprint, training and
validation windows, row counts, xgboost version, sha256 of model.json) and, when the examples
carried them, ``training_stats.json`` (feature statistics used later for skew checks).

Query group = (as_of, listener_id): one listener's candidates at one cut-off.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb

from transforms.io import storage
from transforms.config.config import merged
from transforms.errors import InputError
from transforms.io.provenance import code_version, git_commit
from transforms.features.feature_spec import feature_names, spec_fingerprint

log = logging.getLogger("home_recs.ranker")
QUERY = ["as_of", "listener_id"]


class ModelMismatchError(InputError):
    """A model cannot serve: its feature spec fingerprint or checksum does not match."""


def ranker_config(config: dict, shelf: str) -> dict:
    """``config["ranker"]`` with the shelf's overrides (``ranker.shelves.<shelf>``) deep-merged in:
    ``params`` and ``spark`` key by key (an override of ``spark.num_workers`` keeps ``spark.master``)."""
    base = {k: v for k, v in config["ranker"].items() if k != "shelves"}
    return merged(base, (config["ranker"].get("shelves") or {}).get(shelf) or {})


def split_by_time(frame: pd.DataFrame, validation_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on every as_of but the latest ``validation_days`` ones, validate on those (a later
    window, never a random split). Raises InputError when there are fewer than two as_of dates."""
    dates = np.sort(frame["as_of"].unique())
    if len(dates) < 2:
        raise InputError(f"training needs examples at two or more as_of dates (got {len(dates)}): the latest "
                         f"dates are the validation window used for early stopping")
    cut = dates[-min(int(validation_days), len(dates) - 1)]
    return frame[frame["as_of"] < cut], frame[frame["as_of"] >= cut]


def drop_queries_without_positives(frame: pd.DataFrame) -> pd.DataFrame:
    """Remove query groups whose labels are all 0: they carry no ranking signal."""
    has = frame.groupby(QUERY, sort=False)["label"].transform("max") > 0
    return frame[has.to_numpy()]


def to_matrix(frame: pd.DataFrame, shelf: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X float32 C-contiguous (n, n_features) in spec order, y float32 (n,), qid int64 (n,)).
    ``frame`` must be sorted by query (as ``read_examples`` returns it)."""
    X = np.ascontiguousarray(frame[feature_names(shelf)].to_numpy(dtype=np.float32))
    y = frame["label"].to_numpy(dtype=np.float32)
    qid = frame.groupby(QUERY, sort=False).ngroup().to_numpy(dtype=np.int64)
    return X, y, qid


def _window(frame: pd.DataFrame) -> dict:
    if frame.empty:
        return {"from": None, "to": None, "as_of_dates": 0}
    return {"from": str(frame["as_of"].min().date()), "to": str(frame["as_of"].max().date()),
            "as_of_dates": int(frame["as_of"].nunique())}


def train_local(train: pd.DataFrame, valid: pd.DataFrame, shelf: str, rcfg: dict) -> tuple[xgb.Booster, dict]:
    """Fit with ``xgboost.train`` on numpy, early-stopping on ``valid``. Returns (booster, info)."""
    Xt, yt, qt = to_matrix(train, shelf)
    Xv, yv, qv = to_matrix(valid, shelf)
    names = feature_names(shelf)
    dtrain = xgb.DMatrix(Xt, label=yt, qid=qt, feature_names=names)
    dvalid = xgb.DMatrix(Xv, label=yv, qid=qv, feature_names=names)
    params = {"objective": rcfg["objective"], "eval_metric": rcfg["eval_metric"], **rcfg["params"]}
    evals_result: dict = {}
    booster = xgb.train(params, dtrain, num_boost_round=int(rcfg["num_boost_round"]),
                        evals=[(dtrain, "train"), (dvalid, "validation")],
                        early_stopping_rounds=int(rcfg["early_stopping_rounds"]), evals_result=evals_result,
                        verbose_eval=False)
    best = int(getattr(booster, "best_iteration", booster.num_boosted_rounds() - 1))
    metric = rcfg["eval_metric"]
    return booster, {"best_iteration": best,
                     "validation_metric": {metric: float(evals_result["validation"][metric][best])}}


def train_spark(train: pd.DataFrame, valid: pd.DataFrame, shelf: str, rcfg: dict, spark=None
                ) -> tuple[xgb.Booster, dict]:
    """Fit with ``xgboost.spark.SparkXGBRanker``.

    Rows are given a dense ``qid`` and, as the xgboost docs require for ranking on Spark, each
    query group is kept whole in one partition (``repartition`` by qid) and sorted by qid inside
    it (``sortWithinPartitions``). The validation window is marked with a validation indicator
    column for early stopping. ``spark``: a SparkSession (default: local, from ``rcfg["spark"]``).
    """
    from pyspark.ml.functions import array_to_vector
    from xgboost.spark import SparkXGBRanker

    from models.spark_session import get_spark

    spark = spark or get_spark(rcfg["spark"]["master"])
    names = feature_names(shelf)
    both = pd.concat([train.assign(is_valid=False), valid.assign(is_valid=True)], ignore_index=True)
    both = both.sort_values(["is_valid", *QUERY, "item_id"], kind="stable")
    both["qid"] = both.groupby(["is_valid", *QUERY], sort=False).ngroup().astype("int64")
    pdf = pd.DataFrame({"features": list(both[names].to_numpy(dtype=np.float32).astype(np.float64)),
                        "label": both["label"].astype("float64"), "qid": both["qid"],
                        "is_valid": both["is_valid"]})
    sdf = spark.createDataFrame(pdf).withColumn("features", array_to_vector("features"))
    n_workers = int(rcfg["spark"]["num_workers"])
    sdf = ordered_for_ranking(sdf, n_workers)
    params = dict(rcfg["params"])
    ranker = SparkXGBRanker(features_col="features", label_col="label", qid_col="qid",
                            validation_indicator_col="is_valid", num_workers=n_workers,
                            objective=rcfg["objective"], eval_metric=rcfg["eval_metric"],
                            n_estimators=int(rcfg["num_boost_round"]),
                            early_stopping_rounds=int(rcfg["early_stopping_rounds"]), **_sklearn_names(params))
    model = ranker.fit(sdf)
    booster = model.get_booster()
    booster.feature_names = names
    best = int(getattr(booster, "best_iteration", booster.num_boosted_rounds() - 1))
    return booster, {"best_iteration": best}


def ordered_for_ranking(sdf, n_partitions: int):
    """Keep each query group in one partition and sorted by qid (what SparkXGBRanker requires)."""
    return sdf.repartition(n_partitions, "qid").sortWithinPartitions("qid")


def _sklearn_names(params: dict) -> dict:
    rename = {"eta": "learning_rate", "seed": "random_state", "lambda": "reg_lambda", "alpha": "reg_alpha"}
    return {rename.get(k, k): v for k, v in params.items()}


def train(examples: pd.DataFrame, shelf: str, config: dict, backend: str | None = None) -> tuple[xgb.Booster, dict]:
    """Time-split ``examples`` (see :func:`split_by_time`), drop queries without positives, fit
    with the configured back-end. Returns (booster, metadata dict for :func:`save_model`).
    Raises InputError when a window has no positive query group."""
    rcfg = ranker_config(config, shelf)
    backend = backend or rcfg["backend"]
    tr, va = split_by_time(examples, rcfg["validation_days"])
    tr_p, va_p = drop_queries_without_positives(tr), drop_queries_without_positives(va)
    if tr_p.empty or va_p.empty:
        raise InputError(f"shelf {shelf!r}: no query group with a positive label in the "
                         f"{'training' if tr_p.empty else 'validation'} window; cannot train a ranker")
    log.info("train %s (%s): %d rows / %d groups in training, %d / %d in validation", shelf, backend,
             len(tr_p), tr_p.groupby(QUERY).ngroups, len(va_p), va_p.groupby(QUERY).ngroups)
    fit = train_spark if backend == "spark" else train_local
    booster, info = fit(tr_p, va_p, shelf, rcfg)
    # xgboost.train returns the last round's model, not the best one: keep the trees up to the best
    # validation round, so that serving and evaluation score with the model early stopping chose
    info["trained_rounds"] = booster.num_boosted_rounds()
    if booster.num_boosted_rounds() > info["best_iteration"] + 1:
        booster = booster[: info["best_iteration"] + 1]
    meta = {
        "shelf": shelf, "backend": backend, "objective": rcfg["objective"], "params": rcfg,
        "xgboost_config": json.loads(booster.save_config()), "feature_names": feature_names(shelf),
        "feature_spec_fingerprint": spec_fingerprint(shelf),
        "training_window": _window(tr), "validation_window": _window(va),
        "rows": {"training": int(len(tr)), "training_used": int(len(tr_p)), "validation": int(len(va)),
                 "validation_used": int(len(va_p)), "training_positives": int(tr_p["label"].sum()),
                 "validation_positives": int(va_p["label"].sum())},
        "xgboost_version": xgb.__version__, "code_version": code_version(), "git_commit": git_commit(),
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **info,
    }
    return booster, meta


def save_model(booster: xgb.Booster, meta: dict, output: str, training_stats: dict | None = None) -> dict:
    """Write the artifact folder (see module docstring) and return the metadata written."""
    raw = bytes(booster.save_raw(raw_format="json"))
    meta = {**meta, "model_sha256": hashlib.sha256(raw).hexdigest()}
    storage.write_bytes(storage.join(output, "model.json"), raw)
    if training_stats:
        storage.write_json(storage.join(output, "training_stats.json"), training_stats)
    storage.write_json(storage.join(output, "metadata.json"), meta)
    return meta


class XGBoostScorer:
    """A loaded model for one shelf: ``score(X)`` on float32 (n, n_features) in spec order ->
    float64 (n,), one ``inplace_predict`` call (no DMatrix) per batch.

    Raises ModelMismatchError when the artifact's checksum or feature spec fingerprint does not
    match (serving never uses a model trained on other features), InputError when files are missing.
    """

    source = "model"

    def __init__(self, path: str, shelf: str, version: str | None = None):
        meta_path, model_path = storage.join(path, "metadata.json"), storage.join(path, "model.json")
        if not storage.exists(meta_path) or not storage.exists(model_path):
            raise InputError(f"{path}: not a model folder (needs model.json and metadata.json)")
        self.metadata = storage.read_json(meta_path)
        raw = storage.read_bytes(model_path)
        if hashlib.sha256(raw).hexdigest() != self.metadata.get("model_sha256"):
            raise ModelMismatchError(f"{model_path}: checksum does not match metadata.json (corrupt or altered)")
        want, got = spec_fingerprint(shelf), self.metadata.get("feature_spec_fingerprint")
        if got != want or self.metadata.get("shelf") != shelf:
            raise ModelMismatchError(
                f"{path}: model for shelf {self.metadata.get('shelf')!r} was trained with feature spec {got}, "
                f"but shelf {shelf!r} now has spec {want}; retrain it (`home-recs build-examples` then `train`)")
        self.booster = xgb.Booster()
        self.booster.load_model(bytearray(raw))
        self.shelf = shelf
        self.version = version or self.metadata.get("version") or path.rstrip("/").rsplit("/", 1)[-1]

    def score(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0)
        return np.asarray(self.booster.inplace_predict(np.ascontiguousarray(X, dtype=np.float32)), dtype=np.float64)
