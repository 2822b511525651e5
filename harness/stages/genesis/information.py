"""Stage ``genesis_information@<arch>-<dataset>``: I(W; D_train) of one network over an ensemble, by MINE.

N = min(the network's median capacity with the ``genesis.information.optimizer`` budget, ``max_samples``)
samples of the dataset (the first N of a fixed order). ``ensemble`` networks are trained on them with
that budget, member m with labels drawn with seed m and initialized with seed m; each member's final
weights are flattened. ``harness.measurements.weight_information`` projects weights and label sets to
``dims`` dimensions and runs MINE on the M pairs, beside its calibration on correlated Gaussians at the
same M and dims, and states the ln M ceiling next to the N·ln K nats the labels carry.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from harness.data.adapt import adapt_inputs
from harness.data.load import load_dataset
from harness.params import read_section
from harness.pipeline.paths import genesis_dir
from harness.pipeline.provenance import Provenance, device_description
from harness.pipeline.selection import parse_pair
from harness.registry.adaptation import plan_adaptation
from harness.stages.common import checked_pair, stage_main, write_json

SECTIONS = ["genesis.optimizers", "genesis.information", "runtime", "data"]


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("key", help="ARCH-DATASET, two registry keys")
    args = parser.parse_args(argv)
    pair = parse_pair(args.key)
    reg, entries = checked_pair(pair.arch, pair.dataset)
    arch, dataset = reg.architectures[pair.arch], reg.datasets[pair.dataset]
    config = {name: read_section(name) for name in SECTIONS}
    cfg, runtime = config["genesis.information"], config["runtime"]
    budgets = config["genesis.optimizers"].root
    if cfg.optimizer not in budgets:
        from harness.params import ParamsError

        raise ParamsError(
            f"params.yaml: field 'genesis.information.optimizer': expected one of {list(budgets)}; "
            f"got {cfg.optimizer!r}"
        )
    budget = budgets[cfg.optimizer]
    prov = Provenance(
        f"genesis_information@{args.key}", entries, {n: c.model_dump() for n, c in config.items()}
    )
    capacity = json.loads((Path(genesis_dir(args.key, "capacity")) / "capacity.json").read_text())
    median = capacity["optimizers"].get(cfg.optimizer, {}).get("n_max_median")
    out = Path(genesis_dir(args.key, "information"))
    if not median:
        write_json(out / "information.json", {"status": "not applicable", "reason": "no capacity measured"})
        prov.write(out / "provenance.json")
        return

    import torch

    from harness.measurements.weight_information import weight_label_information
    from harness.models.build import build_architecture
    from harness.training.device import make_deterministic, resolve_device
    from harness.training.memorize import memorize

    device = resolve_device(runtime.device)
    data = load_dataset(pair.dataset, dataset, read_section("data").root)
    inputs = adapt_inputs(data.inputs, plan_adaptation(dataset, arch))
    n = int(min(median, cfg.max_samples, len(inputs)))
    order = np.random.default_rng(cfg.seed).permutation(len(inputs))[:n]
    x = torch.from_numpy(inputs[order]).to(device)
    k = dataset.num_classes
    weights, labels, fitted = [], [], 0
    for m in range(cfg.ensemble):
        y = np.random.default_rng([cfg.seed, m]).integers(0, k, n)
        make_deterministic(m, runtime.deterministic)
        model = build_architecture(arch, dataset, budget.size).to(device)
        run = memorize(model, x, torch.from_numpy(y).to(device), budget, seed=m)
        fitted += run.fitted
        weights.append(torch.cat([p.detach().flatten().cpu() for p in model.parameters()]).numpy())
        labels.append(y)
    result = weight_label_information(
        np.stack(weights),
        np.stack(labels),
        k,
        dims=cfg.dims,
        steps=cfg.steps,
        hidden=cfg.hidden,
        seed=cfg.seed,
    )
    write_json(
        out / "information.json",
        {"status": "ok", "n_samples": n, "optimizer": cfg.optimizer, "members_fitted": fitted, **result},
    )
    prov.add(device=device_description(device))
    prov.write(out / "provenance.json")
    print(
        f"genesis_information@{args.key}: I(W; labels) ≥ {result['mine']:.3f} nats by MINE (ceiling ln M = "
        f"{result['ceiling_nats']:.2f}; the labels carry {result['label_nats']:.0f} nats; calibration recovered "
        f"{result['calibration']['recovered']:.2f})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
