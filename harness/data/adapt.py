"""Apply a declared adaptation (``harness.registry.adaptation``) to a batch of samples."""

from __future__ import annotations

import numpy as np

from harness.registry.adaptation import Adaptation


def adapt_inputs(inputs: np.ndarray, adaptation: Adaptation) -> np.ndarray:
    """Samples (N, *dataset_shape) → (N, *adaptation.shape); no steps returns the input as it is
    (token ids stay int64)."""
    if not adaptation.steps:
        return inputs
    out = inputs
    for step in adaptation.steps:
        if step == "flatten":
            out = out.reshape(len(out), -1)
        elif step == "repeat_channels":
            out = np.repeat(out, adaptation.shape[0], axis=1)
        elif step == "resize":
            import torch
            import torch.nn.functional as F

            size = adaptation.shape[1]
            with torch.no_grad():
                out = F.interpolate(
                    torch.from_numpy(np.ascontiguousarray(out)),
                    size=(size, size),
                    mode="bilinear",
                    align_corners=False,
                ).numpy()
        else:
            raise ValueError(f"unknown adaptation step {step!r}")
    return np.ascontiguousarray(out, dtype=np.float32)
