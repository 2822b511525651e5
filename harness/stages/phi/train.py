"""Stage ``phi_train@<arch>-<dataset>``: train one PHI network, keeping checkpoints through training.

The shared loop with ``phi.train``; at each fraction of ``phi.checkpoints`` (0 = initialization, 1 = the
last step) the weights are saved and train and test accuracy recorded (generalization gap = train − test).
Checkpoints live in the harness cache until the run ends, so a resumed run keeps the earlier ones. A
diverged run is recorded with the checkpoints it reached; a checkpoint whose weights are no longer finite
(the epoch training diverged in) is recorded as "diverged" and its weights are not kept.
"""

from __future__ import annotations

import json
import shutil

from harness.pipeline.provenance import device_description
from harness.stages.common import cache_root, stage_main, write_json
from harness.stages.phi.common import checkpoint_name, checkpoint_reached, start_phi_stage

STAGE_MODULE = "harness.stages.phi.train"


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
    saved.mkdir(parents=True, exist_ok=True)

    def on_checkpoint(fraction: float, net) -> None:
        name = checkpoint_name(fraction)
        finite = all(
            bool(torch.isfinite(v).all()) for v in net.state_dict().values() if v.is_floating_point()
        )
        if not finite:  # the network diverged before this checkpoint: nothing to measure
            (saved / f"{name}.safetensors").unlink(missing_ok=True)
            (saved / f"{name}.json").write_text(json.dumps({"fraction": fraction, "status": "diverged"}))
            return
        train_acc = accuracy(net, splits.train.inputs, splits.train.targets)
        test_acc = accuracy(net, splits.test.inputs, splits.test.targets)
        # cloned: tied weights (GPT-2's head and embedding) share storage, which safetensors refuses
        state = {k: v.detach().cpu().clone().contiguous() for k, v in net.state_dict().items()}
        save_file(state, str(saved / f"{name}.safetensors"))
        record = {"fraction": fraction, "train_accuracy": train_acc, "test_accuracy": test_acc}
        (saved / f"{name}.json").write_text(json.dumps({**record, "gap": train_acc - test_acc}))

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
    shutil.copytree(saved, out_ckpt)
    checkpoints = []
    for f in fractions:
        path = out_ckpt / f"{checkpoint_name(f)}.json"
        checkpoints.append(
            json.loads(path.read_text()) if path.exists() else {"fraction": f, "status": "not reached"}
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
        resumed_from_epoch=result.resumed_from_epoch,
        split_sizes={name: len(y) for name, (_, y) in arrays.items()},
    )
    ctx.prov.write(ctx.out / "provenance.json")
    final = checkpoints[-1] if checkpoint_reached(checkpoints[-1]) else {}
    print(
        f"phi_train@{ctx.pair.key}: {result.status}; final train/test accuracy "
        f"{final.get('train_accuracy')}/{final.get('test_accuracy')}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
