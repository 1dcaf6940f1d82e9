"""Ranking: training examples, the XGBoost ranker and the baselines."""
