"""Is there a critical x below which y collapses? A threshold (hinge) regression beside the plain line."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MIN_SIDE = 2
"""Points required on each side of a candidate breakpoint."""
BIC_MARGIN = 2.0
"""A model is preferred when its BIC is lower by more than this (Kass & Raftery 1995: 'positive' evidence)."""


def _ols(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return coef, float(((y - design @ coef) ** 2).sum())


def _hinge_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, float] | None:
    """Least-squares y = a + b·max(0, x − c) over breakpoints c at midpoints with ≥ MIN_SIDE points each side."""
    xs = np.unique(x)
    best = None
    for c in (xs[:-1] + xs[1:]) / 2:
        if (x < c).sum() < MIN_SIDE or (x > c).sum() < MIN_SIDE:
            continue
        coef, rss = _ols(np.column_stack([np.ones_like(x), np.maximum(0.0, x - c)]), y)
        if best is None or rss < best[2]:
            best = (float(c), coef, rss)
    return best


def _bic(rss: float, n: int, k: int) -> float:
    return n * math.log(max(rss, 1e-300) / n) + k * math.log(n)


def threshold_regression(
    x: np.ndarray, y: np.ndarray, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """The line y = a + b·x against the threshold model y = a + b·max(0, x − c) (flat below c).

    Both fitted by least squares (c by search over midpoints); compared by BIC (Gaussian errors; k = 2 and
    3). The breakpoint's percentile bootstrap interval resamples (x, y) pairs. ``verdict`` says which model
    the data prefer by more than BIC_MARGIN, else that they cannot tell; too few points say so.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    line_coef, line_rss = (
        _ols(np.column_stack([np.ones(n), x]), y) if n >= 2 else (np.full(2, np.nan), np.nan)
    )
    out: dict[str, Any] = {
        "n": n,
        "linear": {"intercept": float(line_coef[0]), "slope": float(line_coef[1]), "rss": line_rss},
    }
    fit = _hinge_fit(x, y) if n >= 2 * MIN_SIDE + 1 else None
    if fit is None:
        out["verdict"] = f"too few points for a threshold fit (n = {n}; needs {2 * MIN_SIDE + 1} distinct x)"
        return out
    c, coef, rss = fit
    bic_line, bic_hinge = _bic(line_rss, n, 2), _bic(rss, n, 3)
    rng = np.random.default_rng(seed)
    breakpoints = []
    for _ in range(n_boot):
        rows = rng.integers(0, n, n)
        boot = _hinge_fit(x[rows], y[rows])
        if boot is not None:
            breakpoints.append(boot[0])
    alpha = (1 - level) / 2
    interval = (
        [float(np.quantile(breakpoints, alpha)), float(np.quantile(breakpoints, 1 - alpha))]
        if breakpoints
        else None
    )
    if bic_hinge < bic_line - BIC_MARGIN:
        verdict = "threshold preferred"
    elif bic_line < bic_hinge - BIC_MARGIN:
        verdict = "linear preferred"
    else:
        verdict = "the data cannot tell the threshold model from the line"
    out["linear"]["bic"] = bic_line
    out["threshold"] = {
        "breakpoint": c,
        "breakpoint_interval": interval,
        "bootstrap_fits": len(breakpoints),
        "level_below": float(coef[0]),
        "slope_above": float(coef[1]),
        "rss": rss,
        "bic": bic_hinge,
    }
    out["verdict"] = verdict
    return out
