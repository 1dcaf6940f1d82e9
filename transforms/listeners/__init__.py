"""The listener domain: histories, batches, the catalog, curation, aggregates and labels."""
