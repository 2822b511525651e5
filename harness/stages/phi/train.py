"""Stage ``phi_train@<arch>-<dataset>``: train one PHI network, keeping checkpoints through training.

The shared loop with ``phi.train``; at each fraction of ``phi.checkpoints`` (0 = initialization, 1 = the
last step) the weights are saved and train and test accuracy recorded (generalization gap = train − test).
Checkpoints live in the harness cache until the run ends, so a resumed run keeps the earlier ones; they are
sealed with their sha256, and a damaged one restarts training rather than being published. A
diverged run is recorded with the checkpoints it reached; a checkpoint whose weights are no longer finite
(the epoch training diverged in) is recorded as "diverged" and its weights are not kept.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from harness.integrity import SEAL_SUFFIX, open_sealed, read_output_json, write_sealed, write_sealed_json
from harness.pipeline.provenance import device_description
from harness.stages.common import cache_root, stage_main, write_json
from harness.stages.phi.common import checkpoint_name, checkpoint_reached, start_phi_stage

STAGE_MODULE = "harness.stages.phi.train"


def _entries(folder: Path) -> list[Path]:
    """The checkpoints and their records in ``folder`` (not their seals or temporary files)."""
    return sorted(
        f for f in folder.iterdir() if f.suffix in (".safetensors", ".json") and not f.name.startswith(".")
    )


@stage_main
def main(argv: list[str] | None = None) -> None:
    ctx = start_phi_stage(argv, __doc__, "train", ["phi.train", "phi.checkpoints", "runtime", "data"])
    cfg, fractions, runtime = (
        ctx.config["phi.train"],
        ctx.config["phi.checkpoints"].root,
        ctx.config["runtime"],
    )
    modules = [STAGE_MODULE, ctx.arch.builder.partition(":")[0], ctx.dataset.loader.partition(":")[0]]
    run_id = ctx.run_id(modules)

    import torch
    from safetensors.torch import save_file

    from harness.measurements.classification import accuracy
    from harness.models.build import trainable_parameter_count
    from harness.training.checkpoint import CheckpointStore
    from harness.training.device import make_deterministic, resolve_device
    from harness.training.loop import Hooks, Split, Splits, train_classifier

    device = resolve_device(runtime.device)
    make_deterministic(runtime.seed, runtime.deterministic)
    model, arrays = ctx.splits()
    model = model.to(device)
    splits = Splits(
        *(Split(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)) for x, y in arrays.values())
    )
    cache = cache_root() / "phi_train" / run_id
    saved = cache / "checkpoints"
    if saved.exists() and not all([open_sealed(f) is not None for f in _entries(saved)]):
        # a damaged checkpoint cannot be re-made alone (training has moved past it): start over
        print(
            f"warning: phi_train@{ctx.pair.key}: restarting training, a cached checkpoint was damaged",
            file=sys.stderr,
        )
        shutil.rmtree(cache)
    saved.mkdir(parents=True, exist_ok=True)

    def on_checkpoint(fraction: float, net) -> None:
        name = checkpoint_name(fraction)
        finite = all(
            bool(torch.isfinite(v).all()) for v in net.state_dict().values() if v.is_floating_point()
        )
        if not finite:  # the network diverged before this checkpoint: nothing to measure
            for stale in (saved / f"{name}.safetensors", saved / f"{name}.safetensors{SEAL_SUFFIX}"):
                stale.unlink(missing_ok=True)
            write_sealed_json(saved / f"{name}.json", {"fraction": fraction, "status": "diverged"})
            return
        train_acc = accuracy(net, splits.train.inputs, splits.train.targets)
        test_acc = accuracy(net, splits.test.inputs, splits.test.targets)
        # cloned: tied weights (GPT-2's head and embedding) share storage, which safetensors refuses
        state = {k: v.detach().cpu().clone().contiguous() for k, v in net.state_dict().items()}
        write_sealed(saved / f"{name}.safetensors", lambda tmp: save_file(state, str(tmp)))
        record = {"fraction": fraction, "train_accuracy": train_acc, "test_accuracy": test_acc}
        write_sealed_json(saved / f"{name}.json", {**record, "gap": train_acc - test_acc})

    result = train_classifier(
        model,
        splits,
        cfg,
        seed=runtime.seed,
        hooks=Hooks(checkpoint_fractions=tuple(fractions), on_checkpoint=on_checkpoint),
        store=CheckpointStore(cache),
        progress=not ctx.args.no_progress,
    )
    out_ckpt = ctx.out / "checkpoints"
    shutil.rmtree(out_ckpt, ignore_errors=True)
    out_ckpt.mkdir(parents=True)
    for f in _entries(saved):  # verified again: a checkpoint damaged on disk is never published
        if open_sealed(f) is None:
            shutil.rmtree(cache)
            raise RuntimeError(f"{f} was damaged after it was written; re-run this stage to recompute it")
        shutil.copy2(f, out_ckpt / f.name)
    checkpoints = []
    for f in fractions:
        path = out_ckpt / f"{checkpoint_name(f)}.json"
        checkpoints.append(
            read_output_json(path) if path.exists() else {"fraction": f, "status": "not reached"}
        )
    write_json(
        ctx.out / "metrics.json",
        {
            "status": result.status,
            "params": trainable_parameter_count(model),
            "epochs": cfg.epochs,
            "steps": result.steps,
            "test_accuracy_best_val": result.test_accuracy,
            "diverged_at_step": result.diverged_at_step,
            "checkpoints": checkpoints,
        },
    )
    ctx.prov.add(
        run_id=run_id,
        device=device_description(device),
        seed=runtime.seed,
        split_sizes={name: len(y) for name, (_, y) in arrays.items()},
    )
    ctx.prov.add_run(resumed_from_epoch=result.resumed_from_epoch)
    ctx.prov.write(ctx.out / "provenance.json")
    final = checkpoints[-1] if checkpoint_reached(checkpoints[-1]) else {}
    print(
        f"phi_train@{ctx.pair.key}: {result.status}; final train/test accuracy "
        f"{final.get('train_accuracy')}/{final.get('test_accuracy')}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
