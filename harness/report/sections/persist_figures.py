"""Figures of the Experiment 1 (PERSIST) section, drawn from stage outputs only (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.integrity import load_output_array, read_output_json
from harness.report.page import pyplot


def small_multiples(panels: list[tuple[str, Path, Path]], path: Path) -> None:
    """One row per network: loss heatmap of slice 0 beside its H0/H1 persistence diagram (Ripser).

    panels: (label, landscape folder, topology folder) of the pair's first run."""
    plt = pyplot()
    fig, axes = plt.subplots(len(panels), 2, figsize=(7.5, 3.0 * len(panels)), squeeze=False)
    for row, (label, landscape, topology) in zip(axes, panels, strict=True):
        grid = load_output_array(landscape / "slice_0_loss.npy")
        span = read_output_json(landscape / "metadata.json").get("span", 1.0)
        im = row[0].imshow(
            np.log10(np.where(np.isfinite(grid), grid, np.nan)),
            origin="lower",
            extent=(-span, span, -span, span),
            cmap="viridis",
        )
        row[0].set_title(f"{label}: log10 loss, slice 0", fontsize=9)
        row[0].set_xlabel("α (direction 1, span units)")
        row[0].set_ylabel("β")
        fig.colorbar(im, ax=row[0], fraction=0.046)
        diagrams = load_output_array(topology / "slice_0_diagrams.npz")
        finite = [d[np.isfinite(d).all(axis=1)] for d in (diagrams["ripser_h0"], diagrams["ripser_h1"])]
        # zoom on the bars (they live near the minimum, far below the grid's maximum)
        lo = min([float(d.min()) for d in finite if d.size] + [float(grid.min())])
        hi = max([float(d.max()) for d in finite if d.size] + [lo + 0.1])
        hi, lo = hi + 0.05 * (hi - lo), lo - 0.05 * (hi - lo)
        row[1].set_xlim(lo, hi)
        row[1].set_ylim(lo, hi)
        for dim, (d, marker) in enumerate(zip(finite, ("o", "^"), strict=True)):
            row[1].scatter(d[:, 0], d[:, 1], s=16, marker=marker, label=f"H{dim} ({len(d)} finite)")
        row[1].plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        row[1].set_xlabel("birth (loss)")
        row[1].set_ylabel("death (loss)")
        row[1].set_title("persistence diagram (Ripser)", fontsize=9)
        row[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def correlation_matrix(
    rows: list[dict[str, Any]], metrics: list[str], predictors: list[str], title: str, path: Path
) -> None:
    """Spearman ρ of predictors (rows) × retention metrics (columns); * marks Bonferroni p < level."""
    plt = pyplot()
    rho = np.full((len(predictors), len(metrics)), np.nan)
    star = np.zeros_like(rho, dtype=bool)
    for r in rows:
        i, j = predictors.index(r["predictor"]), metrics.index(r["metric"])
        rho[i, j] = np.nan if r["spearman_rho"] is None else r["spearman_rho"]
        star[i, j] = r["significant"]
    fig, ax = plt.subplots(figsize=(2.2 + 1.3 * len(metrics), 0.9 + 0.38 * len(predictors)))
    im = ax.imshow(rho, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for i in range(len(predictors)):
        for j in range(len(metrics)):
            text = "n/a" if np.isnan(rho[i, j]) else f"{rho[i, j]:+.2f}" + ("*" if star[i, j] else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(metrics)), metrics)
    ax.set_yticks(range(len(predictors)), predictors, fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="Spearman ρ")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def loao_chart(loao: dict[str, Any], path: Path) -> None:
    """MAE of models A, A2, B, C, D, and B's permutation null with the observed MAE marked."""
    plt = pyplot()
    test = loao["incremental_value"]
    names = ["A", "A2", "B", "C", "D"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.bar(names, [loao["mae"][n] for n in names], color=["#999", "#bbb", "#3070b0", "#60a0d0", "#d08030"])
    left.set_ylabel(f"LOAO MAE of {loao['target']}")
    left.set_title(f"n = {loao['n']} rows, {len(loao['architectures'])} architectures", fontsize=9)
    right.hist(test["permuted_mae"], bins=30, color="#bbb", label="B, residuals permuted")
    right.axvline(
        test["observed_mae"], color="#c03030", lw=2, label=f"B observed (p = {test['p_value']:.3f})"
    )
    right.axvline(test["mae_a2"], color="#3070b0", ls="--", label="A2 (matched noise), mean")
    right.set_xlabel("LOAO MAE")
    right.set_ylabel("permutations")
    right.legend(fontsize=7)
    right.set_title(f"incremental value of topology, {test['n_permutations']} permutations", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def ewc_scatter(points: list[tuple[str, float, float, float]], metric: str, path: Path) -> None:
    """EWC benefit of ``metric`` against H0 and H1 total persistence, one labelled point per pair.

    points: (label, H0 total, H1 total, benefit)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, col, name in zip(axes, (1, 2), ("H0", "H1"), strict=True):
        for p in points:
            ax.scatter(p[col], p[3], color="#3070b0")
            ax.annotate(p[0], (p[col], p[3]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel(f"{name} total persistence (Ripser, slice mean)")
        ax.set_ylabel(f"EWC benefit on {metric}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def ladder_plot(ladder: dict[str, Any], target: str, path: Path) -> None:
    """Width ladder: each topology summary and the retention against width (log axis)."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for row in ladder["rows"]:
        left.plot(ladder["width"], row["values"], marker="o", label=row["summary"])
    left.set_xscale("log")
    left.set_xlabel("width k")
    left.set_ylabel("persistence (loss units)")
    left.legend(fontsize=7)
    right.plot(ladder["width"], ladder["retention"], marker="o", color="#c03030")
    right.set_xscale("log")
    right.set_xlabel("width k")
    right.set_ylabel(target)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
