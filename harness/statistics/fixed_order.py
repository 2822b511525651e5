"""Small dense linear algebra in a fixed order of operations: the same bits on every CPU.

numpy's ``@``/``dot`` and ``np.linalg`` (lstsq, svd, eigh, cholesky) run OpenBLAS/LAPACK, whose kernels
are chosen when the library loads, for the CPU it finds (``OPENBLAS_CORETYPE``: Haswell on a Zen 2/3
EPYC, SkylakeX/Cooperlake on an AVX-512 Zen 4, Sandybridge, Neoverse…). Each kernel sums in its own
order, so identical inputs give results that differ in the last bits from one machine to the next,
and a square root of a zero eigenvalue turns ±1e-17 of rounding into 1e-9 of noise. The statistics
only solve systems of a few columns, where speed is no concern: here every product is an elementwise
multiply and every sum a numpy reduction, whose order depends on the array shapes alone, and
nothing calls BLAS — so a result depends on the inputs and on numpy's version, not on the CPU.
Everything is batched over leading axes.
"""

from __future__ import annotations

import numpy as np

RANK_TOLERANCE = 1e-12
"""A column (or pivot) whose remaining norm (variance) is below this share of the largest counts as
zero: rank-deficient designs and covariances are projected on, or drawn from, their nonzero part."""


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σᵢ aᵢ bᵢ over the last axis, broadcast over the leading ones: ``a @ b`` without BLAS."""
    return (np.asarray(a, dtype=float) * np.asarray(b, dtype=float)).sum(axis=-1)


def orthonormal_columns(design: np.ndarray) -> np.ndarray:
    """An orthonormal basis Q (n, r) of the column space of ``design`` (n, m), r = its numerical rank.

    Gram–Schmidt with every column orthogonalized twice ("twice is enough", Giraud et al. 2005), as
    accurate as Householder QR here; a column left with less than ``RANK_TOLERANCE`` of its norm lies
    in the span of the earlier ones and is dropped."""
    design = np.asarray(design, dtype=float)
    basis: list[np.ndarray] = []
    for column in design.T:
        v = column
        for _ in range(2):
            for q in basis:
                v = v - dot(v, q) * q
        norm = float(np.sqrt(dot(v, v)))
        if norm > RANK_TOLERANCE * float(np.sqrt(dot(column, column))):
            basis.append(v / norm)
    return np.stack(basis, axis=1) if basis else np.zeros((len(design), 0))


def residual(values: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Least-squares residual of ``values`` (..., n) on orthonormal ``basis`` (n, r): v − Q Qᵀ v,
    projected out column by column (modified Gram–Schmidt) and twice over for accuracy."""
    v = np.asarray(values, dtype=float)
    for _ in range(2):
        for q in basis.T:
            v = v - dot(v, q)[..., None] * q
    return v


def cholesky(a: np.ndarray) -> np.ndarray:
    """Lower-triangular L with L Lᵀ = a for symmetric positive semi-definite a (..., p, p).

    A pivot below ``RANK_TOLERANCE`` times the largest diagonal entry is taken as exactly zero and its
    column of L left at zero, so a singular covariance (e.g. of regression residuals) has a factor
    whose square root never amplifies rounding."""
    a = np.asarray(a, dtype=float)
    p = a.shape[-1]
    lower = np.zeros_like(a)
    floor = RANK_TOLERANCE * np.max(np.diagonal(a, axis1=-2, axis2=-1), axis=-1)
    for j in range(p):
        row = lower[..., j, :j]
        pivot = a[..., j, j] - dot(row, row)
        positive = pivot > floor
        root = np.sqrt(np.where(positive, pivot, 1.0))
        below = (a[..., j + 1 :, j] - dot(lower[..., j + 1 :, :j], row[..., None, :])) / root[..., None]
        lower[..., j, j] = np.where(positive, root, 0.0)
        lower[..., j + 1 :, j] = np.where(positive[..., None], below, 0.0)
    return lower


def cholesky_solve(lower: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """x with L Lᵀ x = rhs: forward then back substitution; lower (..., p, p) positive definite, rhs (..., p)."""
    p = lower.shape[-1]
    rhs = np.broadcast_to(rhs, lower.shape[:-1])
    w = np.zeros(lower.shape[:-1])
    for i in range(p):
        w[..., i] = (rhs[..., i] - dot(lower[..., i, :i], w[..., :i])) / lower[..., i, i]
    x = np.zeros_like(w)
    for i in reversed(range(p)):
        x[..., i] = (w[..., i] - dot(lower[..., i + 1 :, i], x[..., i + 1 :])) / lower[..., i, i]
    return x


def gram(x: np.ndarray) -> np.ndarray:
    """Xᵀ X of x (..., n, p) → (..., p, p), summed over the n rows."""
    return dot(np.swapaxes(x, -1, -2)[..., :, None, :], np.swapaxes(x, -1, -2)[..., None, :, :])


def covariance(x: np.ndarray) -> np.ndarray:
    """Sample covariance (n − 1 denominator) of the columns of x (n, p): ``np.cov(x, rowvar=False)``."""
    centred = np.asarray(x, dtype=float) - np.asarray(x, dtype=float).mean(axis=0)
    return gram(centred) / (len(centred) - 1)
