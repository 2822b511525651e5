"""Experiment 2 (PHI) stages: training with checkpoints, module measures, survey statistics."""
