"""Features: the feature spec, the one feature code path, and feature statistics."""
