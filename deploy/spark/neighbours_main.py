"""Entry file for the item-neighbours Spark job on a Dataproc cluster (``main_python_file_uri``).

Dataproc runs it with ``spark-submit``; ``jobs.neighbours`` then uses the SparkSession that
spark-submit created (the cluster's master) instead of starting a local one. Arguments are those of
``home-recs item-neighbours``: ``--as-of D --input DIR --output DIR [--config FILE] [--spark-conf K=V]``.
The cluster's Python must have this package installed (see deploy/README.md).
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from jobs.neighbours import main as neighbours_main

    return neighbours_main(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
