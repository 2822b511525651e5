"""Repeated measures: the same architectures measured on several landscape slices.

``values`` is (subjects, conditions): one row per architecture, one column per slice.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def _finite_rows(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return v[np.isfinite(v).all(axis=1)]


def friedman(values: np.ndarray) -> tuple[float, float]:
    """Friedman χ² and p: do the conditions (slices) differ, ranking within each subject (architecture)?

    Needs ≥ 3 conditions and ≥ 2 complete subjects; (nan, nan) otherwise or when every value ties."""
    v = _finite_rows(values)
    if v.ndim != 2 or v.shape[1] < 3 or v.shape[0] < 2 or np.ptp(v, axis=1).max() == 0:
        return float("nan"), float("nan")
    res = stats.friedmanchisquare(*v.T)
    return float(res.statistic), float(res.pvalue)


def kruskal_wallis(values: np.ndarray) -> tuple[float, float]:
    """Kruskal–Wallis H and p with the conditions as independent groups (ignores the pairing)."""
    v = _finite_rows(values)
    if v.ndim != 2 or v.shape[1] < 2 or v.shape[0] < 2 or np.ptp(v) == 0:
        return float("nan"), float("nan")
    res = stats.kruskal(*v.T)
    return float(res.statistic), float(res.pvalue)


def ordering_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of subject pairs that two measurements order the same way (pairs tied in either left out)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    i, j = np.triu_indices(len(a), k=1)
    sa, sb = np.sign(a[j] - a[i]), np.sign(b[j] - b[i])
    untied = (sa != 0) & (sb != 0)
    return float(np.mean(sa[untied] == sb[untied])) if untied.any() else float("nan")


def paired_cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d for paired samples (d_z): mean(a − b) / sd(a − b), sd with n − 1."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(d) < 2:
        return float("nan")
    sd = float(np.std(d, ddof=1))
    return (
        float(np.mean(d)) / sd
        if sd > 0
        else (0.0 if float(np.mean(d)) == 0 else math.copysign(math.inf, float(np.mean(d))))
    )
