"""Stage ``persist_forgetting@<arch>-<dataset>-s<seed>``: train on task B from the task-A checkpoint.

Three variants, each from the same task-A weights with the same task-B batches (shuffled with the
run's seed), so they differ only in what is named:
- ``naive``: SGD + momentum at a constant learning rate;
- ``ewc``: the same plus the EWC penalty (λ/2)·Σ F_i (θ_i − θ_A,i)² (Kirkpatrick et al. 2017), F the
  diagonal Fisher of the task-A network on task-A training data in eval mode;
- ``cosine``: no penalty, the learning rate decayed to zero by cosine over the schedule.
Task-A (and task-B) test accuracy is measured in eval mode after each step of ``persist.forgetting.steps``.
BatchNorm trains normally on task B (running statistics updated from task-B batches). Metrics: ret@k,
early AURC over [0, T], forgetting (Chaudhry et al. 2018) and the maximum drop; EWC benefit = metric(EWC)
− metric(naive). A finished variant is kept in the harness cache, so a killed stage resumes per variant.
"""

from __future__ import annotations

import json
import math

from harness.integrity import file_sha256, read_sealed_json, write_sealed_json
from harness.measurements.forgetting import early_aurc, forgetting, max_drop, retention
from harness.pipeline.provenance import device_description
from harness.stages.common import cache_root, stage_main, write_json
from harness.stages.persist.run import (
    load_task_a_network,
    seeded_subset,
    start_stage,
    task_arrays,
)

STAGE_MODULE = "harness.stages.persist.forgetting"
VARIANTS = ("naive", "ewc", "cosine")
BATCHNORM_POLICY = (
    "train mode on task B: running statistics updated from task-B batches; eval mode to measure"
)


def retention_metrics(curve: dict[int, float], retention_steps: list[int], horizon: int) -> dict[str, float]:
    """The named retention metrics of one task-A accuracy curve."""
    metrics = {f"ret@{k}": retention(curve, k) for k in retention_steps}
    metrics[f"early_aurc@{horizon}"] = early_aurc(curve, horizon)
    metrics["forgetting"] = forgetting(curve)
    metrics["max_drop"] = max_drop(curve)
    return metrics


@stage_main
def main(argv: list[str] | None = None) -> None:
    start = start_stage(argv, __doc__, "forgetting", ["persist.forgetting", "persist.task_a", "runtime"])
    ctx, cfg, runtime, out = start.ctx, start.config["persist.forgetting"], start.config["runtime"], start.out
    task_cfg = start.config["persist.task_a"]
    if start.task_a_failed("forgetting.json", {"variants": {}}):
        return

    import torch

    from harness.measurements.classification import accuracy
    from harness.measurements.curvature import EWCPenalty, fisher_diagonal
    from harness.training.config import TrainConfig
    from harness.training.device import make_deterministic, resolve_device
    from harness.training.loop import Hooks, Split, Splits, train_classifier

    weights_sha = file_sha256(ctx.out("task_a") / "model.safetensors")
    modules = [STAGE_MODULE, ctx.arch.builder.partition(":")[0], ctx.dataset.loader.partition(":")[0]]
    run_id = ctx.run_id(start.params, modules, {"task_a_weights": weights_sha})
    cache = cache_root() / "persist_forgetting" / run_id
    cache.mkdir(parents=True, exist_ok=True)
    device = resolve_device(runtime.device)

    def tensors(arrays) -> Split:
        return Split(torch.from_numpy(arrays[0]).to(device), torch.from_numpy(arrays[1]).to(device))

    task_a_data, task_b_data = task_arrays(ctx, "task_a"), task_arrays(ctx, "task_b")
    a_test = tensors(task_a_data["test"])
    b_splits = Splits(*(tensors(task_b_data[s]) for s in ("train", "val", "test")))
    last = cfg.steps[-1]
    steps_per_epoch = math.ceil(len(b_splits.train.targets) / cfg.batch_size)
    variants = {}
    for name in VARIANTS:
        cached = cache / f"{name}.json"
        done = read_sealed_json(cached)
        if done is not None:
            variants[name] = done
            continue
        make_deterministic(ctx.run.seed, runtime.deterministic)
        model = load_task_a_network(ctx, device)
        hooks_kw = {}
        if name == "ewc":
            fx, _ = seeded_subset(task_a_data["train"], cfg.fisher_samples, ctx.split_seed)
            fisher = fisher_diagonal(
                model,
                torch.from_numpy(fx).to(device),
                estimator=cfg.fisher_estimator,
                labels_per_input=cfg.fisher_labels_per_input,
                memory_budget_gib=cfg.fisher_memory_gib,
                seed=ctx.run.seed,
            )
            # SGD with momentum m is stable on the penalty alone while lr·λ·F_i < 2(1 + m): a diverged EWC
            # run is diagnosed by this number
            stiffness = cfg.lr * cfg.ewc_lambda * max(float(f.max()) for f in fisher.values())
            anchor = {n: p.detach() for n, p in model.named_parameters()}
            hooks_kw["extra_losses"] = [EWCPenalty(fisher, anchor, cfg.ewc_lambda)]
        curve_a, curve_b = {}, {}

        def on_evaluate(step: int, net, curve_a=curve_a, curve_b=curve_b) -> None:
            curve_a[step] = accuracy(net, *a_test)
            curve_b[step] = accuracy(net, *b_splits.test)

        b_cfg = TrainConfig(
            epochs=math.ceil(last / steps_per_epoch),
            batch_size=cfg.batch_size,
            optimizer="sgd",
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            schedule="cosine" if name == "cosine" else "constant",
            eval_every_epochs=10**6,  # task-B validation is not needed: the curve is measured in the hook
            checkpoint_every_epochs=10**6,
            size=task_cfg.size,
        )
        result = train_classifier(
            model,
            b_splits,
            b_cfg,
            seed=ctx.run.seed,
            hooks=Hooks(evaluate_at_steps=cfg.steps, on_evaluate=on_evaluate, **hooks_kw),
            progress=False,
            max_steps=last,
        )
        record = {"status": result.status, "steps": result.steps}
        if name == "ewc":
            record["stiffness_lr_lambda_max_fisher"] = stiffness
            record["stability_limit"] = 2 * (1 + cfg.momentum)
        if result.status == "ok":
            curve = {int(k): v for k, v in curve_a.items()}
            record.update(
                task_a_accuracy=curve,
                task_b_accuracy=curve_b,
                metrics=retention_metrics(curve, cfg.retention_steps, cfg.early_window),
            )
        else:
            record["diverged_at_step"] = result.diverged_at_step
        write_sealed_json(cached, record)  # atomic and checksummed: a damaged variant is never used
        variants[name] = json.loads(json.dumps(record))  # one form (string keys) whether cached or fresh

    benefit = {}
    if variants["ewc"]["status"] == "ok" and variants["naive"]["status"] == "ok":
        benefit = {
            m: variants["ewc"]["metrics"][m] - variants["naive"]["metrics"][m]
            for m in variants["naive"]["metrics"]
        }
    write_json(
        out / "forgetting.json",
        {
            "status": "ok",
            "steps": cfg.steps,
            "early_window": cfg.early_window,
            "batchnorm": BATCHNORM_POLICY,
            "ewc_lambda": cfg.ewc_lambda,
            "variants": variants,
            "ewc_benefit": benefit,
        },
    )
    start.prov.add(run_id=run_id, device=device_description(device), task_a_weights_sha256=weights_sha)
    start.prov.write(out / "provenance.json")
    summary = {n: v.get("metrics", {}).get("forgetting") for n, v in variants.items()}
    print(f"persist_forgetting@{ctx.run.key}: forgetting {summary}")


if __name__ == "__main__":
    raise SystemExit(main())
