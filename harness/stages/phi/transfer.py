"""Stage ``phi_transfer@<arch>-<dataset>``: transfer Δ from the dataset's task A to its task B.

A network is trained on task A with ``phi.train`` (the source); its Φ_pair over the ``layer`` modules is
measured as in ``phi_measure`` (PCA on task A's validation split, MI on its test split). Then, with the
``phi.transfer`` budget and the same seed, the source is fine-tuned on task B, and a fresh network is
trained on task B from scratch: transfer Δ = task-B test accuracy fine-tuned − from scratch. Both tasks
share one head of max(n_A, n_B) outputs. Datasets without tasks (and graphs, whose class subsets would
cut edges) are recorded as not applicable.
"""

from __future__ import annotations

from harness.pipeline.provenance import device_description
from harness.stages.common import cache_root, stage_main, write_json
from harness.stages.phi.analysis import batched_capture, measure_scheme, seeded_rows
from harness.stages.phi.common import schemes_arg, start_phi_stage

STAGE_MODULE = "harness.stages.phi.transfer"
SECTIONS = ["phi.train", "phi.transfer", "phi.probe", "phi.mutual_information", "runtime", "data"]


@stage_main
def main(argv: list[str] | None = None) -> None:
    ctx = start_phi_stage(argv, __doc__, "transfer", SECTIONS, schemes_arg)
    tasks = ctx.dataset.tasks
    if tasks is None or ctx.dataset.modality == "graph":
        reason = (
            "graph dataset (class subsets would cut edges)"
            if tasks
            else "the dataset entry declares no tasks"
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
    modules = [STAGE_MODULE, ctx.arch.builder.partition(":")[0], ctx.dataset.loader.partition(":")[0]]
    run_id = ctx.run_id(modules)

    import torch

    from harness.models.build import build_architecture
    from harness.training.checkpoint import CheckpointStore
    from harness.training.device import make_deterministic, resolve_device
    from harness.training.loop import Split, Splits, train_classifier

    device = resolve_device(runtime.device)
    head = ctx.dataset.model_copy(update={"num_classes": max(len(tasks.task_a), len(tasks.task_b))})

    def fresh():
        make_deterministic(runtime.seed, runtime.deterministic)
        # every network here has the source's size (phi.train), so the fine-tuned and the scratch one match
        return build_architecture(ctx.arch, head, source_cfg.size).to(device)

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

    task_a, task_b = ctx.task_splits("task_a"), ctx.task_splits("task_b")
    source = fresh()
    source_result = train(source, task_a, source_cfg, "source")
    record = {"status": source_result.status, "source_test_accuracy": source_result.test_accuracy}
    if source_result.status == "ok":
        val_x, test_x = task_a["val"][0], task_a["test"][0]
        pca_inputs = torch.from_numpy(val_x[seeded_rows(len(val_x), probe_cfg.pca_samples, mi_cfg.seed)])
        probe_inputs = torch.from_numpy(
            test_x[seeded_rows(len(test_x), probe_cfg.probe_samples, mi_cfg.seed + 1)]
        )
        capture = batched_capture(source, ctx.reg.measurements[layer].kwargs, probe_cfg.batch_size, device)
        phi, _, _ = measure_scheme(source, pca_inputs, probe_inputs, capture, probe_cfg, mi_cfg)
        finetuned = train(source, task_b, transfer_cfg, "finetune")
        scratch = train(fresh(), task_b, transfer_cfg, "scratch")
        ok = finetuned.status == scratch.status == "ok"
        record.update(
            status="ok" if ok else "diverged",
            layer_scheme=layer,
            source_phi_pair=phi["phi"],
            source_phi_ci=phi["ci"],
            source_mean_cut_mi=phi["mean_cut_mi"],
            n_probe=len(probe_inputs),
            finetune_test_accuracy=finetuned.test_accuracy,
            scratch_test_accuracy=scratch.test_accuracy,
            delta=finetuned.test_accuracy - scratch.test_accuracy if ok else None,
            finetune_status=finetuned.status,
            scratch_status=scratch.status,
        )
    write_json(ctx.out / "transfer.json", record)
    ctx.prov.add(
        run_id=run_id,
        device=device_description(device),
        seed=runtime.seed,
        task_sizes={
            t: {n: len(y) for n, (_, y) in s.items()} for t, s in (("task_a", task_a), ("task_b", task_b))
        },
    )
    ctx.prov.write(ctx.out / "provenance.json")
    print(f"phi_transfer@{ctx.pair.key}: {record['status']}; Δ = {record.get('delta')}")


if __name__ == "__main__":
    raise SystemExit(main())
