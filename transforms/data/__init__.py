"""Data generation and importers: the synthetic generator and the public-dataset importers."""
