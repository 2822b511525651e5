"""Experiment 2 statistics across architectures: Φ_pair trajectories, its relation to generalization and to
PCI, partition sensitivity, and the estimator calibration, with n and Bonferroni-corrected p beside each.

The primary tests use Φ_pair per cut pair (``mean_cut_mi`` = Φ_pair / (|S|·|S̄|), the mean MI of a pair the
minimum information partition separates), not raw Φ_pair: raw Φ_pair is a sum over |S|·|S̄| cut pairs and
grows with the number of modules (1, 4, 9, 16 nats for 2, 4, 6, 8 modules of a complete graph with pairwise
MI 1 nat), so across architectures with different module counts it ranks module counts. Raw Φ_pair is kept
as a secondary test. Each test records the module counts, probe N and reduced dims d it compares."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from harness.measurements.integration import GAUSSIAN_MEASURES
from harness.statistics.correlation import Method, bonferroni, rank_correlation
from harness.statistics.threshold import threshold_regression


def classify_trajectory(values: list[float], tolerance: float = 0.05) -> str:
    """``flat``, ``monotonic``, ``peaked`` or ``oscillating`` by the signs of successive changes.

    Changes smaller than ``tolerance`` × the trajectory's range are dropped; the rest give a sign sequence:
    no sign change → monotonic, exactly one → peaked (an interior maximum or minimum), two or more →
    oscillating. A range of zero (or fewer than two values) is flat.
    """
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size < 2 or np.ptp(v) == 0:
        return "flat"
    steps = np.diff(v)
    signs = np.sign(steps[np.abs(steps) > tolerance * np.ptp(v)])
    changes = int(np.sum(signs[1:] != signs[:-1])) if signs.size else 0
    return "monotonic" if changes == 0 else "peaked" if changes == 1 else "oscillating"


def _correlation(
    name: str, x: list[float], y: list[float], method: Method = "spearman", family: str = "secondary"
) -> dict[str, Any]:
    r = rank_correlation(np.asarray(x), np.asarray(y), method)
    return {
        "test": name,
        "family": family,
        "method": method,
        "n": r.n,
        "statistic": None if np.isnan(r.statistic) else r.statistic,
        "p_value": r.p_value,
        "p_method": r.p_method,
        "p_floor": r.p_floor,
    }


def _sizes(rows: list[dict[str, Any]], scheme: str | None) -> dict[str, Any]:
    """What a cross-architecture test compares: each row's module count, probe N and reduced dims (the
    scheme's, or the layer scheme's when ``scheme`` is None): KSG values are comparable only at equal N, d."""
    out: dict[str, list[Any]] = {"modules": [], "probe_n": [], "dims": []}
    for r in rows:
        m = r["schemes"].get(scheme or r["layer_scheme"], {})
        out["modules"].append(m.get("modules"))
        out["probe_n"].append(r["n_probe"])
        out["dims"].append(sorted(set(m.get("dims") or [])))
    return out


def final_checkpoint(record: dict[str, Any]) -> dict[str, Any] | None:
    """The last checkpoint of a ``measures.json`` record that has measurements (None when none has, or
    when training diverged: a diverged network has no end-of-training Φ, and an earlier checkpoint must not
    stand in for it in the cross-architecture tests)."""
    if record.get("status", "ok") != "ok":
        return None
    done = [c for c in record["checkpoints"] if c.get("schemes")]
    return done[-1] if done else None


def phi_statistics(
    records: list[dict[str, Any]],
    level: float,
    tolerance: float,
    transfers: list[dict[str, Any]] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Everything the report shows about PHI, from each pair's ``measures.json`` (and ``transfer.json``,
    in the same order)."""
    transfers = transfers or [{} for _ in records]
    schemes = sorted({k for r in records for c in r["checkpoints"] for k in c.get("schemes", {})})
    rows = []
    for r in records:
        final = final_checkpoint(r)
        row = {
            "architecture": r["architecture"],
            "dataset": r["dataset"],
            "family": r["family"],
            "status": r["status"],
            "n_probe": r["n_probe"],
            "gap": None if final is None else final.get("gap"),
            "test_accuracy": None if final is None else final.get("test_accuracy"),
            "pci": None if final is None or final.get("pci") is None else final["pci"]["pci"],
            "pci_p1": None if final is None or final.get("pci") is None else final["pci"]["p1"],
            "lz_normalized": None
            if final is None or final.get("pci") is None
            else final["pci"]["lz_normalized"],
            "layer_scheme": r.get("layer_scheme"),
            "pgd_success_rate": (r.get("robustness") or {}).get("success_rate"),
            "schemes": {},
        }
        for s in schemes:
            trajectory = [c.get("schemes", {}).get(s, {}).get("phi") for c in r["checkpoints"]]
            normalized_trajectory = [
                c.get("schemes", {}).get(s, {}).get("mean_cut_mi") for c in r["checkpoints"]
            ]
            if final is None or "phi" not in final["schemes"].get(s, {}):
                continue
            m = final["schemes"][s]
            row["schemes"][s] = {
                "phi": m["phi"],
                "ci": m["ci"],
                "mean_cut_mi": m.get("mean_cut_mi"),
                "modules": len(m["modules"]),
                "dims": m.get("dims"),
                "phi_gaussian": m["phi_gaussian"],
                "exhaustive_gap": m["exhaustive_gap"],
                "saturated_pairs": m.get("saturated_pairs"),
                "gaussian": (
                    {k: v["value"] for k, v in m["gaussian"]["mip"].items()}
                    | {"mutual_information": m["gaussian"]["mutual_information"]}
                    if "mip" in m.get("gaussian", {})
                    else None
                ),
                "trajectory": trajectory,
                "shape": classify_trajectory(trajectory, tolerance),
                "normalized_trajectory": normalized_trajectory,
                "normalized_shape": classify_trajectory(normalized_trajectory, tolerance),
            }
        rows.append(row)
    for row, t in zip(rows, transfers, strict=True):
        row["transfer_status"] = t.get("status")
        row["transfer_route"] = t.get("route")
        row["source_phi_pair"] = t.get("source_phi_pair")
        row["transfer_delta"] = t.get("delta")

    tests = []
    for s in schemes:
        have = [r for r in rows if s in r["schemes"] and r["gap"] is not None]
        family = "primary" if any(r["layer_scheme"] == s for r in have) else "secondary"
        normalized = [r for r in have if r["schemes"][s]["mean_cut_mi"] is not None]
        tests.append(
            _correlation(
                f"Φ_pair per cut pair[{s}] vs generalization gap",
                [r["schemes"][s]["mean_cut_mi"] for r in normalized],
                [r["gap"] for r in normalized],
                family=family,
            )
            | _sizes(normalized, s)
        )
        phi = [r["schemes"][s]["phi"] for r in have]
        tests.append(
            _correlation(f"Φ_pair (raw)[{s}] vs generalization gap", phi, [r["gap"] for r in have])
            | _sizes(have, s)
        )
        have = [r for r in have if r["schemes"][s]["phi_gaussian"] is not None]
        gphi = [r["schemes"][s]["phi_gaussian"] for r in have]
        tests.append(
            _correlation(f"Φ_pair (Gaussian MI)[{s}] vs generalization gap", gphi, [r["gap"] for r in have])
        )
    for r in rows:  # Φ_pair of the layer scheme (the modules PCI perturbs and records)
        r["layer_phi"] = r["schemes"].get(r["layer_scheme"], {}).get("phi")
        r["layer_phi_per_pair"] = r["schemes"].get(r["layer_scheme"], {}).get("mean_cut_mi")
    for key, label, primary in (
        ("layer_phi_per_pair", "Φ_pair per cut pair", True),
        ("layer_phi", "Φ_pair (raw)", False),
    ):
        with_pci = [r for r in rows if r[key] is not None and r["pci"] is not None]
        methods: tuple[Method, ...] = ("spearman", "kendall")
        for method in methods:
            tests.append(
                _correlation(
                    f"PCI vs {label}[layer]",
                    [r["pci"] for r in with_pci],
                    [r[key] for r in with_pci],
                    method,
                    "primary" if primary and method == "spearman" else "secondary",
                )
                | _sizes(with_pci, None)
            )
    for s in schemes:  # the past/present Gaussian measures at their MIPs, where a scheme has dynamics
        have = [r for r in rows if (r["schemes"].get(s) or {}).get("gaussian") and r["gap"] is not None]
        for measure in GAUSSIAN_MEASURES if have else ():
            values = [r["schemes"][s]["gaussian"][measure] for r in have]
            tests.append(
                _correlation(f"{measure}[{s}] vs generalization gap", values, [r["gap"] for r in have])
            )
    for key, label, family in (
        ("layer_phi_per_pair", "Φ_pair per cut pair", "primary"),
        ("layer_phi", "Φ_pair (raw)", "secondary"),
    ):
        robust = [r for r in rows if r[key] is not None and r["pgd_success_rate"] is not None]
        tests.append(
            _correlation(
                f"{label}[layer] vs PGD success rate",
                [r[key] for r in robust],
                [r["pgd_success_rate"] for r in robust],
                family=family,
            )
            | _sizes(robust, None)
        )
    # the transfer source is the pair's own final layer-scheme network (transfer.json's source_phi_pair)
    transfer = [r for r in rows if r["source_phi_pair"] is not None and r["transfer_delta"] is not None]
    x = [r["source_phi_pair"] for r in transfer]
    y = [r["transfer_delta"] for r in transfer]
    per_pair = [r for r in transfer if r["layer_phi_per_pair"] is not None]
    tests.append(
        _correlation(
            "Φ_pair per cut pair[layer] of the source network vs transfer Δ",
            [r["layer_phi_per_pair"] for r in per_pair],
            [r["transfer_delta"] for r in per_pair],
            family="primary",
        )
        | _sizes(per_pair, None)
    )
    tests.append(
        _correlation("Φ_pair (raw)[layer] of the source network vs transfer Δ", x, y) | _sizes(transfer, None)
    )
    # Bonferroni within each family, over the tests that could be computed (n ≥ 3, neither side constant):
    # primary = the layer scheme's Φ_pair against gap, transfer Δ, PGD, and PCI (Spearman); the rest secondary
    for family in ("primary", "secondary"):
        members = [t for t in tests if t["family"] == family and t["statistic"] is not None]
        for t, p in zip(members, bonferroni([t["p_value"] for t in members]), strict=True):
            t["p_bonferroni"], t["family_size"], t["significant"] = p, len(members), bool(p < level)
    for t in tests:
        if t["statistic"] is None:
            t["p_bonferroni"], t["family_size"], t["significant"] = None, None, False

    agreement = []
    for a, b in itertools.combinations(schemes, 2):
        both = [r for r in rows if a in r["schemes"] and b in r["schemes"]]
        agreement.append(
            {
                **_correlation(
                    f"{a} vs {b}",
                    [r["schemes"][a]["phi"] for r in both],
                    [r["schemes"][b]["phi"] for r in both],
                ),
                "architectures": [r["architecture"] for r in both],
            }
        )
    sensitivity = {
        r["architecture"] + "-" + r["dataset"]: {
            "schemes": len(r["schemes"]),
            "range": float(np.ptp([v["phi"] for v in r["schemes"].values()]))
            if len(r["schemes"]) > 1
            else None,
        }
        for r in rows
    }
    calibration: dict[str, list[float]] = {}
    for r in records:
        for c in r.get("calibration", []):
            calibration.setdefault(c["estimator"], []).append(c["recovered"])
    shapes = {s: [r["schemes"][s]["shape"] for r in rows if s in r["schemes"]] for s in schemes}
    return {
        "transfer_threshold": {
            **threshold_regression(
                np.asarray([r["layer_phi_per_pair"] for r in per_pair]),
                np.asarray([r["transfer_delta"] for r in per_pair]),
                n_boot=n_boot,
                seed=seed,
            ),
            "predictor": "Φ_pair per cut pair[layer] of the source network",
            "architectures": [f"{r['architecture']}-{r['dataset']}" for r in per_pair],
        },
        "n_pairs": len(records),
        "schemes": schemes,
        "rows": rows,
        "tests": tests,
        "level": level,
        "scheme_agreement": agreement,
        "partition_sensitivity": sensitivity,
        "trajectory_shapes": {s: {k: v.count(k) for k in sorted(set(v))} for s, v in shapes.items()},
        "calibration_recovered": {
            k: {"median": float(np.median(v)), "min": float(np.min(v)), "max": float(np.max(v)), "n": len(v)}
            for k, v in calibration.items()
        },
    }
