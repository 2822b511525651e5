"""The architecture zoo: the research plan's parameter counts at full size, and V/A1/A2 counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.measurements.volume_area import connection_layers, connection_weights, volume_and_area
from harness.models.build import build_architecture
from harness.models.cnn import build_conv_net
from harness.models.mlp import build_mlp
from harness.registry.adaptation import plan_adaptation
from tests.test_registry import _REG

# key -> parameters with a CIFAR-100 head (100 classes), from the research plan; +-5% allowed
PLAN_COUNTS = {
    "vit_tiny": 0.3e6,
    "shufflenet_v2": 1.3e6,
    "vit_small": 2.2e6,
    "efficientnet_b0": 4.1e6,
    "resnet18": 11.2e6,
    "wrn_28_10": 36.5e6,
    "resnet18_wide": 44.7e6,
}


@pytest.mark.parametrize(("key", "expected"), PLAN_COUNTS.items())
def test_full_size_parameter_counts_match_the_plan(key: str, expected: float):
    model = build_architecture(_REG.architectures[key], _REG.datasets["cifar100"], "full")
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - expected) / expected <= 0.05, f"{key}: {count:,} vs {expected:,.0f}"


def test_loss_landscape_set_is_19_with_the_wrn_ladder():
    persist = [k for k, a in _REG.architectures.items() if "persist" in a.experiments and a.input == "image"]
    ladder = {f"wrn_28_{k}" for k in (1, 2, 4, 6, 8, 10)}
    assert ladder <= set(persist)
    assert len(set(persist) - {"cnn_small"}) == 19


def test_volume_and_area_of_an_mlp_by_hand():
    model = build_mlp(in_features=10, num_classes=3, depth=2, width=7)
    v = (10 * 7 + 7) + (7 * 7 + 7) + (7 * 3 + 3)
    assert volume_and_area(model) == {"V": v, "A1": (10 * 7 + 7) + (7 * 3 + 3), "A2": 10 * 7 + 7 * 7 + 7 * 3}


def test_volume_and_area_of_a_cnn_by_hand():
    model = build_conv_net(in_channels=1, image_size=8, num_classes=10, channels=[4, 6], hidden=5)
    conv_w = 1 * 4 * 9 + 4 * 6 * 9
    bn = 2 * 4 + 2 * 6
    head_w, head_b = 6 * 5 + 5 * 10, 5 + 10
    counts = volume_and_area(model)
    assert counts["V"] == conv_w + bn + head_w + head_b
    assert counts["A2"] == conv_w + head_w  # BN scales/shifts and biases are intra-layer
    assert counts["A1"] == 1 * 4 * 9 + (5 * 10 + 10)  # first conv (no bias) + last linear


def test_recurrent_and_attention_weights():
    lstm = nn.LSTM(input_size=3, hidden_size=4, num_layers=2)
    names = {n for n, p in lstm.named_parameters() if any(p is q for q in connection_weights(lstm))}
    assert names == {"weight_ih_l0", "weight_ih_l1"}  # hidden-to-hidden recurrence is intra-layer
    mha = nn.MultiheadAttention(embed_dim=8, num_heads=2)
    assert volume_and_area(mha)["A2"] == 3 * 8 * 8 + 8 * 8  # q, k, v and output projections


def test_tied_weights_are_counted_once():
    emb = nn.Embedding(5, 4)
    head = nn.Linear(4, 5, bias=False)
    head.weight = emb.weight
    counts = volume_and_area(nn.Sequential(emb, head))
    assert counts == {"V": 20, "A1": 20, "A2": 20}


@pytest.mark.parametrize("key", list(_REG.architectures))
def test_first_and_last_layers_follow_execution_order(key: str):
    """A1 takes the first/last connection layers in registration order; check that execution agrees."""
    arch = _REG.architectures[key]
    dataset = {"image": "digits", "vector": "blobs", "sequence": "char_corpus", "graph": "sbm_graph"}[
        arch.input
    ]
    torch.manual_seed(0)
    model = build_architecture(arch, _REG.datasets[dataset], "tiny").eval()
    layers = connection_layers(model)
    executed: list[nn.Module] = []
    hooks = [m.register_forward_pre_hook(lambda mod, _: executed.append(mod)) for m in layers]
    ds = _REG.datasets[dataset]
    shape = plan_adaptation(ds, arch, "tiny").shape  # what the network receives (resized, repeated channels)
    x = torch.randint(0, ds.vocab_size, (2, *shape)) if arch.input == "sequence" else torch.randn(2, *shape)
    with torch.no_grad():
        if arch.input == "graph":
            model(torch.randn(5, *shape), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]))
        else:
            model(x)
    for h in hooks:
        h.remove()
    assert executed[0] is layers[0] and executed[-1] is layers[-1]


def test_gpt2_small_is_the_124m_configuration():
    from harness.models.sequence import build_gpt2

    model = build_gpt2(vocab_size=50257, seq_len=1024, num_classes=50257)
    counts = volume_and_area(model)
    assert counts["V"] == 124_439_808  # GPT-2 small, readout tied to the token embedding
    wpe = model.transformer.wpe.weight.numel()
    assert counts["A2"] < counts["V"] - wpe  # position embeddings, norms and biases are intra-layer


def test_resnet50_parameter_count():
    model = build_architecture(_REG.architectures["resnet50"], _REG.datasets["cifar100"], "full")
    assert sum(p.numel() for p in model.parameters()) == 23_712_932  # torchvision ResNet-50, 100 classes


def test_gcn_volume_and_area_by_hand():
    from harness.models.graph import build_gcn

    model = build_gcn(in_features=5, num_classes=3, hidden=4)
    counts = volume_and_area(model)
    # GCNConv: a bias-free linear map (the connection) plus a bias added after aggregation
    assert counts == {"V": (5 * 4 + 4) + (4 * 3 + 3), "A1": (5 * 4 + 4) + (4 * 3 + 3), "A2": 5 * 4 + 4 * 3}


def test_transformer_sweep_grid():
    grid = {
        (a.kwargs["depth"], a.kwargs["embed_dim"])
        for k, a in _REG.architectures.items()
        if k.startswith("transformer_")
    }
    assert grid == {(L, d) for L in (2, 4, 8, 12) for d in (64, 128, 256)}
