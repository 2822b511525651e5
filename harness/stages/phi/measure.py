"""Stage ``phi_measure@<arch>-<dataset>``: integrated information of one network at every checkpoint.

For each checkpoint of ``phi_train`` and each partition scheme (``--schemes``, registry measurements)
that applies to the network: module activations on the probe inputs (a seeded subset of the test split),
each module reduced by a PCA fitted on a seeded subset of the validation split; pairwise MI (KSG, and the
bias-corrected Gaussian estimator beside it); Φ_pair over the minimum information partition (greedy, and
exhaustive for ≤ 16 modules with the greedy gap) with a bootstrap interval; each module's leave-one-out
contribution. Then PCI on the ``layer`` modules, and the estimator calibration on correlated Gaussians at
this stage's own N and d. All MI in nats.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from harness.pipeline.paths import phi_dir
from harness.pipeline.provenance import device_description
from harness.stages.common import stage_main, write_json
from harness.stages.phi.common import checkpoint_name, start_phi_stage

STAGE_MODULE = "harness.stages.phi.measure"
SATURATION = 0.9
"""A pairwise KSG estimate at or above this fraction of its ceiling ψ(N) − ψ(k) counts as saturated."""
SECTIONS = [
    "phi.train",
    "phi.checkpoints",
    "phi.probe",
    "phi.mutual_information",
    "phi.pci",
    "runtime",
    "data",
]


def _schemes_arg(parser) -> None:
    parser.add_argument(
        "--schemes", type=lambda s: [k for k in s.split(",") if k], default=[], help="partition-scheme keys"
    )


def seeded_rows(n: int, size: int, seed: int) -> np.ndarray:
    """``size`` row indices of n (all when fewer), drawn with ``seed``, in index order."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def measure_scheme(model, pca_inputs, probe_inputs, capture, probe_cfg, mi_cfg) -> dict:
    """Φ_pair of one scheme at one checkpoint (pure: model and inputs in, numbers out)."""
    from harness.measurements.integration import (
        EXHAUSTIVE_LIMIT,
        leave_one_out_phi,
        pairwise_phi,
        pairwise_phi_interval,
    )
    from harness.measurements.modules import fit_pca, project
    from harness.measurements.mutual_information import gaussian_mutual_information, ksg_ceiling, pairwise_ksg

    fit, probe = capture(pca_inputs), capture(probe_inputs)
    names = list(fit)
    pcas = [fit_pca(fit[n], probe_cfg.pca_dims, seed=mi_cfg.seed) for n in names]
    reduced = [project(p, probe[n]) for p, n in zip(pcas, names, strict=True)]
    mi, local = pairwise_ksg(
        reduced,
        k=mi_cfg.k,
        algorithm=mi_cfg.algorithm,
        standardize=mi_cfg.standardize,
        noise=mi_cfg.noise,
        seed=mi_cfg.seed,
    )
    gaussian = np.zeros_like(mi)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            gaussian[i, j] = gaussian[j, i] = gaussian_mutual_information(reduced[i], reduced[j])
    greedy = pairwise_phi(mi, "greedy")
    n_probe = local.shape[-1]
    ceiling = ksg_ceiling(n_probe, mi_cfg.k, mi_cfg.algorithm)
    upper = mi[np.triu_indices(len(names), 1)]
    result = {
        "ksg_ceiling": ceiling,
        "saturated_pairs": float(np.mean(upper >= SATURATION * ceiling)),
        "n": n_probe,
        "modules": names,
        "dims": [int(r.shape[1]) for r in reduced],
        "explained_variance": [p.explained_variance_ratio for p in pcas],
        "mi_ksg": mi.tolist(),
        "mi_gaussian": gaussian.tolist(),
        "phi": greedy["phi"],
        "partition": greedy["partition"],
        "normalized_cut": greedy["normalized_cut"],
        "total_mi": greedy["total"],
        "ci": list(
            pairwise_phi_interval(local, n_boot=mi_cfg.bootstrap, level=mi_cfg.level, seed=mi_cfg.seed)
        ),
        "phi_gaussian": pairwise_phi(gaussian, "greedy")["phi"],
        "leave_one_out": leave_one_out_phi(mi),
        "exhaustive_gap": None,
    }
    if len(names) <= EXHAUSTIVE_LIMIT:
        exhaustive = pairwise_phi(mi, "exhaustive")
        result["exhaustive_gap"] = greedy["normalized_cut"] - exhaustive["normalized_cut"]
        result["phi_exhaustive"] = exhaustive["phi"]
    return result, pcas


def calibration_rows(n: int, d: int, mi_cfg) -> list[dict]:
    """Every estimator on correlated Gaussians at this stage's N and d (the fraction of the truth recovered)."""
    from harness.measurements.mutual_information import (
        calibration,
        gaussian_mutual_information,
        ksg_mutual_information,
        mine_mutual_information,
    )

    def ksg(algorithm):
        return lambda x, y: ksg_mutual_information(
            x, y, k=mi_cfg.k, algorithm=algorithm, standardize=mi_cfg.standardize, noise=mi_cfg.noise
        )

    estimators = {
        "ksg1": ksg(1),
        "ksg2": ksg(2),
        "gaussian": gaussian_mutual_information,
        "mine": lambda x, y: mine_mutual_information(x, y, steps=mi_cfg.mine_steps, seed=mi_cfg.seed),
    }
    rows = calibration(estimators, n, d, mi_cfg.calibration_rho, mi_cfg.seed)
    return [{**row.__dict__, "recovered": row.recovered} for row in rows]


@stage_main
def main(argv: list[str] | None = None) -> None:
    ctx = start_phi_stage(argv, __doc__, "measure", SECTIONS, _schemes_arg)
    probe_cfg, mi_cfg, pci_cfg = (ctx.config[k] for k in ("phi.probe", "phi.mutual_information", "phi.pci"))
    runtime = ctx.config["runtime"]
    trained = json.loads(Path(phi_dir(ctx.pair.key, "train"), "metrics.json").read_text())

    import torch
    from safetensors.torch import load_file

    from harness.measurements.modules import SchemeNotApplicable, capture_modules
    from harness.measurements.perturbation import perturbational_complexity
    from harness.training.device import make_deterministic, resolve_device

    device = resolve_device(runtime.device)
    make_deterministic(runtime.seed, runtime.deterministic)
    model, arrays = ctx.splits()
    model = model.to(device)
    seed = mi_cfg.seed
    pca_inputs = torch.from_numpy(
        arrays["val"][0][seeded_rows(len(arrays["val"][1]), probe_cfg.pca_samples, seed)]
    )
    probe_rows = seeded_rows(len(arrays["test"][1]), probe_cfg.probe_samples, seed + 1)
    probe_inputs = torch.from_numpy(arrays["test"][0][probe_rows])
    schemes = {k: ctx.reg.measurements[k].kwargs for k in ctx.args.schemes}

    def capturer(kwargs):
        options = {k: v for k, v in kwargs.items() if k != "scheme"}

        def capture(inputs):
            batches = [
                capture_modules(
                    model, inputs[i : i + probe_cfg.batch_size].to(device), kwargs["scheme"], **options
                )
                for i in range(0, len(inputs), probe_cfg.batch_size)
            ]
            return {name: torch.cat([b[name] for b in batches]).cpu() for name in batches[0]}

        return capture

    not_applicable: dict[str, str] = {}
    checkpoints = []
    ckpt_dir = phi_dir(ctx.pair.key, "train") + "/checkpoints"
    for record in trained["checkpoints"]:
        entry = {**record, "schemes": {}, "pci": None}
        path = f"{ckpt_dir}/{checkpoint_name(record['fraction'])}.safetensors"
        if record.get("status") == "not reached":
            checkpoints.append(entry)
            continue
        model.load_state_dict(load_file(path))
        for key, kwargs in schemes.items():
            if key in not_applicable:
                continue
            try:
                result, pcas = measure_scheme(
                    model, pca_inputs, probe_inputs, capturer(kwargs), probe_cfg, mi_cfg
                )
            except SchemeNotApplicable as err:
                not_applicable[key] = str(err)
                continue
            except ValueError as err:  # e.g. a diverged checkpoint's non-finite activations
                entry["schemes"][key] = {"status": "failed", "error": str(err)}
                continue
            entry["schemes"][key] = result
            if kwargs["scheme"] == "layer" and len(pcas) >= 2:
                trials = probe_inputs[seeded_rows(len(probe_inputs), pci_cfg.trials, pci_cfg.seed)].to(device)
                entry["pci"] = perturbational_complexity(
                    model,
                    trials,
                    pcas,
                    noise_scale=pci_cfg.noise_scale,
                    components=pci_cfg.components,
                    threshold_quantile=pci_cfg.threshold_quantile,
                    seed=pci_cfg.seed,
                )
        checkpoints.append(entry)
        print(
            f"phi_measure@{ctx.pair.key}: checkpoint {record['fraction']:g}: "
            + ", ".join(f"{k} Φ_pair {v['phi']:.3f}" for k, v in entry["schemes"].items() if "phi" in v)
        )
    dims = [d for c in checkpoints for s in c["schemes"].values() for d in s.get("dims", [])]
    d = int(np.median(dims)) if dims else probe_cfg.pca_dims
    write_json(
        ctx.out / "measures.json",
        {
            "status": trained["status"],
            "architecture": ctx.pair.arch,
            "dataset": ctx.pair.dataset,
            "family": ctx.arch.family,
            "params": trained["params"],
            "n_probe": len(probe_inputs),
            "n_pca": len(pca_inputs),
            "checkpoints": checkpoints,
            "not_applicable": not_applicable,
            "layer_scheme": next((k for k, v in schemes.items() if v["scheme"] == "layer"), None),
            "calibration": calibration_rows(len(probe_inputs), d, mi_cfg),
        },
    )
    ctx.prov.add(
        device=device_description(device),
        probe_rows_sha256=hashlib.sha256(probe_rows.tobytes()).hexdigest(),
        split_sizes={name: len(y) for name, (_, y) in arrays.items()},
    )
    ctx.prov.write(ctx.out / "provenance.json")


if __name__ == "__main__":
    raise SystemExit(main())
