"""Memorization runs of many networks on one sample set, trained together (GENESIS ensembles).

``memorize_ensemble`` gives member m what ``harness.training.memorize.memorize`` would: a network from
``build(m)``, trained on (inputs, labels[m]) with ``cfg`` in batches shuffled with ``seeds[m]``, stopped at
100% training accuracy or at the end of the budget, a non-finite loss recorded as diverged. Networks
without buffers or active dropout train stacked: their parameters stacked with
``torch.func.stack_module_state``, one forward/backward over every member with ``vmap``, one optimizer over
the stacks (SGD with momentum and Adam are elementwise, so each member's updates are its own). A member's
result and weights are taken the epoch it fits; it keeps training with the others, unused. Other networks
(batch-norm statistics would be shared; dropout would need batched randomness) train one after another
with ``memorize``. Measured on a 2-core CPU (32 members, N = 128,
docs/benchmarks.md): stacking is about 3x faster for a tiny MLP and 3.7x for a tiny ViT (even though
``vmap`` falls back to a loop over scaled-dot-product attention). Batched kernels sum in another order, so
a stacked member matches its ``memorize`` run up to float rounding, which can tip a member that sits at
the 100% threshold.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from harness.training.config import TrainConfig
from harness.training.loop import _make_schedule
from harness.training.memorize import MemorizeResult, memorize


@dataclass
class EnsembleMember:
    """One member's memorization outcome and its weights at that moment (flattened, parameter order)."""

    result: MemorizeResult
    weights: np.ndarray


def can_stack(model: nn.Module) -> bool:
    """Whether ``memorize_ensemble`` trains copies of ``model`` stacked: it has no buffers to update and no
    active dropout (train and eval mode compute the same function, with no randomness to batch)."""
    dropout = any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules())
    return next(model.buffers(), None) is None and not dropout


def _flat(params: list[torch.Tensor]) -> np.ndarray:
    return torch.cat([p.detach().flatten().cpu() for p in params]).numpy()


def memorize_ensemble(
    build: Callable[[int], nn.Module],
    inputs: torch.Tensor,
    labels: torch.Tensor,
    cfg: TrainConfig,
    *,
    seeds: list[int],
    stacked: bool | None = None,
) -> list[EnsembleMember]:
    """Member m: ``build(m)`` (seed inside it) memorizing (``inputs``, ``labels[m]``) with batch order
    ``seeds[m]``. ``labels`` has shape (M, N); every model must be on the inputs' device. ``stacked``:
    None decides by ``can_stack``; False trains one after another (each network built only when its turn
    comes, so full-size members are never all in memory); True stacks (the benchmark compares both)."""
    first = build(0)
    if stacked is None:
        stacked = can_stack(first)
    if stacked:
        return _stacked([first, *(build(m) for m in range(1, len(seeds)))], inputs, labels, cfg, seeds)
    out = []
    for m, (y, seed) in enumerate(zip(labels, seeds, strict=True)):
        model = first if m == 0 else build(m)
        result = memorize(model, inputs, y, cfg, seed=seed)
        out.append(EnsembleMember(result, _flat(list(model.parameters()))))
    return out


def _stacked(
    models: list[nn.Module], inputs: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig, seeds: list[int]
) -> list[EnsembleMember]:
    from torch.func import functional_call, stack_module_state, vmap

    members, n = len(models), labels.shape[1]
    params, _ = stack_module_state(models)
    names = [name for name, _ in models[0].named_parameters()]
    stacks = [params[name] for name in names]
    base = copy.deepcopy(models[0]).to("meta")

    def forward(p: tuple[torch.Tensor, ...], x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, dict(zip(names, p, strict=True)), (x,))

    per_member = vmap(forward)  # (M, B, ...) inputs, one batch per member
    shared = vmap(forward, in_dims=(0, None))  # the same inputs for every member
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(stacks, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.Adam(stacks, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    sched = _make_schedule(opt, cfg, steps_per_epoch * cfg.epochs)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    eval_batch = max(cfg.batch_size, 1024)
    done: dict[int, EnsembleMember] = {}
    rows_of_member = torch.arange(members, device=inputs.device)[:, None]

    def snapshot(m: int) -> np.ndarray:
        return _flat([s[m] for s in stacks])

    for epoch in range(1, cfg.epochs + 1):
        orders = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(inputs.device)
        for i in range(0, n, cfg.batch_size):
            rows = orders[:, i : i + cfg.batch_size]
            logits = per_member(tuple(stacks), inputs[rows])
            y = labels[rows_of_member, rows]
            losses = nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none"
            ).view(members, -1)
            losses = losses.mean(1)
            for m in torch.nonzero(~torch.isfinite(losses.detach())).flatten().tolist():
                if m not in done:
                    result = MemorizeResult(False, epoch, float("nan"), np.empty(0, dtype=np.int64), True)
                    done[m] = EnsembleMember(result, snapshot(m))
            opt.zero_grad(set_to_none=True)
            torch.where(torch.isfinite(losses), losses, torch.zeros_like(losses)).sum().backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            predictions = torch.cat(
                [
                    shared(tuple(stacks), inputs[j : j + eval_batch]).argmax(-1)
                    for j in range(0, n, eval_batch)
                ],
                dim=1,
            )
        accuracy = (predictions == labels).float().mean(1)
        for m in range(members):
            last = epoch == cfg.epochs
            if m not in done and (accuracy[m] == 1.0 or last):
                fitted = bool(accuracy[m] == 1.0)
                result = MemorizeResult(fitted, epoch, float(accuracy[m]), predictions[m].cpu().numpy())
                done[m] = EnsembleMember(result, snapshot(m))
        if len(done) == members:
            break
    return [done[m] for m in range(members)]
