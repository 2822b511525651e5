"""Multilayer perceptrons."""

from __future__ import annotations

from torch import nn


def build_mlp(in_features: int, num_classes: int, depth: int, width: int) -> nn.Module:
    """ReLU MLP with ``depth`` hidden layers of ``width`` units and a linear classifier.

    Parameters: (in·w + w) + (depth − 1)(w² + w) + (w·C + C).
    """
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
    layers: list[nn.Module] = []
    fan_in = in_features
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
        fan_in = width
    layers.append(nn.Linear(fan_in, num_classes))
    return nn.Sequential(*layers)
