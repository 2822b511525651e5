"""Power-law fits and the volume-vs-area comparison of GENESIS, with intervals and tests calibrated at the
survey's n (5–20 architectures).

``fit_power_law`` fits y = c·x^α by least squares in log–log space (one point per architecture); the
exponent's interval is the classical t interval (n − 2 df), exact when the log residuals are normal and
independent (a percentile bootstrap over the points, used before, covered 90% at n = 10 and 88% at n = 5
where it said 95%). ``compare_laws`` fits one response against several predictors (V, A1, A2) on the same
points and names a law only when Williams' t test of dependent correlations (Williams 1959; Steiger 1980,
eq. 7) rejects "the rival fits as well" against every rival (an intersection–union test: size ≤ 1 − level
without correction); Zou's (2007) interval for the difference of the two correlations is reported with it.

With the same response, the same n points and two parameters per law, BIC = n·ln(RSS/n) + 2·ln n, so
ΔBIC = n·ln(RSS_1/RSS_2) = n·ln((1 − R²_1)/(1 − R²_2)): BIC ranks the laws exactly as R² (and |r|) does.
It is reported as a scale for "how much better", not as evidence: a ΔBIC of 3.3 between two equally good
noisy proxies of one size is common (a rule "ΔBIC > 2" named a law in 57% of such surveys).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

COLLINEAR = 0.95
"""|corr(log x1, log x2)| at or above which two predictors' laws are not told apart."""
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
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("a power-law fit needs finite x and y (got nan or inf)")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("a power-law fit needs positive x and y")
    if np.ptp(np.log(x)) == 0:
        raise ValueError("x is constant: no exponent can be fitted")
    return np.log(x), np.log(y)


def _slope_interval(lx: np.ndarray, ly: np.ndarray, level: float) -> dict[str, Any]:
    """OLS line of ly on lx with the t interval of its slope: slope ± t(n − 2) · s / √Sxx."""
    n = len(lx)
    slope, intercept, rss = _line(lx, ly)
    sxx = float(np.sum((lx - lx.mean()) ** 2))
    sigma = math.sqrt(rss / (n - 2)) if n > 2 else float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, n - 2)) * sigma / math.sqrt(sxx) if n > 2 else float("inf")
    return {
        "slope": slope,
        "intercept": intercept,
        "rss": rss,
        "sigma": sigma,
        "x_mean": float(lx.mean()),
        "sxx": sxx,
        "ci": [slope - half, slope + half],
    }


def fit_power_law(x, y, level: float = 0.95) -> dict[str, Any]:
    """y = prefactor · x^exponent by least squares on (ln x, ln y); x, y: 1-D positive arrays of n ≥ 3.

    Returns ``{"exponent", "prefactor", "ci", "ci_method", "r2", "bic", "rss", "sigma", "x_mean", "sxx",
    "n", "level"}``: ``ci`` is the exponent's t interval at ``level`` (n − 2 df; exact for normal log
    residuals, checked by a coverage simulation in the tests), ``sigma`` the residual standard deviation in
    log space, ``x_mean`` and ``sxx`` the mean and sum of squares of ln x (what ``effective_boundary``
    needs), ``r2`` and ``bic`` in log space with 2 parameters. Raises ``ValueError`` for fewer than 3 points,
    non-positive values or a constant x.
    """
    lx, ly = _logs(x, y)
    n = len(lx)
    line = _slope_interval(lx, ly, level)
    tss = float(np.sum((ly - ly.mean()) ** 2))
    rss = line["rss"]
    return {
        "exponent": line["slope"],
        "prefactor": float(np.exp(line["intercept"])),
        "ci": line["ci"],
        "ci_method": "t interval, n - 2 df (normal log residuals)",
        "r2": 1.0 - rss / tss if tss > 0 else float("nan"),  # a constant response explains nothing
        "bic": n * np.log(max(rss, 1e-300) / n) + 2 * np.log(n),
        "rss": rss,
        "sigma": line["sigma"],
        "x_mean": line["x_mean"],
        "sxx": line["sxx"],
        "n": n,
        "level": level,
    }


def collinearity(a, b) -> float:
    """Pearson correlation of ln a and ln b (1 when either is constant: nothing separates them)."""
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    if np.ptp(la) == 0 or np.ptp(lb) == 0:
        return 1.0
    return float(np.corrcoef(la, lb)[0, 1])


def correlation_difference(y, x1, x2, level: float = 0.95) -> dict[str, Any]:
    """Is y better predicted by x1 than by x2 (one predictor each, the same n points)? Williams' t test of
    H0: ρ(y, x1) = ρ(y, x2) for dependent, overlapping correlations (Williams 1959; Steiger 1980, eq. 7),
    df = n − 3, and Zou's (2007) interval for r1 − r2 at ``level`` (from Fisher-z intervals of each r).

    y, x1, x2: 1-D arrays of n ≥ 4 (logs of capacity and counts, here). Returns ``{"r1", "r2", "r12",
    "difference", "t", "df", "p", "ci"}`` with r12 = corr(x1, x2). With one predictor and an intercept
    each, R² = r², so this tests the two laws' fits (their ΔBIC) against their sampling noise. Size at
    5%: 4.5–5.8% in 2,000 seeded surveys of two equally good noisy proxies at n = 5, 10, 20 (tested).
    Raises ``ValueError`` for n < 4 or a constant variable.
    """
    y, x1, x2 = (np.asarray(v, dtype=float) for v in (y, x1, x2))
    n = len(y)
    if n < 4 or not len(x1) == len(x2) == n:
        raise ValueError(f"correlation_difference needs three arrays of one length n >= 4; got {n}")
    if not all(np.all(np.isfinite(v)) for v in (y, x1, x2)):
        raise ValueError("correlation_difference: non-finite values")
    if min(np.ptp(y), np.ptp(x1), np.ptp(x2)) == 0:
        raise ValueError("correlation_difference: a variable is constant")
    r = np.corrcoef([y, x1, x2])
    r1, r2, r12 = float(r[0, 1]), float(r[0, 2]), float(r[1, 2])
    if abs(r12) >= 1 - 1e-12:
        raise ValueError("correlation_difference: the two predictors are perfectly correlated (one law)")
    det = 1 - r1**2 - r2**2 - r12**2 + 2 * r1 * r2 * r12
    mean = (r1 + r2) / 2
    den = 2 * (n - 1) / (n - 3) * det + mean**2 * (1 - r12) ** 3
    t = (r1 - r2) * math.sqrt((n - 1) * (1 + r12) / den) if den > 0 else math.copysign(math.inf, r1 - r2)
    p = float(2 * stats.t.sf(abs(t), n - 3))
    z = float(stats.norm.ppf(0.5 + level / 2))

    def fisher(rv: float) -> tuple[float, float]:
        centre, half = math.atanh(min(max(rv, -1 + 1e-15), 1 - 1e-15)), z / math.sqrt(n - 3)
        return math.tanh(centre - half), math.tanh(centre + half)

    (l1, u1), (l2, u2) = fisher(r1), fisher(r2)
    c = ((r12 - r1 * r2 / 2) * (1 - r1**2 - r2**2 - r12**2) + r12**3) / max((1 - r1**2) * (1 - r2**2), 1e-300)
    c = min(max(c, -1.0), 1.0)  # the correlation of r1 and r2: |r| = 1 would otherwise blow it up
    lower = r1 - r2 - math.sqrt(max(0.0, (r1 - l1) ** 2 + (u2 - r2) ** 2 - 2 * c * (r1 - l1) * (u2 - r2)))
    upper = r1 - r2 + math.sqrt(max(0.0, (u1 - r1) ** 2 + (r2 - l2) ** 2 - 2 * c * (u1 - r1) * (r2 - l2)))
    return {
        "r1": r1,
        "r2": r2,
        "r12": r12,
        "difference": r1 - r2,
        "t": t,
        "df": n - 3,
        "p": p,
        "ci": [lower, upper],
    }


def compare_laws(y, predictors: dict[str, Any], level: float = 0.95) -> dict[str, Any]:
    """Fit y ~ x^k for every predictor on the same points, and a verdict between them; y and each predictor:
    1-D positive arrays of one length (capacities in bits, parameter counts).

    The best law is the one with the lowest BIC (equivalently the highest R²). ``verdict`` names it only
    when (i) no other predictor is collinear with it (|corr of logs| < ``COLLINEAR``) and (ii) against every
    rival, Williams' test (``correlation_difference`` on the logs, each predictor oriented to a positive
    correlation with y) rejects equal fit at 1 − ``level``; otherwise it says why none is named.
    ``collinearity`` holds corr(ln x_i, ln x_j) for every pair, ``tests`` the Williams test against each rival.
    """
    names = list(predictors)
    fits = {}
    for name in names:
        try:
            fits[name] = fit_power_law(predictors[name], y, level=level)
        except ValueError as err:
            fits[name] = {"error": str(err)}
    pairs = {
        f"{a}~{b}": collinearity(predictors[a], predictors[b])
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
    fitted = [n for n in names if "error" not in fits[n]]
    unfitted = [n for n in names if n not in fitted]
    if fitted and np.ptp(np.log(np.asarray(y, dtype=float))) == 0:
        verdict = "cannot tell: the response is the same at every point"
        return {
            "fits": fits,
            "collinearity": {},
            "lowest_bic": None,
            "tests": {},
            "verdict": verdict,
            "best": None,
        }
    if len(fitted) < 2:
        verdict = f"only {fitted or 'no law'} could be fitted; nothing to compare"
        return {
            "fits": fits,
            "collinearity": pairs,
            "lowest_bic": None,
            "tests": {},
            "verdict": verdict,
            "best": None,
        }
    best = min(fitted, key=lambda n: fits[n]["bic"])
    rivals = [n for n in fitted if n != best]
    collinear = [
        n for n in rivals if abs(pairs.get(f"{best}~{n}", pairs.get(f"{n}~{best}", 1.0))) >= COLLINEAR
    ]
    ly = np.log(np.asarray(y, dtype=float))

    def oriented(name: str) -> np.ndarray:
        lx = np.log(np.asarray(predictors[name], dtype=float))
        return lx if fits[name]["exponent"] >= 0 else -lx

    tests = {}
    if len(ly) >= 4:
        for n in rivals:
            try:
                tests[n] = correlation_difference(ly, oriented(best), oriented(n), level)
            except ValueError as err:
                tests[n] = {"error": str(err)}
    alpha = 1 - level
    undecided = [n for n in rivals if n not in tests or "error" in tests[n] or tests[n]["p"] > alpha]
    if collinear:
        verdict = (
            f"cannot separate {best} from {', '.join(collinear)}: their logs are nearly collinear "
            f"(|r| ≥ {COLLINEAR}) on these points"
        )
        best_named = None
    elif undecided:
        detail = ", ".join(
            f"{n}: Williams p = {tests[n]['p']:.2g}, ΔBIC = {fits[n]['bic'] - fits[best]['bic']:.1f}"
            if n in tests and "error" not in tests[n]
            else f"{n}: untestable at n = {len(ly)}"
            for n in undecided
        )
        verdict = f"cannot tell {best} from {', '.join(undecided)} ({detail}; not significant at {alpha:g})"
        best_named = None
    else:
        worst_p = max(tests[n]["p"] for n in rivals)
        margin = min(fits[n]["bic"] for n in rivals) - fits[best]["bic"]
        verdict = (
            f"{best} law preferred (Williams p ≤ {worst_p:.2g} against every fitted rival; ΔBIC = {margin:.1f} "
            "over the next)"
        )
        if unfitted:
            verdict += f"; not fitted, so not compared: {', '.join(unfitted)}"
        if fits[best]["r2"] < POOR_FIT:
            verdict += (
                f", but it explains only R² = {fits[best]['r2']:.2f} of log capacity: better than the others, "
                "not a good description of these points"
            )
        best_named = best
    return {
        "fits": fits,
        "collinearity": pairs,
        "lowest_bic": best,
        "tests": tests,
        "verdict": verdict,
        "best": best_named,
    }


def depth_verdict(
    volumes,
    capacities_by_depth,
    level: float = 0.95,
    saturation_slope: float = 0.2,
) -> dict[str, Any]:
    """The constant-width depth sweep's verdict, from what each law predicts for the sweep's own counts.

    A1 is constant along the sweep, so an area law predicts a capacity that does not change; a volume law
    C ∝ V^k predicts slope k > 0 of ln C on ln V. ``volumes`` holds each depth's V, ``capacities_by_depth``
    its per-seed capacities (positive). The exponent is the OLS slope of the per-depth mean of ln C on ln V
    with its t interval at ``level`` (n_depths − 2 df; seeds are replicates of one architecture, not
    independent points). Rule, with s = ``saturation_slope`` (in units of the V exponent): the interval above
    0 → "growth (volume law)"; inside (−s, s) → "saturation (area law)"; below 0 → "decline (neither law:
    deeper networks fit less within the budget, an optimization limit)"; otherwise "cannot tell". (Fitted on
    ln depth with a fixed ±0.2 band, as before, a sub-linear volume law C = 0.05·V^0.5 on mlp_d{1..16}_w256
    at 3,072 inputs had slope 0.16 and was called an area law: V grows only as depth^0.3 there.)
    """
    volumes = np.asarray(volumes, dtype=float)
    samples = [np.asarray(c, dtype=float) for c in capacities_by_depth]
    if len(volumes) < 3 or any(len(c) == 0 or np.any(c <= 0) for c in samples):
        return {"verdict": "cannot tell: needs at least 3 depths with positive capacities", "slope": None}
    if np.ptp(np.log(volumes)) == 0:
        return {"verdict": "cannot tell: V is the same at every depth", "slope": None}
    line = _slope_interval(np.log(volumes), np.array([np.log(c).mean() for c in samples]), level)
    lo, hi = line["ci"]
    if lo > 0:
        verdict = "growth (volume law)"
    elif hi < 0:
        verdict = "decline (neither law: deeper networks fit less within the budget, an optimization limit)"
    elif -saturation_slope < lo and hi < saturation_slope:
        verdict = "saturation (area law)"
    else:
        verdict = "cannot tell"
    return {
        "slope": line["slope"],
        "ci": line["ci"],
        "level": level,
        "predictor": "ln V (A1 is constant along the sweep)",
        "saturation_slope": saturation_slope,
        "verdict": verdict,
    }


def effective_boundary(
    capacity: float,
    fit: dict[str, Any],
    fitted_range: tuple[float, float],
    level: float = 0.95,
) -> dict[str, Any]:
    """A_eff = (C/ĉ)^(1/β̂): the A at which an area law fitted on other networks (``fit``, from
    ``fit_power_law``) reaches this network's capacity C, with the inverse-regression (Fieller) interval at
    ``level``: every ln A whose fitted mean ln C is within t(n − 2)·s·√(1/n + (ln A − mean)²/Sxx) of ln C
    (Draper & Smith 1998, §3.2; exact for normal log residuals, C taken as given; checked by a coverage
    simulation in the tests). When the slope is not significantly non-zero the set is unbounded and ``ci``
    is None. ``extrapolated`` flags an A_eff outside the fitted range of A.
    """

    def exp(v: float) -> float:  # beyond float range the boundary is simply unbounded
        return math.exp(v) if v < 709.0 else math.inf

    a, b = math.log(fit["prefactor"]), fit["exponent"]
    value = exp((math.log(capacity) - a) / b) if b != 0 else float("nan")
    n, xbar, sxx, sigma = fit["n"], fit["x_mean"], fit["sxx"], fit["sigma"]
    q = float(stats.t.ppf(0.5 + level / 2, n - 2)) ** 2 * sigma**2
    e = math.log(capacity) - (a + b * xbar)  # ln C minus the fitted mean at the centre of ln A
    quad = b * b - q / sxx  # (b² − q/Sxx)·u² − 2·e·b·u + (e² − q/n) ≤ 0, u = ln A − mean
    disc = (e * b) ** 2 - quad * (e * e - q / n)
    ci = None
    if quad > 0 and disc >= 0:
        roots = sorted(((e * b - math.sqrt(disc)) / quad, (e * b + math.sqrt(disc)) / quad))
        ci = [exp(xbar + roots[0]), exp(xbar + roots[1])]
    return {
        "a_eff": value,
        "ci": ci,
        "ci_method": "inverse regression (Fieller), t with n - 2 df",
        "extrapolated": not (math.isfinite(value) and fitted_range[0] <= value <= fitted_range[1]),
    }
