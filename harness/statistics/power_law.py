"""Power-law fits and the volume-vs-area comparison of GENESIS.

``fit_power_law`` fits y = c·x^α by least squares in log–log space (one point per architecture), with a
percentile bootstrap over the points for α, R² and BIC in log space. ``compare_laws`` fits one response
against several predictors (V, A1, A2) on the same points and says which law the data favour, or that
they cannot separate them when the predictors are nearly collinear in log space.

With the same response, the same n points and two parameters per law, BIC = n·ln(RSS/n) + 2·ln n, so
ΔBIC = n·ln(RSS_1/RSS_2) = n·ln((1 − R²_1)/(1 − R²_2)): BIC ranks the laws exactly as R² does. It is
reported as a scale for "how much better", not as independent evidence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

COLLINEAR = 0.95
"""|corr(log x1, log x2)| at or above which two predictors' laws are not told apart."""
BIC_MARGIN = 2.0
"""A law is preferred when its BIC is lower by more than this (Kass & Raftery 1995: "positive")."""
POOR_FIT = 0.5
"""A preferred law whose R² (log space) is below this is said to describe the points poorly."""


def _line(lx: np.ndarray, ly: np.ndarray) -> tuple[float, float, float]:
    """(slope, intercept, RSS) of the least-squares line."""
    slope, intercept = np.polyfit(lx, ly, 1)
    rss = float(np.sum((ly - (intercept + slope * lx)) ** 2))
    return float(slope), float(intercept), rss


def _logs(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"expected two 1-D arrays of one length; got shapes {x.shape} and {y.shape}")
    if len(x) < 3:
        raise ValueError(f"a power-law fit needs at least 3 points; got {len(x)}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("a power-law fit needs positive x and y")
    if np.ptp(np.log(x)) == 0:
        raise ValueError("x is constant: no exponent can be fitted")
    return np.log(x), np.log(y)


def fit_power_law(x, y, seed: int = 0, n_boot: int = 1000, level: float = 0.95) -> dict[str, Any]:
    """y = prefactor · x^exponent by least squares on (ln x, ln y).

    Returns ``{"exponent", "prefactor", "ci", "r2", "bic", "rss", "n", "n_boot"}``: ``ci`` is the
    percentile bootstrap interval of the exponent at ``level`` (points resampled with replacement; a
    resample whose x is constant is drawn again), ``r2`` and ``bic`` are in log space with 2 parameters.
    """
    lx, ly = _logs(x, y)
    n = len(lx)
    slope, intercept, rss = _line(lx, ly)
    tss = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - rss / tss if tss > 0 else 1.0
    slopes = [b for _, b in power_law_draws(x, y, seed, n_boot)]
    alpha = (1 - level) / 2
    ci = [float(np.quantile(slopes, alpha)), float(np.quantile(slopes, 1 - alpha))] if slopes else None
    return {
        "exponent": slope,
        "prefactor": float(np.exp(intercept)),
        "ci": ci,
        "r2": r2,
        "bic": n * np.log(max(rss, 1e-300) / n) + 2 * np.log(n),
        "rss": rss,
        "n": n,
        "n_boot": n_boot,
    }


def power_law_draws(x, y, seed: int = 0, n_boot: int = 1000) -> list[tuple[float, float]]:
    """(prefactor, exponent) of the fit on each of ``n_boot`` bootstrap resamples of the points (a resample
    whose x is constant is drawn again)."""
    lx, ly = _logs(x, y)
    rng = np.random.default_rng(seed)
    draws: list[tuple[float, float]] = []
    while len(draws) < n_boot:
        idx = rng.integers(0, len(lx), len(lx))
        if np.ptp(lx[idx]) == 0:
            continue
        slope, intercept, _ = _line(lx[idx], ly[idx])
        draws.append((float(np.exp(intercept)), slope))
    return draws


def collinearity(a, b) -> float:
    """Pearson correlation of ln a and ln b (1 when either is constant: nothing separates them)."""
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    if np.ptp(la) == 0 or np.ptp(lb) == 0:
        return 1.0
    return float(np.corrcoef(la, lb)[0, 1])


def compare_laws(y, predictors: dict[str, Any], seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """Fit y ~ x^k for every predictor on the same points, and a verdict between them.

    ``verdict`` names the law with the lowest BIC when it is lower than every other by more than
    ``BIC_MARGIN`` and no other predictor is collinear with it (|corr of logs| < ``COLLINEAR``);
    otherwise it says why none is named. ``collinearity`` holds corr(ln x_i, ln x_j) for every pair.
    """
    names = list(predictors)
    fits = {}
    for name in names:
        try:
            fits[name] = fit_power_law(predictors[name], y, seed=seed, n_boot=n_boot)
        except ValueError as err:
            fits[name] = {"error": str(err)}
    pairs = {
        f"{a}~{b}": collinearity(predictors[a], predictors[b])
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
    fitted = [n for n in names if "error" not in fits[n]]
    if len(fitted) < 2:
        verdict = f"only {fitted or 'no law'} could be fitted; nothing to compare"
        return {"fits": fits, "collinearity": pairs, "verdict": verdict, "best": None}
    best = min(fitted, key=lambda n: fits[n]["bic"])
    rivals = [n for n in fitted if n != best]
    collinear = [
        n for n in rivals if abs(pairs.get(f"{best}~{n}", pairs.get(f"{n}~{best}", 1.0))) >= COLLINEAR
    ]
    close = [n for n in rivals if fits[n]["bic"] - fits[best]["bic"] <= BIC_MARGIN]
    if collinear:
        verdict = (
            f"cannot separate {best} from {', '.join(collinear)}: their logs are nearly collinear "
            f"(|r| ≥ {COLLINEAR}) on these points"
        )
        best_named = None
    elif close:
        verdict = f"the data cannot tell {best} from {', '.join(close)} (ΔBIC ≤ {BIC_MARGIN})"
        best_named = None
    else:
        margin = min(fits[n]["bic"] for n in rivals) - fits[best]["bic"]
        verdict = f"{best} law preferred (ΔBIC = {margin:.1f} over the next; same ranking as R²)"
        if fits[best]["r2"] < POOR_FIT:
            verdict += (
                f", but it explains only R² = {fits[best]['r2']:.2f} of log capacity: better than the others, "
                "not a good description of these points"
            )
        best_named = best
    return {"fits": fits, "collinearity": pairs, "verdict": verdict, "best": best_named}


def depth_verdict(
    depths,
    capacities_by_depth,
    seed: int = 0,
    n_boot: int = 1000,
    level: float = 0.95,
    saturation_slope: float = 0.2,
) -> dict[str, Any]:
    """The constant-width depth sweep's verdict (A1 is constant there, so no area fit exists).

    ``capacities_by_depth`` holds each depth's per-seed capacities. The slope of ln(median capacity)
    against ln(depth) is bootstrapped by resampling seeds within each depth. Rule, with s =
    ``saturation_slope``: the whole interval inside (−s, s) → "saturation (area law)"; the whole interval
    above s → "growth (volume law)"; the whole interval below −s → "decline (neither law: deeper networks
    fit less within the budget, an optimization limit)"; otherwise "cannot tell". (A volume law predicts a
    slope near the volume exponent, ≈ 1 when capacity is proportional to V, which grows about linearly
    with depth; an area law predicts 0.)
    """
    depths = np.asarray(depths, dtype=float)
    samples = [np.asarray(c, dtype=float) for c in capacities_by_depth]
    if len(depths) < 3 or any(len(c) == 0 or np.any(c <= 0) for c in samples):
        return {"verdict": "cannot tell: needs at least 3 depths with positive capacities", "slope": None}
    lx = np.log(depths)
    slope = _line(lx, np.log([np.median(c) for c in samples]))[0]
    rng = np.random.default_rng(seed)
    boot = [_line(lx, np.log([np.median(rng.choice(c, len(c))) for c in samples]))[0] for _ in range(n_boot)]
    alpha = (1 - level) / 2
    ci = [float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha))]
    if -saturation_slope < ci[0] and ci[1] < saturation_slope:
        verdict = "saturation (area law)"
    elif ci[0] > saturation_slope:
        verdict = "growth (volume law)"
    elif ci[1] < -saturation_slope:
        verdict = "decline (neither law: deeper networks fit less within the budget, an optimization limit)"
    else:
        verdict = "cannot tell"
    return {"slope": slope, "ci": ci, "saturation_slope": saturation_slope, "verdict": verdict}


def effective_boundary(
    capacity: float,
    fit: dict[str, Any],
    boot: list[tuple[float, float]],
    fitted_range: tuple[float, float],
    level: float = 0.95,
) -> dict[str, Any]:
    """A_eff = (C/ĉ)^(1/β̂) of one network from an area law fitted on other networks, with a percentile
    interval over bootstrap draws ``boot`` of (ĉ, β̂) jointly, and a flag when A_eff lies outside the
    fitted range of A (an extrapolation)."""

    def solve(c: float, beta: float) -> float:
        return float(np.exp(np.log(capacity / c) / beta)) if beta != 0 else float("nan")

    value = solve(fit["prefactor"], fit["exponent"])
    draws = np.array([solve(c, b) for c, b in boot])
    draws = draws[np.isfinite(draws)]
    alpha = (1 - level) / 2
    ci = [float(np.quantile(draws, alpha)), float(np.quantile(draws, 1 - alpha))] if len(draws) else None
    return {
        "a_eff": value,
        "ci": ci,
        "extrapolated": not fitted_range[0] <= value <= fitted_range[1],
    }
