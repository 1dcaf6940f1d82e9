"""The data contract and I/O: reading, validating, storing, spilling and publishing tables."""
