"""Stage ``phi_transfer@<arch>-<dataset>``: transfer Δ of one network, and the Φ_pair of its source.

Two routes, both with the ``phi.transfer`` budget and ``runtime.seed``; transfer Δ = target test accuracy
fine-tuned − trained from scratch, the scratch network starting from the fine-tuned one's initialization.

- ``--target`` another dataset (a profile's ``phi.transfer_targets``, e.g. CIFAR-10 → CIFAR-100): the
  source is ``phi_train``'s network at its last checkpoint; every tensor whose name and shape match the
  target network's is copied into it (the head, sized for the target's classes, is not). The source's
  Φ_pair is measured as ``phi_measure`` measures that checkpoint.
- ``--target`` the pair's own dataset (the default): from its task A to its task B. A network is trained
  on task A with ``phi.train`` (the source), then fine-tuned on task B; both tasks share one head of
  max(n_A, n_B) outputs. Datasets without tasks (and graphs, whose class subsets would cut edges) are
  recorded as not applicable.

The source's Φ_pair is over the ``layer`` modules (PCA on its validation split, MI on its test split).
"""

from __future__ import annotations

from pathlib import Path

from harness.integrity import load_output_weights, read_output_json
from harness.pipeline.paths import phi_dir
from harness.pipeline.provenance import device_description
from harness.registry.load import Problem, RegistryError, transfer_incompatibility
from harness.stages.common import cache_root, stage_main, write_json
from harness.stages.phi.analysis import batched_capture, measure_scheme, probe_sets
from harness.stages.phi.common import (
    PhiPair,
    checkpoint_name,
    checkpoint_reached,
    schemes_arg,
    start_phi_stage,
)

STAGE_MODULE = "harness.stages.phi.transfer"
SECTIONS = [
    "phi.train",
    "phi.checkpoints",
    "phi.transfer",
    "phi.probe",
    "phi.mutual_information",
    "runtime",
    "data",
]


def _args(parser) -> None:
    schemes_arg(parser)
    parser.add_argument(
        "--target", default=None, help="dataset key to transfer to (default: the pair's own, task A → task B)"
    )


def _last_checkpoint(ctx: PhiPair) -> tuple[Path, dict] | None:
    """(weights, record) of ``phi_train``'s last checkpoint; None when training did not reach it."""
    trained = read_output_json(Path(phi_dir(ctx.pair.key, "train"), "metrics.json"))
    last = trained["checkpoints"][-1]
    if not checkpoint_reached(last):
        return None
    name = checkpoint_name(last["fraction"])
    return Path(phi_dir(ctx.pair.key, "train"), "checkpoints", f"{name}.safetensors"), last


@stage_main
def main(argv: list[str] | None = None) -> None:
    ctx = start_phi_stage(argv, __doc__, "transfer", SECTIONS, _args)
    target = ctx.args.target or ctx.pair.dataset
    cross = target != ctx.pair.dataset
    if cross:
        why = transfer_incompatibility(ctx.dataset, ctx.reg.datasets[target])
        if why:
            raise RegistryError(
                [Problem("--target", target, None, f"{ctx.pair.dataset!r} → {target!r}: {why}")]
            )
    tasks = ctx.dataset.tasks
    if not cross and (tasks is None or ctx.dataset.modality == "graph"):
        reason = (
            "graph dataset (class subsets would cut edges)"
            if tasks
            else "the dataset entry declares no tasks and the profile no transfer target"
        )
        write_json(ctx.out / "transfer.json", {"status": "not applicable", "reason": reason})
        ctx.prov.write(ctx.out / "provenance.json")
        print(f"phi_transfer@{ctx.pair.key}: not applicable ({reason})")
        return
    layer = next(k for k in ctx.args.schemes if ctx.reg.measurements[k].kwargs["scheme"] == "layer")
    source_cfg, transfer_cfg = ctx.config["phi.train"], ctx.config["phi.transfer"]
    probe_cfg, mi_cfg, runtime = (
        ctx.config["phi.probe"],
        ctx.config["phi.mutual_information"],
        ctx.config["runtime"],
    )
    loaders = {ctx.dataset.loader, ctx.reg.datasets[target].loader}
    modules = [
        STAGE_MODULE,
        ctx.arch.builder.partition(":")[0],
        *sorted(r.partition(":")[0] for r in loaders),
    ]
    run_id = ctx.run_id(modules)

    import torch

    from harness.models.build import build_architecture, load_matching_state
    from harness.training.checkpoint import CheckpointStore
    from harness.training.device import make_deterministic, resolve_device
    from harness.training.loop import Split, Splits, train_classifier

    device = resolve_device(runtime.device)

    def fresh(dataset_entry):
        make_deterministic(runtime.seed, runtime.deterministic)
        # every network here has the source's size (phi.train), so the fine-tuned and the scratch one match
        return build_architecture(ctx.arch, dataset_entry, source_cfg.size).to(device)

    def to_splits(arrays) -> Splits:
        return Splits(
            *(
                Split(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
                for x, y in arrays.values()
            )
        )

    def train(model, arrays, cfg, name):
        store = CheckpointStore(cache_root() / "phi_transfer" / run_id / name)
        result = train_classifier(
            model, to_splits(arrays), cfg, seed=runtime.seed, store=store, progress=not ctx.args.no_progress
        )
        if result.status == "ok":
            model.load_state_dict(result.best_state)
        return result

    def source_phi(model, arrays) -> dict:
        pca_inputs, _, probe_inputs = probe_sets(arrays, probe_cfg, mi_cfg.seed)
        capture = batched_capture(model, ctx.reg.measurements[layer].kwargs, probe_cfg.batch_size, device)
        phi, _, _ = measure_scheme(model, pca_inputs, probe_inputs, capture, probe_cfg, mi_cfg)
        return {
            "layer_scheme": layer,
            "source_phi_pair": phi["phi"],
            "source_phi_ci": phi["ci"],
            "source_mean_cut_mi": phi["mean_cut_mi"],
            "n_probe": len(probe_inputs),
        }

    if cross:
        target_entry = ctx.reg.datasets[target]
        source, source_arrays = ctx.splits()  # the network phi_train trained, and its data
        target_arrays = ctx.other_dataset_splits(target)
        sizes = {"source": source_arrays, "target": target_arrays}
        route = f"{ctx.pair.dataset} → {target}"
        checkpoint = _last_checkpoint(ctx)
        record = {"route": route, "source": ctx.pair.dataset, "target": target}
        if checkpoint is None:
            record.update(status="diverged", reason="phi_train did not reach its last checkpoint")
        else:
            weights, last = checkpoint
            state = load_output_weights(weights)
            source.load_state_dict(state)
            source.to(device)
            record.update(
                source_checkpoint=last["fraction"],
                source_test_accuracy=last["test_accuracy"],
                **source_phi(source, source_arrays),
            )
            finetune_init = fresh(target_entry)
            copied, kept = load_matching_state(finetune_init, state)
            record.update(copied_tensors=len(copied), reinitialized=kept)
            finetuned = train(finetune_init, target_arrays, transfer_cfg, "finetune")
            scratch = train(fresh(target_entry), target_arrays, transfer_cfg, "scratch")
            record.update(_outcome(finetuned, scratch))
    else:
        task_a, task_b = ctx.task_splits("task_a"), ctx.task_splits("task_b")
        sizes = {"task_a": task_a, "task_b": task_b}
        head = ctx.dataset.model_copy(update={"num_classes": max(len(tasks.task_a), len(tasks.task_b))})
        source = fresh(head)
        source_result = train(source, task_a, source_cfg, "source")
        record = {
            "route": "task A → task B",
            "source": ctx.pair.dataset,
            "target": ctx.pair.dataset,
            "status": source_result.status,
            "source_test_accuracy": source_result.test_accuracy,
        }
        if source_result.status == "ok":
            record.update(source_phi(source, task_a))
            finetuned = train(source, task_b, transfer_cfg, "finetune")
            scratch = train(fresh(head), task_b, transfer_cfg, "scratch")
            record.update(_outcome(finetuned, scratch))
    write_json(ctx.out / "transfer.json", record)
    ctx.prov.add(
        run_id=run_id,
        device=device_description(device),
        seed=runtime.seed,
        split_sizes={t: {n: len(y) for n, (_, y) in s.items()} for t, s in sizes.items()},
    )
    ctx.prov.write(ctx.out / "provenance.json")
    print(f"phi_transfer@{ctx.pair.key} ({record['route']}): {record['status']}; Δ = {record.get('delta')}")


def _outcome(finetuned, scratch) -> dict:
    ok = finetuned.status == scratch.status == "ok"
    return {
        "status": "ok" if ok else "diverged",
        "finetune_test_accuracy": finetuned.test_accuracy,
        "scratch_test_accuracy": scratch.test_accuracy,
        "delta": finetuned.test_accuracy - scratch.test_accuracy if ok else None,
        "finetune_status": finetuned.status,
        "scratch_status": scratch.status,
    }


if __name__ == "__main__":
    raise SystemExit(main())
