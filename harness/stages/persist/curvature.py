"""Stage ``persist_curvature@<arch>-<dataset>-s<seed>``: curvature baselines at the task-A solution.

On a fixed subset of the task-A training split (``persist.curvature.samples``, drawn with
``runtime.seed``), in eval mode: the Hessian trace of the mean cross-entropy by Hutchinson's estimator
(Rademacher probes; standard error reported), its eigenvalue of largest magnitude by power iteration
(iterations reported), and the trace of the Fisher information F = E_x Σ_y p(y|x) ∇log p(y|x)² from
per-(input, label) gradients, chunked to ``persist.curvature.fisher_memory_gib`` (exact by default;
``fisher_estimator: monte_carlo`` draws labels from the model and reports its standard error).
"""

from __future__ import annotations

import time

from harness.integrity import file_sha256
from harness.pipeline.provenance import device_description
from harness.stages.common import stage_main, write_json
from harness.stages.persist.run import (
    load_task_a_network,
    seeded_subset,
    start_stage,
    task_arrays,
)

STAGE_MODULE = "harness.stages.persist.curvature"


@stage_main
def main(argv: list[str] | None = None) -> None:
    start = start_stage(argv, __doc__, "curvature", ["persist.curvature", "persist.task_a", "runtime"])
    ctx, cfg, runtime, out = start.ctx, start.config["persist.curvature"], start.config["runtime"], start.out
    if start.task_a_failed("curvature.json", {}):
        return

    import torch
    from torch import nn

    from harness.measurements.curvature import fisher_information, hessian_top_eigenvalue, hessian_trace
    from harness.training.device import make_deterministic, resolve_device

    device = resolve_device(runtime.device)
    make_deterministic(ctx.run.seed, runtime.deterministic)
    model = load_task_a_network(ctx, device)
    x, y = seeded_subset(task_arrays(ctx, "task_a")["train"], cfg.samples, ctx.split_seed)
    inputs, targets = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    loss_fn = nn.CrossEntropyLoss()
    timings = {}

    started = time.perf_counter()
    trace = hessian_trace(model, loss_fn, inputs, targets, samples=cfg.hutchinson_samples, seed=ctx.run.seed)
    timings["hessian_trace"] = time.perf_counter() - started
    started = time.perf_counter()
    top = hessian_top_eigenvalue(
        model,
        loss_fn,
        inputs,
        targets,
        tol=cfg.eigen_tol,
        max_iterations=cfg.eigen_max_iterations,
        seed=ctx.run.seed,
    )
    timings["hessian_top_eigenvalue"] = time.perf_counter() - started
    started = time.perf_counter()
    fisher = fisher_information(
        model,
        inputs,
        estimator=cfg.fisher_estimator,
        labels_per_input=cfg.fisher_labels_per_input,
        memory_budget_gib=cfg.fisher_memory_gib,
        seed=ctx.run.seed,
    )
    timings["fisher_trace"] = time.perf_counter() - started
    write_json(
        out / "curvature.json",
        {
            "status": "ok",
            "samples": len(y),
            "loss": "mean cross-entropy (nats) over the subset; Hessian of that mean",
            "hessian_trace": trace.value,
            "hessian_trace_stderr": trace.stderr,
            "hutchinson_samples": cfg.hutchinson_samples,
            "hessian_top_eigenvalue": top.value,
            "eigen_iterations": top.iterations,
            "eigen_converged": top.converged,
            "eigen_residual": top.residual,
            "fisher_trace": fisher.trace,
            "fisher_trace_stderr": fisher.trace_stderr,
            "fisher_label_sampling_stderr": fisher.label_sampling_stderr,
            "fisher_estimator": fisher.estimator,
            "fisher_labels_per_input": fisher.labels_per_input,
            "fisher_chunk": {"inputs": fisher.chunk[0], "labels": fisher.chunk[1]},
            "fisher": "true Fisher: expectation over the model's own p(y|x), per-(input, label) gradients",
        },
    )
    weights_sha = file_sha256(ctx.out("task_a") / "model.safetensors")
    start.prov.add(device=device_description(device), task_a_weights_sha256=weights_sha)
    start.prov.add_run(seconds={k: round(v, 3) for k, v in timings.items()})
    start.prov.write(out / "provenance.json")
    print(
        f"persist_curvature@{ctx.run.key}: tr(H) {trace.value:.4g} ± {trace.stderr:.2g}, λ_max {top.value:.4g}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
