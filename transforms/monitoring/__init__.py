"""Monitoring: skew and drift between feature statistics, and their reports."""
