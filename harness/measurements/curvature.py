"""Curvature baselines at a trained solution: Hessian trace, top Hessian eigenvalue, Fisher trace.

All use the mean loss over the given samples; Hessian-vector products are exact (double backward),
never finite differences. Pure functions: the model's parameters and mode are left as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap

version = 1


class Estimate(NamedTuple):
    value: float
    stderr: float


class Eigen(NamedTuple):
    value: float
    iterations: int


def _loss_and_params(model: nn.Module, loss_fn: Callable, inputs: Tensor, targets: Tensor):
    params = [p for p in model.parameters() if p.requires_grad]
    loss = loss_fn(model(inputs), targets)
    return loss.mean() if loss.dim() else loss, params


def _hvp_closure(model: nn.Module, loss_fn: Callable, inputs: Tensor, targets: Tensor):
    loss, params = _loss_and_params(model, loss_fn, inputs, targets)
    grads = torch.autograd.grad(loss, params, create_graph=True)

    def hvp(vs: list[Tensor]) -> list[Tensor]:
        return list(torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True))

    return hvp, params


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode (BatchNorm statistics fixed) for the block; the caller's mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def hessian_trace(
    model: nn.Module, loss_fn: Callable, inputs: Tensor, targets: Tensor, samples: int = 100, seed: int = 0
) -> Estimate:
    """Hutchinson's estimator tr(H) = E[vᵀHv], v Rademacher (Hutchinson 1989; Avron & Toledo 2011);
    returns the mean over ``samples`` probes and its standard error. Eval mode (BatchNorm statistics fixed)."""
    gen = torch.Generator().manual_seed(seed)
    with _eval_mode(model):
        hvp, params = _hvp_closure(model, loss_fn, inputs, targets)
        values = []
        for _ in range(samples):
            vs = [(torch.randint(0, 2, p.shape, generator=gen) * 2 - 1).to(p) for p in params]
            values.append(sum((v * hv).sum() for v, hv in zip(vs, hvp(vs), strict=True)).item())
    t = torch.tensor(values, dtype=torch.float64)
    return Estimate(
        float(t.mean()), float(t.std(unbiased=True) / samples**0.5) if samples > 1 else float("nan")
    )


def hessian_top_eigenvalue(
    model: nn.Module,
    loss_fn: Callable,
    inputs: Tensor,
    targets: Tensor,
    tol: float = 1e-4,
    max_iterations: int = 200,
    seed: int = 0,
) -> Eigen:
    """The Hessian eigenvalue of largest magnitude by power iteration on exact Hessian-vector products,
    stopped when the Rayleigh quotient changes by less than ``tol`` (relative); reports iterations used."""
    gen = torch.Generator().manual_seed(seed)
    with _eval_mode(model):
        hvp, params = _hvp_closure(model, loss_fn, inputs, targets)
        vs = [torch.randn(p.shape, generator=gen).to(p) for p in params]
        previous = None
        for it in range(1, max_iterations + 1):
            norm = torch.sqrt(sum((v * v).sum() for v in vs))
            vs = [v / norm for v in vs]
            hv = hvp(vs)
            value = sum((v * h).sum() for v, h in zip(vs, hv, strict=True)).item()
            if previous is not None and abs(value - previous) <= tol * max(abs(value), 1e-12):
                return Eigen(value, it)
            previous, vs = value, [h.detach() for h in hv]
    return Eigen(value, max_iterations)


def fisher_diagonal(model: nn.Module, inputs: Tensor, batch_size: int = 64) -> dict[str, Tensor]:
    """Diagonal of the Fisher information of a classifier, keyed like ``model.named_parameters()``:
    F_i = E_x Σ_y p_θ(y|x) (∂ log p_θ(y|x)/∂θ_i)², from per-example Jacobians of log-softmax
    (torch.func) — never from the square of a mini-batch mean gradient. Expectation over the given
    inputs; eval mode (BatchNorm statistics fixed)."""
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    buffers = dict(model.named_buffers())

    def log_probs(p: dict[str, Tensor], x: Tensor) -> Tensor:
        return torch.log_softmax(functional_call(model, (p, buffers), (x[None],))[0], dim=-1)

    diag = {n: torch.zeros_like(p) for n, p in params.items()}
    with _eval_mode(model):
        for i in range(0, len(inputs), batch_size):
            x = inputs[i : i + batch_size]
            jac = vmap(jacrev(log_probs), in_dims=(None, 0))(params, x)  # name -> (B, C, *shape)
            probs = vmap(lambda xi: log_probs(params, xi).exp())(x)  # (B, C)
            for n, j in jac.items():
                weights = probs.view(*probs.shape, *[1] * (j.dim() - 2))
                diag[n] += (weights * j.pow(2)).sum(dim=(0, 1))
    return {n: d / len(inputs) for n, d in diag.items()}


def fisher_trace(model: nn.Module, inputs: Tensor, batch_size: int = 64) -> float:
    """Trace of the Fisher information (the sum of ``fisher_diagonal``)."""
    return float(sum(d.sum() for d in fisher_diagonal(model, inputs, batch_size).values()))


class EWCPenalty:
    """Elastic weight consolidation (Kirkpatrick et al. 2017, eq. 3): (λ/2)·Σ_i F_i (θ_i − θ_A,i)², with
    F the diagonal Fisher at the task-A solution θ_A. An ``extra_losses`` hook of the training loop."""

    def __init__(self, fisher: dict[str, Tensor], anchor: dict[str, Tensor], lam: float) -> None:
        self.fisher = {n: f.detach() for n, f in fisher.items()}
        self.anchor = {n: a.detach().clone() for n, a in anchor.items()}
        self.lam = lam

    def __call__(self, model: nn.Module) -> Tensor:
        terms = [
            (self.fisher[n] * (p - self.anchor[n]).pow(2)).sum()
            for n, p in model.named_parameters()
            if n in self.fisher
        ]
        return 0.5 * self.lam * torch.stack(terms).sum()
