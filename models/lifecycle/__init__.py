"""Model lifecycle: the registry, the evaluation gate and promotion."""
