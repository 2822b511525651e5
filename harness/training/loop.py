"""The one training loop every experiment shares, extended through a few named hooks.

SGD with momentum and cosine annealing by default (Adam selectable); the best checkpoint by
validation accuracy is kept; the loop resumes from a ``CheckpointStore``; a non-finite loss stops
the run with ``status="diverged"`` instead of raising.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm

from harness.measurements.classification import accuracy
from harness.training.checkpoint import CheckpointStore
from harness.training.config import TrainConfig


class Split(NamedTuple):
    """Inputs (N, ...) float32 and integer targets (N,) of one split, on any device."""

    inputs: torch.Tensor
    targets: torch.Tensor


class Splits(NamedTuple):
    train: Split
    val: Split
    test: Split


@dataclass(frozen=True)
class Hooks:
    """Named extension points of the loop (compose these; do not subclass the loop)."""

    extra_losses: Sequence[Callable[[nn.Module], torch.Tensor]] = ()
    """Terms added to the task loss at every step, e.g. an EWC penalty."""
    evaluate_at_steps: Sequence[int] = ()
    """Optimizer steps after which ``on_evaluate`` is called (0 = before the first step)."""
    on_evaluate: Callable[[int, nn.Module], None] | None = None
    """Called as ``on_evaluate(step, model)`` at the steps above (model in train mode; restore it)."""
    checkpoint_fractions: Sequence[float] = ()
    """Fractions of training (0 = initialization, 1 = end) at which ``on_checkpoint`` is called."""
    on_checkpoint: Callable[[float, nn.Module], None] | None = None
    """Called as ``on_checkpoint(fraction, model)``."""
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None
    """Called with each epoch's record (epoch, step, train_loss, train_accuracy, val_accuracy, lr)."""


@dataclass
class TrainResult:
    """What a run produced. Accuracies are None when the run diverged."""

    status: str
    best_state: dict[str, torch.Tensor]
    best_epoch: int | None
    best_val_accuracy: float | None
    test_accuracy: float | None
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from_epoch: int = 0
    diverged_at_step: int | None = None
    """Last step of the epoch whose summed training loss was first non-finite (checked per epoch)."""


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def _make_schedule(opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total_steps, 1))
    return torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def train_classifier(
    model: nn.Module,
    data: Splits,
    cfg: TrainConfig,
    *,
    seed: int,
    hooks: Hooks = Hooks(),
    store: CheckpointStore | None = None,
    progress: bool = True,
    max_steps: int | None = None,
) -> TrainResult:
    """Train ``model`` (already on the data's device) with cross-entropy; return the best checkpoint.

    Shuffling is seeded per epoch from ``seed`` (so a resumed run sees the same batches); the
    global torch RNG (dropout) is saved in the resumable state. ``max_steps`` ends training after that
    many optimizer steps (mid-epoch if need be; the cosine schedule then spans exactly those steps).
    """
    n_train = len(data.train.targets)
    steps_per_epoch = math.ceil(n_train / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    last_epoch = math.ceil(total_steps / steps_per_epoch)
    opt = _make_optimizer(model, cfg)
    sched = _make_schedule(opt, cfg, total_steps)
    loss_fn = nn.CrossEntropyLoss()
    fraction_steps = {round(f * total_steps): f for f in hooks.checkpoint_fractions}
    eval_steps = set(hooks.evaluate_at_steps)

    start_epoch, step, history = 0, 0, []
    best_val, best_epoch, best_state = -1.0, None, _cpu_copy(model.state_dict())
    saved = store.load() if store else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(json.loads(saved["scheduler"]))
        torch.set_rng_state(saved["rng"])
        start_epoch, step = int(saved["epoch"]), int(saved["step"])
        best_val, best_epoch = float(saved["best_val"]), saved["best_epoch"]
        best_epoch = None if best_epoch < 0 else int(best_epoch)
        best_state = saved["best_model"]
        history = json.loads(saved["history"])
        if saved["status"] == "diverged":
            return TrainResult(
                "diverged",
                best_state,
                None,
                None,
                None,
                step,
                history,
                start_epoch,
                int(saved["diverged_at_step"]),
            )

    def save(epoch: int, status: str = "running", diverged_at: int = -1) -> None:
        if store is None:
            return
        store.save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": json.dumps(sched.state_dict()),
                "rng": torch.get_rng_state(),
                "epoch": epoch,
                "step": step,
                "best_val": best_val,
                "best_epoch": -1 if best_epoch is None else best_epoch,
                "best_model": best_state,
                "history": json.dumps(history),
                "status": status,
                "diverged_at_step": diverged_at,
            }
        )

    def step_hooks() -> None:
        if step in eval_steps and hooks.on_evaluate:
            hooks.on_evaluate(step, model)
        if step in fraction_steps and hooks.on_checkpoint:
            hooks.on_checkpoint(fraction_steps[step], model)

    if step == 0:
        step_hooks()
    model.train()
    bar = tqdm(
        range(start_epoch, last_epoch),
        disable=None if progress else True,
        desc="train",
        unit="epoch",
        initial=start_epoch,
        total=last_epoch,
    )
    for epoch in bar:
        order = torch.randperm(n_train, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        order = order.to(data.train.targets.device)
        # running sums stay on the device: no host sync per step (a GPU would otherwise wait every step)
        loss_sum = torch.zeros((), dtype=torch.float64, device=data.train.targets.device)
        correct = torch.zeros((), dtype=torch.long, device=data.train.targets.device)
        seen = 0
        for i in range(0, n_train, cfg.batch_size):
            if step == total_steps:
                break
            idx = order[i : i + cfg.batch_size]
            x, y = data.train.inputs[idx], data.train.targets[idx]
            logits = model(x)
            loss = loss_fn(logits, y)
            for term in hooks.extra_losses:
                loss = loss + term(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
            step_hooks()
        epoch_loss = loss_sum.item() / seen
        if not math.isfinite(epoch_loss):  # checked once an epoch: NaN/inf propagates into the sum
            history.append({"epoch": epoch + 1, "step": step, "train_loss": None})
            save(epoch, "diverged", step)
            return TrainResult("diverged", best_state, None, None, None, step, history, start_epoch, step)
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": step,
            "train_loss": epoch_loss,
            "train_accuracy": correct.item() / seen,
            "lr": opt.param_groups[0]["lr"],
        }
        if (epoch + 1) % cfg.eval_every_epochs == 0 or epoch + 1 == last_epoch:
            record["val_accuracy"] = accuracy(model, *data.val)
            if record["val_accuracy"] > best_val:
                best_val, best_epoch = record["val_accuracy"], epoch + 1
                best_state = _cpu_copy(model.state_dict())
        history.append(record)
        bar.set_postfix(loss=f"{record['train_loss']:.4f}", val=record.get("val_accuracy"))
        if hooks.on_epoch_end:
            hooks.on_epoch_end(record)
        if (epoch + 1) % cfg.checkpoint_every_epochs == 0 or epoch + 1 == last_epoch:
            save(epoch + 1, "complete" if epoch + 1 == last_epoch else "running")

    model.load_state_dict(best_state)  # the caller gets the best-by-validation network back
    test_acc = accuracy(model, *data.test)
    return TrainResult("ok", best_state, best_epoch, best_val, test_acc, step, history, start_epoch)
