"""Where stage outputs live (one place, so stages and the generator agree)."""

from __future__ import annotations

RESULTS = "results"
CHECK_OUT = f"{RESULTS}/check.json"
REPORTS = "reports"


def run_record(stage: str) -> str:
    """What changes from one run of ``stage`` to the next (start time, wall time, git commit, how much
    was resumed from the harness cache): an output of the stage that no other stage depends on, so a
    forced re-run changes it without re-running anything downstream (issue 18, item 4)."""
    return f"{RESULTS}/runs/{stage}.json"


def train_dir(key: str) -> str:
    """Outputs of ``train@<key>``."""
    return f"{RESULTS}/train/{key}"


def data_dir(dataset: str) -> str:
    """Outputs of ``data@<dataset>``."""
    return f"{RESULTS}/data/{dataset}"


def data_manifest(dataset: str) -> str:
    return f"{data_dir(dataset)}/manifest.json"


def persist_dir(key: str, part: str) -> str:
    """Outputs of the PERSIST stage ``part`` (task_a, landscape, topology, curvature, forgetting) of run
    ``key`` (``cnn_small-digits-s0``), or of the per-pair ``metrics`` stage (key ``cnn_small-digits``)."""
    return f"{RESULTS}/persist/{key}/{part}"


PERSIST_STATISTICS = f"{RESULTS}/persist_statistics"
"""Outputs of ``persist_statistics`` (the survey-level Experiment 1 statistics)."""


def phi_dir(key: str, part: str) -> str:
    """Outputs of the PHI stage ``part`` (train, measure, transfer) of pair ``key`` (``mlp_2-digits``)."""
    return f"{RESULTS}/phi/{key}/{part}"


PHI_STATISTICS = f"{RESULTS}/phi_statistics"
"""Outputs of ``phi_statistics`` (the survey-level Experiment 2 statistics)."""


def genesis_dir(key: str, part: str) -> str:
    """Outputs of the GENESIS stage ``part`` (capacity, information) of pair ``key``
    (``mlp_d4_w256-gaussian_inputs``)."""
    return f"{RESULTS}/genesis/{key}/{part}"


GENESIS_DOUBLE_DESCENT = f"{RESULTS}/genesis_double_descent"
"""Outputs of ``genesis_double_descent`` (test error vs width for one family)."""


GENESIS_STATISTICS = f"{RESULTS}/genesis_statistics"
"""Outputs of ``genesis_statistics`` (the survey-level Experiment 3 fits and verdicts)."""
