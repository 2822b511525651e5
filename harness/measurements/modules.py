"""Modules of a network for integrated-information measures: which activations form one node.

Partition schemes (each a registry measurement; ``capture_modules`` dispatches on the scheme name):

- ``layer``: one module per layer — each hidden ReLU of an MLP, each residual/transformer block, each
  message-passing layer of a GNN, each layer of a stacked RNN (the last time step's hidden state);
- ``channel_groups``: the last convolutional block's feature maps, channels split into G contiguous groups;
- ``positions``: the last block's (or the top RNN layer's) representation at each of the last P token
  positions / time steps;
- ``attention_heads``: each head's context vectors in the last transformer block (before the output
  projection mixes them).

Activations are captured with forward hooks, flattened to (N, features) float32, in eval mode with no
gradients. :func:`fit_pca` / :func:`project` reduce each module to a fixed number of components.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from harness.measurements.schemes import PARTITION_SCHEMES as SCHEMES

BLOCK_CLASSES = ("BasicBlock", "Bottleneck", "PlainBottleneck", "WideBlock", "Block", "GPT2Block")
"""Classes whose output is one layer (torchvision/harness residual blocks, timm ViT and GPT-2 blocks)."""


class SchemeNotApplicable(ValueError):
    """The partition scheme does not apply to this network (e.g. channel groups of an MLP)."""


def _first_tensor(output) -> torch.Tensor:
    return output[0] if isinstance(output, tuple | list) else output


def _graph_rows(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor | None:
    """Node classifiers run the whole graph: hooked outputs are per node, indexed by the input node ids."""
    return inputs.reshape(-1) if hasattr(model, "gnn") and hasattr(model, "edge_index") else None


def layer_points(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Hook points of the ``layer`` scheme, in forward order."""
    named = list(model.named_modules())
    blocks = [(n, m) for n, m in named if type(m).__name__ in BLOCK_CLASSES]
    if blocks:
        return blocks
    gnn = next((m for _, m in named if type(m).__name__ == "GNN"), None)
    if gnn is not None:
        return [(f"gnn.layers.{i}", layer) for i, layer in enumerate(gnn.layers)]
    relus: list[tuple[str, nn.Module]] = [(n, m) for n, m in named if isinstance(m, nn.ReLU)]
    if relus:
        return relus
    raise SchemeNotApplicable(f"no layer hook points in {type(model).__name__}")


def _recurrent(model: nn.Module) -> nn.RNNBase | None:
    return next((m for m in model.modules() if isinstance(m, nn.RNNBase)), None)


def _recurrent_layers(
    model: nn.Module, inputs: torch.Tensor, perturb: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> list[torch.Tensor]:
    """Per-layer outputs (N, T, hidden) of a stacked LSTM/GRU, re-run one layer at a time with its weights;
    ``perturb`` (if given) replaces the first layer's output before the next layer reads it."""
    rnn = _recurrent(model)
    assert rnn is not None, "only called for a network with a recurrent layer"
    # LSTM, GRU and RNN take (input_size, hidden_size, ...); their base class RNNBase takes a mode first
    rnn_class = cast(Callable[..., nn.RNNBase], type(rnn))
    outputs: list[torch.Tensor] = []
    x = model.get_submodule("embedding")(inputs)
    for layer in range(rnn.num_layers):
        with torch.random.fork_rng(devices=[]):  # the throwaway initialisation must not move the global RNG
            single = rnn_class(x.shape[-1], rnn.hidden_size, num_layers=1, batch_first=True).to(x.device)
        state = {
            name.replace(f"_l{layer}", "_l0"): p
            for name, p in rnn.named_parameters()
            if name.endswith(f"_l{layer}")
        }
        single.load_state_dict(state)
        x, _ = single(x)
        if layer == 0 and perturb is not None:
            x = perturb(x)
        outputs.append(x)
    return outputs


def _hooked(
    model: nn.Module,
    inputs: torch.Tensor,
    points: list[tuple[str, nn.Module]],
    pre: bool = False,
    graph_rows: bool = True,
) -> dict[str, torch.Tensor]:
    """Outputs (inputs, with ``pre``) of the hooked modules in one forward pass; a node classifier's
    per-node outputs are indexed by the input node ids unless ``graph_rows`` is False (the whole graph)."""
    captured: dict[str, torch.Tensor] = {}

    def hook_for(name: str) -> Callable:
        if pre:
            return lambda _m, args: captured.__setitem__(name, args[0].detach())
        return lambda _m, _in, out: captured.__setitem__(name, _first_tensor(out).detach())

    handles = [
        m.register_forward_pre_hook(hook_for(n)) if pre else m.register_forward_hook(hook_for(n))
        for n, m in points
    ]
    try:
        model(inputs)
    finally:
        for h in handles:
            h.remove()
    rows = _graph_rows(model, inputs) if graph_rows else None
    return {n: captured[n] if rows is None else captured[n][rows] for n, _ in points}


@torch.no_grad()
def capture_modules(
    model: nn.Module, inputs: torch.Tensor, scheme: str, *, groups: int = 8, positions: int = 8
) -> dict[str, torch.Tensor]:
    """Module name → activations (N, features) of ``scheme`` for ``inputs``; raises SchemeNotApplicable."""
    was_training = model.training
    model.eval()
    try:
        return {
            k: v.flatten(1).float() for k, v in _capture(model, inputs, scheme, groups, positions).items()
        }
    finally:
        model.train(was_training)


def _capture(model, inputs, scheme, groups, positions) -> dict[str, torch.Tensor]:
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}; got {scheme!r}")
    recurrent = _recurrent(model) is not None
    if scheme == "layer":
        if recurrent:
            return {f"rnn.layer{i}": out[:, -1] for i, out in enumerate(_recurrent_layers(model, inputs))}
        return _hooked(model, inputs, layer_points(model))
    if scheme == "positions":
        if recurrent:
            top = _recurrent_layers(model, inputs)[-1]
        else:
            name, last = layer_points(model)[-1]
            top = _hooked(model, inputs, [(name, last)])[name]
        if top.dim() != 3:
            raise SchemeNotApplicable(f"{type(model).__name__} has no token positions or time steps")
        count = min(positions, top.shape[1])
        return {f"position{t}": top[:, t] for t in range(top.shape[1] - count, top.shape[1])}
    if scheme == "channel_groups":
        conv = [(n, m) for n, m in layer_points(model) if type(m).__name__ not in ("Block", "GPT2Block")]
        if recurrent or not conv:
            raise SchemeNotApplicable(f"{type(model).__name__} has no convolutional blocks")
        name, last = conv[-1]
        maps = _hooked(model, inputs, [(name, last)])[name]
        if maps.dim() != 4:
            raise SchemeNotApplicable(
                f"{type(model).__name__} has no feature maps (output {tuple(maps.shape)})"
            )
        chunks = torch.tensor_split(maps, min(groups, maps.shape[1]), dim=1)
        return {f"channels{i}": c for i, c in enumerate(chunks)}
    # attention heads: the input of the last block's output projection is the heads' concatenated context
    blocks = [(n, m) for n, m in layer_points(model) if type(m).__name__ in ("Block", "GPT2Block")]
    if recurrent or not blocks:
        raise SchemeNotApplicable(f"{type(model).__name__} has no attention blocks")
    _, block = blocks[-1]
    attn = block.get_submodule("attn")
    projection = attn.get_submodule("c_proj" if type(block).__name__ == "GPT2Block" else "proj")
    heads = cast(int, attn.num_heads)  # a plain int attribute; nn.Module.__getattr__ is typed Tensor | Module
    context = _hooked(model, inputs, [("context", projection)], pre=True)["context"]  # (N, T, C)
    split = context.reshape(*context.shape[:-1], heads, context.shape[-1] // heads)
    return {f"head{h}": split[..., h, :] for h in range(heads)}


@dataclass(frozen=True)
class PCA:
    """Mean and principal axes of one module's activations, fitted on a separate probe split."""

    mean: torch.Tensor  # (features,)
    components: torch.Tensor  # (features, q)
    explained_variance_ratio: float
    """Fraction of the fitting split's total variance the q components keep."""


EXACT_SVD_LIMIT = 2048
RANK_TOLERANCE = 1e-7
"""Principal axes whose singular value is below this fraction of the largest are not kept."""


def fit_pca(activations: torch.Tensor, dims: int, seed: int = 0) -> PCA:
    """Top-``dims`` principal axes of the centred (N, F) activations: exact SVD when min(N, F) ≤ 2048,
    else randomized SVD (Halko et al. 2011; ``torch.svd_lowrank``, 10 extra axes, 4 power iterations).
    Fewer axes when the activations have lower rank (see RANK_TOLERANCE)."""
    x = activations.double()
    mean = x.mean(dim=0)
    centred = x - mean
    if min(centred.shape) <= EXACT_SVD_LIMIT:
        _, s, vh = torch.linalg.svd(centred, full_matrices=False)
        v = vh.T
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            _, s, v = torch.svd_lowrank(centred, q=min(dims + 10, *centred.shape), niter=4)
    # drop axes without variance (dead units, rank-deficient modules): they would carry only rounding noise
    q = min(dims, v.shape[1], max(1, int((s > RANK_TOLERANCE * s[0]).sum())) if s.numel() and s[0] > 0 else 1)
    total = float(centred.pow(2).sum())
    kept = float((s[:q] ** 2).sum())
    return PCA(mean, v[:, :q].contiguous(), kept / total if total > 0 else 0.0)


def project(pca: PCA, activations: torch.Tensor) -> np.ndarray:
    """(N, q) float64 components of ``activations`` on the fitted axes."""
    return ((activations.double() - pca.mean) @ pca.components).cpu().numpy()


@torch.no_grad()
def layer_responses(
    model: nn.Module,
    inputs: torch.Tensor,
    noise_std: torch.Tensor | None,
    generator: torch.Generator | None = None,
) -> list[torch.Tensor]:
    """Outputs of the ``layer`` modules (as :func:`capture_modules` returns them, flattened), with Gaussian
    noise of per-unit std ``noise_std`` (shaped like one sample of the first module's output) added to the
    first module's output when given; every later module then responds to the perturbation."""

    def perturb(out: torch.Tensor) -> torch.Tensor:
        assert noise_std is not None, "perturb is only used when noise_std is given"
        noise = torch.randn(out.shape, generator=generator, dtype=out.dtype).to(out.device)
        return out + noise * noise_std.to(out.device)

    was_training = model.training
    model.eval()
    try:
        if _recurrent(model) is not None:
            layers = _recurrent_layers(model, inputs, perturb if noise_std is not None else None)
            return [out[:, -1].flatten(1).float() for out in layers]
        points = layer_points(model)
        handle = None
        if noise_std is not None:

            def hook(_m, _in, out):
                if isinstance(out, tuple):
                    return (perturb(out[0]), *out[1:])
                return perturb(out)

            handle = points[0][1].register_forward_hook(hook)
        try:
            captured = _hooked(model, inputs, points)
        finally:
            if handle is not None:
                handle.remove()
        return [v.flatten(1).float() for v in captured.values()]
    finally:
        model.train(was_training)


def first_layer_std(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Per-unit std of the first ``layer`` module's raw output over ``inputs`` (one sample's shape)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if _recurrent(model) is not None:
                first = _recurrent_layers(model, inputs)[0]
            else:
                name, module = layer_points(model)[0]
                # the whole output (every graph node): what the noise is added to
                first = _hooked(model, inputs, [(name, module)], graph_rows=False)[name]
        return first.std(dim=0)
    finally:
        model.train(was_training)
