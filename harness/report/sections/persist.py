"""Report section: Experiment 1 (PERSIST) per (architecture, dataset): the predictors and the retention."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

from harness.pipeline.paths import persist_dir
from harness.report.page import Section, Table
from harness.stages.persist.metrics import PREDICTORS

VARIANTS = ("naive", "ewc", "cosine")


def persist_section(pairs: list[tuple[str, str]], seeds: list[int], figures: Path) -> Section:
    """One row per pair from ``persist_metrics``; slice 0 of each pair's first run as a figure."""
    section = Section("Experiment 1 (PERSIST): loss-landscape topology and forgetting", "persist")
    rows, retention_rows = [], []
    for arch, dataset in pairs:
        m = json.loads((Path(persist_dir(f"{arch}-{dataset}", "metrics")) / "metrics.json").read_text())
        row = {"architecture": arch, "dataset": dataset, "params": m["params"], "runs_ok": m["n_runs_ok"]}
        row["task_a_test_accuracy"] = m["task_a_test_accuracy"]
        row.update(m["predictors"])
        rows.append(row)
        for variant in VARIANTS:
            values = m["retention"].get(variant, {})
            retention_rows.append({"architecture": arch, "dataset": dataset, "variant": variant, **values})
        if m["ewc_benefit"]:
            retention_rows.append(
                {"architecture": arch, "dataset": dataset, "variant": "EWC benefit", **m["ewc_benefit"]}
            )
        png = Path(persist_dir(f"{arch}-{dataset}-s{seeds[0]}", "landscape")) / "slice_0.png"
        if png.exists():
            figures.mkdir(parents=True, exist_ok=True)
            name = f"persist_landscape_{arch}-{dataset}.png"
            shutil.copyfile(png, figures / name)
            section.figures.append((name, f"{arch} on {dataset}: loss slice 0 (run seed {seeds[0]})"))
    failed = [f"{r['architecture']}-{r['dataset']}" for r in rows if r["runs_ok"] == 0]
    section.paragraphs.append(
        f"{len(rows)} (architecture, dataset) pairs, {len(seeds)} task-A run(s) each; "
        "predictors are measured at the task-A solution (topology: mean over a run's slices), then averaged "
        "over the pair's finished runs."
        + (f" No finished run (diverged, recorded): {html.escape(', '.join(failed))}." if failed else "")
    )
    section.paragraphs.append(
        "Predictors: "
        + "; ".join(f"{html.escape(n)} = {html.escape(d)}" for n, (_, _, d) in PREDICTORS.items())
    )
    columns = ["architecture", "dataset", "params", "runs_ok", "task_a_test_accuracy", *PREDICTORS]
    section.tables.append(
        Table("persist_predictors", columns, rows, f"PERSIST predictors, n = {len(rows)} pairs")
    )
    metric_names = list(
        dict.fromkeys(k for r in retention_rows for k in r if k not in ("architecture", "dataset", "variant"))
    )
    section.tables.append(
        Table(
            "persist_retention",
            ["architecture", "dataset", "variant", *metric_names],
            retention_rows,
            "Task-A retention while training on task B (ret@k = acc_A(k)/acc_A(0); forgetting = acc_A(0) − acc_A(end))",
        )
    )
    return section
