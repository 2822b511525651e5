"""Registry-driven harness for a deep-learning science survey (PERSIST, PHI, GENESIS).

Public functions are exposed lazily (PEP 562): ``import harness`` imports nothing heavy, and a
stage that imports one part of the package does not import (or depend on) the rest.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # registries
    "load_registries": "harness.registry.load",
    "resolve_code_ref": "harness.registry.load",
    "RegistryError": "harness.registry.load",
    # data and models
    "load_dataset": "harness.data.load",
    "split_dataset": "harness.data.arrays",
    "build_architecture": "harness.models.build",
    "trainable_parameter_count": "harness.models.build",
    # training
    "TrainConfig": "harness.training.config",
    "Hooks": "harness.training.loop",
    "train_classifier": "harness.training.loop",
    # measurements
    "accuracy": "harness.measurements.classification",
    "cross_entropy": "harness.measurements.classification",
    "expected_calibration_error": "harness.measurements.classification",
    "volume_and_area": "harness.measurements.volume_area",
    # PERSIST: loss landscapes, their topology, curvature
    "filter_normalized_direction": "harness.measurements.landscape",
    "loss_grid": "harness.measurements.landscape",
    "grid_axis": "harness.measurements.landscape",
    "LossGrid": "harness.measurements.landscape",
    "persistence_diagrams": "harness.measurements.topology",
    "persistence_summary": "harness.measurements.topology",
    "basin_barrier": "harness.measurements.topology",
    "bottleneck_distance": "harness.measurements.topology",
    "hessian_trace": "harness.measurements.curvature",
    "hessian_top_eigenvalue": "harness.measurements.curvature",
    "fisher_trace": "harness.measurements.curvature",
    "fisher_diagonal": "harness.measurements.curvature",
    "fisher_information": "harness.measurements.curvature",
    "twice_differentiable": "harness.measurements.curvature",
    "EWCPenalty": "harness.measurements.curvature",
    "retention": "harness.measurements.forgetting",
    "early_aurc": "harness.measurements.forgetting",
    "forgetting": "harness.measurements.forgetting",
    "max_drop": "harness.measurements.forgetting",
    # PERSIST statistics
    "rank_correlation": "harness.statistics.correlation",
    "partial_spearman": "harness.statistics.correlation",
    "loao_ridge": "harness.statistics.loao",
    "incremental_value_test": "harness.statistics.loao",
    # PHI: mutual information, integrated information, perturbational complexity
    "ksg_mutual_information": "harness.measurements.mutual_information",
    "gaussian_mutual_information": "harness.measurements.mutual_information",
    "mine_mutual_information": "harness.measurements.mutual_information",
    "gaussian_phi": "harness.measurements.integration",
    "gaussian_mip": "harness.measurements.integration",
    "pairwise_phi": "harness.measurements.integration",
    "lz76": "harness.measurements.complexity",
    # GENESIS: memorization capacity, power laws
    "memorization_capacity": "harness.measurements.capacity",
    "label_mutual_information": "harness.measurements.capacity",
    "fit_power_law": "harness.statistics.power_law",
    "compare_laws": "harness.statistics.power_law",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
