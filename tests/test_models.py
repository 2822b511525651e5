"""Builders: parameter counts by hand and the initialization that lets deep MLPs train."""

from __future__ import annotations

import torch

from harness.models.build import load_matching_state, trainable_parameter_count
from harness.models.cnn import build_conv_net
from harness.models.mlp import build_mlp


def test_mlp_parameter_count_by_hand():
    model = build_mlp(in_features=10, num_classes=3, depth=3, width=7)
    assert trainable_parameter_count(model) == (10 * 7 + 7) + 2 * (7 * 7 + 7) + (7 * 3 + 3)


def test_deep_mlp_keeps_activation_scale():
    """He initialization: the second moment of ReLU pre-activations is preserved layer to layer."""
    torch.manual_seed(0)
    model = build_mlp(in_features=256, num_classes=10, depth=8, width=256)
    x = torch.randn(4096, 256)
    h = x
    scales = []
    for layer in model:
        h = layer(h)
        if isinstance(layer, torch.nn.Linear) and h.shape[1] == 256:
            scales.append(h.pow(2).mean().item())
    # Var(w) = 2/fan_in: layer 1 sees x (E[x^2] = 1) so E[z^2] = 2; afterwards E[relu(z)^2] = E[z^2]/2,
    # so E[z^2] stays about 2 at every depth (PyTorch's default would shrink it by ~1/6 per layer)
    assert len(scales) == 8
    assert all(1.0 < s < 4.0 for s in scales), scales
    assert 0.5 < scales[-1] / scales[0] < 2.0


def test_conv_net_shapes_and_count():
    model = build_conv_net(in_channels=3, image_size=32, num_classes=5, channels=[4, 8], hidden=6)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    convs = (3 * 4 * 9 + 2 * 4) + (4 * 8 * 9 + 2 * 8)
    assert trainable_parameter_count(model) == convs + (8 * 6 + 6) + (6 * 5 + 5)


def test_constant_volume_width_solver():
    from harness.models.mlp import build_mlp_constant_volume, mlp_parameter_count, mlp_width_for_volume

    for depth in (1, 2, 4, 8, 16):
        w = mlp_width_for_volume(64, 10, depth, 1_000_000)
        count = mlp_parameter_count(64, 10, depth, w)
        assert abs(count - 1_000_000) / 1_000_000 < 0.01
        # no other width is closer to the target
        assert all(
            abs(mlp_parameter_count(64, 10, depth, v) - 1_000_000) >= abs(count - 1_000_000)
            for v in (w - 1, w + 1)
        )
        model = build_mlp_constant_volume(64, 10, depth, 1_000_000)
        assert trainable_parameter_count(model) == count


def _main_path(model: torch.nn.Module) -> list[torch.Size]:
    """Every conv weight shape except those of projection shortcuts."""
    return [
        m.weight.shape
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d) and "shortcut" not in n and "downsample" not in n
    ]


def test_plain_twins_have_the_same_widths_without_skips(registries):
    from harness.models.build import build_architecture

    ds = registries.datasets["cifar10"]
    for twin, base in (
        ("wrn_16_8_plain", "wrn_16_8"),
        ("resnet18_plain", "resnet18"),
        ("resnet50_plain", "resnet50"),
    ):
        a = build_architecture(registries.architectures[twin], ds, "tiny")
        b = build_architecture(registries.architectures[base], ds, "tiny")
        assert _main_path(a) == _main_path(b)  # same depth and widths
        # only the 1x1 projection shortcuts (and their norms) are gone
        assert trainable_parameter_count(a) < trainable_parameter_count(b)
        x = torch.randn(2, 3, 32, 32)
        assert a(x).shape == b(x).shape == (2, 10)


def test_transfer_copies_every_tensor_but_a_head_of_another_size():
    torch.manual_seed(0)
    source, target = build_mlp(16, 4, depth=2, width=8), build_mlp(16, 6, depth=2, width=8)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    copied, kept = load_matching_state(target, source.state_dict())
    head = [k for k, v in before.items() if v.shape[0] == 6]
    assert len(head) == 2 and kept == sorted(head) and len(copied) == len(before) - 2
    for k, v in target.state_dict().items():
        assert torch.equal(v, source.state_dict()[k] if k in copied else before[k]), k


def test_transfer_from_a_tied_language_model_head_keeps_the_classifier_head():
    from harness.models.sequence import build_gpt2

    torch.manual_seed(0)
    lm = build_gpt2(vocab_size=32, seq_len=8, num_classes=32, n_layer=1, n_embd=16, n_head=2, n_positions=8)
    assert lm.head.weight is lm.transformer.wte.weight  # tied, as GPT-2's language-model head
    state = {k: v.clone() for k, v in lm.state_dict().items()}
    classifier = build_gpt2(
        vocab_size=32, seq_len=8, num_classes=2, n_layer=1, n_embd=16, n_head=2, n_positions=8
    )
    copied, kept = load_matching_state(classifier, state)
    assert kept == ["head.weight"] and "transformer.wte.weight" in copied
    assert torch.equal(classifier.transformer.wte.weight, lm.transformer.wte.weight)
    assert classifier.head.weight.shape == (2, 16)
