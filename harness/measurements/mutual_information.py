"""Mutual-information estimators, all in nats, for arrays of shape (N, d).

- :func:`ksg_mutual_information`: Kraskov, Stögbauer & Grassberger (2004), algorithms 1 and 2, max-norm,
  as chunked brute-force distances in PyTorch (bounded memory; runs on a GPU when given one).
- :func:`pairwise_ksg`: the same estimator for every pair of modules, sharing each module's distances.
- :func:`gaussian_mutual_information`: log-determinants of sample covariances with the finite-sample bias
  correction of E ln|S| for Wishart matrices.
- :func:`mine_mutual_information`: MINE (Belghazi et al. 2018) with the moving-average gradient correction.
- :func:`bootstrap_interval` and :func:`calibration`: confidence intervals and the recovered fraction of an
  analytic MI on correlated Gaussians at a run's own N and d.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import digamma

DEFAULT_MEMORY_BYTES = 512 * 2**20


def _as_2d(a: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    array = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (N, d); got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} has non-finite values")
    return array.astype(np.float64, copy=False)


def prepare_samples(
    x: np.ndarray | torch.Tensor, *, standardize: bool, noise: float, seed: int, name: str = "x"
) -> np.ndarray:
    """(N, d) float64 copy, centred per column, optionally scaled to unit variance, plus seeded N(0, noise²)
    jitter to break ties.

    Centring never changes a kNN estimate (max-norm distances are translation invariant) but keeps the
    jitter above float64 resolution: at X ≡ 1e6 a 1e-10 jitter is below the spacing of doubles there
    (1.2e-10), exact ties survive and the estimates go wrong (1.62 nats for Ross's estimator against a
    ceiling of H(Y) = 0.325; the mechanism of scikit-learn#30772). Z-scoring changes a max-norm KSG
    estimate (it reweights the coordinates), so it is a recorded choice. The jitter is relative to each
    column's standard deviation (absolute when the column is constant, which centring has made 0).
    """
    array = _as_2d(x, name).copy()
    array -= array.mean(axis=0)
    if standardize:
        std = array.std(axis=0)
        array /= np.where(std > 0, std, 1.0)
    if noise > 0:
        scale = array.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        array = array + noise * scale * np.random.default_rng(seed).standard_normal(array.shape)
    return array


# On a CPU, row chunks above a few hundred rows run slower (the (c, N) distance blocks leave the cache).
CPU_MAX_CHUNK_ROWS = 512


def _chunk_rows(n: int, tensors_per_row: int, memory_bytes: int, device: torch.device) -> int:
    cap = CPU_MAX_CHUNK_ROWS if device.type == "cpu" else n
    return int(max(1, min(n, cap, memory_bytes // max(1, 8 * n * tensors_per_row))))


def _ksg_counts(marginals: Sequence[torch.Tensor], k: int, algorithm: int) -> tuple[torch.Tensor, ...]:
    """Neighbour counts for one chunk of rows. marginals: per-variable (c, N) max-norm distances with each
    row's own point already at +inf (a point is not its own neighbour)."""
    joint = marginals[0]
    for d in marginals[1:]:
        joint = torch.maximum(joint, d)
    eps, neighbours = torch.topk(joint, k, dim=1, largest=False)  # (c, k)
    if algorithm == 1:
        radius = eps[:, -1:]
        return tuple((d < radius).sum(dim=1) for d in marginals)
    return tuple(
        (d <= torch.gather(d, 1, neighbours).amax(dim=1, keepdim=True)).sum(dim=1) for d in marginals
    )


def _pairwise_local_terms(
    arrays: Sequence[np.ndarray],
    k: int,
    algorithm: int,
    device: str | torch.device,
    dtype: torch.dtype,
    memory_bytes: int,
) -> np.ndarray:
    """(n, n, N) per-sample KSG terms of every pair of (N, d_i) arrays; each array's distances once per chunk."""
    n_vars = len(arrays)
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ValueError(
            f"every variable must have the same number of rows; got {[a.shape[0] for a in arrays]}"
        )
    if algorithm not in (1, 2):
        raise ValueError(f"algorithm must be 1 or 2; got {algorithm}")
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, N); got k={k}, N={n}")
    tensors = [torch.as_tensor(a, dtype=dtype, device=device) for a in arrays]
    inf = torch.tensor(math.inf, dtype=dtype, device=device)
    chunk = _chunk_rows(n, n_vars + 4, memory_bytes, tensors[0].device)
    pairs = [(i, j) for i in range(n_vars) for j in range(i + 1, n_vars)]
    counts: dict[tuple[int, int], tuple[list, list]] = {pair: ([], []) for pair in pairs}
    for start in range(0, n, chunk):
        rows = torch.arange(start, min(n, start + chunk), device=device)
        own = (torch.arange(rows.numel(), device=device), rows)
        distances = [torch.cdist(t[rows], t, p=math.inf).index_put_(own, inf) for t in tensors]
        for i, j in pairs:
            nx, ny = _ksg_counts([distances[i], distances[j]], k, algorithm)
            counts[(i, j)][0].append(nx.cpu())
            counts[(i, j)][1].append(ny.cpu())
    local = np.zeros((n_vars, n_vars, n))
    for (i, j), (cx, cy) in counts.items():
        count_x = torch.cat(cx).numpy().astype(np.float64)
        count_y = torch.cat(cy).numpy().astype(np.float64)
        local[i, j] = local[j, i] = _local_terms(count_x, count_y, n, k, algorithm)
    return local


def ksg_local_terms(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    k: int = 5,
    algorithm: int = 1,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> np.ndarray:
    """Per-sample KSG terms (nats); their mean is the estimate. Inputs are used as given (no jitter)."""
    arrays = [_as_2d(x, "x"), _as_2d(y, "y")]
    return _pairwise_local_terms(arrays, k, algorithm, device, dtype, memory_bytes)[0, 1]


def _local_terms(nx: np.ndarray, ny: np.ndarray, n: int, k: int, algorithm: int) -> np.ndarray:
    if algorithm == 1:  # Kraskov et al. (2004), eq. 8
        return digamma(k) + digamma(n) - digamma(nx + 1) - digamma(ny + 1)
    return digamma(k) - 1.0 / k + digamma(n) - digamma(nx) - digamma(ny)  # eq. 9


def ksg_ceiling(n: int, k: int = 5, algorithm: int = 1) -> float:
    """Largest value a KSG estimate can take at N samples (nats): every marginal count at its minimum.

    Algorithm 1 counts at least the k − 1 nearer joint neighbours (n ≥ k − 1): ψ(N) − ψ(k). Algorithm 2
    counts at least the k neighbours (n ≥ k): ψ(N) − ψ(k) − 1/k. Estimates near it are saturated: the true MI
    may be anything above.
    """
    ceiling = float(digamma(n) - digamma(k))
    return ceiling if algorithm == 1 else ceiling - 1.0 / k


def ksg_mutual_information(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    k: int = 5,
    algorithm: int = 1,
    *,
    standardize: bool = False,
    noise: float = 1e-10,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> float:
    """KSG estimate of I(X; Y) in nats (Kraskov, Stögbauer & Grassberger 2004), max-norm in every space.

    Algorithm 1: ψ(k) + ψ(N) − ⟨ψ(n_x+1) + ψ(n_y+1)⟩, n_x counting marginal neighbours strictly inside the
    joint k-th-neighbour distance. Algorithm 2: ψ(k) − 1/k + ψ(N) − ⟨ψ(n_x) + ψ(n_y)⟩, n_x counting within (≤)
    the marginal extent of the k joint neighbours. Distances are brute force in row chunks of bounded memory
    (about ``memory_bytes``), so cost is O(N²·d) and memory O(N·chunk).
    """
    xa = prepare_samples(x, standardize=standardize, noise=noise, seed=seed, name="x")
    ya = prepare_samples(y, standardize=standardize, noise=noise, seed=seed + 1, name="y")
    terms = ksg_local_terms(xa, ya, k, algorithm, device=device, dtype=dtype, memory_bytes=memory_bytes)
    return float(terms.mean())


def pairwise_ksg(
    modules: Sequence[np.ndarray | torch.Tensor],
    k: int = 5,
    algorithm: int = 1,
    *,
    standardize: bool = False,
    noise: float = 1e-10,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """KSG MI for every pair of modules, batched: each module's distances are computed once per chunk.

    Returns (mi, local): mi is the symmetric (n, n) matrix in nats with a zero diagonal, local the
    (n, n, N) per-sample terms (upper and lower triangles equal) for bootstrap intervals.
    """
    arrays = [
        prepare_samples(m, standardize=standardize, noise=noise, seed=seed + i, name=f"module {i}")
        for i, m in enumerate(modules)
    ]
    if len(arrays) < 2:
        raise ValueError("pairwise_ksg needs at least two modules")
    local = _pairwise_local_terms(arrays, k, algorithm, device, dtype, memory_bytes)
    return local.mean(axis=2), local


def discrete_ksg_mutual_information(
    x: np.ndarray | torch.Tensor,
    labels: np.ndarray,
    k: int = 3,
    *,
    noise: float = 1e-10,
    seed: int = 0,
    device: str | torch.device = "cpu",
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> float:
    """I(X; Y) in nats for continuous X (N, d) and discrete labels Y (Ross 2014, max-norm).

    For each sample, d_i is the distance to its k-th nearest neighbour among samples of its label (k capped
    at the label's count − 1) and m_i counts all samples strictly within d_i, itself included:
    I = ψ(N) + ⟨ψ(k_i)⟩ − ⟨ψ(N_{y_i})⟩ − ⟨ψ(m_i)⟩. Samples whose label occurs once are left out.
    """
    xa = prepare_samples(x, standardize=False, noise=noise, seed=seed, name="x")
    y = np.asarray(labels).ravel()
    if len(y) != len(xa):
        raise ValueError(f"x and labels must have the same number of rows; got {len(xa)} and {len(y)}")
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    keep = counts[inverse] > 1
    xa, inverse = xa[keep], inverse[keep]
    label_counts = counts[inverse].astype(np.float64)
    k_all = np.minimum(k, label_counts - 1)
    n = len(xa)
    xt = torch.as_tensor(xa, dtype=torch.float64, device=device)
    yt = torch.as_tensor(inverse, device=device)
    chunk = _chunk_rows(n, 3, memory_bytes, xt.device)
    m_all = []
    for start in range(0, n, chunk):
        rows = torch.arange(start, min(n, start + chunk), device=device)
        d = torch.cdist(xt[rows], xt, p=math.inf)
        d[torch.arange(len(rows), device=device), rows] = math.inf
        same = torch.where(yt[rows][:, None] == yt[None, :], d, torch.full_like(d, math.inf))
        kth = torch.as_tensor(k_all[start : start + len(rows)], device=device).long()
        nearest = torch.topk(same, int(kth.max()), dim=1, largest=False).values
        radius = torch.gather(nearest, 1, (kth - 1)[:, None])
        m_all.append(((d < radius).sum(dim=1) + 1).cpu())
    m = torch.cat(m_all).numpy().astype(np.float64)
    return float(digamma(n) + np.mean(digamma(k_all)) - np.mean(digamma(label_counts)) - np.mean(digamma(m)))


# ---------------------------------------------------------------- Gaussian


def wishart_log_det_bias(d: int, n: int) -> float:
    """E ln|S| − ln|Σ| for the (N−1)-normalised sample covariance S of N Gaussian samples in d dimensions.

    (N−1)S ~ Wishart(Σ, N−1), so E ln|S| = ln|Σ| + d·ln(2/(N−1)) + Σ_{i=1..d} ψ((N−i)/2).
    """
    if n - d < 1:
        raise ValueError(f"the bias correction needs N > d; got N={n}, d={d}")
    return d * math.log(2.0 / (n - 1)) + float(sum(digamma((n - i) / 2.0) for i in range(1, d + 1)))


def _corrected_log_det(z: np.ndarray) -> float:
    n, d = z.shape
    sign, log_det = np.linalg.slogdet(np.atleast_2d(np.cov(z, rowvar=False)))
    if sign <= 0:
        raise ValueError(f"sample covariance of dimension {d} is singular (N={n}); reduce d or add samples")
    return log_det - wishart_log_det_bias(d, n)


def gaussian_mutual_information(
    x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, *, bias_correction: bool = True
) -> float:
    """I(X; Y) = ½(ln|Σ_X| + ln|Σ_Y| − ln|Σ_XY|) in nats, exact for jointly Gaussian data.

    Each log-determinant is corrected by :func:`wishart_log_det_bias` unless ``bias_correction`` is False.
    """
    xa, ya = _as_2d(x, "x"), _as_2d(y, "y")
    if xa.shape[0] != ya.shape[0]:
        raise ValueError(f"x and y must have the same number of rows; got {xa.shape[0]} and {ya.shape[0]}")
    xy = np.concatenate([xa, ya], axis=1)
    if bias_correction:
        return 0.5 * (_corrected_log_det(xa) + _corrected_log_det(ya) - _corrected_log_det(xy))
    log_det = [np.linalg.slogdet(np.atleast_2d(np.cov(z, rowvar=False)))[1] for z in (xa, ya, xy)]
    return 0.5 * (log_det[0] + log_det[1] - log_det[2])


# ---------------------------------------------------------------- MINE


def mine_mutual_information(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    *,
    hidden: int = 64,
    steps: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-3,
    ema: float = 0.01,
    seed: int = 0,
) -> float:
    """MINE lower bound on I(X; Y) in nats (Belghazi et al. 2018), Donsker–Varadhan form.

    The statistics network T(x, y) is a 2-hidden-layer ReLU MLP trained on a seeded half of the samples.
    Gradients of log E_Q[e^T] use the moving average of E_Q[e^T] in the denominator (the paper's bias
    correction, section 3.2). The estimate is the bound on the held-out half, with its y shuffled once
    (seeded) for the product of marginals: evaluated on the training half the bound overfits upwards.
    """
    xa = prepare_samples(x, standardize=True, noise=0.0, seed=seed, name="x")
    ya = prepare_samples(y, standardize=True, noise=0.0, seed=seed, name="y")
    generator = torch.Generator().manual_seed(seed)
    xt = torch.as_tensor(xa, dtype=torch.float32)
    yt = torch.as_tensor(ya, dtype=torch.float32)
    order = torch.randperm(xt.shape[0], generator=generator)
    train, held_out = order[: len(order) // 2], order[len(order) // 2 :]
    x_eval, y_eval = xt[held_out], yt[held_out]
    xt, yt = xt[train], yt[train]
    n = xt.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        statistics = torch.nn.Sequential(
            torch.nn.Linear(xt.shape[1] + yt.shape[1], hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, 1),
        )
    optimizer = torch.optim.Adam(statistics.parameters(), lr=lr)
    moving_average = None
    for _ in range(steps):
        joint = torch.randint(n, (batch_size,), generator=generator)
        marginal = torch.randint(n, (batch_size,), generator=generator)
        t_joint = statistics(torch.cat([xt[joint], yt[joint]], dim=1)).mean()
        exp_marginal = statistics(torch.cat([xt[joint], yt[marginal]], dim=1)).exp().mean()
        value = exp_marginal.detach()
        moving_average = value if moving_average is None else (1 - ema) * moving_average + ema * value
        loss = -(t_joint - exp_marginal / moving_average)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        shuffled = torch.randperm(len(y_eval), generator=generator)
        t_joint = statistics(torch.cat([x_eval, y_eval], dim=1)).mean()
        t_marginal = statistics(torch.cat([x_eval, y_eval[shuffled]], dim=1)).squeeze(1)
        log_mean_exp = torch.logsumexp(t_marginal, dim=0) - math.log(len(y_eval))
    return float(t_joint - log_mean_exp)


# ---------------------------------------------------------------- intervals and calibration


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(indices)`` over rows resampled with replacement.

    ``statistic`` receives an index array of length n. For kNN estimators pass the mean of their per-sample
    terms (:func:`ksg_local_terms`): recomputing neighbours on a resample with duplicates would put
    neighbours at distance zero and inflate the estimate. That interval is conditional on the neighbour
    counts and so somewhat narrower than the estimator's full sampling spread.
    """
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)])
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha))


def correlated_gaussians(n: int, d: int, rho: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """d independent pairs (X_i, Y_i) with Corr(X_i, Y_i) = ρ, N samples each: (N, d) arrays."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = rho * x + math.sqrt(1.0 - rho**2) * rng.standard_normal((n, d))
    return x, y


def correlated_gaussian_mi(d: int, rho: float) -> float:
    """Analytic MI of :func:`correlated_gaussians`: −(d/2)·ln(1 − ρ²) nats."""
    return -0.5 * d * math.log(1.0 - rho**2)


@dataclass(frozen=True)
class CalibrationRow:
    """One estimator on correlated Gaussians at a run's own N and d."""

    estimator: str
    n: int
    d: int
    rho: float
    true_mi: float
    estimate: float

    @property
    def recovered(self) -> float:
        """Fraction of the analytic MI the estimator returns."""
        return self.estimate / self.true_mi


def calibration(
    estimators: dict[str, Callable[[np.ndarray, np.ndarray], float]],
    n: int,
    d: int,
    rho: float = 0.5,
    seed: int = 0,
) -> list[CalibrationRow]:
    """Every estimator on the same correlated-Gaussian sample (N, d, ρ); true MI −(d/2)·ln(1−ρ²)."""
    x, y = correlated_gaussians(n, d, rho, seed)
    truth = correlated_gaussian_mi(d, rho)
    return [CalibrationRow(name, n, d, rho, truth, float(f(x, y))) for name, f in estimators.items()]
