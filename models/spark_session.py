"""One local SparkSession for the project's Spark work (training back-end, neighbour jobs)."""
from __future__ import annotations

import os
import sys


def get_spark(master: str = "local[2]", app: str = "home-recs"):
    """Get or create a SparkSession. Sets PYSPARK_PYTHON to this interpreter (workers must import
    pandas) and SPARK_LOCAL_IP to loopback unless already set (measured needs, see STACK.md)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master(master).appName(app)
            .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
            .getOrCreate())
