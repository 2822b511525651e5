"""CIFAR-style ResNets (He et al. 2016) with a width multiplier and an optional "plain" twin.

torchvision's ResNet has an ImageNet stem (7x7 stride-2 conv + max-pool) and fixes BasicBlock's width
at 64, so for 32x32 inputs this builder uses the CIFAR stem (3x3 stride-1 conv, no max-pool) and
exposes the base width (ResNet-18: 11.2M parameters at width 64 and 100 classes; 44.7M at 128).
"""

from __future__ import annotations

from torch import Tensor, nn


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers; with ``skip`` the input is added back (1x1 projection when shapes change)."""

    def __init__(self, c_in: int, c_out: int, stride: int, skip: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.skip = skip
        self.shortcut: nn.Module = nn.Identity()
        if skip and (stride != 1 or c_in != c_out):
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.skip:
            out = out + self.shortcut(x)
        return self.relu(out)


BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


def build_resnet(
    in_channels: int, image_size: int, num_classes: int, depth: int = 18, width: int = 64, skip: bool = True
) -> nn.Module:
    """CIFAR ResNet-18/34: 3x3 stem, four stages of BasicBlocks at widths w, 2w, 4w, 8w, global pool, linear.

    ``skip=False`` gives the plain twin: same depth and widths, no residual additions (and so no
    projection shortcuts).
    """
    if depth not in BLOCKS:
        raise ValueError(f"depth must be one of {sorted(BLOCKS)}, got {depth}")
    del image_size  # fully convolutional up to the global pool
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
    ]
    c_in = width
    for stage, n_blocks in enumerate(BLOCKS[depth]):
        c_out = width * 2**stage
        for b in range(n_blocks):
            layers.append(BasicBlock(c_in, c_out, 2 if (b == 0 and stage > 0) else 1, skip))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
    return nn.Sequential(*layers)
