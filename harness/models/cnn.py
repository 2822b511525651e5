"""Small plain convolutional networks."""

from __future__ import annotations

from torch import nn


def build_conv_net(
    in_channels: int, image_size: int, num_classes: int, channels: list[int], hidden: int
) -> nn.Module:
    """Conv(3x3)-BN-ReLU stages, each followed by 2x2 max-pooling while the map is >= 2 pixels,
    then global average pooling and a one-hidden-layer classifier."""
    if not channels:
        raise ValueError("channels must list at least one stage width")
    layers: list[nn.Module] = []
    c_in, size = in_channels, image_size
    for c_out in channels:
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        if size >= 2:
            layers.append(nn.MaxPool2d(2))
            size //= 2
        c_in = c_out
    layers += [
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(c_in, hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_classes),
    ]
    return nn.Sequential(*layers)
