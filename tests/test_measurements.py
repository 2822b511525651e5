"""Classification measurements against hand-computed cases."""

from __future__ import annotations

import math

import torch
from torch import nn

from harness.measurements.classification import (
    accuracy,
    calibration_error_from_probs,
    cross_entropy,
    expected_calibration_error,
)


class Fixed(nn.Module):
    """Returns preset logits for inputs 0..N-1."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.logits[idx.long().squeeze(-1)]


def test_accuracy_and_cross_entropy_by_hand():
    p = torch.tensor([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.1, 0.9]])
    model = Fixed(p.log())
    x, y = torch.arange(4).float()[:, None], torch.tensor([0, 1, 1, 0])
    assert accuracy(model, x, y) == 0.5
    expected = -(math.log(0.7) + math.log(0.8) + math.log(0.4) + math.log(0.1)) / 4
    assert abs(cross_entropy(model, x, y) - expected) < 1e-6
    assert model.training  # restored


def test_expected_calibration_error_by_hand():
    # two bins of 2 samples each: confidences 0.9 (both right) and 0.6 (one right)
    probs = torch.tensor([[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.4, 0.6]], dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 0])
    # bin (0.8,0.9]: acc 1, conf .9 -> .1 ; bin (0.5,0.6]: acc .5, conf .6 -> .1 ; ECE = .5*.1+.5*.1
    assert abs(calibration_error_from_probs(probs, y, bins=10) - 0.1) < 1e-12
    assert (
        abs(expected_calibration_error(Fixed(probs.log().float()), torch.arange(4).float()[:, None], y) - 0.1)
        < 1e-6
    )


def test_perfectly_calibrated_is_zero():
    probs = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    assert calibration_error_from_probs(probs, torch.tensor([0, 1])) == 0.0
