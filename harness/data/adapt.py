"""Declared rules that feed a dataset's samples to an architecture's input kind."""

from __future__ import annotations

import numpy as np

from harness.registry.schema import INPUT_ADAPTERS


def adaptation_rule(modality: str, arch_input: str) -> str:
    """The rule joining a dataset modality to an architecture input, or a clear error."""
    try:
        return INPUT_ADAPTERS[(modality, arch_input)]
    except KeyError:
        raise ValueError(
            f"no declared rule adapts {modality} data to an architecture taking {arch_input} input"
        ) from None


def adapt_inputs(inputs: np.ndarray, rule: str) -> np.ndarray:
    """Apply a rule to a batch of samples, shape (N, *sample_shape)."""
    if rule == "identity":
        return inputs
    if rule == "flatten":
        return inputs.reshape(len(inputs), -1)
    raise ValueError(f"unknown adaptation rule {rule!r}")


def adapted_shape(shape: list[int], rule: str) -> list[int]:
    """Sample shape after a rule."""
    return [int(np.prod(shape))] if rule == "flatten" else list(shape)
