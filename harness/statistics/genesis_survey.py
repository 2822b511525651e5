"""Experiment 3 statistics: capacity against volume and boundary, per optimizer, from ``capacity.json``.

One point per architecture (the median over seeds; seeds are not independent observations). A capacity
censored at the search's n_max, or below its n_min, is a bound, not a value: it is left out of the fits
and listed. Everything here is a function of the records; ``genesis_statistics`` writes it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from harness.statistics.power_law import (
    compare_laws,
    depth_verdict,
    effective_boundary,
    fit_power_law,
)

LITERATURE_BITS_PER_PARAMETER = [
    {
        "bits_per_parameter": 5.0,
        "models": "RNNs",
        "source": "Collins, Sohl-Dickstein & Sussillo 2017",
        "definition": "information stored with errors allowed",
    },
    {
        "bits_per_parameter": 3.6,
        "models": "GPT-style transformers",
        "source": "Morris et al. 2025",
        "definition": "memorized information by compression",
    },
]
"""Anchors shown beside the measured bits per parameter; they use other definitions than the 100%-fit
threshold, so they bound the scale, not the value."""

COUNTS = ("V", "A1", "A2")


def _rows(records: list[dict[str, Any]], optimizer: str) -> list[dict[str, Any]]:
    rows = []
    for r in records:
        o = r["optimizers"].get(optimizer)
        if o is None:
            continue
        usable = o["statuses"] == ["ok"] and o["bits"] is not None and o["bits"] > 0
        rows.append(
            {
                "architecture": r["architecture"],
                "dataset": r["dataset"],
                "family": r["family"],
                "builder_kwargs": r.get("builder_kwargs", {}),
                **o["counts"],
                "n_max_median": o["n_max_median"],
                "n_max_range": o["n_max_range"],
                "statuses": o["statuses"],
                "bits": o["bits"],
                "bits_per_parameter": o["bits_per_parameter"],
                "plan_bits": o["plan_bits"],
                "stored_label_bits": o["stored_label_bits"],
                "seed_capacities": [s["n_max"] for s in o["seeds"]],
                "trainings": o["trainings"],
                "usable": usable,
                "warning": o.get("warning"),
            }
        )
    return rows


def _law_comparison(rows: list[dict[str, Any]], response: str, level: float) -> dict[str, Any]:
    points = [r for r in rows if r["usable"] and r[response] and all(r[c] > 0 for c in COUNTS)]
    if len(points) < 3:
        return {"n": len(points), "verdict": f"needs at least 3 uncensored architectures; has {len(points)}"}
    y = [r[response] for r in points]
    out = compare_laws(y, {c: [r[c] for r in points] for c in COUNTS}, level=level)
    return {"n": len(points), "architectures": [r["architecture"] for r in points], **out}


def _depth_sweeps(rows: list[dict[str, Any]], cfg) -> list[dict[str, Any]]:
    """Constant-width MLP depth sweeps: MLPs sharing every builder argument but depth (≥ 3 depths)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        kw = r["builder_kwargs"]
        if r["family"] == "mlp" and "depth" in kw and "width" in kw:
            rest = {k: v for k, v in kw.items() if k != "depth"}
            groups[repr(sorted(rest.items()))].append(r)
    sweeps = []
    for members in groups.values():
        members = sorted(members, key=lambda r: r["builder_kwargs"]["depth"])
        if len(members) < 3:
            continue
        caps = [[c for c in r["seed_capacities"] if c] for r in members]
        verdict = depth_verdict(
            [r["V"] for r in members],
            caps,
            level=cfg.level,
            saturation_slope=cfg.saturation_slope,
        )
        sweeps.append(
            {
                "width": members[0]["builder_kwargs"]["width"],
                "architectures": [r["architecture"] for r in members],
                "depths": [r["builder_kwargs"]["depth"] for r in members],
                "n_max_median": [r["n_max_median"] for r in members],
                "A1": [r["A1"] for r in members],
                "V": [r["V"] for r in members],
                "censored": [r["architecture"] for r in members if not r["usable"]],
                **verdict,
            }
        )
    return sweeps


def _depth_width_families(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """MLPs trading depth for width at a constant depth × width (the research plan's 2×512, 4×256, 8×128,
    16×64, 32×32; ≥ 3 depths). Their V, A1 and A2 are listed as built: at a fixed input size the first
    layer's in_features × width dominates V, so such a family is not constant-volume (``v_ratio`` = max V /
    min V says by how much); the constant-volume family is the one whose width is solved for a V."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        kw = r["builder_kwargs"]
        if r["family"] == "mlp" and "depth" in kw and "width" in kw:
            rest = {k: v for k, v in kw.items() if k not in ("depth", "width")}
            groups[(kw["depth"] * kw["width"], repr(sorted(rest.items())))].append(r)
    families = []
    for (product, _), members in sorted(groups.items(), key=lambda g: g[0][0]):
        members = sorted(members, key=lambda r: r["builder_kwargs"]["depth"])
        if len({r["builder_kwargs"]["depth"] for r in members}) < 3:
            continue
        families.append(
            {
                "depth_times_width": product,
                "members": [
                    {
                        "architecture": r["architecture"],
                        "depth": r["builder_kwargs"]["depth"],
                        "width": r["builder_kwargs"]["width"],
                        **{c: r[c] for c in COUNTS},
                        "n_max_median": r["n_max_median"],
                        "usable": r["usable"],
                    }
                    for r in members
                ],
                "v_ratio": max(r["V"] for r in members) / min(r["V"] for r in members),
            }
        )
    return families


def _twins(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Residual vs plain twins: the same builder arguments but ``skip: false``."""
    out = []
    for plain in rows:
        kw = plain["builder_kwargs"]
        if kw.get("skip") is not False:
            continue
        base = {k: v for k, v in kw.items() if k != "skip"}
        for res in rows:
            rkw = {k: v for k, v in res["builder_kwargs"].items() if k != "skip"}
            if res is not plain and res["builder_kwargs"].get("skip", True) is not False and rkw == base:
                ok = res["n_max_median"] and plain["n_max_median"]
                out.append(
                    {
                        "residual": res["architecture"],
                        "plain": plain["architecture"],
                        "n_max_residual": res["n_max_median"],
                        "n_max_plain": plain["n_max_median"],
                        "delta": res["n_max_median"] - plain["n_max_median"] if ok else None,
                        "ratio": res["n_max_median"] / plain["n_max_median"] if ok else None,
                    }
                )
    return out


def _transformers(rows: list[dict[str, Any]], cfg) -> dict[str, Any]:
    """Volume exponent of transformers vs the rest, and each transformer's effective boundary A_eff from
    the non-transformer area law (A1)."""
    usable = [r for r in rows if r["usable"]]
    groups = {
        "transformer": [r for r in usable if r["family"] == "transformer"],
        "other": [r for r in usable if r["family"] != "transformer"],
    }
    exponents = {}
    for name, members in groups.items():
        try:
            fit = fit_power_law([r["V"] for r in members], [r["bits"] for r in members], cfg.level)
            exponents[name] = {"n": len(members), **fit}
        except ValueError as err:
            exponents[name] = {"n": len(members), "error": str(err)}
    effective = []
    other = groups["other"]
    if groups["transformer"]:
        try:
            x, y = [r["A1"] for r in other], [r["bits"] for r in other]
            fit = fit_power_law(x, y, cfg.level)
            for r in groups["transformer"]:
                eff = effective_boundary(r["bits"], fit, (min(x), max(x)), cfg.level)
                effective.append({"architecture": r["architecture"], "V": r["V"], "A1": r["A1"], **eff})
        except ValueError as err:
            effective.append({"error": f"no non-transformer area law to invert: {err}"})
    return {"exponents": exponents, "effective_boundary": effective}


def _information_rows(
    records: list[dict[str, Any]], information: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    rows = []
    for r, info in zip(records, information, strict=True):
        row = {"architecture": r["architecture"], "status": info.get("status")}
        if info.get("status") == "ok":
            row.update(
                optimizer=info["optimizer"],
                n_samples=info["n_samples"],
                members=info["m"],
                members_fitted=info["members_fitted"],
                mine_nats=info["mine"],
                ceiling_nats=info["ceiling_nats"],
                label_nats=info["label_nats"],
                calibration_recovered=info["calibration"]["recovered"],
                null_mean_nats=(info.get("null") or {}).get("mean"),
                permutation_p=(info.get("null") or {}).get("p_value"),
                permutations=(info.get("null") or {}).get("permutations"),
            )
        rows.append(row)
    return rows


def genesis_statistics(
    records: list[dict[str, Any]],
    cfg,
    information: list[dict[str, Any]] | None = None,
    double_descent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the report shows about GENESIS, per optimizer budget; with each pair's ensemble MINE
    estimate (``information``, in the records' order) and the double-descent run, when given.

    Fits never pool datasets: with records on several datasets every optimizer budget gets one scope per
    dataset, named ``<optimizer>-<dataset>`` (just ``<optimizer>`` when there is one dataset)."""
    optimizers = list(dict.fromkeys(o for r in records for o in r["optimizers"]))
    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    per_optimizer = {}
    for name, dataset in ((o, d) for o in optimizers for d in datasets):
        rows = _rows([r for r in records if r["dataset"] == dataset], name)
        if not rows:
            continue
        scope = name if len(datasets) == 1 else f"{name}-{dataset}"
        per_optimizer[scope] = {
            "optimizer": name,
            "dataset": dataset,
            "rows": rows,
            "censored": [r["architecture"] for r in rows if not r["usable"]],
            "below_range": [r["architecture"] for r in rows if "below range" in r["statuses"]],
            "laws": _law_comparison(rows, "bits", cfg.level),
            "stored_label_laws": _law_comparison(rows, "stored_label_bits", cfg.level),
            "depth_sweeps": _depth_sweeps(rows, cfg),
            "depth_width_families": _depth_width_families(rows),
            "twins": _twins(rows),
            "transformers": _transformers(rows, cfg),
            "bits_per_parameter_median": float(np.median(bpp))
            if (bpp := [r["bits_per_parameter"] for r in rows if r["usable"]])
            else None,
        }
    exponents = {
        name: {
            c: {k: v["laws"]["fits"][c].get(k) for k in ("exponent", "ci", "r2")}
            for c in COUNTS
            if "fits" in v["laws"] and "error" not in v["laws"]["fits"][c]
        }
        for name, v in per_optimizer.items()
    }
    warnings = [
        f"{r['architecture']}-{r['dataset']} [{name}]: {o['warning']}"
        for r in records
        for name, o in r["optimizers"].items()
        if o.get("warning")
    ]
    return {
        "n_pairs": len(records),
        "warnings": warnings,
        "weight_information": _information_rows(records, information) if information is not None else [],
        "double_descent": double_descent,
        "optimizers": per_optimizer,
        "exponents_by_optimizer": exponents,
        "literature": LITERATURE_BITS_PER_PARAMETER,
        "plan_quantity_note": (
            "The research plan's C = log2(N·K) is reported as plan_bits; it is not a power law in V: if "
            "N ∝ V^α its local log–log slope is α/ln(N·K). The fits use C = N·log2 K bits."
        ),
    }
