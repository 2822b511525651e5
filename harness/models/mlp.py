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


def mlp_parameter_count(in_features: int, num_classes: int, depth: int, width: int) -> int:
    """Parameters of ``build_mlp``: (in + 1)·w + (depth − 1)(w² + w) + (w + 1)·C."""
    return (in_features + 1) * width + (depth - 1) * (width * width + width) + (width + 1) * num_classes


def mlp_width_for_volume(in_features: int, num_classes: int, depth: int, target_params: int) -> int:
    """The width whose ``depth``-layer MLP has the parameter count closest to ``target_params``.

    Solves (depth − 1)·w² + (in + depth + C)·w + C − V = 0 for w, then picks the better of the two
    neighbouring integers. (A list like 2x512, 4x256, 8x128 is not constant-volume: L·w² halves.)
    """
    a = depth - 1
    b = in_features + depth + num_classes
    c = num_classes - target_params
    root = -c / b if a == 0 else (-b + (b * b - 4 * a * c) ** 0.5) / (2 * a)
    candidates = [max(1, int(root)), max(1, int(root) + 1)]
    return min(
        candidates, key=lambda w: abs(mlp_parameter_count(in_features, num_classes, depth, w) - target_params)
    )


def build_mlp_constant_volume(
    in_features: int, num_classes: int, depth: int, target_params: int
) -> nn.Module:
    """``build_mlp`` at the width that gives about ``target_params`` parameters for this input and output."""
    return build_mlp(
        in_features, num_classes, depth, mlp_width_for_volume(in_features, num_classes, depth, target_params)
    )
