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
from pathlib import Path

import numpy as np

from harness.integrity import load_output_weights, read_output_json
from harness.pipeline.paths import phi_dir
from harness.pipeline.provenance import device_description
from harness.stages.common import stage_main, write_json
from harness.stages.phi.analysis import (
    batched_capture,
    calibration_rows,
    information_plane,
    measure_scheme,
    probe_sets,
    seeded_rows,
)
from harness.stages.phi.common import checkpoint_name, checkpoint_reached, schemes_arg, start_phi_stage

STAGE_MODULE = "harness.stages.phi.measure"
SECTIONS = [
    "phi.train",
    "phi.checkpoints",
    "phi.probe",
    "phi.mutual_information",
    "phi.pci",
    "phi.robustness",
    "runtime",
    "data",
]


@stage_main
def main(argv: list[str] | None = None) -> None:
    ctx = start_phi_stage(argv, __doc__, "measure", SECTIONS, schemes_arg)
    probe_cfg, mi_cfg, pci_cfg = (ctx.config[k] for k in ("phi.probe", "phi.mutual_information", "phi.pci"))
    runtime = ctx.config["runtime"]
    trained = read_output_json(Path(phi_dir(ctx.pair.key, "train"), "metrics.json"))

    import torch

    from harness.measurements.modules import SchemeNotApplicable
    from harness.measurements.perturbation import perturbational_complexity
    from harness.measurements.robustness import pgd_success_rate
    from harness.training.device import make_deterministic, resolve_device

    device = resolve_device(runtime.device)
    make_deterministic(runtime.seed, runtime.deterministic)
    model, arrays = ctx.splits()
    model = model.to(device)
    pca_inputs, probe_rows, probe_inputs = probe_sets(arrays, probe_cfg, mi_cfg.seed)
    schemes = {k: ctx.reg.measurements[k].kwargs for k in ctx.args.schemes}
    probe_labels = arrays["test"][1][probe_rows]
    input_components = None  # X for I(X; T): the inputs' PCA (continuous inputs only)
    if ctx.dataset.modality in ("image", "vector"):
        from harness.measurements.modules import fit_pca, project

        x_pca = fit_pca(pca_inputs.flatten(1).double(), probe_cfg.pca_dims, seed=mi_cfg.seed)
        input_components = project(x_pca, probe_inputs.flatten(1))

    not_applicable: dict[str, str] = {}
    checkpoints = []
    ckpt_dir = phi_dir(ctx.pair.key, "train") + "/checkpoints"
    for record in trained["checkpoints"]:
        entry = {**record, "schemes": {}, "pci": None, "information_plane": None}
        path = f"{ckpt_dir}/{checkpoint_name(record['fraction'])}.safetensors"
        if not checkpoint_reached(record):  # not reached, or diverged: no finite weights to measure
            checkpoints.append(entry)
            continue
        model.load_state_dict(load_output_weights(path))
        for key, kwargs in schemes.items():
            if key in not_applicable:
                continue
            try:
                result, pcas, reduced = measure_scheme(
                    model,
                    pca_inputs,
                    probe_inputs,
                    batched_capture(model, kwargs, probe_cfg.batch_size, device),
                    probe_cfg,
                    mi_cfg,
                    dynamics=kwargs["scheme"] == "positions",
                )
            except SchemeNotApplicable as err:
                not_applicable[key] = str(err)
                continue
            except (ValueError, RuntimeError) as err:  # e.g. a degenerate covariance (torch's LinAlgError)
                entry["schemes"][key] = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
                continue
            entry["schemes"][key] = result
            if kwargs["scheme"] == "layer":
                entry["information_plane"] = information_plane(
                    input_components, reduced, probe_labels, mi_cfg
                )
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
    robustness = None
    reached = [c for c in checkpoints if checkpoint_reached(c)]
    if ctx.dataset.modality == "image" and reached and trained["status"] == "ok":
        rob = ctx.config["phi.robustness"]
        rows = np.arange(min(rob.samples, len(probe_rows)))
        targets = torch.from_numpy(arrays["test"][1][probe_rows][rows]).to(device)
        robustness = pgd_success_rate(
            model,
            probe_inputs[rows].to(device),
            targets,
            epsilon=rob.epsilon,
            steps=rob.steps,
            step_size=rob.step_size,
            seed=rob.seed,
        )  # the model holds the last checkpoint's weights
        print(f"phi_measure@{ctx.pair.key}: PGD success rate {robustness['success_rate']:.3f}")
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
            "robustness": robustness,
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
