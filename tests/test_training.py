"""The shared training loop: learns, is deterministic, resumes bit-identically, records divergence, runs hooks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from harness.training.checkpoint import CheckpointStore
from harness.training.config import TrainConfig
from harness.training.loop import Hooks, Split, Splits, train_classifier


def _splits(seed: int = 0) -> Splits:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(360, 6, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + 2 * (x[:, 2] > 0).long()  # 4 classes, linearly separable
    return Splits(Split(x[:240], y[:240]), Split(x[240:300], y[240:300]), Split(x[300:], y[300:]))


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 4))


CFG = TrainConfig(epochs=6, batch_size=32, lr=0.1)


def test_learns_a_separable_problem():
    result = train_classifier(_model(), _splits(), CFG, seed=0, progress=False)
    assert result.status == "ok"
    assert result.test_accuracy > 0.85 and result.best_val_accuracy > 0.85
    assert result.steps == 6 * 8 and [r["epoch"] for r in result.history] == list(range(1, 7))
    assert result.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine annealed to zero


def test_adam_and_constant_schedule():
    cfg = CFG.model_copy(update={"optimizer": "adam", "lr": 0.01, "schedule": "constant"})
    result = train_classifier(_model(), _splits(), cfg, seed=0, progress=False)
    assert result.test_accuracy > 0.85 and result.history[-1]["lr"] == pytest.approx(0.01)


def test_same_seed_bit_identical_other_seed_differs():
    a = train_classifier(_model(), _splits(), CFG, seed=3, progress=False)
    b = train_classifier(_model(), _splits(), CFG, seed=3, progress=False)
    c = train_classifier(_model(), _splits(), CFG, seed=4, progress=False)
    assert a.history == b.history
    assert all(torch.equal(a.best_state[k], b.best_state[k]) for k in a.best_state)
    assert a.history != c.history


def test_resume_after_crash_is_bit_identical(tmp_path: Path):
    reference = train_classifier(_model(), _splits(), CFG, seed=0, progress=False)

    class Crash(RuntimeError):
        pass

    def crash_at_epoch_4(record):
        if record["epoch"] == 4:
            raise Crash

    store = CheckpointStore(tmp_path / "state")
    with pytest.raises(Crash):
        train_classifier(
            _model(),
            _splits(),
            CFG,
            seed=0,
            store=store,
            progress=False,
            hooks=Hooks(on_epoch_end=crash_at_epoch_4),
        )
    assert store.load()["epoch"] == 3  # the crash hit before epoch 4's state was written
    resumed = train_classifier(_model(seed=99), _splits(), CFG, seed=0, store=store, progress=False)
    assert resumed.resumed_from_epoch == 3
    assert resumed.history == reference.history
    assert resumed.test_accuracy == reference.test_accuracy
    assert all(torch.equal(resumed.best_state[k], reference.best_state[k]) for k in reference.best_state)


def test_divergence_is_recorded_not_raised(tmp_path: Path):
    cfg = CFG.model_copy(update={"lr": 1e12, "weight_decay": 0.0})
    store = CheckpointStore(tmp_path / "s")
    result = train_classifier(_model(), _splits(), cfg, seed=0, store=store, progress=False)
    assert result.status == "diverged" and result.test_accuracy is None and result.diverged_at_step >= 1
    again = train_classifier(_model(), _splits(), cfg, seed=0, store=store, progress=False)
    assert again.status == "diverged" and again.diverged_at_step == result.diverged_at_step


def test_hooks_extra_loss_evaluation_steps_and_fractions():
    calls: dict[str, list] = {"loss": [], "eval": [], "ckpt": []}

    def l2(model: nn.Module) -> torch.Tensor:
        calls["loss"].append(1)
        return sum((p**2).sum() for p in model.parameters()) * 0.0

    hooks = Hooks(
        extra_losses=[l2],
        evaluate_at_steps=[0, 10, 48],
        on_evaluate=lambda step, m: calls["eval"].append(step),
        checkpoint_fractions=[0.0, 0.5, 1.0],
        on_checkpoint=lambda f, m: calls["ckpt"].append(f),
    )
    train_classifier(_model(), _splits(), CFG, seed=0, hooks=hooks, progress=False)
    assert len(calls["loss"]) == 48
    assert calls["eval"] == [0, 10, 48]
    assert calls["ckpt"] == [0.0, 0.5, 1.0]


def test_checkpoint_loads_with_weights_only(tmp_path: Path):
    store = CheckpointStore(tmp_path / "s")
    train_classifier(_model(), _splits(), CFG, seed=0, store=store, progress=False)
    state = torch.load(store.path, weights_only=True)  # raises if anything but tensors/primitives
    assert state["epoch"] == 6 and state["status"] == "complete"
