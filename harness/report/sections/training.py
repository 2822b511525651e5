"""Report section: task training of every (architecture, dataset) pair."""

from __future__ import annotations

import csv
import html
from pathlib import Path
from typing import Any

from harness.integrity import read_output_json
from harness.report.page import Section, Table

COLUMNS = [
    "architecture",
    "dataset",
    "family",
    "params",
    "status",
    "best_epoch",
    "val_accuracy",
    "test_accuracy",
    "test_cross_entropy",
    "test_calibration_error",
]


def read_curve(plots_dir: Path, metric: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one dvclive metric TSV, or empty lists when it was never logged."""
    path = plots_dir / f"{metric}.tsv"
    if not path.exists():
        return [], []
    with open(path) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [int(r["step"]) for r in rows], [float(r[metric]) for r in rows]


def collect(results: list[tuple[str, str, str, Path]]) -> list[dict[str, Any]]:
    """One row per (arch, dataset, family, output folder) from its metrics.json."""
    rows = []
    for arch, dataset, family, folder in results:
        m = read_output_json(folder / "metrics.json")
        row = {
            "architecture": arch,
            "dataset": dataset,
            "family": family,
            "params": m["params"],
            "status": m["status"],
            "best_epoch": m["best_epoch"],
            "val_accuracy": m["val_accuracy"],
            "test_accuracy": m["test_accuracy"],
        }
        row.update(m.get("measurements", {}))
        rows.append(row)
    return rows


def training_section(results: list[tuple[str, str, str, Path]], figures: Path) -> Section:
    """Table of every run, validation curves per dataset, and the list of diverged runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = collect(results)
    diverged = [f"{r['architecture']}-{r['dataset']}" for r in rows if r["status"] != "ok"]
    ok = len(rows) - len(diverged)
    section = Section("Task training", "training")
    section.paragraphs.append(
        f"{len(rows)} (architecture, dataset) runs; {ok} completed, {len(diverged)} diverged"
        + (f": {html.escape(', '.join(diverged))} (metrics missing, shown as —)." if diverged else ".")
    )
    columns = [c for c in COLUMNS if any(c in r for r in rows)]
    section.tables.append(
        Table("training", columns, rows, f"Task training, n = {len(rows)} runs ({len(diverged)} diverged)")
    )
    figures.mkdir(parents=True, exist_ok=True)
    for dataset in dict.fromkeys(r[1] for r in results):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for arch, ds, _, folder in results:
            if ds != dataset:
                continue
            steps, values = read_curve(folder / "live" / "plots" / "metrics", "val_accuracy")
            if steps:
                ax.plot(steps, values, label=arch)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy")
        ax.set_title(f"{dataset}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        name = f"training_val_accuracy_{dataset}.png"
        fig.savefig(figures / name, dpi=110)
        plt.close(fig)
        section.figures.append((name, f"Validation accuracy per epoch on {dataset}"))
    return section
