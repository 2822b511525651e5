"""Training to memorize: fit N labels within a budget, stopping the moment every one is fitted (GENESIS).

Unlike ``train_classifier`` there is no held-out split: the question is only whether the network can fit
its training labels. After every epoch the whole training set is evaluated (eval mode); training stops at
100% training accuracy ("fitted") or at the end of ``cfg.epochs`` ("not fitted"). A non-finite loss
stops it as diverged (recorded, not raised).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from harness.training.config import TrainConfig
from harness.training.loop import _make_optimizer, _make_schedule


@dataclass
class MemorizeResult:
    """Outcome of one memorization run."""

    fitted: bool
    """Every training label predicted correctly within the budget."""
    epochs: int
    """Epochs trained (the one that reached 100% included)."""
    train_accuracy: float
    """Training accuracy at the end (NaN when diverged)."""
    predictions: np.ndarray
    """Predicted class of every training sample at the end (empty when diverged)."""
    diverged: bool = False


@torch.no_grad()
def _predict(model: nn.Module, inputs: torch.Tensor, batch_size: int) -> torch.Tensor:
    was_training = model.training
    model.eval()
    out = torch.cat([model(inputs[i : i + batch_size]).argmax(1) for i in range(0, len(inputs), batch_size)])
    model.train(was_training)
    return out


def memorize(
    model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig, *, seed: int
) -> MemorizeResult:
    """Train ``model`` (on the inputs' device) on (inputs, labels) with ``cfg`` until every label is fitted
    or ``cfg.epochs`` run out. Batches are shuffled with ``seed``; the schedule spans the whole budget."""
    n = len(labels)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    opt = _make_optimizer(model, cfg)
    sched = _make_schedule(opt, cfg, steps_per_epoch * cfg.epochs)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    eval_batch = max(cfg.batch_size, 1024)
    model.train()
    for epoch in range(1, cfg.epochs + 1):
        order = torch.randperm(n, generator=gen).to(inputs.device)
        for i in range(0, n, cfg.batch_size):
            rows = order[i : i + cfg.batch_size]
            loss = loss_fn(model(inputs[rows]), labels[rows])
            if not torch.isfinite(loss):
                return MemorizeResult(False, epoch, float("nan"), np.empty(0, dtype=np.int64), diverged=True)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        predictions = _predict(model, inputs, eval_batch)
        accuracy = float((predictions == labels).float().mean())
        if accuracy == 1.0:
            return MemorizeResult(True, epoch, accuracy, predictions.cpu().numpy())
    return MemorizeResult(False, cfg.epochs, accuracy, predictions.cpu().numpy())
