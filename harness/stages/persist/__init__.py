"""Experiment 1 (PERSIST): one module per stage, sharing ``run`` (entries, task data, network)."""
