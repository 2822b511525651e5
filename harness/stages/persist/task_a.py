"""Stage ``persist_task_a@<arch>-<dataset>-s<seed>``: train one network on the dataset's task-A classes.

The shared training loop with ``persist.task_a`` (SGD + momentum, cosine annealing, best checkpoint by
validation accuracy, test accuracy recorded), initialised and shuffled with the run's seed. Resumes
after a crash from the harness cache (``dvc repro`` deletes outputs before re-running); a diverged run
is recorded, and the later stages of the run record it too instead of measuring.
"""

from __future__ import annotations

from harness.pipeline.provenance import device_description
from harness.stages.common import cache_root, stage_main, write_json
from harness.stages.persist.run import build_network, start_stage, task_arrays

STAGE_MODULE = "harness.stages.persist.task_a"


@stage_main
def main(argv: list[str] | None = None) -> None:
    start = start_stage(argv, __doc__, "task_a", ["persist.task_a", "runtime"])
    ctx, cfg, runtime = start.ctx, start.config["persist.task_a"], start.config["runtime"]
    modules = [STAGE_MODULE, ctx.arch.builder.partition(":")[0], ctx.dataset.loader.partition(":")[0]]
    run_id = ctx.run_id(start.params, modules, {})

    import torch
    from safetensors.torch import save_file

    from harness.models.build import trainable_parameter_count
    from harness.training.checkpoint import CheckpointStore
    from harness.training.device import make_deterministic, resolve_device
    from harness.training.loop import Split, Splits, train_classifier

    device = resolve_device(runtime.device)
    make_deterministic(ctx.run.seed, runtime.deterministic)
    model = build_network(ctx, cfg.size).to(device)
    arrays = task_arrays(ctx, "task_a")
    splits = Splits(
        *(Split(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)) for x, y in arrays.values())
    )
    result = train_classifier(
        model,
        splits,
        cfg,
        seed=ctx.run.seed,
        store=CheckpointStore(cache_root() / "persist_task_a" / run_id),
        progress=not start.args.no_progress,
    )
    out = start.out
    save_file({k: v.contiguous() for k, v in result.best_state.items()}, str(out / "model.safetensors"))
    write_json(
        out / "metrics.json",
        {
            "status": result.status,
            "params": trainable_parameter_count(model),
            "classes": len(ctx.dataset.tasks.task_a),
            "head_size": ctx.head_size,
            "epochs": cfg.epochs,
            "steps": result.steps,
            "best_epoch": result.best_epoch,
            "val_accuracy": result.best_val_accuracy,
            "test_accuracy": result.test_accuracy,
            "diverged_at_step": result.diverged_at_step,
            "history": result.history,
        },
    )
    start.prov.add(
        run_id=run_id,
        device=device_description(device),
        seed=ctx.run.seed,
        split_seed=ctx.split_seed,
        split_sizes={name: len(y) for name, (_, y) in arrays.items()},
        task_classes=ctx.dataset.tasks.task_a,
    )
    start.prov.add_run(resumed_from_epoch=result.resumed_from_epoch)
    start.prov.write(out / "provenance.json")
    print(f"persist_task_a@{ctx.run.key}: {result.status}; task-A test accuracy {result.test_accuracy}")


if __name__ == "__main__":
    raise SystemExit(main())
