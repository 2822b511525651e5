"""Registries: strict YAML, typed schemas, validation with one clear error."""
