"""Vision architectures from torchvision and timm, configured by keyword (no weights are downloaded).

Each wrapper exposes the knobs that make the same family at full and at tiny size, and takes the
harness's dataset-derived inputs. The torchvision models keep their ImageNet stems; on 32x32 inputs
they downsample to 1x1, which is how they are commonly run on CIFAR without modification.
"""

from __future__ import annotations

from torch import nn


def _three_channels(name: str, in_channels: int) -> None:
    if in_channels != 3:
        raise ValueError(
            f"{name} takes 3-channel images (declare image_channels: 3 so the harness repeats "
            f"grayscale channels), got in_channels={in_channels}"
        )


def build_vit(
    in_channels: int,
    image_size: int,
    num_classes: int,
    patch_size: int,
    embed_dim: int,
    depth: int,
    num_heads: int,
    mlp_ratio: float = 4.0,
) -> nn.Module:
    """A standard ViT (timm ``VisionTransformer``: class token, learned positions, pre-norm blocks)."""
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        img_size=image_size,
        patch_size=patch_size,
        in_chans=in_channels,
        num_classes=num_classes,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
    )


def build_convnext(
    in_channels: int, image_size: int, num_classes: int, depths: list[int], dims: list[int]
) -> nn.Module:
    """ConvNeXt (timm ``ConvNeXt``; ``convnext_atto`` is depths (2, 2, 6, 2), dims (40, 80, 160, 320))."""
    from timm.models.convnext import ConvNeXt

    del image_size
    return ConvNeXt(in_chans=in_channels, num_classes=num_classes, depths=tuple(depths), dims=tuple(dims))


def build_shufflenet_v2(
    in_channels: int,
    image_size: int,
    num_classes: int,
    stages_repeats: list[int],
    stages_out_channels: list[int],
) -> nn.Module:
    """ShuffleNet-V2 (torchvision ``ShuffleNetV2``; x1.0 is repeats (4, 8, 4), channels (24, 116, 232, 464, 1024))."""
    from torchvision.models import ShuffleNetV2

    _three_channels("shufflenet_v2", in_channels)
    del image_size
    return ShuffleNetV2(stages_repeats, stages_out_channels, num_classes=num_classes)


def build_mobilenet_v2(
    in_channels: int, image_size: int, num_classes: int, width_mult: float = 1.0
) -> nn.Module:
    """MobileNet-V2 (torchvision ``MobileNetV2``)."""
    from torchvision.models import MobileNetV2

    _three_channels("mobilenet_v2", in_channels)
    del image_size
    return MobileNetV2(num_classes=num_classes, width_mult=width_mult)


def build_mobilenet_v3_large(
    in_channels: int, image_size: int, num_classes: int, width_mult: float = 1.0
) -> nn.Module:
    """MobileNet-V3-Large (torchvision's configuration at a width multiplier)."""
    from torchvision.models.mobilenetv3 import MobileNetV3, _mobilenet_v3_conf

    _three_channels("mobilenet_v3_large", in_channels)
    del image_size
    setting, last_channel = _mobilenet_v3_conf("mobilenet_v3_large", width_mult=width_mult)
    return MobileNetV3(setting, last_channel, num_classes=num_classes)


# EfficientNet-B0 stages (Tan & Le 2019, table 1): expand ratio, kernel, stride, in, out, layers
EFFICIENTNET_B0 = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
]


def build_efficientnet(
    in_channels: int, image_size: int, num_classes: int, width_mult: float = 1.0, depth_mult: float = 1.0
) -> nn.Module:
    """EfficientNet (torchvision ``EfficientNet`` blocks) with the B0 stage table scaled by width/depth."""
    from torchvision.models.efficientnet import EfficientNet, MBConvConfig

    _three_channels("efficientnet", in_channels)
    del image_size
    setting = [MBConvConfig(*row, width_mult=width_mult, depth_mult=depth_mult) for row in EFFICIENTNET_B0]
    return EfficientNet(setting, dropout=0.2, num_classes=num_classes)


def build_densenet(
    in_channels: int,
    image_size: int,
    num_classes: int,
    growth_rate: int,
    block_config: list[int],
    num_init_features: int,
) -> nn.Module:
    """DenseNet (torchvision ``DenseNet``; DenseNet-121 is growth 32, blocks (6, 12, 24, 16), 64 stem features)."""
    from torchvision.models import DenseNet

    _three_channels("densenet", in_channels)
    del image_size
    return DenseNet(growth_rate, tuple(block_config), num_init_features, num_classes=num_classes)


def build_vgg(in_channels: int, image_size: int, num_classes: int, config: list[int | str]) -> nn.Module:
    """CIFAR VGG with batch norm: torchvision's VGG feature stack (``make_layers``), then a linear
    classifier on the pooled features (torchvision's 4096-wide head is for 224x224 inputs)."""
    from torchvision.models.vgg import make_layers

    _three_channels("vgg", in_channels)
    del image_size
    channels = [c for c in config if c != "M"]
    return nn.Sequential(
        make_layers(config, batch_norm=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels[-1], num_classes),
    )


def build_torchvision_resnet(
    in_channels: int,
    image_size: int,
    num_classes: int,
    depth: int = 50,
    width_per_group: int = 64,
    blocks: list[int] | None = None,
    skip: bool = True,
) -> nn.Module:
    """torchvision's bottleneck ResNet (ResNet-50: blocks (3, 4, 6, 3)); ``blocks``/``width_per_group``
    shrink it; ``skip=False`` gives the plain twin (no residual additions, no projection shortcuts)."""
    from torchvision.models.resnet import Bottleneck, ResNet

    class PlainBottleneck(Bottleneck):
        """torchvision's bottleneck without its residual addition (and so without the projection)."""

        def __init__(self, inplanes, planes, stride=1, downsample=None, *args, **kwargs) -> None:
            super().__init__(inplanes, planes, stride, None, *args, **kwargs)  # the projection is dropped

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            return self.relu(self.bn3(self.conv3(out)))

    _three_channels("resnet", in_channels)
    del image_size
    layers = blocks or {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}[depth]
    block = Bottleneck if skip else PlainBottleneck
    return ResNet(block, layers, num_classes=num_classes, width_per_group=width_per_group)
