"""Classification measurements: pure functions of (model, inputs, targets)."""

from __future__ import annotations

import torch
from torch import nn

version = 1


@torch.no_grad()
def predict_logits(model: nn.Module, inputs: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Logits (N, C) in eval mode, batched; the model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)])
    finally:
        model.train(was_training)


def accuracy(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Top-1 accuracy (fraction in [0, 1])."""
    return (predict_logits(model, inputs).argmax(1) == targets).double().mean().item()


def cross_entropy(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean −log p(y|x) of the true class, in nats."""
    logits = predict_logits(model, inputs).double()
    return torch.nn.functional.cross_entropy(logits, targets).item()


def expected_calibration_error(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, bins: int = 10
) -> float:
    """ECE = Σ_b (|B_b|/N)·|acc(B_b) − conf(B_b)| over equal-width confidence bins (Guo et al. 2017, eq. 3)."""
    probs = predict_logits(model, inputs).double().softmax(1)
    return calibration_error_from_probs(probs, targets, bins)


def calibration_error_from_probs(probs: torch.Tensor, targets: torch.Tensor, bins: int = 10) -> float:
    """ECE of predicted class probabilities (N, C); bins are (k/B, (k+1)/B], the first also holds 0."""
    conf, pred = probs.max(1)
    correct = (pred == targets).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=probs.dtype)
    # bucketize with right=False puts conf == edge k into bin k-1, i.e. intervals (a, b]
    which = torch.clamp(torch.bucketize(conf, edges[1:-1], right=False), 0, bins - 1)
    ece = torch.zeros((), dtype=torch.float64)
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.double().mean() * (correct[mask].mean() - conf[mask].mean()).abs()
    return ece.item()
