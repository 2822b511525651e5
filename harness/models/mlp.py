"""Multilayer perceptrons."""

from __future__ import annotations

from torch import nn


def build_mlp(in_features: int, num_classes: int, depth: int, width: int) -> nn.Module:
    """ReLU MLP with ``depth`` hidden layers of ``width`` units and a linear classifier.

    Parameters: (in·w + w) + (depth − 1)(w² + w) + (w·C + C).
    Hidden layers use He initialization (Kaiming normal, fan-in; He et al. 2015) and zero biases, so
    activations keep their scale with depth; PyTorch's default (variance 1/(3·fan_in)) shrinks them
    about sixfold per ReLU layer and leaves an 8-layer MLP stuck at chance.
    """
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
    layers: list[nn.Module] = []
    fan_in = in_features
    for _ in range(depth):
        linear = nn.Linear(fan_in, width)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.ReLU()]
        fan_in = width
    layers.append(nn.Linear(fan_in, num_classes))
    return nn.Sequential(*layers)
