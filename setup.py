"""Packaging for home-recs: one distribution, three packages, one console script.

Version ranges are the ones measured to resolve together on Python 3.11 (see ../shared/STACK.md):
Beam caps numpy/pyarrow, pandas 3 breaks Beam's DataFrame API, xgboost-cpu drops the GPU library.
"""
from setuptools import find_packages, setup

setup(
    name="home-recs",
    version="0.1.0",
    description="Offline daily recommender that precomputes a music app's Home shelves for every listener.",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["jobs", "jobs.*", "transforms", "transforms.*", "models", "models.*"]),
    install_requires=[
        "apache-beam[gcp]>=2.77.0,<2.78",
        "xgboost-cpu>=3.2.0,<3.3",
        "scikit-learn>=1.5,<2",
        "pandas>=2.2.0,<2.4",
        "numpy>=1.26,<2.5",
        "pyarrow>=18.0.0,<26",
        "google-cloud-storage>=2.18.2,<4",
        "PyYAML>=6,<7",
        "pydantic>=2.7,<3",             # the typed config (transforms/config/config_schema.py); Beam installs it too
        "matplotlib>=3.8,<4",           # PNG charts in the evaluation and drift reports
    ],
    extras_require={
        # Spark jobs (item-neighbours, the SparkXGBRanker back-end). An extra, so Dataflow workers that
        # install this package from setup.py do not build the ~456 MB pyspark wheel they never use.
        "spark": ["pyspark[sql]>=4.3.0,<4.4"],
        "test": ["pytest>=8,<10", "gcp-storage-emulator>=2024.8.3", "hypothesis>=6.100,<7"],
    },
    entry_points={"console_scripts": ["home-recs=jobs.cli:main"]},
)
