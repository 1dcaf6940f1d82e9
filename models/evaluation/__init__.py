"""Offline evaluation: metrics, ranker/layout/experiment evaluation and the report."""
