"""Report section: Experiment 1 (PERSIST): predictors and retention per pair, then the survey statistics."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from harness.integrity import read_output_json
from harness.pipeline.paths import persist_dir
from harness.report.page import Section, Table
from harness.report.sections import persist_figures as figs
from harness.statistics.predictors import PREDICTORS

VARIANTS = ("naive", "ewc", "cosine")


def _pair_tables(
    section: Section, pairs: list[tuple[str, str]], seeds: list[int]
) -> list[tuple[str, Path, Path]]:
    rows, retention_rows, panels = [], [], []
    for arch, dataset in pairs:
        m = read_output_json(Path(persist_dir(f"{arch}-{dataset}", "metrics")) / "metrics.json")
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
        run = f"{arch}-{dataset}-s{seeds[0]}"
        landscape, topology = Path(persist_dir(run, "landscape")), Path(persist_dir(run, "topology"))
        if (landscape / "slice_0_loss.npy").exists() and (topology / "slice_0_diagrams.npz").exists():
            panels.append((f"{arch} / {dataset}", landscape, topology))
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
    return panels


def _correlations(section: Section, scope: str, s: dict[str, Any], cfg: Any, figures: Path) -> None:
    rows = s["correlations"]
    for r in rows:
        r["significant"] = r["spearman_p_bonferroni"] is not None and r["spearman_p_bonferroni"] < cfg.level
    headline = [r for r in rows if r["variant"] == cfg.variant]
    n = max((r["n"] for r in headline), default=0)
    unreachable = sorted({r["metric"] for r in headline if not r["reachable"]})
    if unreachable:
        floor = min(r["p_floor"] for r in headline)
        section.paragraphs.append(
            f"<span class='warn'>{html.escape(scope)}: at n = {n} the smallest attainable exact two-sided p is "
            f"{floor:.3g}; after the {len(PREDICTORS)}-way Bonferroni correction it is {floor * len(PREDICTORS):.3g} "
            f"&gt; {cfg.level}, so the correlation table for {html.escape(', '.join(unreachable))} cannot reach "
            "significance at this n: read its ρ and τ as effect sizes only.</span>"
        )
    name = f"persist_correlation_matrix_{scope}.png"
    figs.correlation_matrix(
        headline,
        list(cfg.retention_metrics),
        list(PREDICTORS),
        f"{scope}: Spearman ρ with retention ({cfg.variant}), n = {n}; * Bonferroni p < {cfg.level}",
        figures / name,
    )
    section.figures.append((name, f"Correlation matrix, {scope}, {cfg.variant} variant (n = {n})"))
    columns = [
        "variant",
        "metric",
        "predictor",
        "n",
        "spearman_rho",
        "spearman_p",
        "spearman_p_bonferroni",
        "kendall_tau",
        "kendall_p",
        "kendall_p_bonferroni",
        "partial_rho",
        "partial_p",
        "partial_p_bonferroni",
        "p_method",
        "reachable",
    ]
    section.tables.append(
        Table(
            f"persist_correlations_{scope}",
            columns,
            rows,
            f"{scope}: rank correlation of each predictor with retention, n = {n} pairs; Bonferroni over "
            f"{len(PREDICTORS)} predictors per (variant, metric); partial ρ controls for log parameter count "
            f"(t-test, n − 3 df); p exact for n ≤ 9",
        )
    )


def _robustness(section: Section, scope: str, s: dict[str, Any], cfg: Any) -> None:
    rows = [
        {
            **r,
            "spearman_per_slice": ", ".join(
                "—" if v is None else f"{v:+.2f}" for v in r["spearman_per_slice"]
            ),
        }
        for r in s["slice_robustness"]
    ]
    n = max((r["n"] for r in rows), default=0)
    section.tables.append(
        Table(
            f"persist_slice_robustness_{scope}",
            [
                "summary",
                "n",
                "slices",
                "friedman_chi2",
                "friedman_p",
                "kruskal_h",
                "kruskal_p_ignores_pairing",
                "spearman_per_slice",
                "ordering_agreement_mean",
                "ordering_agreement_min",
                "cohens_d_abs_mean",
                "cohens_d_abs_max",
            ],
            rows,
            f"{scope}: slices as repeated measures of n = {n} networks. Friedman tests a systematic slice "
            "effect within networks; Kruskal–Wallis ignores the pairing; per-slice Spearman ρ with "
            f"{cfg.loao_target}; ordering agreement = share of network pairs two slices order alike; "
            "paired Cohen's d (d_z) between slices",
        )
    )
    agreement = s["construction_agreement"]
    section.tables.append(
        Table(
            f"persist_construction_agreement_{scope}",
            ["summary", "n", "spearman_rho", "p"],
            agreement,
            f"{scope}: Ripser (Freudenthal) vs cubical summaries across networks, n = "
            f"{max((r['n'] for r in agreement), default=0)}",
        )
    )


def _ewc(section: Section, scope: str, s: dict[str, Any], cfg: Any, figures: Path) -> None:
    rows = s["ewc_benefit"]
    section.tables.append(
        Table(
            f"persist_ewc_benefit_{scope}",
            ["metric", "summary", "n", "spearman_rho", "p"],
            rows,
            f"{scope}: EWC benefit (EWC − naive) against H0/H1 total persistence, n = "
            f"{max((r['n'] for r in rows), default=0)} (uncorrected p)",
        )
    )
    metric = cfg.loao_target
    points = [
        (p["label"], p["h0"], p["h1"], p["benefit"][metric])
        for p in s["ewc_points"]
        if None not in (p["h0"], p["h1"], p["benefit"].get(metric))
    ]
    if points:
        name = f"persist_ewc_benefit_{scope}.png"
        figs.ewc_scatter(points, metric, figures / name)
        section.figures.append((name, f"EWC benefit on {metric} vs H0/H1 total persistence, {scope}"))


def _ladder(section: Section, scope: str, s: dict[str, Any], cfg: Any, figures: Path) -> None:
    ladder = s["ladder"]
    if "note" in ladder:
        section.paragraphs.append(f"Width ladder ({html.escape(scope)}): {html.escape(ladder['note'])}.")
        return
    section.tables.append(
        Table(
            f"persist_ladder_{scope}",
            [
                "summary",
                "rho_width",
                "p_width",
                "rho_retention",
                "p_retention",
                "p_floor",
                "partial_rho_retention_given_params",
                "partial_p",
            ],
            ladder["rows"],
            f"{scope}: width ladder {', '.join(ladder['members'])} (n = {ladder['n']}); ρ within the ladder, "
            "partial ρ of H1 with retention given log params (df = n − 3)",
        )
    )
    name = f"persist_ladder_{scope}.png"
    figs.ladder_plot(ladder, cfg.loao_target, figures / name)
    section.figures.append((name, f"Width ladder, {scope}: topology and retention against width"))


def _loao(section: Section, scope: str, s: dict[str, Any], cfg: Any, figures: Path) -> None:
    loao = s["loao"]
    if "note" in loao:
        section.paragraphs.append(f"LOAO ({html.escape(scope)}): {html.escape(loao['note'])}.")
        return
    test = loao["incremental_value"]
    meaning = {
        "A": "log params",
        "A2": "log params + matched Gaussian noise",
        "B": "log params + Ripser topology",
        "C": "log params + cubical topology",
        "D": "Ripser topology alone",
    }
    rows = [{"model": k, "features": v, "mae": loao["mae"][k]} for k, v in meaning.items()]
    section.tables.append(
        Table(
            f"persist_loao_{scope}",
            ["model", "features", "mae"],
            rows,
            f"{scope}: leave-one-architecture-out ridge MAE of {loao['target']}, n = {loao['n']} rows, "
            f"{len(loao['architectures'])} architectures; A2 is the mean over {test['n_permutations']} noise draws",
        )
    )
    verdict = (
        "B beats the matched-noise model A2"
        if test["b_beats_a2"]
        else "B does not beat the matched-noise model A2: at this n, topology is no better than noise"
    )
    section.paragraphs.append(
        f"Incremental value of topology beyond parameter count ({html.escape(scope)}): B's LOAO MAE "
        f"{test['observed_mae']:.4g} vs A {test['mae_a']:.4g}; permutation p = {test['p_value']:.3g} "
        f"({test['n_permutations']} permutations of topology residuals between architectures); "
        f"share of A2 draws at least as good as B: {test['p_vs_a2']:.3g}. {verdict}."
    )
    name = f"persist_loao_{scope}.png"
    figs.loao_chart(loao, figures / name)
    section.figures.append((name, f"LOAO MAE per model and B's permutation null, {scope}"))


def _cross_dataset(section: Section, cross: dict) -> None:
    """One row per predictor: its ρ with retention on each dataset, whether the signs agree, and the
    within-dataset (stratified) ρ pooled over datasets; the same for H0/H1 against the EWC benefit."""
    if not cross.get("predictors"):
        return
    datasets = cross["datasets"]

    def flat(r: dict) -> dict:
        out = {k: r.get(k) for k in ("metric", "predictor") if k in r}
        for d in datasets:
            v = r["per_dataset"][d]
            out[f"rho_{d}"], out[f"n_{d}"] = v["rho"], v["n"]
        out.update(
            sign_consistent=r["sign_consistent"],
            min_abs_rho=r["min_abs_rho"],
            stratified_rho=r["stratified_rho"],
            stratified_p=r["stratified_p"],
        )
        if "stratified_p_bonferroni" in r:
            out["stratified_p_bonferroni"] = r["stratified_p_bonferroni"]
        return out

    tables = (
        (
            "persist_cross_dataset",
            cross["predictors"],
            f"Across datasets ({', '.join(datasets)}): each predictor's Spearman ρ with {cross['target']} on "
            "every dataset alone, whether the sign holds on all of them, the smallest |ρ|, and ρ pooled with "
            "a dataset effect (x and y ranked within each dataset; p from permutations within datasets, "
            "Bonferroni over the predictors)",
        ),
        (
            "persist_cross_dataset_ewc",
            cross["ewc_benefit"],
            "H0 and H1 total persistence (Ripser) against the EWC benefit (EWC − naive), per dataset and "
            "pooled with a dataset effect (uncorrected p)",
        ),
    )
    for name, records, caption in tables:
        rows = [flat(r) for r in records]
        section.tables.append(Table(name, list(rows[0]), rows, caption))


def persist_section(
    pairs: list[tuple[str, str]],
    seeds: list[int],
    figures: Path,
    statistics: dict | None = None,
    cfg: Any = None,
) -> Section:
    """Per-pair tables and landscapes, then every survey statistic from ``persist_statistics``."""
    section = Section("Experiment 1 (PERSIST): loss-landscape topology and forgetting", "persist")
    figures.mkdir(parents=True, exist_ok=True)
    panels = _pair_tables(section, pairs, seeds)
    if panels:
        figs.small_multiples(panels, figures / "persist_landscapes.png")
        section.figures.append(
            (
                "persist_landscapes.png",
                f"Slice-0 loss landscapes with their persistence diagrams (run seed {seeds[0]})",
            )
        )
    if statistics is None:
        return section
    if statistics["excluded"]:
        section.paragraphs.append(
            "Left out of every statistic: "
            + html.escape(
                "; ".join(
                    f"{e['architecture']}-{e['dataset']} ({e['reason']})" for e in statistics["excluded"]
                )
            )
        )
    _cross_dataset(section, statistics.get("cross_dataset") or {})
    for scope, s in statistics["scopes"].items():
        _correlations(section, scope, s, cfg, figures)
        _robustness(section, scope, s, cfg)
        _ewc(section, scope, s, cfg, figures)
        _ladder(section, scope, s, cfg, figures)
        _loao(section, scope, s, cfg, figures)
    return section
