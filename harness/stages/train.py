"""Stage ``train@<arch>-<dataset>``: train one registry architecture on one registry dataset.

Writes the best-by-validation weights (safetensors), metrics (DVC metrics), per-epoch history and
dvclive curves (DVC plots), and provenance. Resumes from the last saved epoch after a crash: the
state lives under the harness cache keyed by (entries, params, code version), because ``dvc repro``
deletes a stage's outputs before re-running it. A diverged run is recorded, not fatal.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from harness.data.adapt import adapt_inputs
from harness.data.arrays import split_dataset
from harness.data.load import load_dataset
from harness.integrity import read_output_json
from harness.params import read_section
from harness.pipeline.paths import data_manifest, train_dir
from harness.pipeline.provenance import Provenance, device_description
from harness.pipeline.selection import parse_pair
from harness.registry.adaptation import plan_adaptation
from harness.registry.load import Problem, RegistryError, load_registries, resolve_code_ref
from harness.stages.common import MISSING_ENTRY, cache_root, code_version, stable_hash, stage_main, write_json

STAGE_MODULE = "harness.stages.train"


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("key", help="ARCH-DATASET, two registry keys")
    parser.add_argument("--measurements", default="", help="comma-separated measurement keys")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    pair = parse_pair(args.key)
    measures = [m for m in args.measurements.split(",") if m]
    wanted = {("architectures", pair.arch), ("datasets", pair.dataset)} | {
        ("measurements", m) for m in measures
    }
    reg = load_registries(check_code=wanted)
    for registry, key in wanted:
        if key not in getattr(reg, registry):
            raise RegistryError([Problem(f"registry/{registry}.yaml", key, None, MISSING_ENTRY)])
    runtime, cfg, data_params = read_section("runtime"), read_section("train"), read_section("data")
    arch, ds = reg.architectures[pair.arch], reg.datasets[pair.dataset]
    adaptation = plan_adaptation(ds, arch, cfg.size)

    import torch
    from dvclive import Live
    from safetensors.torch import save_file

    from harness.models.build import bind_to_data, build_architecture, trainable_parameter_count
    from harness.training.checkpoint import CheckpointStore
    from harness.training.device import make_deterministic, resolve_device
    from harness.training.loop import Split, Splits, train_classifier

    entries = {
        "architecture": {
            k: reg.entry_hash("architectures", k) for k in reg.lineage("architectures", pair.arch)
        },
        "dataset": {pair.dataset: reg.entry_hash("datasets", pair.dataset)},
        "measurements": {m: reg.entry_hash("measurements", m) for m in measures},
    }
    params = {"data": data_params.model_dump(), "runtime": runtime.model_dump(), "train": cfg.model_dump()}
    # the data stage's manifest (a declared dep) identifies the exact data: new data, new run
    manifest = read_output_json(Path(data_manifest(pair.dataset)))
    entries["data_sha256"] = manifest["arrays"]["sha256"]
    prov = Provenance(f"train@{args.key}", entries, params)
    modules = [STAGE_MODULE, arch.builder.partition(":")[0], ds.loader.partition(":")[0]]
    modules += [reg.measurements[m].function.partition(":")[0] for m in measures]
    run_id = stable_hash({"entries": entries, "params": params, "code": code_version(modules)})

    data = load_dataset(pair.dataset, ds, data_params.root)
    idx = split_dataset(data, ds.split.val_fraction, ds.split.test_fraction, seed=runtime.seed)
    device = resolve_device(runtime.device)
    make_deterministic(runtime.seed, runtime.deterministic)
    model = build_architecture(arch, ds, cfg.size)
    model, samples = bind_to_data(model, data, adapt_inputs(data.inputs, adaptation))
    model = model.to(device)
    inputs, targets = torch.from_numpy(samples), torch.from_numpy(data.targets)

    def split(rows) -> Split:
        rows = torch.from_numpy(rows)
        return Split(inputs[rows].to(device), targets[rows].to(device))

    splits = Splits(split(idx.train), split(idx.val), split(idx.test))
    store = CheckpointStore(cache_root() / "train" / run_id)
    result = train_classifier(
        model, splits, cfg, seed=runtime.seed, store=store, progress=not args.no_progress
    )

    out = Path(train_dir(args.key))
    live_dir = out / "live"
    shutil.rmtree(live_dir, ignore_errors=True)
    with Live(dir=str(live_dir), dvcyaml=None, save_dvc_exp=False, report=None) as live:
        for rec in result.history:
            live.step = rec["epoch"]
            for name in ("train_loss", "train_accuracy", "val_accuracy", "lr"):
                if rec.get(name) is not None:
                    live.log_metric(name, rec[name], timestamp=False)
    # a run that diverged in its first epoch logged nothing; the plots folder (a DVC output) still exists
    (live_dir / "plots" / "metrics").mkdir(parents=True, exist_ok=True)
    metrics = {
        "status": result.status,
        "params": trainable_parameter_count(model),
        "epochs": cfg.epochs,
        "steps": result.steps,
        "best_epoch": result.best_epoch,
        "val_accuracy": result.best_val_accuracy,
        "test_accuracy": result.test_accuracy,
        "train_loss_final": next(
            (r["train_loss"] for r in reversed(result.history) if r.get("train_loss") is not None), None
        ),
        "diverged_at_step": result.diverged_at_step,
        "measurements": {},
    }
    for m in measures:
        value = None
        if result.status == "ok":
            entry = reg.measurements[m]
            value = resolve_code_ref(entry.function)(
                model, splits.test.inputs, splits.test.targets, **entry.kwargs
            )
        metrics["measurements"][m] = value
    save_file({k: v.contiguous() for k, v in result.best_state.items()}, str(out / "model.safetensors"))
    write_json(out / "metrics.json", metrics)
    prov.add(
        run_id=run_id,
        device=device_description(device),
        seed=runtime.seed,
        adaptation=list(adaptation.steps),
        split_sizes={"train": len(idx.train), "val": len(idx.val), "test": len(idx.test)},
    )
    prov.add_run(resumed_from_epoch=result.resumed_from_epoch)
    prov.write(out / "provenance.json")
    status = "DIVERGED (recorded)" if result.status == "diverged" else "ok"
    print(f"train@{args.key}: {status}; test accuracy {metrics['test_accuracy']}")


if __name__ == "__main__":
    raise SystemExit(main())
