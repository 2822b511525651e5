"""Leave-one-architecture-out (LOAO) ridge regression and a permutation test of incremental value.

Ridge with an unpenalized intercept on the standardized design, β(α) = (ZᵀZ + αI)⁻¹ Zᵀ(y − ȳ), by a
Cholesky factor per α in ``harness.statistics.fixed_order`` (no BLAS, so the same bits on every CPU;
the design has a few columns and α ≥ 1e-3 keeps the system well conditioned). Standardization and
the choice of α (inner cross-validation by group) are refitted inside each outer fold, on the outer
training rows only, so the held-out architecture's rows never touch its own prediction. All of it is
batched over a leading axis, so a permutation test refits 1,000 feature sets in one pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.statistics.fixed_order import (
    cholesky,
    cholesky_solve,
    covariance,
    dot,
    gram,
    orthonormal_columns,
    residual,
)

DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))
"""Ridge penalties searched by the inner cross-validation (on standardized features)."""


def _as_groups(groups: Any) -> tuple[np.ndarray, list[Any]]:
    labels = list(dict.fromkeys(groups))
    index = {g: i for i, g in enumerate(labels)}
    return np.array([index[g] for g in groups]), labels


def _ridge_predict(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, alphas: np.ndarray
) -> np.ndarray:
    """Predictions for every α: x (B, n, p), y (n,) → (B, n_alpha, n_test). α is (A,) or per batch (B, 1)."""
    mean = x_train.mean(axis=1, keepdims=True)
    std = x_train.std(axis=1, keepdims=True)
    std = np.where(std > 1e-12, std, 1.0)
    z_train, z_test = (x_train - mean) / std, (x_test - mean) / std
    y_mean = y_train.mean()
    a = np.asarray(alphas, dtype=float)
    a = a[None, :] if a.ndim == 1 else a  # (1 or B, A)
    system = gram(z_train)[:, None] + a[:, :, None, None] * np.eye(z_train.shape[2])  # (B, A, p, p)
    zty = dot(np.swapaxes(z_train, 1, 2), y_train - y_mean)  # (B, p)
    coef = cholesky_solve(cholesky(system), zty[:, None, :])  # (B, A, p)
    return y_mean + dot(z_test[:, None, :, :], coef[:, :, None, :])  # (B, A, n_test)


def _group_folds(groups: np.ndarray, inner_folds: int | None, rng: np.random.Generator) -> list[np.ndarray]:
    """Held-out group sets: one per group (leave-one-group-out) or ``inner_folds`` random group folds."""
    labels = np.unique(groups)
    if inner_folds is None or inner_folds >= len(labels):
        return [np.array([g]) for g in labels]
    return [np.sort(f) for f in np.array_split(rng.permutation(labels), inner_folds)]


def _loao_batch(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    alphas: np.ndarray,
    inner_folds: int | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions (B, n) and the α chosen for each outer fold (B, G)."""
    n_batch, n = x.shape[:2]
    labels = np.unique(groups)
    predictions = np.empty((n_batch, n))
    chosen = np.empty((n_batch, len(labels)))
    for gi, g in enumerate(labels):
        test, train = groups == g, groups != g
        xt, yt, gt = x[:, train], y[train], groups[train]
        inner_error = np.zeros((n_batch, len(alphas)))
        for held in _group_folds(gt, inner_folds, rng):
            it = np.isin(gt, held)
            pred = _ridge_predict(xt[:, ~it], yt[~it], xt[:, it], alphas)  # (B, A, n_it)
            inner_error += np.abs(pred - yt[it]).sum(axis=2)
        # ties (common under strong shrinkage) go to the largest α, the simplest model
        best = len(alphas) - 1 - np.argmin(inner_error[:, ::-1], axis=1)
        chosen[:, gi] = alphas[best]
        predictions[:, test] = _ridge_predict(xt, yt, x[:, test], chosen[:, gi : gi + 1])[:, 0]
    return predictions, chosen


def _check(features: np.ndarray, target: np.ndarray, groups: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=float)
    x = x.reshape(len(x), -1)
    y = np.asarray(target, dtype=float)
    if len(y) != len(x) or len(groups) != len(x):
        raise ValueError(
            f"features ({len(x)}), target ({len(y)}) and groups ({len(groups)}) differ in length"
        )
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("features and target must be finite (drop failed runs first)")
    if len(set(groups)) < 3:
        raise ValueError(f"LOAO needs at least 3 groups (architectures), got {len(set(groups))}")
    return x, y


def loao_ridge(
    features: np.ndarray,
    target: np.ndarray,
    groups: Any,
    seed: int = 0,
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    inner_folds: int | None = None,
) -> dict[str, Any]:
    """Ridge regression evaluated by leaving one group (architecture) out at a time.

    features (n, p), target (n,), groups (n,) labels. Inside each outer fold: standardize on the
    training rows, choose α by inner cross-validation over the training groups (leave-one-group-out,
    or ``inner_folds`` random group folds drawn with ``seed``), refit, predict the held-out group.
    Returns ``mae`` (mean |error| over all rows), ``predictions`` and ``alpha`` per group, ``n``.
    """
    x, y = _check(features, target, groups)
    codes, labels = _as_groups(groups)
    pred, chosen = _loao_batch(
        x[None], y, codes, np.asarray(alphas), inner_folds, np.random.default_rng(seed)
    )
    return {
        "mae": float(np.abs(pred[0] - y).mean()),
        "predictions": {str(g): pred[0, codes == i].tolist() for i, g in enumerate(labels)},
        "alpha": {str(g): float(chosen[0, i]) for i, g in enumerate(labels)},
        "n": len(y),
        "n_groups": len(labels),
        "seed": seed,
    }


def loao_mae_batch(
    features: np.ndarray,
    target: np.ndarray,
    groups: Any,
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    inner_folds: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """LOAO MAE of each of B feature sets (B, n, p) against one target: ``loao_ridge`` vectorized."""
    x = np.asarray(features, dtype=float)
    codes, _ = _as_groups(groups)
    pred, _ = _loao_batch(
        x, np.asarray(target, float), codes, np.asarray(alphas), inner_folds, np.random.default_rng(seed)
    )
    return np.abs(pred - np.asarray(target, float)).mean(axis=1)


def size_basis(log_params: np.ndarray) -> np.ndarray:
    """A flexible baseline of network size: ln(params) and the restricted cubic spline terms of Harrell
    (2015, §2.4.5) with knots at quantiles of the distinct values of ln(params) — 4 knots (5, 35, 65, 95%) from 10 distinct sizes,
    3 (10, 50, 90%) from 5, none below — shape (n, 1 + knots − 2). Linear beyond the outer knots.

    Model A (size only) and the null of the incremental-value test use it, so "topology adds value beyond
    size" means beyond any smooth function of size, not only beyond a line in ln(params): with a line, a
    topology that is a curved function of size "added value" in 28 of 30 seeded null surveys (12
    architectures; the spline keeps it within 0.05 + 2.5 SE over 60, tests/test_statistics.py)."""
    x = np.asarray(log_params, dtype=float).reshape(-1)
    distinct = len(np.unique(x))
    quantiles = (0.05, 0.35, 0.65, 0.95) if distinct >= 10 else (0.1, 0.5, 0.9) if distinct >= 5 else ()
    knots = np.unique(np.quantile(np.unique(x), quantiles)) if quantiles else np.array([])  # sizes, not rows
    columns = [x]
    if len(knots) >= 3:
        t_last, t_prev = knots[-1], knots[-2]
        scale = (knots[-1] - knots[0]) ** 2

        def cube(v: np.ndarray) -> np.ndarray:
            c = np.clip(v, 0, None)
            return c * c * c  # not ** 3: np.power may run a CPU-specific SIMD pow (SVML on AVX-512)

        for t in knots[:-2]:
            term = (
                cube(x - t)
                - cube(x - t_prev) * (t_last - t) / (t_last - t_prev)
                + cube(x - t_last) * (t_prev - t) / (t_last - t_prev)
            )
            columns.append(term / scale)
    return np.column_stack(columns)


def _residualize(topology: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    design = np.column_stack([np.ones(len(basis)), basis])
    resid = residual(topology.T, orthonormal_columns(design)).T
    return topology - resid, resid


def _block_order(codes: np.ndarray) -> np.ndarray:
    """Row indices grouped by architecture: (G, rows per group). Groups must be the same size."""
    sizes = np.bincount(codes)
    if len(set(sizes.tolist())) != 1:
        raise ValueError(
            f"the permutation test moves whole architectures, so every architecture needs the same rows; "
            f"got group sizes {sorted(set(sizes.tolist()))} (drop architectures missing a dataset first)"
        )
    return np.stack([np.flatnonzero(codes == g) for g in range(len(sizes))])


def incremental_value_test(
    topology: np.ndarray,
    log_params: np.ndarray,
    target: np.ndarray,
    groups: Any,
    n_permutations: int = 1000,
    seed: int = 0,
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    inner_folds: int | None = None,
    level: float = 0.05,
) -> dict[str, Any]:
    """Does topology predict the target beyond network size? LOAO ridge, permutation null.

    Model A: ``size_basis(log params)`` (ln params and its restricted cubic spline terms: a smooth
    function of size, not only a line). Model B: that basis + topology. Null: topology = fitted(basis) +
    residual; the residuals carry any information beyond size, so shuffling them between whole
    architectures (rows within an architecture keep their order, e.g. by dataset) and refitting B
    gives B's MAE when topology adds nothing. Shuffling whole topology rows instead would also break
    topology's link with size and reject far too often. p = (1 + #{permuted MAE ≤ observed}) /
    (1 + n_permutations). Model A2 (the matched null) uses the same construction with Gaussian
    residuals of the residuals' covariance (drawn through its Cholesky factor), one draw per permutation: ``b_beats_a2`` holds when B's MAE
    is below all but a ``level`` share of A2's (p_vs_a2 ≤ level); if not, topology is no better than noise.
    """
    t = np.asarray(topology, dtype=float)
    t = t.reshape(len(t), -1)
    lp = np.asarray(log_params, dtype=float).reshape(-1)
    y = np.asarray(target, dtype=float)
    _check(np.column_stack([lp, t]), y, groups)
    codes, labels = _as_groups(groups)
    blocks = _block_order(codes)
    rng = np.random.default_rng(seed)
    basis = size_basis(lp)
    fitted, resid = _residualize(t, basis)
    n, k = t.shape

    def mae(features: np.ndarray) -> np.ndarray:  # (B, n, p) → (B,) LOAO MAE with this test's ridge settings
        return loao_mae_batch(features, y, groups, alphas=alphas, inner_folds=inner_folds, seed=seed)

    def with_params(topo: np.ndarray) -> np.ndarray:  # (B, n, k) → (B, n, size columns + k)
        return np.concatenate([np.broadcast_to(basis[None], (len(topo), *basis.shape)), topo], axis=2)

    observed = float(mae(with_params(t[None]))[0])
    mae_a = float(mae(basis[None])[0])
    permuted_rows = np.empty((n_permutations, n), dtype=int)
    for b in range(n_permutations):
        order = rng.permutation(len(labels))
        permuted_rows[b, blocks.reshape(-1)] = blocks[order].reshape(-1)
    permuted = mae(with_params(fitted[None] + resid[permuted_rows]))
    # noise = z Lᵀ with L Lᵀ = cov: the residuals' covariance is singular (n rows minus the basis), and a
    # zero eigenvalue's square root turned ±1e-17 of BLAS rounding into 1e-9 of noise that differed by CPU
    factor = cholesky(covariance(resid))  # (k, k) lower
    noise = dot(rng.standard_normal((n_permutations, n, k))[:, :, None, :], factor)  # (P, n, k)
    a2 = mae(with_params(fitted[None] + noise))
    p = (1 + int(np.sum(permuted <= observed + 1e-12))) / (1 + n_permutations)
    p_vs_a2 = (1 + int(np.sum(a2 <= observed + 1e-12))) / (1 + n_permutations)
    return {
        "observed_mae": observed,
        "permuted_mae": permuted.tolist(),
        "p_value": p,
        "mae_a": mae_a,
        "mae_a2": float(a2.mean()),
        "a2_mae": a2.tolist(),
        "p_vs_a2": p_vs_a2,
        "b_beats_a2": bool(p_vs_a2 <= level),
        "level": level,
        "b_beats_a": bool(observed < mae_a),
        "n": n,
        "n_groups": len(labels),
        "n_permutations": n_permutations,
        "size_basis_columns": int(basis.shape[1]),
        "seed": seed,
    }
