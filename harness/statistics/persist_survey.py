"""Experiment 1 statistics over all (architecture, dataset) pairs: one pure function of their metrics.

Scopes: every dataset on its own, plus ``pooled`` when there is more than one. Pairs whose every
run failed enter no statistic and are listed under ``excluded`` with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.params import StatisticsConfig
from harness.statistics.correlation import _spearman as pearson_of_ranks  # batched over leading axes
from harness.statistics.correlation import bonferroni, partial_spearman, rank_correlation, ranks
from harness.statistics.loao import incremental_value_test, loao_ridge, size_basis
from harness.statistics.repeated import friedman, kruskal_wallis, ordering_agreement, paired_cohens_d

VARIANTS = ("naive", "ewc", "cosine")
CONSTRUCTIONS = ("ripser", "cubical")


@dataclass(frozen=True)
class PairRecord:
    """One (architecture, dataset) pair: its ``persist_metrics`` output and its ladder width (or None)."""

    architecture: str
    dataset: str
    metrics: dict[str, Any]
    width: float | None = None


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else float("nan")


def _clean(v: float) -> float | None:
    """JSON-safe: nan/inf become None."""
    return float(v) if v is not None and math.isfinite(v) else None


def _correlate(x: np.ndarray, y: np.ndarray, log_params: np.ndarray) -> dict[str, Any]:
    keep = np.isfinite(x) & np.isfinite(y)
    s = rank_correlation(x[keep], y[keep], "spearman")
    k = rank_correlation(x[keep], y[keep], "kendall")
    rho_p, p_p = partial_spearman(x[keep], y[keep], log_params[keep])
    return {
        "n": int(keep.sum()),
        "spearman_rho": _clean(s.statistic),
        "spearman_p": s.p_value,
        "kendall_tau": _clean(k.statistic),
        "kendall_p": k.p_value,
        "partial_rho": _clean(rho_p),
        "partial_p": _clean(p_p),
        "p_method": s.p_method,
        "p_floor": s.p_floor,
    }


def _retention(pairs: list[PairRecord], variant: str, metric: str) -> np.ndarray:
    return np.array([_num(p.metrics["retention"].get(variant, {}).get(metric)) for p in pairs])


def _topology(pairs: list[PairRecord], field: str) -> np.ndarray:
    return np.array([_num(p.metrics["topology"].get(field)) for p in pairs])


def correlation_table(pairs: list[PairRecord], predictors: list[str], cfg: StatisticsConfig) -> list[dict]:
    """ρ, τ, partial ρ (given log params) of each predictor with each retention metric and variant.

    Bonferroni over the predictors within each (variant, metric) family; ``reachable`` says whether
    the exact p floor times the family size can reach the level at all."""
    lp = np.array([p.metrics["log_params"] for p in pairs], dtype=float)
    rows = []
    for variant in VARIANTS:
        for metric in cfg.retention_metrics:
            y = _retention(pairs, variant, metric)
            family = []
            for name in predictors:
                x = np.array([_num(p.metrics["predictors"].get(name)) for p in pairs])
                family.append(
                    {"variant": variant, "metric": metric, "predictor": name, **_correlate(x, y, lp)}
                )
            m = len(family)
            for key in ("spearman_p", "kendall_p", "partial_p"):
                ps = [math.nan if r[key] is None else r[key] for r in family]
                for r, adj in zip(family, bonferroni(ps, m), strict=True):
                    r[key + "_bonferroni"] = _clean(adj)
            for r in family:
                r["reachable"] = bool(r["p_floor"] * m <= cfg.level)
            rows += family
    return rows


def slice_robustness(pairs: list[PairRecord], cfg: StatisticsConfig) -> list[dict]:
    """Per topology summary: Friedman and Kruskal–Wallis over slices, per-slice ρ with the LOAO target,
    pairwise ordering agreement and paired Cohen's d between slices."""
    y = _retention(pairs, cfg.variant, cfg.loao_target)
    rows = []
    for summary in cfg.topology_summaries:
        for construction in CONSTRUCTIONS:
            field = f"{summary}_{construction}"
            values = np.array(
                [[_num(v) for v in p.metrics["topology_slices"].get(field, [])] for p in pairs], dtype=float
            )
            if values.ndim != 2 or values.shape[1] == 0:
                continue
            k = values.shape[1]
            chi2, p_f = friedman(values)
            h, p_kw = kruskal_wallis(values)
            per_slice = [rank_correlation(values[:, j], y, "spearman").statistic for j in range(k)]
            agree, d = [], []
            for a in range(k):
                for b in range(a + 1, k):
                    agree.append(ordering_agreement(values[:, a], values[:, b]))
                    d.append(paired_cohens_d(values[:, a], values[:, b]))
            finite_d = [abs(v) for v in d if math.isfinite(v)]
            rows.append(
                {
                    "summary": field,
                    "n": int(np.isfinite(values).all(axis=1).sum()),
                    "slices": k,
                    "friedman_chi2": _clean(chi2),
                    "friedman_p": _clean(p_f),
                    "kruskal_h": _clean(h),
                    "kruskal_p_ignores_pairing": _clean(p_kw),
                    "spearman_per_slice": [_clean(r) for r in per_slice],
                    "ordering_agreement_mean": _clean(float(np.nanmean(agree))) if agree else None,
                    "ordering_agreement_min": _clean(float(np.nanmin(agree))) if agree else None,
                    "cohens_d_abs_mean": _clean(float(np.mean(finite_d))) if finite_d else None,
                    "cohens_d_abs_max": _clean(float(np.max(finite_d))) if finite_d else None,
                }
            )
    return rows


def construction_agreement(pairs: list[PairRecord], cfg: StatisticsConfig) -> list[dict]:
    """Spearman ρ across pairs between the Ripser and the cubical value of each summary."""
    rows = []
    for summary in cfg.topology_summaries:
        r = rank_correlation(_topology(pairs, f"{summary}_ripser"), _topology(pairs, f"{summary}_cubical"))
        rows.append({"summary": summary, "n": r.n, "spearman_rho": _clean(r.statistic), "p": r.p_value})
    return rows


def ewc_benefit_table(pairs: list[PairRecord], cfg: StatisticsConfig) -> list[dict]:
    """EWC benefit (EWC − naive) of each retention metric against the H0 and H1 total persistence."""
    rows = []
    for metric in cfg.retention_metrics:
        y = np.array([_num(p.metrics["ewc_benefit"].get(metric)) for p in pairs])
        for field in ("h0_total_persistence_ripser", "h1_total_persistence_ripser"):
            x = _topology(pairs, field)
            keep = np.isfinite(x) & np.isfinite(y)
            r = rank_correlation(x[keep], y[keep])
            rows.append(
                {
                    "metric": metric,
                    "summary": field,
                    "n": r.n,
                    "spearman_rho": _clean(r.statistic),
                    "p": r.p_value,
                }
            )
    return rows


def ladder_analysis(pairs: list[PairRecord], cfg: StatisticsConfig) -> dict[str, Any]:
    """Within the width ladder: topology vs width and vs retention; H1 vs retention given log params."""
    ladder = [(p.width, p) for p in pairs if p.width is not None]
    members = [p for _, p in sorted(ladder, key=lambda wp: wp[0])]  # stable: equal widths keep their order
    out: dict[str, Any] = {
        "members": [p.architecture for p in members],
        "width": [p.width for p in members],
        "n": len(members),
        "rows": [],
    }
    if len(members) < 3:
        out["note"] = (
            f"{len(members)} ladder member(s) at this profile; within-ladder statistics need at least 3"
        )
        return out
    width = np.array([p.width for p in members], dtype=float)
    y = _retention(members, cfg.variant, cfg.loao_target)
    lp = np.array([p.metrics["log_params"] for p in members], dtype=float)
    out["retention"] = [_clean(v) for v in y]
    for summary in cfg.topology_summaries:
        x = _topology(members, f"{summary}_ripser")
        with_width = rank_correlation(x, width)
        with_retention = rank_correlation(x, y)
        row = {
            "summary": f"{summary}_ripser",
            "values": [_clean(v) for v in x],
            "rho_width": _clean(with_width.statistic),
            "p_width": with_width.p_value,
            "rho_retention": _clean(with_retention.statistic),
            "p_retention": with_retention.p_value,
            "p_floor": with_width.p_floor,
        }
        if summary.startswith("h1"):
            rho, p = partial_spearman(x, y, lp)
            row.update(partial_rho_retention_given_params=_clean(rho), partial_p=_clean(p))
        out["rows"].append(row)
    return out


def loao_models(pairs: list[PairRecord], cfg: StatisticsConfig) -> dict[str, Any]:
    """LOAO ridge MAE of models A, A2, B, C, D and the incremental-value permutation test of B."""
    archs = sorted({p.architecture for p in pairs})
    datasets = sorted({p.dataset for p in pairs})
    by_arch = {a: {p.dataset: p for p in pairs if p.architecture == a} for a in archs}
    usable = [a for a in archs if set(by_arch[a]) == set(datasets)]
    rows = [by_arch[a][d] for a in usable for d in datasets]
    y = _retention(rows, cfg.variant, cfg.loao_target)
    feats = {
        c: np.column_stack([_topology(rows, f"{s}_{c}") for s in cfg.topology_summaries])
        for c in CONSTRUCTIONS
    }
    finite = np.isfinite(y) & np.isfinite(feats["ripser"]).all(1) & np.isfinite(feats["cubical"]).all(1)
    bad_archs = {r.architecture for r, ok in zip(rows, finite, strict=True) if not ok}
    usable = [a for a in usable if a not in bad_archs]
    out: dict[str, Any] = {
        "target": f"{cfg.loao_target} ({cfg.variant})",
        "architectures": usable,
        "left_out": sorted(set(archs) - set(usable)),
        "features": {c: [f"{s}_{c}" for s in cfg.topology_summaries] for c in CONSTRUCTIONS},
    }
    if len(usable) < 3:
        out["note"] = f"LOAO needs at least 3 architectures with every value; {len(usable)} here"
        return out
    keep = np.array([r.architecture in usable for r in rows])
    rows, y = [r for r, k in zip(rows, keep, strict=True) if k], y[keep]
    feats = {c: f[keep] for c, f in feats.items()}
    lp = np.array([r.metrics["log_params"] for r in rows], dtype=float)
    groups = [r.architecture for r in rows]
    alphas = tuple(cfg.ridge_alphas)
    size = size_basis(lp)  # ln params and its spline terms: a smooth function of size
    designs = {
        "A": size,
        "B": np.column_stack([size, feats["ripser"]]),
        "C": np.column_stack([size, feats["cubical"]]),
        "D": feats["ripser"],
    }
    models = {name: loao_ridge(x, y, groups, seed=cfg.seed, alphas=alphas) for name, x in designs.items()}
    test = incremental_value_test(
        feats["ripser"],
        lp,
        y,
        groups,
        n_permutations=cfg.n_permutations,
        seed=cfg.seed,
        alphas=alphas,
        level=cfg.level,
    )
    out.update(
        n=len(y),
        target_values=[float(v) for v in y],
        groups=groups,
        mae={**{k: m["mae"] for k, m in models.items()}, "A2": test["mae_a2"]},
        models=models,
        incremental_value=test,
    )
    return out


def stratified_spearman(
    x: np.ndarray, y: np.ndarray, strata: list[str], n_permutations: int, seed: int
) -> dict[str, Any]:
    """Spearman ρ pooled over datasets with a dataset effect: x and y are ranked *within* each stratum
    (dataset) — so a dataset's level or spread cannot make a correlation — and ρ is the Pearson correlation
    of those within-stratum ranks, centred per stratum and divided by n_g + 1 (van Elteren's weighting). Two-sided p from permuting y within each
    stratum: (1 + #{|ρ*| ≥ |ρ|}) / (1 + n_permutations), exact under exchangeability within datasets.
    Non-finite pairs are dropped first; strata with fewer than 2 pairs contribute nothing."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    labels = np.asarray(strata)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, labels = x[keep], y[keep], labels[keep]
    groups = [np.flatnonzero(labels == s) for s in dict.fromkeys(labels.tolist())]
    groups = [g for g in groups if len(g) >= 2]
    n = sum(len(g) for g in groups)
    if len(groups) == 0 or n < 4:
        return {"n": n, "strata": len(groups), "rho": None, "p": None, "n_permutations": n_permutations}

    def scaled(v: np.ndarray, g: np.ndarray) -> np.ndarray:
        # centred ranks over (n_g + 1), as van Elteren weights strata: a stratum's pull grows with its
        # size (scaling every stratum to [0, 1] let two-point strata outweigh a large one)
        r = ranks(v[g])
        return (r - r.mean()) / (len(g) + 1)

    rx = np.concatenate([scaled(x, g) for g in groups])
    ry = np.concatenate([scaled(y, g) for g in groups])

    rho = float(pearson_of_ranks(rx, ry))
    rng = np.random.default_rng(seed)
    offsets = np.cumsum([0] + [len(g) for g in groups])
    perms = np.empty((n_permutations, n), dtype=int)
    for b in range(n_permutations):
        perms[b] = np.concatenate([offsets[i] + rng.permutation(len(g)) for i, g in enumerate(groups)])
    null = np.abs(pearson_of_ranks(rx, ry[perms]))
    p = (1 + int(np.sum(null >= abs(rho) - 1e-12))) / (1 + n_permutations) if math.isfinite(rho) else None
    return {
        "n": n,
        "strata": len(groups),
        "rho": _clean(rho),
        "p": p,
        "n_permutations": n_permutations,
    }


def cross_dataset(pairs: list[PairRecord], predictors: list[str], cfg: StatisticsConfig) -> dict[str, Any]:
    """Does each predictor's relation to retention hold on every dataset? Per predictor (against
    ``loao_target`` of ``variant``): Spearman ρ on each dataset alone, whether the signs agree, the smallest
    |ρ|, and the stratified (within-dataset) ρ pooled over datasets with its permutation p, Bonferroni
    over the predictors. And H0 / H1 total persistence against the EWC benefit the same way: per dataset and
    pooled with a dataset effect. Empty when the pairs cover fewer than two datasets."""
    datasets = sorted({p.dataset for p in pairs})
    if len(datasets) < 2:
        return {"datasets": datasets, "predictors": [], "ewc_benefit": []}
    by = {d: [p for p in pairs if p.dataset == d] for d in datasets}
    strata = [p.dataset for p in pairs]

    def row(name: str, values, target) -> dict[str, Any]:
        per = {}
        for d in datasets:
            members = by[d]
            x = np.array([values(p) for p in members], dtype=float)
            y = np.array([target(p) for p in members], dtype=float)
            keep = np.isfinite(x) & np.isfinite(y)
            r = rank_correlation(x[keep], y[keep])
            per[d] = {"n": r.n, "rho": _clean(r.statistic), "p": r.p_value}
        rhos = [v["rho"] for v in per.values() if v["rho"] is not None]
        pooled = stratified_spearman(
            np.array([values(p) for p in pairs], dtype=float),
            np.array([target(p) for p in pairs], dtype=float),
            strata,
            cfg.n_permutations,
            cfg.seed,
        )
        return {
            "predictor": name,
            "per_dataset": per,
            "datasets_measured": len(rhos),
            "sign_consistent": bool(
                len(rhos) == len(datasets) and (all(r > 0 for r in rhos) or all(r < 0 for r in rhos))
            ),
            "min_abs_rho": _clean(min(abs(r) for r in rhos)) if rhos else None,
            "stratified_rho": pooled["rho"],
            "stratified_p": pooled["p"],
            "n": pooled["n"],
        }

    rows = [
        row(
            name,
            lambda p, name=name: _num(p.metrics["predictors"].get(name)),
            lambda p: _num(p.metrics["retention"].get(cfg.variant, {}).get(cfg.loao_target)),
        )
        for name in predictors
    ]
    for r, adj in zip(
        rows,
        bonferroni([math.nan if r["stratified_p"] is None else r["stratified_p"] for r in rows]),
        strict=True,
    ):
        r["stratified_p_bonferroni"] = _clean(adj)
    ewc = [
        {
            "metric": metric,
            **row(
                field,
                lambda p, f=field: _num(p.metrics["topology"].get(f)),
                lambda p, m=metric: _num(p.metrics["ewc_benefit"].get(m)),
            ),
        }
        for metric in cfg.retention_metrics
        for field in ("h0_total_persistence_ripser", "h1_total_persistence_ripser")
    ]
    return {
        "datasets": datasets,
        "target": f"{cfg.variant} {cfg.loao_target}",
        "predictors": rows,
        "ewc_benefit": ewc,
    }


def survey_statistics(
    pairs: list[PairRecord], predictors: list[str], cfg: StatisticsConfig
) -> dict[str, Any]:
    """Every Experiment 1 statistic, per dataset and pooled (when there are several datasets)."""
    ok = [p for p in pairs if p.metrics.get("n_runs_ok", 0) > 0]
    excluded = [
        {"architecture": p.architecture, "dataset": p.dataset, "reason": "no task-A run finished"}
        for p in pairs
        if p not in ok
    ]
    datasets = sorted({p.dataset for p in ok})
    scopes = {d: [p for p in ok if p.dataset == d] for d in datasets}
    if len(datasets) > 1:
        scopes["pooled"] = ok
    result: dict[str, Any] = {
        "n_pairs": len(pairs),
        "n_ok": len(ok),
        "excluded": excluded,
        "cross_dataset": cross_dataset(ok, predictors, cfg),
        "scopes": {},
    }
    for scope, members in scopes.items():
        result["scopes"][scope] = {
            "n": len(members),
            "architectures": [p.architecture for p in members],
            "correlations": correlation_table(members, predictors, cfg),
            "slice_robustness": slice_robustness(members, cfg),
            "construction_agreement": construction_agreement(members, cfg),
            "ewc_benefit": ewc_benefit_table(members, cfg),
            "ewc_points": [
                {
                    "label": p.architecture if len(datasets) == 1 else f"{p.architecture}/{p.dataset}",
                    "h0": _clean(_num(p.metrics["topology"].get("h0_total_persistence_ripser"))),
                    "h1": _clean(_num(p.metrics["topology"].get("h1_total_persistence_ripser"))),
                    "benefit": {m: _clean(_num(v)) for m, v in p.metrics["ewc_benefit"].items()},
                }
                for p in members
            ],
            "ladder": ladder_analysis(members, cfg),
            "loao": loao_models(members, cfg),
        }
    return result
