"""Adversarial robustness: projected gradient descent in an L∞ ball (Madry et al. 2018)."""

from __future__ import annotations

import torch
from torch import nn


def pgd_attack(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    epsilon: float,
    steps: int,
    step_size: float,
    clip: tuple[float, float] | None = (0.0, 1.0),
    random_start: bool = True,
    seed: int = 0,
) -> torch.Tensor:
    """Adversarial inputs within ‖δ‖∞ ≤ ε that raise the cross-entropy: a uniform random start in the ball,
    then ``steps`` signed-gradient ascent steps of ``step_size``, each projected back onto the ball (and the
    valid input range ``clip``). The model is evaluated in eval mode; its parameters get no gradients."""
    was_training = model.training
    model.eval()
    params = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        generator = torch.Generator().manual_seed(seed)
        delta = torch.zeros_like(inputs)
        if random_start:
            delta = (torch.rand(inputs.shape, generator=generator) * 2 - 1).to(inputs) * epsilon
        loss_fn = nn.CrossEntropyLoss()
        for _ in range(steps):
            adversarial = inputs + delta
            if clip is not None:
                adversarial = adversarial.clamp(*clip)
            adversarial.requires_grad_(True)
            loss = loss_fn(model(adversarial), targets)
            (grad,) = torch.autograd.grad(loss, adversarial)
            delta = (adversarial.detach() + step_size * grad.sign() - inputs).clamp(-epsilon, epsilon)
        adversarial = inputs + delta
        return adversarial.clamp(*clip).detach() if clip is not None else adversarial.detach()
    finally:
        for p, flag in zip(model.parameters(), params, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)


def pgd_success_rate(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    epsilon: float,
    steps: int,
    step_size: float,
    clip: tuple[float, float] | None = (0.0, 1.0),
    seed: int = 0,
) -> dict[str, float]:
    """Attack success rate: the fraction of correctly classified inputs that PGD makes misclassified.

    Also the clean and robust accuracies over all inputs and ``n_correct`` (the success rate's denominator).
    """
    with torch.no_grad():
        was_training = model.training
        model.eval()
        clean = model(inputs).argmax(1) == targets
        model.train(was_training)
    adversarial = pgd_attack(
        model, inputs, targets, epsilon=epsilon, steps=steps, step_size=step_size, clip=clip, seed=seed
    )
    with torch.no_grad():
        model.eval()
        robust = model(adversarial).argmax(1) == targets
        model.train(was_training)
    n_correct = int(clean.sum())
    flipped = int((clean & ~robust).sum())
    return {
        "success_rate": flipped / n_correct if n_correct else float("nan"),
        "clean_accuracy": float(clean.double().mean()),
        "robust_accuracy": float(robust.double().mean()),
        "n": float(len(targets)),
        "n_correct": float(n_correct),
    }
