"""2-D loss-landscape slices along filter-normalized random directions (Li et al. 2018).

L(θ + α·d1 + β·d2) on a resolution × resolution grid over α, β ∈ [−span, span]. Directions are Gaussian,
rescaled per output filter (conv) or output neuron (linear) to the norm of the matching weight slice;
1-D parameters (biases, normalization scales/shifts) get a zero direction by default. Pure functions:
no file I/O, and the caller's model is never modified (parameters are substituted functionally).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

version = 1


class LossGrid(NamedTuple):
    """``loss`` and ``stderr`` (standard error of the mean over the evaluation samples), each
    resolution × resolution, rows over α (d1), columns over β (d2)."""

    loss: np.ndarray
    stderr: np.ndarray


def filter_normalized_direction(
    model: nn.Module, seed: int, ignore: Literal["biasbn", "none"] = "biasbn"
) -> dict[str, Tensor]:
    """One random direction keyed like ``model.named_parameters()``.

    For a parameter of two or more dimensions, d ~ N(0, I) and every slice d[i] (output filter or
    neuron) is rescaled to ‖θ[i]‖ (Li et al. 2018, eq. 1). One-dimensional parameters get zeros
    (``ignore="biasbn"``) or a copy of the parameter (``"none"``, as in the reference code).
    Drawn on the CPU from ``torch.Generator().manual_seed(seed)``, so equal seeds give equal directions
    on every device.
    """
    gen = torch.Generator().manual_seed(seed)
    direction: dict[str, Tensor] = {}
    for name, p in model.named_parameters():
        w = p.detach()
        if w.dim() <= 1:
            direction[name] = torch.zeros_like(w) if ignore == "biasbn" else w.clone()
            continue
        d = torch.randn(w.shape, generator=gen, dtype=w.dtype).to(w.device)
        d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        w_norm = w.flatten(1).norm(dim=1)
        direction[name] = d * (w_norm / d_norm).view(-1, *([1] * (w.dim() - 1)))
    return direction


def direction_sha256(direction: dict[str, Tensor]) -> str:
    """Identity of a direction (its tensors' bytes, in name order), for provenance."""
    h = hashlib.sha256()
    for name in sorted(direction):
        h.update(name.encode())
        h.update(direction[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def direction_cosine(d1: dict[str, Tensor], d2: dict[str, Tensor]) -> float:
    """Cosine between two directions flattened over all parameters."""
    a = torch.cat([d1[k].flatten().double() for k in sorted(d1)])
    b = torch.cat([d2[k].flatten().double() for k in sorted(d1)])
    return float(a @ b / (a.norm() * b.norm()).clamp_min(1e-300))


def _per_sample_losses(
    model: nn.Module,
    params: dict[str, Tensor],
    buffers: dict[str, Tensor],
    loss_fn: Callable,
    inputs: Tensor,
    targets: Tensor,
    batch_size: int,
) -> Tensor:
    out = []
    for i in range(0, len(inputs), batch_size):
        logits = functional_call(model, (params, buffers), (inputs[i : i + batch_size],))
        out.append(loss_fn(logits, targets[i : i + batch_size]).reshape(-1))
    return torch.cat(out)


def grid_axis(resolution: int, span: float = 1.0) -> np.ndarray:
    """The G coordinates of one grid axis, shape (G,), always containing 0 (the trained weights θ) at
    index G // 2, the index every consumer (the basin barrier, the plots) takes as the centre.

    Odd G: ``linspace(−span, span, G)``. Even G (the plan's 50 × 50): G points of step span / (G / 2) from
    −span to span − step, because a symmetric even grid (``linspace(−1, 1, 50)``) has no 0 and its two middle
    points sit at ±span / (G − 1), so its "centre" is not θ (Li et al. 2018 plot their slices over such
    axes; the departure is one step's asymmetry at the positive end). Raises ``ValueError`` for G < 3 or
    span ≤ 0.
    """
    if resolution < 3 or not span > 0:
        raise ValueError(
            f"grid_axis: need resolution >= 3 and span > 0, got resolution={resolution}, span={span}"
        )
    if resolution % 2:
        axis = np.linspace(-span, span, resolution)
        axis[resolution // 2] = 0.0  # exactly, whatever linspace rounds to
        return axis
    half = resolution // 2
    return np.arange(-half, half, dtype=np.float64) * (span / half)


@torch.no_grad()
def loss_grid(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    inputs: Tensor,
    targets: Tensor,
    d1: dict[str, Tensor],
    d2: dict[str, Tensor],
    resolution: int = 50,
    span: float = 1.0,
    *,
    batch_size: int = 1024,
    points_per_batch: int = 1,
    done: LossGrid | None = None,
    on_point: Callable[[int, int, float, float], None] | None = None,
) -> LossGrid:
    """Loss on the grid L(θ + α·d1 + β·d2), α = ``grid_axis(resolution, span)[row]``, β = ...[column]; shape
    (resolution, resolution), nats for a cross-entropy ``loss_fn``. Point (G // 2, G // 2) is θ itself at
    every resolution (``grid_axis`` contains 0).

    ``loss_fn`` returns per-sample losses (e.g. ``nn.CrossEntropyLoss(reduction="none")``); the grid
    holds their mean and standard error. The model is evaluated in eval mode with its unperturbed
    buffers (BatchNorm running statistics) and is left exactly as it was. ``points_per_batch > 1``
    evaluates that many grid points at once with ``torch.func.vmap`` (faster on a GPU); ``done`` (NaN
    where not computed) and ``on_point(row, col, loss, stderr)`` let a caller resume an interrupted grid.
    """
    axis = grid_axis(resolution, span)
    loss = np.full((resolution, resolution), np.nan) if done is None else done.loss.copy()
    stderr = np.full((resolution, resolution), np.nan) if done is None else done.stderr.copy()
    names = [n for n, _ in model.named_parameters()]
    base = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b for n, b in model.named_buffers()}
    todo = [(i, j) for i in range(resolution) for j in range(resolution) if np.isnan(loss[i, j])]
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(todo), points_per_batch):
            chunk = todo[start : start + points_per_batch]
            a = torch.tensor([axis[i] for i, _ in chunk], dtype=torch.float64)
            b = torch.tensor([axis[j] for _, j in chunk], dtype=torch.float64)
            if len(chunk) == 1:
                # θ + α·d1 + β·d2 in two fused passes and one allocation per tensor
                params = {
                    n: torch.add(base[n], d1[n], alpha=float(a[0])).add_(d2[n], alpha=float(b[0]))
                    for n in names
                }
                per_sample = _per_sample_losses(model, params, buffers, loss_fn, inputs, targets, batch_size)[
                    None
                ]
            else:
                stacked = {
                    n: base[n][None]
                    + a.to(base[n]).view(-1, *[1] * base[n].dim()) * d1[n][None]
                    + b.to(base[n]).view(-1, *[1] * base[n].dim()) * d2[n][None]
                    for n in names
                }
                per_sample = torch.func.vmap(
                    lambda p: _per_sample_losses(model, p, buffers, loss_fn, inputs, targets, batch_size)
                )(stacked)
            per_sample = per_sample.double()
            means = per_sample.mean(1)
            errs = per_sample.std(1, unbiased=True) / np.sqrt(per_sample.shape[1])
            for (i, j), m, e in zip(chunk, means.tolist(), errs.tolist(), strict=True):
                loss[i, j], stderr[i, j] = m, e
                if on_point is not None:
                    on_point(i, j, m, e)
    finally:
        model.train(was_training)
    return LossGrid(loss, stderr)
