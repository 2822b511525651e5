"""Retention of task A while training on task B: pure functions of a measured accuracy curve.

``curve`` maps the task-B optimizer step to task-A test accuracy, and must include step 0 (before any
task-B training).
"""

from __future__ import annotations

import numpy as np

version = 1


def _steps_and_values(curve: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    if 0 not in curve:
        raise ValueError("the accuracy curve must include step 0 (the task-A checkpoint)")
    steps = np.array(sorted(curve), dtype=np.float64)
    return steps, np.array([curve[int(s)] for s in steps], dtype=np.float64)


def retention(curve: dict[int, float], step: int) -> float:
    """ret@k = acc_A(k) / acc_A(0) (it can exceed 1)."""
    if step not in curve:
        raise ValueError(f"step {step} was not measured (measured: {sorted(curve)})")
    return curve[step] / curve[0]


def early_aurc(curve: dict[int, float], horizon: int) -> float:
    """Early area under the retention curve: (1/T)·∫₀ᵀ ret(k) dk by the trapezoid rule over the measured
    steps ≤ T (T = ``horizon``, which must itself be measured)."""
    if horizon not in curve or horizon <= 0:
        raise ValueError(f"the horizon T={horizon} must be a measured step > 0")
    steps, acc = _steps_and_values(curve)
    keep = steps <= horizon
    ret = acc[keep] / curve[0]
    return float(np.trapezoid(ret, steps[keep]) / horizon)


def forgetting(curve: dict[int, float]) -> float:
    """Forgetting for two tasks (Chaudhry et al. 2018): acc_A(0) − acc_A(final step)."""
    _, acc = _steps_and_values(curve)
    return float(acc[0] - acc[-1])


def max_drop(curve: dict[int, float]) -> float:
    """Step-wise maximum drop (a named variant): max over measured steps of acc_A(0) − acc_A(k)."""
    _, acc = _steps_and_values(curve)
    return float((acc[0] - acc).max())
