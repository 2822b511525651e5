"""Rank correlations with honest p-values at small n.

Spearman ρ and Kendall τ-b (both handle ties with mid-ranks). For n ≤ ``EXACT_MAX_N`` the two-sided
p-value is exact: the statistic is evaluated under all n! pairings of x with y (ties included), so
P(|stat| ≥ |observed|) needs no approximation. Its floor is the share of pairings that reach the
most extreme value, 2/n! without ties: a 12-way Bonferroni correction can never be significant at
n < 6. Above ``EXACT_MAX_N`` the usual large-sample tests: Spearman's t with n − 2 degrees of freedom,
Kendall's normal approximation with the tie-corrected variance of S (Kendall 1970, eq. 4.4).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import stats

from harness.statistics.fixed_order import dot, orthonormal_columns, residual

EXACT_MAX_N = 9
"""Exact permutation p-values up to this n (9! = 362,880 pairings)."""

Method = Literal["spearman", "kendall"]


@dataclass(frozen=True)
class RankCorrelation:
    """A rank correlation, its two-sided p-value, how the p was obtained, and the smallest p possible."""

    statistic: float
    p_value: float
    n: int
    p_method: Literal["exact", "asymptotic"]
    p_floor: float
    """Smallest two-sided p attainable at this n and these ties (exact) or 0 (asymptotic)."""


def ranks(values: np.ndarray) -> np.ndarray:
    """Mid-ranks (1-based, ties share their mean rank)."""
    return stats.rankdata(np.asarray(values, dtype=float))


@lru_cache(maxsize=EXACT_MAX_N + 1)
def _permutations(n: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(n))), dtype=np.int8)  # (n!, n)


def _pair_signs(v: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(v.shape[-1], k=1)
    return np.sign(v[..., j] - v[..., i])


def _spearman(rx: np.ndarray, ry: np.ndarray) -> np.ndarray:
    """Pearson correlation of rank vectors; ``ry`` may carry leading batch dimensions."""
    cx = rx - rx.mean()
    cy = ry - ry.mean(axis=-1, keepdims=True)
    den = math.sqrt((cx**2).sum()) * np.sqrt((cy**2).sum(axis=-1))
    return dot(cy, cx) / np.where(den > 0, den, np.nan)  # not @: BLAS sums in a CPU-specific order


def _kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    sx, sy = _pair_signs(x), _pair_signs(y)  # sums of ±1 and 0 are exact in any order: @ is safe
    den = math.sqrt(np.abs(sx).sum()) * np.sqrt(np.abs(sy).sum(axis=-1))
    return (sy @ sx) / np.where(den > 0, den, np.nan)


def _tie_sums(v: np.ndarray) -> tuple[float, float, float]:
    _, t = np.unique(v, return_counts=True)
    t = t.astype(float)
    return (
        float((t * (t - 1)).sum()),
        float((t * (t - 1) * (t - 2)).sum()),
        float((t * (t - 1) * (2 * t + 5)).sum()),
    )


def kendall_s_variance(x: np.ndarray, y: np.ndarray) -> float:
    """Var(S) of Kendall's S under independence with ties in both variables (Kendall 1970, eq. 4.4)."""
    n = float(len(x))
    a1, a2, a3 = _tie_sums(x)
    b1, b2, b3 = _tie_sums(y)
    var = (n * (n - 1) * (2 * n + 5) - a3 - b3) / 18.0
    var += a2 * b2 / (9 * n * (n - 1) * (n - 2)) if n > 2 else 0.0
    var += a1 * b1 / (2 * n * (n - 1))
    return var


def rank_correlation(x: np.ndarray, y: np.ndarray, method: Method = "spearman") -> RankCorrelation:
    """Spearman ρ or Kendall τ-b of x and y with a two-sided p (exact for n ≤ EXACT_MAX_N).

    Undefined (nan statistic, p = 1) when either variable is constant or n < 3.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length, got {x.shape} and {y.shape}")
    n = len(x)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return RankCorrelation(float("nan"), 1.0, n, "exact" if n <= EXACT_MAX_N else "asymptotic", 1.0)
    rx, ry = ranks(x), ranks(y)
    stat_of = _spearman if method == "spearman" else _kendall_tau_b
    observed = float(stat_of(rx, ry))
    if n <= EXACT_MAX_N:
        null = np.abs(stat_of(rx, ry[_permutations(n)]))
        eps = 1e-12
        p = float(np.mean(null >= abs(observed) - eps))
        floor = float(np.mean(null >= null.max() - eps))
        return RankCorrelation(observed, p, n, "exact", floor)
    if method == "spearman":
        r = min(abs(observed), 1.0 - 1e-15)
        t = r * math.sqrt((n - 2) / (1 - r * r))
        p = float(2 * stats.t.sf(t, n - 2))
    else:
        s = float(_pair_signs(rx) @ _pair_signs(ry))
        p = float(2 * stats.norm.sf(abs(s) / math.sqrt(kendall_s_variance(rx, ry))))
    return RankCorrelation(observed, min(p, 1.0), n, "asymptotic", 0.0)


def partial_spearman(x: np.ndarray, y: np.ndarray, covariates: np.ndarray) -> tuple[float, float]:
    """Spearman correlation of x and y controlling for covariates, and its two-sided p.

    Rank x, y and each covariate; regress rank(x) and rank(y) on the covariate ranks with an intercept;
    ρ is the Pearson correlation of the two residual vectors. For n ≤ ``EXACT_MAX_N`` the p-value is the
    exact Freedman–Lane permutation p (Freedman & Lane 1983; Anderson & Legendre 1999): the residuals of
    rank(y) on the covariates are permuted in all n! ways, added back to the fitted values, re-residualised
    and correlated with rank(x)'s residuals; p = share of |ρ*| ≥ |ρ| (floor 2/n! without ties, so
    x = [3,1,5,4,2], y = [3,5,1,2,4], covariate [4,1,5,3,2] gives ρ = −1, p = 2/120, where the t test said 0).
    Above, p from t = ρ √(df / (1 − ρ²)) with df = n − 2 − k (k covariates). (nan, nan) when df < 1 or a
    residual is constant.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    c = np.asarray(covariates, dtype=float)
    c = c.reshape(len(x), -1)
    n, k = c.shape
    df = n - 2 - k
    if len(y) != n or df < 1:
        return float("nan"), float("nan")
    design = np.column_stack([np.ones(n), *(ranks(col) for col in c.T)])
    basis = orthonormal_columns(design)  # least squares without LAPACK: the same bits on every CPU
    res_x, res_y = residual(ranks(x), basis), residual(ranks(y), basis)
    sxx = float(dot(res_x, res_x))
    den = math.sqrt(sxx * float(dot(res_y, res_y)))
    if den < 1e-12:
        return float("nan"), float("nan")
    rho = float(np.clip(dot(res_x, res_y) / den, -1.0, 1.0))
    if n <= EXACT_MAX_N:
        # y* = fitted + P·res_y; its residual on the design is M·P·res_y (M = I − H), and res_x = M·res_x,
        # so ρ* = res_x·(P·res_y) / (‖res_x‖ ‖M·P·res_y‖)
        permuted = res_y[_permutations(n)]  # (n!, n)
        moved = residual(permuted, basis)
        norms = np.sqrt(dot(moved, moved)) * math.sqrt(sxx)
        null = np.abs(dot(permuted, res_x)) / np.where(norms > 1e-12, norms, np.inf)
        return rho, float(np.mean(null >= abs(rho) - 1e-12))
    if abs(rho) >= 1.0:
        return rho, 0.0
    t = rho * math.sqrt(df / (1 - rho * rho))
    return rho, float(2 * stats.t.sf(abs(t), df))


def bonferroni(p_values: list[float], m: int | None = None) -> list[float]:
    """Bonferroni-adjusted p-values min(1, m·p) over a family of m tests (default: the list's length).

    nan stays nan (a test that could not be computed is still counted in m when m is given)."""
    m = len(p_values) if m is None else m
    return [p if math.isnan(p) else min(1.0, p * m) for p in p_values]
