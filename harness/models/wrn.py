"""Wide residual networks WRN-d-k for 32x32 inputs (Zagoruyko & Komodakis 2016), and their plain twins.

No library ships the CIFAR WRN, so it is written here: depth d = 6n + 4 (n pre-activation basic
blocks per stage), widths 16, 16k, 32k, 64k. WRN-28-10 has 36.5M parameters with 100 classes.
"""

from __future__ import annotations

from torch import Tensor, nn


class WideBlock(nn.Module):
    """Pre-activation block: BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3, plus the (projected) input."""

    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float, skip: bool) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=False)
        self.skip = skip
        self.shortcut: nn.Module | None = None
        if skip and (stride != 1 or c_in != c_out):
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))
        out = self.conv2(self.dropout(self.relu(self.bn2(self.conv1(pre)))))
        if not self.skip:
            return out
        return out + (self.shortcut(pre) if self.shortcut is not None else x)


def build_wrn(
    in_channels: int,
    image_size: int,
    num_classes: int,
    depth: int = 28,
    width: int = 10,
    dropout: float = 0.0,
    skip: bool = True,
    base_width: int = 16,
) -> nn.Module:
    """WRN-``depth``-``width``; ``skip=False`` removes every residual addition (the plain twin).

    ``base_width`` (16 in the paper) scales every stage (b, b·k, 2b·k, 4b·k): the tiny build shrinks it
    and keeps depth and k, so a sweep over d and k keeps its shape at CPU size.
    """
    if (depth - 4) % 6 != 0 or depth < 10:
        raise ValueError(f"WRN depth must be 6n + 4 with n >= 1, got {depth}")
    del image_size
    n = (depth - 4) // 6
    widths = [base_width, base_width * width, 2 * base_width * width, 4 * base_width * width]
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)]
    c_in = widths[0]
    for stage in range(3):
        for b in range(n):
            stride = 2 if (b == 0 and stage > 0) else 1
            layers.append(WideBlock(c_in, widths[stage + 1], stride, dropout, skip))
            c_in = widths[stage + 1]
    layers += [
        nn.BatchNorm2d(c_in),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(c_in, num_classes),
    ]
    return nn.Sequential(*layers)
