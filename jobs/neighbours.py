"""``home-recs item-neighbours``: item-item neighbours (co-occurrence cosine and implicit ALS) with Spark.

Thin entry point: reads the dataset's ``events`` (and, when present, ``items``) with Spark, runs
:func:`models.candidates.neighbours.item_neighbours`, writes ``OUTPUT/neighbours/``, ``OUTPUT/item_factors/``,
``OUTPUT/summary.json`` and ``OUTPUT/_SUCCESS`` (last). Runs in local mode (``--master local[2]``) or
under ``spark-submit`` on a cluster, where the session ``spark-submit`` created is used as is.

Also runnable as ``python -m jobs.neighbours --as-of D --input DIR --output DIR``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from jobs.plumbing import finish_staging, parse_date, staging, swap_in
from transforms.io import contract, storage
from transforms.errors import InputError

log = logging.getLogger("home_recs.neighbours")

EVENT_COLUMNS = ("listener_id", "item_id", "item_type", "ts", "context_id")
ITEM_COLUMNS = ("item_id", "item_type", "parent_id", "creator_id")


def register(sub) -> None:
    p = sub.add_parser(
        "item-neighbours", help="item-item neighbours from co-listening before as_of: cosine and implicit ALS (Spark)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Computes item-to-item neighbours from plays with ts < as_of (00:00 UTC of --as-of):\n"
                    "  cooccurrence  cosine n_ab / sqrt(n_a n_b) over the binary listener x item matrix\n"
                    "  als           cosine of implicit-feedback ALS item factors (pyspark.ml ALS)\n"
                    "Plays count toward the played item, its context (album/playlist/show), its parent and its\n"
                    "creator, one entity per item type (as the daily job resolves shelf entities; parents and\n"
                    "creators need the dataset's items table). Neighbours are of the same type as their item.\n"
                    "Listeners and items above the activity caps are down-sampled, and pairs scoring below\n"
                    "neighbours.min_score.<method> are dropped (config section neighbours:).\n\n"
                    "Writes OUTPUT/neighbours/*.parquet   item_id, neighbour_id, score (float64), method\n"
                    "                                      (cooccurrence|als), top N per item and method\n"
                    "       OUTPUT/item_factors/*.parquet item_id, factors (list<float>)\n"
                    "       OUTPUT/summary.json, then OUTPUT/_SUCCESS (readers wait for it).\n"
                    "Rows with a null/empty id or ts are dropped and counted (validation is the daily job's).",
        epilog="example: home-recs item-neighbours --as-of 2014-12-21 --input /tmp/m30 --output /tmp/m30-nb")
    p.add_argument("--as-of", required=True, metavar="YYYY-MM-DD",
                   help="cut-off date: only plays before 00:00 UTC of this day count")
    p.add_argument("--input", required=True, metavar="DIR", help="dataset folder with an events table (local or gs://)")
    p.add_argument("--output", required=True, metavar="DIR", help="output folder (its tables are replaced)")
    p.add_argument("--config", metavar="FILE", help="YAML deep-merged over the packaged defaults (section neighbours:)")
    p.add_argument("--master", default=None,
                   help="Spark master (default local[2]; under spark-submit, the one spark-submit was given)")
    p.add_argument("--driver-memory", default="4g",
                   help="spark.driver.memory when this job starts the JVM (default 4g; local mode runs all work in "
                        "the driver). Under spark-submit use its --driver-memory")
    p.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                   help="extra Spark setting, repeatable (e.g. spark.sql.shuffle.partitions=64)")
    p.set_defaults(func=run)


def _local_cores(master: str) -> int:
    """Cores of a ``local``, ``local[N]`` or ``local[*]`` master."""
    inside = master[master.find("[") + 1:master.find("]")] if "[" in master else "1"
    inside = inside.split(",")[0].strip()
    return (os.cpu_count() or 1) if inside == "*" else max(1, int(inside) if inside.isdigit() else 1)


def spark_session(master: str | None = "local[2]", driver_memory: str = "4g", conf: list[str] | None = None):
    """The active SparkSession (a test, a notebook) or a new one. Returns (session, created).

    ``master`` None under ``spark-submit`` keeps the master it was given; otherwise default local[2]."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers must import numpy/pandas
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    settings = {
        "spark.driver.memory": driver_memory,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    submitted = master is None and "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit chose the master
    master = None if submitted else (master or "local[2]")
    if master and master.startswith("local"):
        # Enough shuffle partitions for the pair aggregate (150M rows on the 10M-event set), and AQE
        # coalescing by size so that small stages do not pay for 64 tasks (on 30Music, 200 uncoalesced
        # partitions made the job 4x slower).
        settings["spark.sql.shuffle.partitions"] = str(max(64, 8 * _local_cores(master)))
        settings["spark.sql.adaptive.coalescePartitions.parallelismFirst"] = "false"
    for item in conf or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--spark-conf must look like KEY=VALUE, got {item!r}")
        settings[key.strip()] = value.strip()
    builder = SparkSession.builder.appName("home-recs item-neighbours")
    if master:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    try:  # the id index is a deliberate single-partition window (models.candidates.neighbours._dense_index)
        jvm = spark.sparkContext._jvm
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
            "org.apache.spark.sql.execution.window.WindowExec", jvm.org.apache.logging.log4j.Level.ERROR)
    except Exception:  # pragma: no cover - logging only
        pass
    return spark, True


# --------------------------------------------------------------------------------------------------
# Reading contract tables with Spark (no validation: that is the daily job's job)
# --------------------------------------------------------------------------------------------------

def _header(path: str, fmt: str) -> list[str]:
    """Column names of one file, read cheaply (Parquet footer, CSV header line, first JSON object)."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            with storage.open_read(path) as handle:
                return list(pq.ParquetFile(handle).schema_arrow.names)
        if fmt == "csv":
            import csv

            with storage.open_read(path) as handle:
                first = handle.readline().decode("utf-8-sig", errors="replace").rstrip("\r\n")
            return next(csv.reader([first])) if first else []
        for line in storage.iter_lines(path):
            if line.strip():
                obj = json.loads(line)
                return list(obj) if isinstance(obj, dict) else []
        return []
    except Exception as err:
        raise InputError(f"{path}: cannot be read as {fmt}: {type(err).__name__}: {err}") from err


def read_table(spark, files: list[str], spec: contract.TableSpec, columns: tuple[str, ...]):
    """Spark DataFrame of ``columns`` from the table's files (Parquet/CSV/JSON Lines, mixed formats are
    unioned). Ids are strings; ``ts`` becomes a UTC timestamp (numbers = epoch seconds, strings ISO-8601,
    unparseable -> null). A missing required column raises InputError naming the file and column;
    missing optional columns are null."""
    from pyspark.sql import functions as F

    from transforms.io.read import file_format
    from transforms.io.validate import check_header

    frames = []
    groups: dict[tuple, list[str]] = {}
    for path in sorted(files):
        fmt = file_format(path)
        names = _header(path, fmt)
        check_header(names, spec, path)
        # CSV files take their columns from one header: read files with different headers separately
        groups.setdefault((fmt, tuple(names) if fmt == "csv" else ()), []).append(path)
    for (fmt, _), paths in sorted(groups.items()):
        if fmt == "parquet":  # mergeSchema: a file without an optional column reads it as null
            df = spark.read.option("mergeSchema", "true").parquet(*paths)
        elif fmt == "csv":
            df = spark.read.option("header", True).option("inferSchema", False).csv(paths)
        else:  # JSON schema inference already merges the files' keys
            df = spark.read.option("primitivesAsString", True).json(paths)
        cols = []
        for name in columns:
            if name not in df.columns:
                cols.append(F.lit(None).cast("timestamp" if name == "ts" else "string").alias(name))
            elif name == "ts":
                cols.append(_timestamp(df, name).alias(name))
            else:
                cols.append(F.col(name).cast("string").alias(name))
        frames.append(df.select(*cols))
    out = frames[0]
    for df in frames[1:]:
        out = out.unionByName(df)
    return out


def _timestamp(df, name: str):
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    typ = df.schema[name].dataType
    col = F.col(name)
    if isinstance(typ, (T.TimestampType, T.TimestampNTZType)):
        return col.cast("timestamp")  # NTZ is read as UTC (session time zone)
    if isinstance(typ, T.NumericType):
        return F.timestamp_seconds(col.cast("double"))
    text = F.trim(col.cast("string"))
    return (F.when(text.rlike(r"^-?\d+(\.\d+)?$"), F.timestamp_seconds(text.try_cast("double")))
            .otherwise(text.try_cast("timestamp")))


def input_files(input_dir: str) -> tuple[list[str], list[str] | None]:
    """(events files, items files or None). Raises InputError when there is no events table; checked
    before Spark starts."""
    from transforms.io.read import find_table_files

    events = find_table_files(input_dir, "events")
    try:
        items = find_table_files(input_dir, "items")
    except InputError:
        log.warning("no items table under %s: plays count toward their item and context_id only "
                    "(no parents or creators)", input_dir)
        items = None
    return events, items


def read_events(spark, files: list[str], as_of_us: int):
    """(events DataFrame without null/empty ids or ts, counts dict). Counts: files, read,
    dropped_null_or_empty, before_as_of."""
    from pyspark.sql import functions as F

    raw = read_table(spark, files, contract.EVENTS, EVENT_COLUMNS)

    def filled(c):
        return F.col(c).isNotNull() & (F.trim(F.col(c)) != "")

    ok = filled("listener_id") & filled("item_id") & F.col("ts").isNotNull()
    row = raw.agg(F.count(F.lit(1)).alias("read"), F.sum(ok.cast("long")).alias("ok"),
                  F.sum((ok & (F.unix_micros("ts") < F.lit(as_of_us))).cast("long")).alias("before")).first()
    counts = {"files": len(files), "read": int(row["read"]),
              "dropped_null_or_empty": int(row["read"] - (row["ok"] or 0)), "before_as_of": int(row["before"] or 0)}
    if counts["dropped_null_or_empty"]:
        log.warning("events: dropped %d of %d rows with a null/empty listener_id, item_id or ts (validation and the "
                    "rejected/ output are the daily job's; this job only skips them)",
                    counts["dropped_null_or_empty"], counts["read"])
    return raw.where(ok), counts


def read_items(spark, files: list[str] | None):
    """The catalog columns the entity mapping needs, or None when the dataset has no items table."""
    return None if not files else read_table(spark, files, contract.ITEMS, ITEM_COLUMNS)


# --------------------------------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------------------------------

def _delete_file(path: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    if storage.exists(path):
        FileSystems.delete([path])


def run(args: argparse.Namespace, _beam_args: list[str] | None = None) -> int:
    from pyspark.sql import functions as F

    from models.candidates.neighbours import as_of_micros, item_neighbours, neighbour_params
    from transforms.config.config import fingerprint, load_config

    started = time.time()
    as_of = parse_date(args.as_of.strip(), "--as-of")
    config = load_config(args.config)
    params = neighbour_params(config)
    run_id, stage = staging(args.output)
    timings: dict[str, float] = {}
    event_files, item_files = input_files(args.input)
    spark, created = spark_session(args.master, args.driver_memory, args.spark_conf)
    spark_info = {"version": spark.version, "master": spark.sparkContext.master if created else "(existing session)"}
    timings["spark_start_s"] = round(time.time() - started, 1)
    log.info("item-neighbours: as_of %s, input %s, run %s, Spark %s %s", as_of, args.input, run_id,
             spark.version, spark.sparkContext.master)
    try:
        t0 = time.time()
        events, event_counts = read_events(spark, event_files, as_of_micros(as_of))
        items = read_items(spark, item_files)
        timings["read_s"] = round(time.time() - t0, 1)
        t0 = time.time()
        stats: dict = {}
        neighbours, factors = item_neighbours(spark, events, as_of, params, items_df=items, stats=stats)
        timings["matrix_and_als_s"] = round(time.time() - t0, 1)  # the lazy cosine part runs on write

        t0 = time.time()
        _delete_file(storage.join(args.output, "_SUCCESS"))  # readers stop trusting the old tables
        # sorted within each file (no global sort: it would cost one more shuffle of the whole table)
        (neighbours.sortWithinPartitions("item_id", "method", neighbours["score"].desc(), "neighbour_id")
         .write.mode("overwrite").parquet(storage.join(stage, "neighbours")))
        factors.sortWithinPartitions("item_id").write.mode("overwrite").parquet(storage.join(stage, "item_factors"))
        timings["neighbours_and_write_s"] = round(time.time() - t0, 1)

        written = spark.read.parquet(storage.join(stage, "neighbours"))
        per_method = {r["method"]: {"rows": int(r["rows"]), "items": int(r["items"])}
                      for r in written.groupBy("method").agg(F.count(F.lit(1)).alias("rows"),
                                                             F.countDistinct("item_id").alias("items")).collect()}
        n_factors = spark.read.parquet(storage.join(stage, "item_factors")).count()
        for table in ("neighbours", "item_factors"):
            swap_in(storage.join(stage, table), storage.join(args.output, table))
        finish_staging(args.output, run_id)
    finally:
        if created:
            spark.stop()
    summary = {
        "job": "item-neighbours", "run_id": run_id, "as_of": as_of, "input": args.input, "output": args.output,
        "events": event_counts, "matrix": stats, "neighbours": per_method, "item_factors": int(n_factors),
        "params": params.as_dict(), "config_fingerprint": fingerprint(config),
        "spark": spark_info,
        "timings": timings, "wall_s": round(time.time() - started, 1),
    }
    storage.write_json(storage.join(args.output, "summary.json"), summary)
    storage.write_bytes(storage.join(args.output, "_SUCCESS"), run_id.encode())
    print(f"item-neighbours as_of {as_of}: {event_counts['before_as_of']:,} events before as_of "
          f"({event_counts['dropped_null_or_empty']:,} dropped null/empty); "
          f"matrix {stats.get('matrix_listeners', 0):,} "
          f"listeners x {sum(stats.get('entities_per_type', {}).values()):,} entities "
          f"({', '.join(f'{k} {v:,}' for k, v in stats.get('entities_per_type', {}).items())})")
    for method, c in sorted(per_method.items()):
        print(f"  {method:<12} {c['items']:>9,} items with neighbours, {c['rows']:>11,} rows")
    print(f"  item factors {n_factors:,} (rank {params.als.rank}); wall {summary['wall_s']} s; output {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.neighbours [item-neighbours] --as-of D --input DIR --output DIR ...``"""
    parser = argparse.ArgumentParser(prog="python -m jobs.neighbours")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "item-neighbours":
        argv = ["item-neighbours"] + argv
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return run(args)
    except InputError as err:
        print(f"home-recs item-neighbours: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
