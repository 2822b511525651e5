"""Experiment 3 (GENESIS) report section: capacity vs volume and boundary, from ``genesis_statistics``."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from harness.report.page import Section, Table, pyplot

COUNT_LABELS = {
    "V": "volume V (all parameters)",
    "A1": "boundary A1 (input/output layers)",
    "A2": "A2 (connection weights)",
}


def _fmt(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def law_figure(rows: list[dict[str, Any]], laws: dict[str, Any], path: Path, title: str) -> bool:
    """Capacity (bits) against V, A1 and A2 on log–log axes, each with its fitted line and numbers."""
    points = [r for r in rows if r["usable"]]
    if len(points) < 3 or "fits" not in laws:
        return False
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), squeeze=False)
    y = np.array([r["bits"] for r in points])
    for ax, count in zip(axes[0], ("V", "A1", "A2"), strict=True):
        x = np.array([r[count] for r in points], dtype=float)
        ax.loglog(x, y, "o")
        fit = laws["fits"][count]
        if "error" not in fit:
            grid = np.geomspace(x.min(), x.max(), 50)
            ax.loglog(grid, fit["prefactor"] * grid ** fit["exponent"], "-")
            ci = fit["ci"]
            others = [v for k, v in laws["collinearity"].items() if count in k.split("~")]
            ax.set_title(
                f"{count}: exponent {fit['exponent']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]\n"
                f"R² {fit['r2']:.2f}, BIC {fit['bic']:.1f}, |r_log| {max(abs(v) for v in others):.2f}",
                fontsize=9,
            )
        ax.set_xlabel(COUNT_LABELS[count])
        ax.set_ylabel("capacity C = N·log2 K (bits)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def depth_figure(sweeps: list[dict[str, Any]], path: Path) -> bool:
    if not sweeps:
        return False
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for s in sweeps:
        ax.plot(s["depths"], s["n_max_median"], "o-", label=f"width {s['width']}: {s['verdict']}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("depth (hidden layers), constant width: A1 constant")
    ax.set_ylabel("N_max (median over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def double_descent_figure(dd: dict[str, Any], path: Path) -> bool:
    rows = [r for r in dd["rows"] if r["test_error"] is not None]
    if len(rows) < 3:
        return False
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([r["width"] for r in rows], [r["test_error"] for r in rows], "o-")
    if dd["threshold_width"]:
        ax.axvline(dd["threshold_width"], ls="--", color="gray", label="interpolation threshold")
        ax.legend(fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("width")
    ax.set_ylabel("test error (clean labels)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _law_text(label: str, count: str, fit: dict, bic: bool = False) -> str:
    """``C ~ count^α [CI] (R², BIC)`` for a fitted law, or why it has none."""
    if "error" in fit:
        return f"{label}: {html.escape(fit['error'])}"
    level = round(100 * fit.get("level", 0.95))
    text = f"C ~ {count}^{fit['exponent']:.2f} [{level}% t interval {fit['ci'][0]:.2f}, {fit['ci'][1]:.2f}] "
    text += f"(R² {fit['r2']:.2f}"
    text += f", BIC {fit['bic']:.1f})" if bic else ")"
    return text if label == count else f"{label}: {text}"


def genesis_section(figures: Path, statistics: dict[str, Any]) -> Section:
    section = Section("Experiment 3 — GENESIS: memorization capacity vs volume and boundary", "genesis")
    section.paragraphs.append(
        "Capacity is the largest number N of randomly labelled samples a network fits to 100% training "
        "accuracy within its budget (doubling, then bisection; median over seeds, range beside it), reported "
        "as C = N·log2 K bits. One point per architecture in every fit; a capacity censored at the "
        "search's bounds is left out of the fits and listed. " + html.escape(statistics["plan_quantity_note"])
    )
    anchors = "; ".join(
        f"{a['bits_per_parameter']} bits/parameter for {a['models']} ({a['source']}; {a['definition']})"
        for a in statistics["literature"]
    )
    if statistics.get("warnings"):
        section.paragraphs.append(
            "<b>Warning — searches that measured no capacity</b> (their smallest N never fit; they are left "
            "out of every fit): " + "; ".join(html.escape(w) for w in statistics["warnings"])
        )
    for name, o in statistics["optimizers"].items():
        rows = o["rows"]
        section.tables.append(
            Table(
                f"genesis_capacity_{name}",
                [
                    "architecture",
                    "family",
                    "V",
                    "A1",
                    "A2",
                    "n_max_median",
                    "n_max_range",
                    "statuses",
                    "bits",
                    "bits_per_parameter",
                    "plan_bits",
                    "stored_label_bits",
                    "trainings",
                ],
                rows,
                f"Capacity with the {name} budget (n = {len(rows)} architectures; "
                f"{len(o['censored'])} censored or below range: {', '.join(o['censored']) or 'none'})",
            )
        )
        laws = o["laws"]
        text = f"<b>{html.escape(name)}</b> — power laws (n = {laws['n']}): {html.escape(laws['verdict'])}."
        if "fits" in laws:
            parts = []
            for count, fit in laws["fits"].items():
                parts.append(_law_text(count, count, fit, bic=True))
            col = ", ".join(f"{k} {v:.2f}" for k, v in laws["collinearity"].items())
            text += " " + "; ".join(parts) + f". Correlation of the logs: {col}."
            tests = "; ".join(
                f"{laws['lowest_bic']} vs {rival}: Williams t = {t['t']:.2f}, p = {t['p']:.2g}, "
                f"r difference [{t['ci'][0]:.2f}, {t['ci'][1]:.2f}] (Zou)"
                for rival, t in laws.get("tests", {}).items()
                if "error" not in t
            )
            if tests:
                text += f" Tests of equal fit: {tests}."
        text += (
            " A law is named only when Williams' test of dependent correlations rejects equal fit against every "
            "rival (its size was checked by simulation); ΔBIC = n·ln((1 − R²₁)/(1 − R²₂)) ranks the laws as R² "
            "does and is no evidence on its own: between two equally good noisy proxies a ΔBIC above 2 is common."
        )
        stored = o["stored_label_laws"]
        text += (
            f" Stored label information (max over trained N of N·I(labels; predictions), Miller–Madow): "
            f"{html.escape(stored['verdict'])}"
        )
        if "fits" in stored and "error" not in stored["fits"]["V"]:
            text += f"; its V exponent {stored['fits']['V']['exponent']:.2f}"
        text += (
            f". Median bits per parameter {_fmt(o['bits_per_parameter_median'])}; literature anchors "
            f"(other definitions): {html.escape(anchors)}."
        )
        section.paragraphs.append(text)
        fig = f"genesis_laws_{name}.png"
        if law_figure(rows, laws, figures / fig, f"capacity vs volume and boundary ({name})"):
            section.figures.append((fig, f"Capacity vs V, A1, A2 ({name}), fitted power laws"))
        for s in o["depth_sweeps"]:
            ci = s.get("ci")
            section.paragraphs.append(
                f"Depth sweep at constant width {s['width']} ({name}; {', '.join(s['architectures'])}): "
                f"exponent of capacity in V within the sweep (ln C on ln V; A1 is constant, so an area law "
                f"predicts 0) {_fmt(s.get('slope'))}"
                + (
                    f" [{round(100 * s.get('level', 0.95))}% t interval {ci[0]:.2f}, {ci[1]:.2f}]"
                    if ci
                    else ""
                )
                + f" → {html.escape(s['verdict'])} (rule: the whole interval above 0 is growth, inside "
                f"±{s.get('saturation_slope')} saturation, below 0 decline)."
            )
        fig = f"genesis_depth_{name}.png"
        if depth_figure(o["depth_sweeps"], figures / fig):
            section.figures.append((fig, f"Capacity vs depth at constant width ({name})"))
        for fam in o.get("depth_width_families", []):
            section.tables.append(
                Table(
                    f"genesis_depth_width_{fam['depth_times_width']}_{name}",
                    ["architecture", "depth", "width", "V", "A1", "A2", "n_max_median", "usable"],
                    fam["members"],
                    f"MLPs at depth × width = {fam['depth_times_width']} ({name}; n = {len(fam['members'])}): "
                    f"not constant-volume at this input, V varies {fam['v_ratio']:.1f}-fold (the first "
                    "layer's in_features × width dominates); the constant-volume family solves width for V",
                )
            )
        if o["twins"]:
            section.tables.append(
                Table(
                    f"genesis_twins_{name}",
                    ["residual", "plain", "n_max_residual", "n_max_plain", "delta", "ratio"],
                    o["twins"],
                    f"Residual vs plain twins ({name}; n = {len(o['twins'])} pairs)",
                )
            )
        tr = o["transformers"]
        if tr["exponents"]["transformer"]["n"]:
            groups = [_law_text(f"{g} (n = {f['n']})", "V", f) for g, f in tr["exponents"].items()]
            section.paragraphs.append(
                f"Volume exponents, transformers vs the rest ({name}): " + "; ".join(groups) + "."
            )
        if tr["effective_boundary"]:
            section.tables.append(
                Table(
                    f"genesis_effective_boundary_{name}",
                    ["architecture", "V", "A1", "a_eff", "ci", "extrapolated"],
                    [e for e in tr["effective_boundary"] if "error" not in e],
                    f"Transformers' effective boundary A_eff = (C/ĉ)^(1/β̂) from the non-transformer A1 law ({name}); "
                    "interval by inverse regression (Fieller), empty where that law's slope is not significantly "
                    "non-zero (the set is unbounded)",
                )
            )
    info = [r for r in statistics.get("weight_information", []) if r.get("status") == "ok"]
    if info:
        section.tables.append(
            Table(
                "genesis_weight_information",
                [
                    "architecture",
                    "optimizer",
                    "n_samples",
                    "members",
                    "members_fitted",
                    "mine_nats",
                    "null_mean_nats",
                    "permutation_p",
                    "ceiling_nats",
                    "label_nats",
                    "calibration_recovered",
                ],
                info,
                "I(W; labels) by MINE over an ensemble of M networks on independent label draws (nats): the "
                "estimate cannot certify more than about ln M (McAllester & Stratos 2020), far below the "
                "N·ln K the labels carry; calibration_recovered is MINE's fraction of a known MI at the same M. "
                "Dependence is judged by permutation_p — the same MINE with the label sets permuted across "
                "members (null_mean_nats shows its bias at these settings) — not by the estimate's sign or size",
            )
        )
    dd = statistics.get("double_descent")
    if dd:
        fig = "genesis_double_descent.png"
        if double_descent_figure(dd, figures / fig):
            section.figures.append((fig, "Test error vs width at fixed N with label noise"))
        ratio = dd["peak_over_threshold"]
        section.paragraphs.append(
            f"Double descent ({html.escape(dd['architecture'])} on {html.escape(dd['dataset'])}, N = {dd['n_train']}, "
            f"{dd['label_noise']:.0%} label noise, n_test = {dd['n_test']}): test-error peak at width "
            f"{dd['peak_width']}, interpolation threshold (the smallest width whose capacity reaches N: it fits "
            f"every noisy label) at width {dd['threshold_width']}"
            + (f"; peak / threshold = {ratio:.2f}" if ratio else "")
            + ". One seed: the peak's position is a point estimate."
        )
    exps = statistics["exponents_by_optimizer"]
    if len(exps) > 1:
        section.tables.append(
            Table(
                "genesis_exponents_by_optimizer",
                ["optimizer", "count", "exponent", "ci", "r2"],
                [{"optimizer": o, "count": c, **v} for o, by in exps.items() for c, v in by.items()],
                "Exponents of every law by optimizer (same architectures)",
            )
        )
    return section
