"""Stage ``genesis_information@<arch>-<dataset>``: I(W; D_train) of one network over an ensemble, by MINE.

N = min(the network's median capacity with the ``genesis.information.optimizer`` budget, ``max_samples``)
samples of the dataset (the first N of a fixed order). ``ensemble`` networks are trained on them with
that budget, member m with labels drawn with seed m and initialized with seed m; each member's final
weights are flattened. ``harness.measurements.weight_information`` projects weights and label sets to
``dims`` dimensions and runs MINE on the M pairs, beside its calibration on correlated Gaussians at the
same M and dims, and states the ln M ceiling next to the N·ln K nats the labels carry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.integrity import read_output_json
from harness.pipeline.paths import genesis_dir
from harness.pipeline.provenance import Provenance, device_description
from harness.stages.common import stage_main, write_json
from harness.stages.genesis.common import start_genesis_stage

SECTIONS = ["genesis.optimizers", "genesis.information", "runtime", "data"]


@stage_main
def main(argv: list[str] | None = None) -> None:
    ctx = start_genesis_stage(argv, __doc__, SECTIONS)
    arch, dataset, config = ctx.arch, ctx.dataset, ctx.config
    cfg, runtime = config["genesis.information"], config["runtime"]
    # `check` validated the whole params.yaml: the ensemble's optimizer is one of genesis.optimizers
    budget = config["genesis.optimizers"].root[cfg.optimizer]
    prov = Provenance(f"genesis_information@{ctx.key}", ctx.entries, ctx.params)
    capacity = read_output_json(Path(genesis_dir(ctx.key, "capacity")) / "capacity.json")
    median = capacity["optimizers"].get(cfg.optimizer, {}).get("n_max_median")
    out = Path(genesis_dir(ctx.key, "information"))
    if not median:
        write_json(out / "information.json", {"status": "not applicable", "reason": "no capacity measured"})
        prov.write(out / "provenance.json")
        return

    import torch

    from harness.measurements.weight_information import weight_label_information
    from harness.models.build import build_architecture
    from harness.training.device import make_deterministic, resolve_device
    from harness.training.ensemble import memorize_ensemble

    device = resolve_device(runtime.device)
    inputs = ctx.inputs(budget.size)
    n = int(min(median, cfg.max_samples, len(inputs)))
    order = np.random.default_rng(cfg.seed).permutation(len(inputs))[:n]
    x = torch.from_numpy(inputs[order]).to(device)
    k = dataset.num_classes
    labels = np.stack([np.random.default_rng([cfg.seed, m]).integers(0, k, n) for m in range(cfg.ensemble)])

    def build(m: int) -> torch.nn.Module:
        make_deterministic(m, runtime.deterministic)
        return build_architecture(arch, dataset, budget.size).to(device)

    # member m: its own label draw, initialization and batch order (seed m); stacked where the network allows
    members = memorize_ensemble(
        build, x, torch.from_numpy(labels).to(device), budget, seeds=list(range(cfg.ensemble))
    )
    fitted = sum(member.result.fitted for member in members)
    result = weight_label_information(
        np.stack([member.weights for member in members]),
        labels,
        k,
        dims=cfg.dims,
        steps=cfg.steps,
        hidden=cfg.hidden,
        seed=cfg.seed,
        permutations=cfg.permutations,
    )
    write_json(
        out / "information.json",
        {"status": "ok", "n_samples": n, "optimizer": cfg.optimizer, "members_fitted": fitted, **result},
    )
    prov.add(device=device_description(device))
    prov.write(out / "provenance.json")
    print(
        f"genesis_information@{ctx.key}: I(W; labels) ≈ {result['mine']:.3f} nats by MINE, label-permutation "
        f"p = {result['null']['p_value']:.3g} (null mean {_fmt(result['null']['mean'])}; ceiling ln M = "
        f"{result['ceiling_nats']:.2f}; the labels carry {result['label_nats']:.0f} nats; calibration recovered "
        f"{result['calibration']['recovered']:.2f})"
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
