"""Cross-experiment links: the three experiments joined by architecture registry key.

For every architecture measured by more than one experiment, the survey was designed to test:
Φ_pair vs retention (does integration predict forgetting resistance?), Φ_pair vs capacity efficiency
(bits per boundary parameter), and capacity vs retention (does forgetting set in when task B competes for
limited boundary capacity?). Each link is a Spearman ρ over the architectures both experiments measured,
with its exact small-n p and Bonferroni over the links; a link with fewer than 3 shared architectures
reports n and no statistic. Adding one architecture to two experiments' selections extends this with no
other edit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.statistics.correlation import bonferroni, rank_correlation

LINKS = [
    ("phi_pair", "retention", "Φ_pair (layer scheme, end of training) vs retention (PHI × PERSIST)"),
    ("phi_pair", "bits_per_boundary", "Φ_pair vs capacity bits per boundary parameter A1 (PHI × GENESIS)"),
    ("bits_per_boundary", "retention", "capacity bits per A1 vs retention (GENESIS × PERSIST)"),
]


def per_architecture(values: list[tuple[str, float | None]]) -> dict[str, float]:
    """(architecture, value) pairs → architecture → median of its finite values (an architecture measured
    on several datasets or seeds counts once)."""
    by: dict[str, list[float]] = {}
    for arch, v in values:
        if v is not None and np.isfinite(v):
            by.setdefault(arch, []).append(float(v))
    return {a: float(np.median(v)) for a, v in by.items()}


def cross_experiment(measures: dict[str, dict[str, float]], level: float = 0.05) -> dict[str, Any]:
    """``measures``: measure name (``phi_pair``, ``retention``, ``bits_per_boundary``) → architecture →
    value. Returns the joined table (every architecture with at least two measures) and each link."""
    archs = sorted({a for m in measures.values() for a in m})
    table = [
        {"architecture": a, **{name: measures[name].get(a) for name in measures}}
        for a in archs
        if sum(a in m for m in measures.values()) >= 2
    ]
    links = []
    for x, y, name in LINKS:
        shared = sorted(set(measures.get(x, {})) & set(measures.get(y, {})))
        link: dict[str, Any] = {"link": name, "x": x, "y": y, "n": len(shared), "architectures": shared}
        if len(shared) >= 3:
            r = rank_correlation(
                np.array([measures[x][a] for a in shared]), np.array([measures[y][a] for a in shared])
            )
            link.update(
                rho=None if np.isnan(r.statistic) else r.statistic,
                p_value=r.p_value,
                p_floor=r.p_floor,
            )
        else:
            link.update(
                rho=None, p_value=None, note=f"n = {len(shared)}: a rank correlation needs at least 3"
            )
        links.append(link)
    tested = [lk for lk in links if lk["p_value"] is not None]
    for lk, p in zip(tested, bonferroni([lk["p_value"] for lk in tested]), strict=True):
        lk["p_bonferroni"] = p
        lk["significant"] = p < level
    return {"table": table, "links": links, "level": level, "n_tested": len(tested)}
