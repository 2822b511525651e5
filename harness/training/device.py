"""Device choice and determinism settings."""

from __future__ import annotations

import os

import torch


def resolve_device(requested: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("params runtime.device is 'cuda' but no CUDA device is available")
    return torch.device(requested)


def make_deterministic(seed: int, deterministic: bool = True) -> None:
    """Seed torch and ask for deterministic kernels (bit-identical reruns on the same device)."""
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
