"""Measurements: pure functions of (model or arrays, config) returning numbers."""
