"""Stage ``genesis_capacity@<arch>-<dataset>``: memorization capacity of one network, by search over N.

For every budget in ``genesis.optimizers`` and every seed in ``genesis.search.seeds``: the dataset's
inputs (all of them: memorization has no held-out split), in an order drawn with the seed, with labels
drawn uniformly from its K classes with the seed; ``fits(N)`` trains a fresh network (initialized with
the seed) on the first N until 100% training accuracy or the end of the budget (``harness.training.
memorize``); ``harness.memorization_capacity`` searches N. After every training the search state is
written to the harness cache, so a killed stage resumes there (also under ``dvc repro``).

Capacity is reported as N_max (median over seeds, with the range), C = N_max·log2 K bits (the label
information memorized), bits per parameter, and the research plan's log2(N_max·K); beside it the stored
label information beyond the threshold: for every trained N, I(labels; predictions) on the training set
(Miller–Madow plug-in) × N, in bits; its maximum over N is a second capacity (Morris et al. 2025).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from harness.integrity import read_sealed_json, write_sealed_json
from harness.pipeline.paths import genesis_dir
from harness.pipeline.provenance import Provenance, device_description
from harness.stages.common import cache_root, code_version, stable_hash, stage_main, write_json
from harness.stages.genesis.common import start_genesis_stage

STAGE_MODULE = "harness.stages.genesis.capacity"
SECTIONS = ["genesis.optimizers", "genesis.search", "runtime", "data"]


def below_range_warning(seeds: list[dict], num_classes: int, n_min: int, optimizer: str) -> str | None:
    """The flag for a search whose smallest N never fit (issue 18, item 9), or None.

    "below range" is not a capacity: a network that cannot memorize ``n_min`` random labels is far more
    often an optimizer or budget that does not train (Adam at lr 1e6 stays finite and learns nothing)
    than a network that small. The message gives the training accuracy reached at n_min against chance
    (1/K) so the two can be told apart."""
    low = [s for s in seeds if s["status"] == "below range"]
    if not low:
        return None
    accs = [s["details"].get(str(n_min), {}).get("train_accuracy") for s in low]
    shown = ", ".join("diverged" if a is None else f"{a:.3f}" for a in accs)
    return (
        f"{len(low)} of {len(seeds)} seed(s) could not fit even n_min = {n_min} random labels (train accuracy "
        f"{shown}; chance {1 / num_classes:.3f}): no capacity was measured. Check genesis.optimizers.{optimizer} "
        "(learning rate, epochs) before reading this as a small capacity, or lower genesis.search.n_min"
    )


def summarize(seeds: list[dict], num_classes: int, volume: int) -> dict:
    """Median capacity over seeds and its derived quantities (None where no seed has a number)."""
    values = [s["n_max"] for s in seeds if s["n_max"] is not None]
    stored = [max((d["stored_bits"] for d in s["details"].values()), default=None) for s in seeds]
    stored = [b for b in stored if b is not None]
    median = float(np.median(values)) if values else None
    bits = median * math.log2(num_classes) if median is not None else None
    return {
        "n_max_median": median,
        "n_max_range": [min(values), max(values)] if values else None,
        "statuses": sorted({s["status"] for s in seeds}),
        "bits": bits,
        "bits_per_parameter": bits / volume if bits is not None else None,
        "plan_bits": math.log2(median * num_classes) if median else None,
        "stored_label_bits": float(np.median(stored)) if stored else None,
        "trainings": sum(len(s["history"]) for s in seeds),
        "epochs": sum(d["epochs"] for s in seeds for d in s["details"].values()),
    }


@stage_main
def main(argv: list[str] | None = None) -> None:
    ctx = start_genesis_stage(argv, __doc__, SECTIONS)
    arch, dataset, config, entries = ctx.arch, ctx.dataset, ctx.config, ctx.entries
    budgets, search, runtime = config["genesis.optimizers"].root, config["genesis.search"], config["runtime"]
    modules = [STAGE_MODULE, arch.builder.partition(":")[0], dataset.loader.partition(":")[0]]
    run_id = stable_hash({"entries": entries, "params": ctx.params, "code": code_version(modules)})
    prov = Provenance(f"genesis_capacity@{ctx.key}", entries, ctx.params)

    import torch

    from harness.measurements.capacity import label_mutual_information, memorization_capacity
    from harness.measurements.volume_area import volume_and_area
    from harness.models.build import build_architecture, builder_kwargs
    from harness.training.device import make_deterministic, resolve_device
    from harness.training.memorize import memorize

    device = resolve_device(runtime.device)
    k = dataset.num_classes
    states = cache_root() / "genesis_capacity" / run_id
    states.mkdir(parents=True, exist_ok=True)
    results, resumed = {}, {}
    for name, cfg in budgets.items():
        inputs = ctx.inputs(cfg.size)
        pool = len(inputs)
        n_max = min(search.n_max, pool)
        make_deterministic(runtime.seed, runtime.deterministic)
        counts = volume_and_area(build_architecture(arch, dataset, cfg.size))
        seeds = []
        for seed in search.seeds:
            rng = np.random.default_rng(seed)
            order = rng.permutation(pool)
            x = torch.from_numpy(inputs[order]).to(device)
            y = torch.from_numpy(rng.integers(0, k, pool)).to(device)
            path = states / f"{name}-s{seed}.json"
            state = read_sealed_json(path) or {"history": [], "details": {}}
            details = state["details"]
            resumed[f"{name}-s{seed}"] = len(state["history"])

            def fits(n: int, cfg=cfg, seed=seed, x=x, y=y, details=details) -> bool:
                make_deterministic(seed, runtime.deterministic)
                model = build_architecture(arch, dataset, cfg.size).to(device)
                run = memorize(model, x[:n], y[:n], cfg, seed=seed)
                info = (
                    label_mutual_information(y[:n].cpu().numpy(), run.predictions, k)
                    if not run.diverged
                    else None
                )
                mi = info["miller_madow"] if info else 0.0
                details[str(n)] = {
                    "fitted": run.fitted,
                    "epochs": run.epochs,
                    "train_accuracy": run.train_accuracy if not run.diverged else None,
                    "diverged": run.diverged,
                    "label_mi_nats": mi if info else None,
                    "stored_bits": max(mi, 0.0) * n / math.log(2),
                }
                return run.fitted

            def save(step: dict, path=path, details=details) -> None:
                write_sealed_json(path, {"history": step["history"], "details": details})

            found = memorization_capacity(
                fits, search.n_min, n_max, search.precision, state=state, on_step=save
            )
            # trainings: all of this search's, resumed ones included
            seeds.append(
                {
                    "seed": seed,
                    **found,
                    "trainings": len(found["history"]),
                    "details": details,
                }
            )
            print(
                f"genesis_capacity@{ctx.key} [{name}, seed {seed}]: N_max = {found['n_max']} ({found['status']})"
            )
        warning = below_range_warning(seeds, k, search.n_min, name)
        if warning:
            print(f"warning: genesis_capacity@{ctx.key} [{name}]: {warning}", file=sys.stderr)
        results[name] = {
            "counts": counts,
            "size": cfg.size,
            **summarize(seeds, k, counts["V"]),
            "warning": warning,
            "seeds": seeds,
        }
    out = Path(genesis_dir(ctx.key, "capacity"))
    write_json(
        out / "capacity.json",
        {
            "architecture": ctx.pair.arch,
            "dataset": ctx.pair.dataset,
            "family": arch.family,
            "builder_kwargs": {
                k: v
                for k, v in builder_kwargs(arch, dataset, next(iter(budgets.values())).size).items()
                if isinstance(v, (int, float, str, bool))
            },
            "num_classes": k,
            "pool": pool,
            "search": search.model_dump(),
            "optimizers": results,
        },
    )
    prov.add(run_id=run_id, device=device_description(device))
    prov.add_run(resumed_trainings=resumed)
    prov.write(out / "provenance.json")


if __name__ == "__main__":
    raise SystemExit(main())
