"""The typed config: schema, loading, error messages and the generated docs."""
