"""Experiment 3 (GENESIS) stages: memorization-capacity searches and the survey fits."""
