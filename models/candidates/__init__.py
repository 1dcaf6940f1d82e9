"""Candidate sources (stage 1) and the Spark item-neighbours they read."""
