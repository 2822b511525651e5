"""Volume and boundary (interface) parameter counts of a network, from its module graph.

Definitions (GENESIS, "volume vs area"):
- ``V``: trainable parameters (tied tensors counted once).
- ``A1`` (input/output interface): every parameter of the first layer that reads the input and of the
  last layer that writes the output. A *layer* here is a module owning a connection weight (below), or
  the torch-geometric message-passing layer that owns it (with its bias and attention vectors);
  first/last follow module registration order, which the tests check against execution order for
  every registry architecture.
- ``A2`` (cross-layer interface): the connection weights, i.e. parameters that carry signal from one
  layer's units to another's:
  Linear / Conv / ConvTranspose / Bilinear weights (dense, grouped and depthwise alike, skip
  projections included), Embedding tables, attention projections (``in_proj_weight``, ``q/k/v_proj_weight``
  and the output projection), GPT-2 ``Conv1D`` weights, torch-geometric ``Linear`` weights in GNN
  layers, and recurrent input-to-hidden weights ``weight_ih_l*`` (layer k−1 → layer k).
  Not counted: biases, normalization scales/shifts, position embeddings (parameters, or Embedding
  modules named ``wpe``/``pos*``/``position*``: they read positions, not another layer), class tokens, layer-scale
  factors, GAT attention vectors, and recurrent hidden-to-hidden weights ``weight_hh_l*`` (a layer's
  connection to itself over time: intra-layer).
By this definition A2 is V minus biases and norm parameters for plain MLPs and CNNs; it departs from
V where computation happens inside a layer (attention, normalization-heavy blocks).
"""

from __future__ import annotations

import re

from torch import nn

version = 1

CONNECTION_MODULES = (
    nn.Linear,
    nn.Bilinear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Embedding,
    nn.EmbeddingBag,
)
CONNECTION_CLASS_NAMES = {"Conv1D", "Linear"}  # transformers' GPT-2 Conv1D; torch_geometric's Linear
ATTENTION_WEIGHTS = {"in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"}


POSITION_EMBEDDING = re.compile(r"^(wpe|pos\w*|position\w*)$")


def _is_position_embedding(name: str, module: nn.Module) -> bool:
    return isinstance(module, nn.Embedding) and bool(POSITION_EMBEDDING.match(name.rsplit(".", 1)[-1]))


def connection_weights(module: nn.Module) -> list[nn.Parameter]:
    """The module's own (non-recursive) parameters that are inter-layer connection weights."""
    own = dict(module.named_parameters(recurse=False))
    if isinstance(module, CONNECTION_MODULES) or type(module).__name__ in CONNECTION_CLASS_NAMES:
        return [own["weight"]] if "weight" in own else []
    if isinstance(module, nn.MultiheadAttention):
        return [p for name, p in own.items() if name in ATTENTION_WEIGHTS]
    if isinstance(module, nn.RNNBase):
        return [p for name, p in own.items() if name.startswith("weight_ih")]
    return []


def connection_layers(model: nn.Module) -> list[nn.Module]:
    """Modules owning connection weights, in registration order (position embeddings excluded)."""
    return [
        m
        for name, m in model.named_modules()
        if connection_weights(m) and not _is_position_embedding(name, m)
    ]


def _enclosing_layer(model: nn.Module, module: nn.Module) -> nn.Module:
    """A connection module, or the graph layer that owns it: a torch-geometric ``MessagePassing`` layer
    keeps its bias and attention vectors beside its linear map, and all of them belong to the layer."""
    names = {id(m): n for n, m in model.named_modules()}
    by_name = dict(model.named_modules())
    parts = names[id(module)].split(".")
    for i in range(len(parts) - 1, 0, -1):
        ancestor = by_name[".".join(parts[:i])]
        if any(c.__name__ == "MessagePassing" for c in type(ancestor).__mro__):
            return ancestor
    return module


def volume_and_area(model: nn.Module) -> dict[str, int]:
    """``{"V": ..., "A1": ..., "A2": ...}`` trainable parameter counts (see the module docstring)."""
    seen: set[int] = set()

    def count(params) -> int:
        total = 0
        for p in params:
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
        return total

    volume = sum(p.numel() for p in model.parameters() if p.requires_grad)
    layers = connection_layers(model)
    if not layers:
        return {"V": volume, "A1": 0, "A2": 0}
    a2 = count(p for m in layers for p in connection_weights(m))
    seen.clear()
    ends = [
        _enclosing_layer(model, m) for m in ([layers[0]] if len(layers) == 1 else [layers[0], layers[-1]])
    ]
    a1 = count(p for m in ends for p in m.parameters())
    return {"V": volume, "A1": a1, "A2": a2}
