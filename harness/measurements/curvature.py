"""Curvature baselines at a trained solution: Hessian trace, top Hessian eigenvalue, Fisher information.

All use the mean loss over the given samples; Hessian-vector products are exact (double backward),
never finite differences. Pure functions: the model's parameters and mode are left as they were.
Everything that differentiates twice runs inside :func:`twice_differentiable`, so that it works for
every architecture of the registry (fused attention kernels and Hardsigmoid have no double backward).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, NamedTuple, TypedDict, Unpack

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vjp, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.overrides import TorchFunctionMode

version = 2


class Estimate(NamedTuple):
    value: float
    stderr: float


class Eigen(NamedTuple):
    """A Hessian eigenvalue by power iteration: ``residual`` = ‖Hv − λv‖ / |λ| of the last iterate (unit v),
    ``converged`` = residual² ≤ the tolerance."""

    value: float
    iterations: int
    residual: float
    converged: bool


def _loss_and_params(model: nn.Module, loss_fn: Callable, inputs: Tensor, targets: Tensor):
    params = [p for p in model.parameters() if p.requires_grad]
    loss = loss_fn(model(inputs), targets)
    return loss.mean() if loss.dim() else loss, params


def _hvp_closure(model: nn.Module, loss_fn: Callable, inputs: Tensor, targets: Tensor):
    """(hvp, params): ``hvp(vs)`` = H·v for v shaped like the trainable parameters. A parameter the loss does
    not use (or whose gradient does not depend on the parameters) has zero rows and columns in H."""
    loss, params = _loss_and_params(model, loss_fn, inputs, targets)
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    live = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]

    def hvp(vs: list[Tensor]) -> list[Tensor]:
        if not live:
            return [torch.zeros_like(p) for p in params]
        parts = torch.autograd.grad(
            [grads[i] for i in live],
            params,
            grad_outputs=[vs[i] for i in live],
            retain_graph=True,
            allow_unused=True,
        )
        return [torch.zeros_like(p) if h is None else h for p, h in zip(params, parts, strict=True)]

    return hvp, params


class _DoubleBackwardForms(TorchFunctionMode):
    """Swaps functions whose backward has no derivative of its own for equal-valued compositions that
    have one: ``hardsigmoid(x)`` ≡ ``relu6(x + 3) / 6`` (bit-identical values on CPU; the same first
    derivative, 1/6 on (−3, 3) and 0 outside)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.hardsigmoid:
            return F.relu6(args[0] + 3.0) / 6.0  # out of place even when inplace=True was asked
        return func(*args, **kwargs)


@contextmanager
def twice_differentiable() -> Iterator[None]:
    """Forwards run inside this block can be differentiated twice (Hessian-vector products) with every
    registry architecture: ``scaled_dot_product_attention`` uses its math backend (the fused flash and
    memory-efficient kernels, CPU and CUDA, have no double backward) and Hardsigmoid (MobileNet-V3's
    squeeze-excitation gates) is computed as ``relu6(x + 3) / 6``. First-order values: Hardsigmoid's are
    bit-identical (CPU), attention's agree with the fused kernels to rounding; the math attention backend is
    slower and holds the attention matrix (tokens² per head)."""
    with sdpa_kernel(SDPBackend.MATH), _DoubleBackwardForms():
        yield


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
    with _eval_mode(model), twice_differentiable():
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
    """The Hessian eigenvalue of largest magnitude by power iteration on exact Hessian-vector products.

    Stops when the residual r = ‖Hv − λv‖/|λ| of the unit iterate v (λ its Rayleigh quotient vᵀHv) has
    r² ≤ ``tol``: the quotient's relative error is about r²·|λ|/gap, so ``tol`` bounds it when the gap to
    the next eigenvalue is of the order of |λ| (the Kato–Temple inequality):
    a changing-slowly Rayleigh quotient is not enough, because with eigenvalues ±λ of equal magnitude the
    quotient stays put while v never settles (for H = diag(2, −2) it reads 1.86). ``value`` is ±‖Hv‖ (the
    magnitude power iteration converges to even then) with the sign of the Rayleigh quotient; when the
    largest magnitude is shared by both signs the iteration cannot converge and ``converged`` says so.
    Reports the iterations used and the last residual (relative to |λ|)."""
    gen = torch.Generator().manual_seed(seed)
    with _eval_mode(model), twice_differentiable():
        hvp, params = _hvp_closure(model, loss_fn, inputs, targets)
        vs = [torch.randn(p.shape, generator=gen).to(p) for p in params]
        value, residual = 0.0, float("inf")
        for it in range(1, max_iterations + 1):
            squared = sum((v * v).sum() for v in vs)
            assert isinstance(squared, Tensor), "the model has parameters: sum() of their tensors is a tensor"
            norm = torch.sqrt(squared)
            vs = [v / norm for v in vs]
            hv = [h.detach() for h in hvp(vs)]
            rayleigh = sum((v * h).sum() for v, h in zip(vs, hv, strict=True)).item()
            magnitude = torch.sqrt(sum((h * h).sum() for h in hv)).item()
            if magnitude == 0.0:  # H v = 0 from a Gaussian start: H = 0 (almost surely)
                return Eigen(0.0, it, 0.0, True)
            value = math.copysign(magnitude, rayleigh)
            scale = max(abs(rayleigh), 1e-12)
            residual = torch.sqrt(
                sum(((h - rayleigh * v) ** 2).sum() for v, h in zip(vs, hv, strict=True))
            ).item()
            residual /= scale
            if residual**2 <= tol:  # the Rayleigh quotient's error is about residual² (relative, gap ~ |λ|)
                return Eigen(rayleigh, it, residual, True)
            vs = hv
    return Eigen(value, max_iterations, residual, False)


FisherEstimator = Literal["exact", "monte_carlo"]
GiB = 2**30


class Fisher(NamedTuple):
    """The diagonal Fisher information of a classifier and its trace.

    ``diagonal``: name → tensor shaped like the parameter (units: nats⁻¹ per parameter², i.e. squared
    gradients of log-probabilities). ``trace_stderr``: standard error of ``trace`` over the inputs (the
    per-input terms are independent; for ``monte_carlo`` it includes the label-sampling noise).
    ``label_sampling_stderr``: the part due to drawing labels alone (0 for ``exact``; NaN for one draw per
    input, where it cannot be separated). ``chunk``: (inputs, labels) per vectorised
    step, chosen from the memory budget."""

    diagonal: dict[str, Tensor]
    trace: float
    trace_stderr: float
    label_sampling_stderr: float
    estimator: FisherEstimator
    labels_per_input: int
    chunk: tuple[int, int]


def _saved_bytes_per_input(model: nn.Module, x: Tensor) -> int:
    """Bytes autograd saves for the backward of one input's forward (activations kept for the vjp)."""
    total = 0

    def pack(t: Tensor) -> Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.enable_grad():
        model(x[:1])
    return total


def _square(g: Tensor) -> Tensor:
    """g² in place; out of place for the expanded zeros vjp returns for a parameter the forward does not use."""
    try:
        return g.pow_(2)
    except RuntimeError:
        return g * g


def fisher_chunk(
    model: nn.Module, inputs: Tensor, labels_per_input: int, memory_budget_bytes: float
) -> tuple[int, int]:
    """(inputs, labels) per vectorised step of :func:`fisher_information` that fit ``memory_budget_bytes``.

    One (input, label) pair is costed at three parameter-sized tensors (its gradient, squared in place;
    the weighted sum's temporaries; a margin) plus the activations its backward holds (measured by
    autograd's saved-tensor hooks on one input, weights included): conservative — a 32 MiB budget peaked
    at 24–25 MB on the CPU (tests/test_curvature_scale.py). Labels are chunked first, inputs only once
    every label of an input fits.
    Raises ValueError when not even one pair fits (the message gives the bytes needed)."""
    params = [p for p in model.parameters() if p.requires_grad]
    param_bytes = sum(p.numel() * p.element_size() for p in params)
    with _eval_mode(model), twice_differentiable():
        activation_bytes = _saved_bytes_per_input(model, inputs)
    pair = 3 * param_bytes + activation_bytes
    if pair > memory_budget_bytes:
        raise ValueError(
            f"the Fisher memory budget ({memory_budget_bytes / GiB:.3g} GiB) is below one (input, label) "
            f"gradient of this model ({pair / GiB:.3g} GiB: 3 × {param_bytes / GiB:.3g} GiB of parameters "
            f"+ {activation_bytes / GiB:.3g} GiB of activations); raise fisher_memory_gib"
        )
    labels = min(labels_per_input, int(memory_budget_bytes // pair))
    per_input = labels * pair + activation_bytes
    batch = max(1, int(memory_budget_bytes // per_input)) if labels == labels_per_input else 1
    return min(batch, len(inputs)), labels


def fisher_information(
    model: nn.Module,
    inputs: Tensor,
    *,
    estimator: FisherEstimator = "exact",
    labels_per_input: int = 1,
    memory_budget_gib: float = 4.0,
    seed: int = 0,
) -> Fisher:
    """Diagonal Fisher information of a classifier at its current parameters, in eval mode (BatchNorm
    statistics fixed), from per-(input, label) gradients of log-softmax — never from the square of a
    mini-batch mean gradient (Kunstner et al. 2019 on why the "empirical Fisher" is a different thing).

    - ``exact``: F_i = (1/N) Σ_x Σ_y p_θ(y|x) (∂ log p_θ(y|x)/∂θ_i)² over all C classes (Martens 2020,
      eq. 7 with the model's own predictive distribution).
    - ``monte_carlo``: the same expectation with y drawn from p_θ(y|x), ``labels_per_input`` draws per
      input (seeded); unbiased, variance in ``trace_stderr``; costs ``labels_per_input`` instead of C
      backward passes per input.

    ``inputs``: (N, *input_shape) on the model's device. The work is split into chunks of inputs and
    labels sized from ``memory_budget_gib`` (:func:`fisher_chunk`), so the peak extra memory stays within
    it at any model size; results do not depend on the chunking beyond floating-point summation order.
    Raises ValueError for an unknown estimator, ``labels_per_input`` < 1 or a budget below one pair."""
    if estimator not in ("exact", "monte_carlo"):
        raise ValueError(f"estimator must be 'exact' or 'monte_carlo', got {estimator!r}")
    if labels_per_input < 1:
        raise ValueError(f"labels_per_input must be >= 1, got {labels_per_input}")
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    buffers = dict(model.named_buffers())
    n_inputs = len(inputs)

    def log_probs(p: dict[str, Tensor], x: Tensor) -> Tensor:
        return torch.log_softmax(functional_call(model, (p, buffers), (x[None],))[0], dim=-1)

    with _eval_mode(model), twice_differentiable():
        with torch.no_grad():
            probe = log_probs(params, inputs[0])
        num_classes, dtype = probe.shape[-1], probe.dtype
        eye = torch.eye(num_classes, dtype=dtype, device=inputs.device)
        if estimator == "exact":
            labels = torch.arange(num_classes, device=inputs.device).expand(n_inputs, num_classes)
        else:
            gen = torch.Generator().manual_seed(seed)  # drawn on the CPU: equal seeds, equal labels anywhere
            with torch.no_grad():
                probs = (
                    torch.cat(
                        [torch.softmax(model(inputs[i : i + 256]), dim=-1) for i in range(0, n_inputs, 256)]
                    )
                    .double()
                    .cpu()
                )
            # a diverged network: draw uniformly (its gradients are NaN anyway) rather than crash
            probs[~torch.isfinite(probs).all(1)] = 1.0
            labels = torch.multinomial(probs, labels_per_input, replacement=True, generator=gen).to(
                inputs.device
            )
        batch, per_step = fisher_chunk(model, inputs, labels.shape[1], memory_budget_gib * GiB)

        def one_input(x: Tensor, ys: Tensor) -> tuple[dict[str, Tensor], Tensor]:
            # without has_aux vjp returns (output, pullback); torch annotates it as a union with has_aux's triple
            out, pullback = vjp(lambda p: log_probs(p, x), params)  # type: ignore[misc]
            (grads,) = vmap(pullback)(eye[ys])  # name -> (labels, *shape)
            weights = out.detach().exp()[ys] if estimator == "exact" else torch.ones_like(out[ys])
            squares = {n: _square(g) for n, g in grads.items()}  # in place: one (labels, P) tensor live
            per_label = sum(s.flatten(1).sum(1) for s in squares.values())  # (labels,) ‖∇ log p(y|x)‖²
            return {
                n: torch.einsum("k,k...->...", weights, s) for n, s in squares.items()
            }, weights * per_label

        # vectorised over inputs unless a layer cannot be (nn.GRU's forward has no vmap batching rule):
        # then one input at a time, labels still vectorised; an error there is a real one and propagates
        vectorised = True

        def chunk(xs: Tensor, ys: Tensor) -> tuple[dict[str, Tensor], Tensor]:
            nonlocal vectorised
            if vectorised:
                try:
                    return vmap(one_input)(xs, ys)
                except torch.OutOfMemoryError:
                    raise
                except RuntimeError:
                    vectorised = False
            parts = [one_input(x, y) for x, y in zip(xs, ys, strict=True)]  # labels stay vectorised
            return {n: torch.stack([s[n] for s, _ in parts]) for n in params}, torch.stack(
                [v for _, v in parts]
            )

        diag = {n: torch.zeros_like(p) for n, p in params.items()}
        per_pair = torch.zeros(n_inputs, labels.shape[1], dtype=torch.float64, device=inputs.device)
        for i in range(0, n_inputs, batch):
            for j in range(0, labels.shape[1], per_step):
                sums, norms = chunk(inputs[i : i + batch], labels[i : i + batch, j : j + per_step])
                for n, s in sums.items():
                    diag[n] += s.sum(0)
                per_pair[i : i + batch, j : j + per_step] = norms.double()
    scale = n_inputs if estimator == "exact" else n_inputs * labels.shape[1]
    diagonal = {n: d / scale for n, d in diag.items()}
    # per-input terms: Σ_y p(y|x)·‖∇ log p(y|x)‖² (exact) or the mean ‖∇ log p(y|x)‖² of its draws;
    # independent across inputs, so their standard error covers inputs and (monte_carlo) label draws
    terms = per_pair.sum(1) if estimator == "exact" else per_pair.mean(1)
    stderr = float(terms.std(unbiased=True) / math.sqrt(n_inputs)) if n_inputs > 1 else float("nan")
    draws = per_pair.shape[1]
    if estimator == "exact":
        label_stderr = 0.0
    elif draws > 1:  # the label-sampling part alone: within-input variance of the draws
        label_stderr = float(per_pair.var(dim=1, unbiased=True).sum().sqrt() / (n_inputs * math.sqrt(draws)))
    else:
        label_stderr = float("nan")  # one draw per input cannot separate it from the inputs' spread
    return Fisher(
        diagonal=diagonal,
        trace=float(sum(d.double().sum() for d in diagonal.values())),
        trace_stderr=stderr,
        label_sampling_stderr=label_stderr,
        estimator=estimator,
        labels_per_input=int(labels.shape[1]),
        chunk=(batch, per_step),
    )


class FisherOptions(TypedDict, total=False):
    """Keyword options of :func:`fisher_information` shared by :func:`fisher_diagonal` and :func:`fisher_trace`."""

    estimator: FisherEstimator
    labels_per_input: int
    memory_budget_gib: float
    seed: int


def fisher_diagonal(model: nn.Module, inputs: Tensor, **options: Unpack[FisherOptions]) -> dict[str, Tensor]:
    """Diagonal of the Fisher information, keyed like ``model.named_parameters()``
    (:func:`fisher_information`'s ``diagonal``; same options and errors)."""
    return fisher_information(model, inputs, **options).diagonal


def fisher_trace(model: nn.Module, inputs: Tensor, **options: Unpack[FisherOptions]) -> Estimate:
    """Trace of the Fisher information and its standard error over the inputs (:func:`fisher_information`)."""
    fisher = fisher_information(model, inputs, **options)
    return Estimate(fisher.trace, fisher.trace_stderr)


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
