"""Integrated-information measures, all in nats. Two families that share the name Φ* in the literature:

(a) **Pairwise-MI Φ (Φ_pair)**, the survey's primary measure: modules are nodes of a graph whose edge weights
    are pairwise mutual informations. The information across a bipartition (S, S̄) is the cut
    C(S) = Σ_{i∈S, j∉S} MI_ij. The minimum information partition (MIP) minimises the normalised cut
    C(S) / min(|S|, |S̄|) (the smaller side's size, so that splitting off one weakly coupled module is not
    favoured merely for being small), and Φ_pair = C(MIP) = total pairwise MI − MI within the MIP's parts.
(b) **Past/present Gaussian measures** of a stationary linear-Gaussian system x_{t+1} = A·x_t + e,
    e ~ N(0, Σ_e), lag 1: Φ* by mismatched decoding (Oizumi et al. 2016), geometric Φ_G (Oizumi, Tsuchiya &
    Amari 2016), stochastic interaction SI (Ay 2015), whole-minus-sum (Barrett & Seth 2011), the partitioned
    MI I(X¹_t, X¹_{t+1}; X²_t, X²_{t+1}) and the static MI1 = I(X¹_t; X²_t).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypedDict

import numpy as np
from scipy.linalg import solve_discrete_lyapunov
from scipy.optimize import minimize_scalar

GAUSSIAN_MEASURES = (
    "phi_star",
    "phi_g",
    "stochastic_interaction",
    "whole_minus_sum",
    "partitioned_mi",
    "mi1",
)
# Measures for which Queyranne's algorithm is exact: symmetric submodular functions of the bipartition.
SUBMODULAR_MEASURES = frozenset({"mi1", "partitioned_mi"})
EXHAUSTIVE_LIMIT = 16
"""Most units ``gaussian_mip`` enumerates (each bipartition costs a Gaussian Φ)."""
PAIRWISE_EXACT_LIMIT = 20
"""Most modules for which ``pairwise_phi`` enumerates every bipartition (2^20 cuts: 0.05 s on 2 cores)."""


def _log_det(m: np.ndarray) -> float:
    sign, value = np.linalg.slogdet(m)
    if sign <= 0:
        raise ValueError("covariance is not positive definite")
    return float(value)


def _parts(partition: Sequence[int], n: int) -> list[np.ndarray]:
    labels = np.asarray(partition)
    if labels.shape != (n,):
        raise ValueError(f"partition must give one label per unit ({n}); got {len(labels)}")
    parts = [np.flatnonzero(labels == label) for label in dict.fromkeys(labels.tolist())]
    if len(parts) < 2:
        raise ValueError("partition must have at least two parts")
    return parts


def stationary_covariance(a: np.ndarray, noise_cov: np.ndarray) -> np.ndarray:
    """Σ solving Σ = A Σ Aᵀ + Σ_e; requires a stable A (spectral radius < 1)."""
    radius = float(np.max(np.abs(np.linalg.eigvals(a))))
    if radius >= 1.0:
        raise ValueError(f"A must be stable (spectral radius < 1); got {radius:.4f}")
    return solve_discrete_lyapunov(a, noise_cov)


def _mismatched_decoding_information(sigma, cross, b, d_cov, sigma_next=None) -> float:
    """I* = max_β Ĩ(β) for the Gaussian decoder q(y|x) = N(y; Bx, D) (Oizumi et al. 2016, eq. 12).

    With x = x_t ~ N(0, Σ), y = x_{t+1} ~ N(0, Σ′) (Σ′ = Σ when stationary) and Cov(y, x) = C:
    Ĩ(β) = ½ ln|I + β B Σ Bᵀ D⁻¹| + ½ tr((BΣBᵀ + D/β)⁻¹ Σ′) − (β/2) tr(D⁻¹ M), M = Cov(y − Bx).
    """
    sigma_next = sigma if sigma_next is None else sigma_next
    d_inv = np.linalg.inv(d_cov)
    bsb = b @ sigma @ b.T
    residual = sigma_next - cross @ b.T - b @ cross.T + bsb
    n = sigma.shape[0]

    def negative(log_beta: float) -> float:
        beta = np.exp(log_beta)
        first = _log_det(np.eye(n) + beta * bsb @ d_inv)
        second = np.trace(np.linalg.solve(bsb + d_cov / beta, sigma_next))
        third = beta * np.trace(d_inv @ residual)
        return -0.5 * (first + second - third)

    result = minimize_scalar(negative, bounds=(-12.0, 6.0), method="bounded", options={"xatol": 1e-10})
    return max(0.0, -float(result.fun), -negative(0.0))


def _geometric_information(a, sigma, noise_cov, parts, tol=1e-12, max_iterations=500) -> float:
    """Φ_G = min over block-diagonal A' of ½ ln(|Σ_e + (A−A')Σ(A−A')ᵀ| / |Σ_e|).

    The disconnected model keeps Σ(X_t) and a free noise covariance; minimising the KL divergence over the
    noise covariance leaves this log-determinant. The block-diagonal A' solves the stationarity condition
    [E⁻¹ (A − A') Σ]_{kk} = 0 for every part k (E the disconnected noise covariance), a generalised
    least-squares fixed point iterated to convergence (seemingly-unrelated regressions).
    """
    n = a.shape[0]
    blocks = [(p, p) for p in parts]
    a_prime = np.zeros_like(a)
    for p in parts:  # ordinary least squares per part as the starting point
        a_prime[np.ix_(p, p)] = (a @ sigma)[np.ix_(p, p)] @ np.linalg.inv(sigma[np.ix_(p, p)])
    previous = np.inf
    log_det_noise = _log_det(noise_cov)
    for _ in range(max_iterations):
        diff = a - a_prime
        e = noise_cov + diff @ sigma @ diff.T
        value = 0.5 * (_log_det(e) - log_det_noise)
        if previous - value < tol:
            break
        previous = value
        w = np.linalg.inv(e)
        # unknowns: vec of every diagonal block A'_kk; condition rows: vec of [W (A - A') Σ]_kk
        sizes = [len(p) ** 2 for p in parts]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        system = np.zeros((offsets[-1], offsets[-1]))
        rhs = np.zeros(offsets[-1])
        was = w @ a @ sigma
        for k, (pk, _) in enumerate(blocks):
            rhs[offsets[k] : offsets[k + 1]] = was[np.ix_(pk, pk)].reshape(-1, order="F")
            for m, (pm, _) in enumerate(blocks):
                # [W_{k m} A'_mm Σ_{m k}] in vec form: (Σ_{m k}ᵀ ⊗ W_{k m}) vec(A'_mm)
                kron = np.kron(sigma[np.ix_(pm, pk)].T, w[np.ix_(pk, pm)])
                system[offsets[k] : offsets[k + 1], offsets[m] : offsets[m + 1]] = kron
        solution = np.linalg.solve(system, rhs)
        a_prime = np.zeros((n, n))
        for k, p in enumerate(parts):
            a_prime[np.ix_(p, p)] = solution[offsets[k] : offsets[k + 1]].reshape(len(p), len(p), order="F")
    diff = a - a_prime
    return max(0.0, 0.5 * (_log_det(noise_cov + diff @ sigma @ diff.T) - log_det_noise))


def gaussian_phi(
    a: np.ndarray, noise_cov: np.ndarray, partition: Sequence[int], *, past_cov: np.ndarray | None = None
) -> dict[str, float]:
    """Past/present integrated-information measures (nats) of x_{t+1} = A·x_t + e, e ~ N(0, noise_cov), lag 1.

    The past X_t has the stationary covariance (Σ = AΣAᵀ + Σ_e; A must be stable) unless ``past_cov`` gives
    it (a transition fitted between two layers or time steps, Σ_{t+1} = A·past_cov·Aᵀ + Σ_e): every measure
    below is then computed with Σ_t and Σ_{t+1} in their places.

    ``partition`` gives one part label per unit, e.g. ``[1, 2, 1, 2]``. Keys: ``phi_star`` (mismatched
    decoding, Oizumi et al. 2016), ``phi_g`` (geometric, Oizumi, Tsuchiya & Amari 2016),
    ``stochastic_interaction`` (Σ_k H(X^k_{t+1}|X^k_t) − H(X_{t+1}|X_t), Ay), ``whole_minus_sum``
    (I − Σ_k I(X^k_t; X^k_{t+1}), Barrett & Seth 2011; can be negative), ``partitioned_mi``
    (I(X¹_t, X¹_{t+1}; X²_t, X²_{t+1}), generalised to the multi-information of the parts' past/present
    pairs), ``mi1`` (static multi-information of the parts, I(X¹_t; X²_t) for two) and
    ``mutual_information`` (I(X_t; X_{t+1}) = ½ ln(|Σ_{t+1}| / |Σ_e|)).
    """
    a = np.asarray(a, dtype=np.float64)
    noise_cov = np.asarray(noise_cov, dtype=np.float64)
    n = a.shape[0]
    if a.shape != (n, n) or noise_cov.shape != (n, n):
        raise ValueError(f"A and noise_cov must be square of the same size; got {a.shape}, {noise_cov.shape}")
    parts = _parts(partition, n)
    sigma = (
        stationary_covariance(a, noise_cov) if past_cov is None else np.asarray(past_cov, dtype=np.float64)
    )
    sigma_next = sigma if past_cov is None else a @ sigma @ a.T + noise_cov
    cross = a @ sigma  # Cov(X_{t+1}, X_t)
    log_det_sigma, log_det_noise = _log_det(sigma), _log_det(noise_cov)
    log_det_next = _log_det(sigma_next)
    information = 0.5 * (log_det_next - log_det_noise)

    b = np.zeros((n, n))
    d_cov = np.zeros((n, n))
    part_information, part_conditional, part_static = 0.0, 0.0, 0.0
    partitioned = 0.0
    for p in parts:
        s_pp, c_pp, next_pp = sigma[np.ix_(p, p)], cross[np.ix_(p, p)], sigma_next[np.ix_(p, p)]
        b_pp = c_pp @ np.linalg.inv(s_pp)
        conditional = next_pp - b_pp @ c_pp.T  # Cov(X^k_{t+1} | X^k_t)
        b[np.ix_(p, p)], d_cov[np.ix_(p, p)] = b_pp, conditional
        log_det_p, log_det_cond = _log_det(s_pp), _log_det(conditional)
        part_information += 0.5 * (_log_det(next_pp) - log_det_cond)
        part_conditional += 0.5 * log_det_cond
        part_static += 0.5 * log_det_p
        partitioned += 0.5 * (log_det_p + log_det_cond)  # ½ ln|Cov(X^k_t, X^k_{t+1})|
    mi1 = part_static - 0.5 * log_det_sigma
    # ½ ln|Cov(X_t, X_{t+1})| = ½ (ln|Σ_t| + ln|Σ_e|)
    partitioned_mi = partitioned - 0.5 * (log_det_sigma + log_det_noise)
    stochastic_interaction = part_conditional - 0.5 * log_det_noise
    phi_star = information - _mismatched_decoding_information(sigma, cross, b, d_cov, sigma_next)
    return {
        "phi_star": float(phi_star),
        "phi_g": float(_geometric_information(a, sigma, noise_cov, parts)),
        "stochastic_interaction": float(stochastic_interaction),
        "whole_minus_sum": float(information - part_information),
        "partitioned_mi": float(partitioned_mi),
        "mi1": float(mi1),
        "mutual_information": float(information),
    }


def fit_linear_gaussian(past: np.ndarray, present: np.ndarray) -> dict[str, np.ndarray]:
    """Least-squares x_{t+1} = A·x_t + e from paired samples (N, n) of the past and the present.

    Returns ``a`` (n, n), ``noise_cov`` (the residuals' covariance, Σ_e) and ``past_cov`` (Σ_t), all from
    the centred samples with (N − 1) normalisation; the inputs for :func:`gaussian_phi` with ``past_cov``.
    """
    x = np.asarray(past, dtype=np.float64)
    y = np.asarray(present, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"past and present must be (N, n) of one shape; got {x.shape} and {y.shape}")
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)  # y ≈ x @ coef, so A = coefᵀ
    residual = y - x @ coef
    n = len(x) - 1
    return {"a": coef.T, "noise_cov": residual.T @ residual / n, "past_cov": x.T @ x / n}


# ---------------------------------------------------------------- minimum information partitions


def _labels(subset: Iterable[int], n: int) -> list[int]:
    labels = [2] * n
    for i in subset:
        labels[i] = 1
    return labels


def bipartitions(n: int) -> Iterator[list[int]]:
    """Every bipartition {S, S̄} of n units once, as the subset S that contains unit 0."""
    for mask in range(1, 2 ** (n - 1)):  # a set bit i puts unit i + 1 outside S; some unit must be
        rest = [i + 1 for i in range(n - 1) if not mask >> i & 1]
        yield [0, *rest]


def queyranne(function: Callable[[frozenset[int]], float], n: int) -> tuple[frozenset[int], float]:
    """Queyranne (1998): the non-trivial subset minimising a symmetric submodular set function.

    O(n³) evaluations. Exact when f(S) = f(S̄) and f is submodular; otherwise a heuristic. When no
    candidate's value is below +inf (all +inf or nan) the first candidate is returned, with +inf.
    """
    if n < 2:
        raise ValueError(f"a bipartition needs at least two units; got {n}")
    groups: list[frozenset[int]] = [frozenset([i]) for i in range(n)]
    best: frozenset[int] | None = None
    best_value = np.inf
    while len(groups) > 1:
        order = [groups[0]]
        remaining = groups[1:]
        while remaining:
            used = frozenset().union(*order)
            keys = [function(used | g) - function(g) for g in remaining]
            order.append(remaining.pop(int(np.argmin(keys))))
        last = order[-1]
        value = function(last)
        if value < best_value:
            best, best_value = last, value
        elif best is None:
            best = last  # returned only if no later candidate is below +inf; best_value stays +inf
        merged = order[-2] | last
        groups = [g for g in groups if g not in (order[-2], last)] + [merged]
    assert best is not None  # n ≥ 2: at least one candidate was evaluated
    return best, float(best_value)


def gaussian_mip(
    a: np.ndarray,
    noise_cov: np.ndarray,
    measure: str,
    method: str = "exhaustive",
    *,
    past_cov: np.ndarray | None = None,
) -> dict[str, object]:
    """Bipartition minimising a :func:`gaussian_phi` measure: ``partition`` (labels 1/2), ``value``, ``exact``.

    ``exhaustive`` searches all 2^(n−1) − 1 bipartitions (n ≤ 16). ``queyranne`` is exact only for the
    symmetric submodular measures (``mi1``, ``partitioned_mi``); for ``phi_star``, ``phi_g`` and
    ``stochastic_interaction`` its result is a heuristic upper bound on the minimum and ``exact`` is False.
    """
    if measure not in GAUSSIAN_MEASURES:
        raise ValueError(f"measure must be one of {GAUSSIAN_MEASURES}; got {measure!r}")
    n = np.asarray(a).shape[0]
    if n < 2:
        raise ValueError("a partition needs at least two units")

    def value_of(units: Iterable[int]) -> float:
        subset = frozenset(units)
        if not subset or len(subset) == n:
            return 0.0
        return gaussian_phi(a, noise_cov, _labels(subset, n), past_cov=past_cov)[measure]

    if method == "exhaustive":
        if n > EXHAUSTIVE_LIMIT:
            raise ValueError(f"exhaustive search is limited to {EXHAUSTIVE_LIMIT} units; got {n}")
        best = min(bipartitions(n), key=value_of)
        return {"partition": _labels(best, n), "value": value_of(best), "exact": True}
    if method == "queyranne":
        subset, value = queyranne(value_of, n)
        return {"partition": _labels(subset, n), "value": value, "exact": measure in SUBMODULAR_MEASURES}
    raise ValueError(f"method must be 'exhaustive' or 'queyranne'; got {method!r}")


def _check_mi_matrix(mi_matrix) -> np.ndarray:
    w = np.asarray(mi_matrix, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] < 2:
        raise ValueError(f"mi_matrix must be square with at least 2 modules; got shape {w.shape}")
    if not np.allclose(w, w.T):
        raise ValueError("mi_matrix must be symmetric")
    w = w.copy()
    np.fill_diagonal(w, 0.0)
    return w


def _normalized_cuts(w: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cuts and normalised cuts of bipartitions given as boolean rows (m, n)."""
    m = members.astype(np.float64)
    cuts = np.einsum("si,ij,sj->s", m, w, 1.0 - m)
    size = m.sum(axis=1)
    return cuts, cuts / np.minimum(size, w.shape[0] - size)


def _all_normalized_cuts(w: np.ndarray) -> np.ndarray:
    """Normalised cut of every subset mask of n ≤ ``PAIRWISE_EXACT_LIMIT`` modules, as a (2^h, 2^(n−h))
    array over the masks of the first h modules (rows) and of the rest (columns).

    cut(S) = Σ_{i∈S} r_i − 2·w(S) with r the row sums and w(S) the MI inside S; w(S) splits over the two
    halves as w(S_A) + w(S_B) + m_Aᵀ W_AB m_B, so every cut comes from two small tables and one matrix
    product. The empty and full masks are +inf."""
    n = w.shape[0]
    h = n // 2
    rows = w.sum(axis=1)

    def members(k: int) -> np.ndarray:
        return ((np.arange(2**k)[:, None] >> np.arange(k)) & 1).astype(np.float64)  # (2^k, k)

    ma, mb = members(h), members(n - h)
    wa, wb = w[:h, :h], w[h:, h:]
    inside_a = 0.5 * np.einsum("si,ij,sj->s", ma, wa, ma)
    inside_b = 0.5 * np.einsum("si,ij,sj->s", mb, wb, mb)
    cross = (ma @ w[:h, h:]) @ mb.T
    cut = (
        (ma @ rows[:h])[:, None]
        + (mb @ rows[h:])[None, :]
        - 2 * (inside_a[:, None] + inside_b[None, :] + cross)
    )
    size = ma.sum(axis=1)[:, None] + mb.sum(axis=1)[None, :]
    smaller = np.minimum(size, n - size)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(smaller > 0, cut / np.where(smaller > 0, smaller, 1), np.inf)


def _exact_mip(w: np.ndarray) -> np.ndarray:
    n = w.shape[0]
    normalized = _all_normalized_cuts(w)
    a, b = np.unravel_index(int(np.argmin(normalized)), normalized.shape)
    h = n // 2
    return np.array([(a >> i) & 1 for i in range(h)] + [(b >> i) & 1 for i in range(n - h)], dtype=bool)


def _greedy_mip(w: np.ndarray) -> np.ndarray:
    """Greedy bipartition search: from each single module grow S by the module that least raises the cut
    (keeping the best prefix), then move single modules across while the normalised cut falls."""
    n = w.shape[0]
    row_sums = w.sum(axis=1)
    best: np.ndarray | None = None
    best_value = np.inf
    for start in range(n):
        inside = np.zeros(n, dtype=bool)
        inside[start] = True
        cut = row_sums[start]
        for size in range(1, n):
            value = cut / min(size, n - size)
            if value < best_value - 1e-15:
                best, best_value = inside.copy(), value
            elif best is None:  # an infinite or nan cut (an infinite MI entry): kept unless one is finite
                best = inside.copy()
            # C(S ∪ {u}) = C(S) + Σ_j w_uj − 2 Σ_{i∈S} w_iu
            candidate = cut + row_sums - 2.0 * w[inside].sum(axis=0)
            candidate[inside] = np.inf
            u = int(np.argmin(candidate))
            inside[u] = True
            cut = candidate[u]
    assert best is not None  # n ≥ 2: at least one prefix was evaluated
    return _local_search(w, best)


def _local_search(w: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Move one module across, or swap a pair across, while the normalised cut falls."""
    n = w.shape[0]
    best_value = float(_normalized_cuts(w, best[None, :])[1][0])
    improved = True
    while improved:
        improved = False
        flips = np.repeat(best[None, :], n, axis=0)
        flips[np.arange(n), np.arange(n)] ^= True
        inside, outside = np.flatnonzero(best), np.flatnonzero(~best)
        swaps = np.repeat(best[None, :], inside.size * outside.size, axis=0)
        pairs = np.array([(i, j) for i in inside for j in outside]).reshape(-1, 2)
        swaps[np.arange(len(pairs)), pairs[:, 0]] = False
        swaps[np.arange(len(pairs)), pairs[:, 1]] = True
        moves = np.concatenate([flips, swaps])
        valid = (moves.sum(axis=1) > 0) & (moves.sum(axis=1) < n)
        _, values = _normalized_cuts(w, moves[valid])
        if values.size and values.min() < best_value - 1e-15:
            best, best_value = moves[valid][int(np.argmin(values))], float(values.min())
            improved = True
    return best


def _heuristic_mip(w: np.ndarray) -> tuple[np.ndarray, float]:
    """Above the exact limit: the better of the greedy search and Queyranne's minimum (unnormalised) cut,
    each refined by single moves and pair swaps, and a lower bound on the minimum normalised cut: every
    bipartition's cut is at least the minimum cut (Queyranne, exact for the symmetric submodular cut) and
    its smaller side has at most ⌊n/2⌋ modules, so ncut ≥ min cut / ⌊n/2⌋."""
    n = w.shape[0]

    def cut_of(subset: frozenset[int]) -> float:
        members = np.zeros(n)
        members[list(subset)] = 1.0
        return float(members @ w @ (1.0 - members))

    subset, min_cut = queyranne(cut_of, n)
    seed = np.zeros(n, dtype=bool)
    seed[list(subset)] = True
    candidates = [_greedy_mip(w), _local_search(w, seed)]
    values = [float(_normalized_cuts(w, c[None, :])[1][0]) for c in candidates]
    return candidates[int(np.argmin(values))], min_cut / (n // 2)


class PairwisePhi(TypedDict):
    """What :func:`pairwise_phi` returns (its docstring describes each entry)."""

    phi: float
    partition: list[int]
    normalized_cut: float
    total: float
    within: float
    mean_cut_mi: float
    search: str
    gap_bound: float


def pairwise_phi(mi_matrix: np.ndarray, method: str = "auto") -> PairwisePhi:
    """Φ_pair of a module graph with pairwise-MI edge weights (nats); mi_matrix: symmetric (n, n), n ≥ 2.

    Returns ``phi`` (the MI across the minimum information partition), ``partition`` (labels 1/2 per module,
    module 0 in part 1), ``normalized_cut`` (cut / smaller side's size, the quantity minimised), plus
    ``total`` (all pairwise MI), ``within`` (MI inside the parts; phi = total − within), ``mean_cut_mi``
    (phi / (|S|·|S̄|), the mean MI of a cut pair: Φ_pair grows with the number of modules, this does not),
    ``search`` ("exact" or "heuristic") and ``gap_bound`` (0 when exact; otherwise found normalised cut minus
    a proven lower bound, ≥ the true gap; nan when the matrix has negative entries, where no bound holds).

    ``auto`` (default) is exact up to ``PAIRWISE_EXACT_LIMIT`` modules — every bipartition, vectorised — and
    above it the better of a greedy search and Queyranne's minimum cut (exact for the unnormalised cut, a
    symmetric submodular function; the normalised cut is not submodular), both refined by moves and swaps,
    with the bound reported. ``exhaustive`` forces enumeration (n ≤ limit), ``greedy`` the greedy search
    alone (before its pair swaps it missed the minimum in 9 of 60 random 12-module graphs by up to 5.8%, issue
    17's audit; 3 of 60 in this module's test). Raises
    ``ValueError`` for a non-square or asymmetric matrix, an unknown method, or exhaustive above the limit.
    """
    w = _check_mi_matrix(mi_matrix)
    n = w.shape[0]
    gap_bound = 0.0
    if method == "exhaustive" or (method == "auto" and n <= PAIRWISE_EXACT_LIMIT):
        if n > PAIRWISE_EXACT_LIMIT:
            raise ValueError(f"exhaustive search is limited to {PAIRWISE_EXACT_LIMIT} modules; got {n}")
        inside, search = _exact_mip(w), "exact"
    elif method == "auto":
        inside, lower = _heuristic_mip(w)
        search = "heuristic"
        # the bound needs a non-negative, hence submodular, cut (KSG estimates can be slightly negative)
        proven = bool((w >= 0).all())
        gap_bound = float(_normalized_cuts(w, inside[None, :])[1][0]) - lower if proven else float("nan")
    elif method == "greedy":
        inside, search = _greedy_mip(w), "greedy"
        gap_bound = float("nan")
    else:
        raise ValueError(f"method must be 'auto', 'exhaustive' or 'greedy'; got {method!r}")
    if not inside[0]:
        inside = ~inside
    cut, normalized = _normalized_cuts(w, inside[None, :])
    total = float(np.triu(w, 1).sum())
    size = int(inside.sum())
    return {
        "phi": float(cut[0]),
        "partition": [1 if member else 2 for member in inside],
        "normalized_cut": float(normalized[0]),
        "total": total,
        "within": total - float(cut[0]),
        "mean_cut_mi": float(cut[0]) / (size * (n - size)),
        "search": search,
        "gap_bound": gap_bound,
    }


def pairwise_phi_interval(
    local_terms: np.ndarray, method: str = "auto", *, n_boot: int = 200, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of Φ_pair from per-sample MI terms (n, n, N), e.g. ``pairwise_ksg``'s.

    Each resample averages the terms over N rows drawn with replacement and re-searches the MIP. Resampling
    terms rather than re-running the kNN search avoids zero-distance duplicates; the interval is conditional
    on the neighbour counts, so it is somewhat narrower than the estimator's full sampling spread.
    """
    from harness.measurements.mutual_information import bootstrap_interval

    return bootstrap_interval(
        lambda rows: pairwise_phi(local_terms[:, :, rows].mean(axis=2), method)["phi"],
        local_terms.shape[-1],
        n_boot=n_boot,
        level=level,
        seed=seed,
    )


def leave_one_out_phi(mi_matrix: np.ndarray, method: str = "auto") -> list[float]:
    """Layer-wise contribution: Φ_pair of the full graph minus Φ_pair with module i left out, per i."""
    w = _check_mi_matrix(mi_matrix)
    n = w.shape[0]
    full = pairwise_phi(w, method)["phi"]
    if n < 3:
        return [full] * n
    keep = [np.delete(np.arange(n), i) for i in range(n)]
    return [full - pairwise_phi(w[np.ix_(k, k)], method)["phi"] for k in keep]


def exhaustive_gap(mi_matrix: np.ndarray) -> float | None:
    """Greedy-alone minus exact minimum normalised cut (≥ 0), or None above ``PAIRWISE_EXACT_LIMIT``: how
    much the greedy search alone would have missed (the measured Φ_pair is exact there)."""
    n = np.asarray(mi_matrix).shape[0]
    if n > PAIRWISE_EXACT_LIMIT:
        return None
    greedy = pairwise_phi(mi_matrix, "greedy")["normalized_cut"]
    return greedy - pairwise_phi(mi_matrix, "exhaustive")["normalized_cut"]


__all__ = [
    "GAUSSIAN_MEASURES",
    "bipartitions",
    "exhaustive_gap",
    "fit_linear_gaussian",
    "gaussian_mip",
    "gaussian_phi",
    "leave_one_out_phi",
    "pairwise_phi",
    "pairwise_phi_interval",
    "queyranne",
    "stationary_covariance",
]
