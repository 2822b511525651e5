"""Report section: Experiment 2 (PHI): the Φ_pair map, its estimator calibration, PCI and generalization."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.pipeline.paths import phi_dir
from harness.report.page import Section, Table


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def phi_map_figure(records: list[dict[str, Any]], scheme: str, path: Path) -> None:
    """Architectures × checkpoints heatmap of Φ_pair (nats), each cell annotated with its 95% interval."""
    plt = _plt()
    rows = [r for r in records if any(scheme in c.get("schemes", {}) for c in r["checkpoints"])]
    fractions = [c["fraction"] for c in rows[0]["checkpoints"]]
    values = np.full((len(rows), len(fractions)), np.nan)
    labels = [[""] * len(fractions) for _ in rows]
    for i, r in enumerate(rows):
        for j, c in enumerate(r["checkpoints"]):
            m = c.get("schemes", {}).get(scheme, {})
            if "phi" in m:
                values[i, j] = m["phi"]
                labels[i][j] = f"{m['phi']:.2f}\n[{m['ci'][0]:.2f}, {m['ci'][1]:.2f}]"
    fig, ax = plt.subplots(figsize=(1.6 * len(fractions) + 2.5, 0.55 * len(rows) + 1.5))
    im = ax.imshow(values, cmap="magma", aspect="auto")
    for i in range(len(rows)):
        for j in range(len(fractions)):
            if labels[i][j]:
                bright = values[i, j] < np.nanmean(values)
                ax.text(
                    j,
                    i,
                    labels[i][j],
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color="white" if bright else "black",
                )
    ax.set_xticks(range(len(fractions)), [f"{f:.0%}" for f in fractions])
    ax.set_yticks(range(len(rows)), [f"{r['architecture']} / {r['dataset']}" for r in rows])
    ax.set_xlabel("checkpoint (fraction of training)")
    ax.set_title(f"Φ_pair (nats, KSG) — {scheme}", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.03, label="nats")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def scatter_figure(
    points: list[tuple[str, float, float]], xlabel: str, ylabel: str, title: str, path: Path
) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.0, 3.8))
    for label, x, y in points:
        ax.scatter(x, y, color="tab:blue")
        ax.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _records(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        json.loads((Path(phi_dir(f"{a}-{d}", "measure")) / "measures.json").read_text()) for a, d in pairs
    ]


def phi_section(pairs: list[tuple[str, str]], figures: Path, statistics: dict[str, Any], cfg: Any) -> Section:
    """The PHI section from each pair's ``measures.json`` and ``phi_statistics``; ``cfg`` is params ``phi``."""
    records = _records(pairs)
    mi = cfg.mutual_information
    section = Section("Experiment 2 — PHI: integrated information across architectures", "phi")
    section.paragraphs.append(
        f"{len(records)} (architecture, dataset) pairs, checkpoints at "
        f"{', '.join(f'{f:.0%}' for f in cfg.checkpoints.root)} of training. Modules per partition scheme are "
        f"reduced to ≤ {cfg.probe.pca_dims} principal components (PCA on ≤ {cfg.probe.pca_samples} validation "
        f"inputs); pairwise MI is estimated on ≤ {cfg.probe.probe_samples} held-out test inputs with KSG "
        f"(algorithm {mi.algorithm}, k = {mi.k}, max-norm, {'z-scored' if mi.standardize else 'raw'} components), "
        "all in nats. Φ_pair is the pairwise MI across the minimum information partition, the bipartition "
        "minimising cut / min(|S|, |S̄|) (greedy search; exhaustive for ≤ 16 modules, with the gap reported); "
        f"intervals are {mi.level:.0%} bootstrap percentiles over {mi.bootstrap} resamples of the per-sample "
        "KSG terms (conditional on the neighbour counts, so somewhat narrow). Φ_pair is not the "
        "past/present Φ* of Oizumi et al. (the Gaussian family, implemented and validated as "
        "<code>harness.gaussian_phi</code>, is not yet applied to the networks in this version)."
    )
    cal_rows = [
        {
            "architecture": r["architecture"],
            "dataset": r["dataset"],
            **{k: c[k] for k in ("estimator", "n", "d", "true_mi", "estimate", "recovered")},
        }
        for r in records
        for c in r["calibration"]
    ]
    summary = statistics["calibration_recovered"]
    section.paragraphs.append(
        "Estimator calibration, run by every stage at its own N and d on correlated Gaussians (ρ = "
        f"{mi.calibration_rho}): median fraction of the true MI recovered — "
        + "; ".join(
            f"{html.escape(k)} {v['median']:.2f} (range {v['min']:.2f}–{v['max']:.2f})"
            for k, v in summary.items()
        )
        + ". kNN estimators are biased low as d grows, so Φ_pair values are lower bounds on the modules' "
        "coupling at this N and d, comparable across networks only at equal N and d."
    )
    section.tables.append(
        Table(
            "phi_calibration",
            ["architecture", "dataset", "estimator", "n", "d", "true_mi", "estimate", "recovered"],
            cal_rows,
            "Calibration: each estimator on correlated Gaussians at the stage's N and d (nats)",
        )
    )
    map_rows = []
    for r in records:
        for c in r["checkpoints"]:
            for scheme, m in c.get("schemes", {}).items():
                if "phi" not in m:
                    continue
                map_rows.append(
                    {
                        "architecture": r["architecture"],
                        "dataset": r["dataset"],
                        "scheme": scheme,
                        "checkpoint": c["fraction"],
                        "modules": len(m["modules"]),
                        "phi_pair": m["phi"],
                        "ci_low": m["ci"][0],
                        "ci_high": m["ci"][1],
                        "phi_pair_gaussian_mi": m["phi_gaussian"],
                        "greedy_gap": m["exhaustive_gap"],
                        "train_accuracy": c.get("train_accuracy"),
                        "test_accuracy": c.get("test_accuracy"),
                        "gap": c.get("gap"),
                        "pci": None if c.get("pci") is None else c["pci"]["pci"],
                    }
                )
    for scheme in statistics["schemes"]:
        name = f"phi_map_{scheme}.png"
        phi_map_figure(records, scheme, figures / name)
        section.figures.append(
            (name, f"The Φ_pair map, scheme {scheme}: architectures × checkpoints, with intervals")
        )
    section.tables.append(
        Table(
            "phi_map",
            list(map_rows[0]) if map_rows else ["architecture"],
            map_rows,
            "Φ_pair (KSG) and Φ_pair from the bias-corrected Gaussian MI per checkpoint and scheme (nats)",
        )
    )
    final_rows = []
    for row in statistics["rows"]:
        for scheme, m in row["schemes"].items():
            final_rows.append(
                {
                    "architecture": row["architecture"],
                    "dataset": row["dataset"],
                    "scheme": scheme,
                    "modules": m["modules"],
                    "phi_pair": m["phi"],
                    "ci_low": m["ci"][0],
                    "ci_high": m["ci"][1],
                    "trajectory": m["shape"],
                    "gap": row["gap"],
                    "pci": row["pci"],
                }
            )
    section.tables.append(
        Table(
            "phi_final",
            list(final_rows[0]) if final_rows else ["architecture"],
            final_rows,
            "At the end of training: Φ_pair, trajectory shape over the checkpoints "
            f"(changes under {cfg.statistics.trajectory_tolerance:.0%} of the range are flat), gap and PCI",
        )
    )
    saturated = [r["saturated_pairs"] for r in final_rows if r["saturated_pairs"] is not None]
    if saturated:
        section.paragraphs.append(
            f"Saturation: in {sum(v > 0 for v in saturated)} of {len(saturated)} (network, scheme) results at the "
            f"end of training some pairwise KSG estimates reach 90% of the estimator's ceiling ψ(N) − ψ(k) "
            f"(median share of pairs {np.median(saturated):.2f}); those modules are nearly deterministic functions "
            "of each other at this N and d, and Φ_pair there measures how many such pairs the partition cuts "
            "rather than how strongly they are coupled."
        )
    tests = statistics["tests"]
    section.tables.append(
        Table(
            "phi_tests",
            [
                "test",
                "method",
                "n",
                "statistic",
                "p_value",
                "p_method",
                "p_floor",
                "p_bonferroni",
                "significant",
            ],
            tests,
            f"Rank correlations across architectures (Bonferroni over {len(tests)} tests, α = {statistics['level']})",
        )
    )
    n_max = max((t["n"] for t in tests), default=0)
    section.paragraphs.append(
        f"With n ≤ {n_max} architectures these correlations are underpowered: at n = 10 only |ρ| ≳ 0.65 reaches "
        "p < 0.05 before correction; pairs also mix datasets (vision, language, graph), so a correlation can "
        "reflect the dataset rather than the architecture. Read them as effect sizes with their n."
    )
    section.tables.append(
        Table(
            "phi_scheme_agreement",
            ["test", "n", "statistic", "p_value", "p_method"],
            statistics["scheme_agreement"],
            "Partition sensitivity: rank agreement of architectures' final Φ_pair between schemes (Spearman)",
        )
    )
    layer = [r for r in statistics["rows"] if "layer" in r["schemes"]]
    pci_points = [
        (r["architecture"], r["schemes"]["layer"]["phi"], r["pci"]) for r in layer if r["pci"] is not None
    ]
    if pci_points:
        scatter_figure(
            pci_points,
            "Φ_pair, layer scheme (nats)",
            "PCI",
            "PCI vs Φ_pair (end of training)",
            figures / "phi_pci.png",
        )
        section.figures.append(("phi_pci.png", "PCI vs Φ_pair (layer scheme), one point per architecture"))
    gap_points = [
        (r["architecture"], r["schemes"]["layer"]["phi"], r["gap"]) for r in layer if r["gap"] is not None
    ]
    if gap_points:
        scatter_figure(
            gap_points,
            "Φ_pair, layer scheme (nats)",
            "generalization gap (train − test accuracy)",
            "Φ_pair vs generalization gap",
            figures / "phi_gap.png",
        )
        section.figures.append(("phi_gap.png", "Generalization gap vs Φ_pair (layer scheme)"))
    return section
