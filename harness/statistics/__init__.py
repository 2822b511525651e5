"""Statistics over stage outputs: rank correlations, repeated-measures checks, LOAO prediction."""
