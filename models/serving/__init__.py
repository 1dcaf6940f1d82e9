"""Serving a Home page: shelves, scoring, rules, page dedup, layout and experiments."""
