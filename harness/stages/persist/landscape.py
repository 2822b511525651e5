"""Stage ``persist_landscape@<arch>-<dataset>-s<seed>``: 2-D loss-landscape slices around the task-A network.

``persist.landscape.slices`` independent slices, slice k along directions drawn with seeds
(1_000_003·seed + 2k, 1_000_003·seed + 2k + 1): distinct for every slice and run, and recorded with a
sha256 of each direction (Li et al.'s reference code fixes one seed, so its "independent" slices are
identical). Loss = mean cross-entropy (nats) on a fixed subset of the task-A training split drawn with
``runtime.seed``; BatchNorm in eval mode with the unperturbed running statistics.

Resumable: points are written to the harness cache (keyed by entries, params, code and the task-A
weights) every ``save_every_seconds``, so a killed slice continues where it stopped, also under
``dvc repro``, which deletes this stage's outputs before re-running it.
"""

from __future__ import annotations

import time

import numpy as np

from harness.integrity import file_sha256, open_sealed, write_sealed
from harness.pipeline.provenance import device_description
from harness.stages.common import cache_root, stage_main, write_json
from harness.stages.persist.run import (
    load_task_a_network,
    seeded_subset,
    start_stage,
    task_arrays,
)

STAGE_MODULE = "harness.stages.persist.landscape"
BATCHNORM_POLICY = "eval mode: running statistics of the task-A network, unperturbed"


def direction_seeds(run_seed: int, slice_index: int) -> tuple[int, int]:
    base = 1_000_003 * run_seed + 2 * slice_index
    return base, base + 1


def _save_partial(path, loss: np.ndarray, stderr: np.ndarray) -> None:
    def write(tmp) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a path
            np.savez(fh, loss=loss, stderr=stderr)

    write_sealed(path, write)  # atomic and checksummed: a kill never leaves a half-written grid in use


def _plot(path, loss: np.ndarray, span: float, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from harness.measurements.landscape import grid_axis

    axis = grid_axis(loss.shape[0], span)
    fig, ax = plt.subplots(figsize=(4.6, 4))
    mesh = ax.pcolormesh(axis, axis, loss, shading="nearest", cmap="viridis")
    ax.contour(axis, axis, loss, levels=12, colors="white", linewidths=0.5)
    ax.plot(0, 0, "r+", markersize=10)
    ax.set(xlabel="β (direction 2)", ylabel="α (direction 1)", title=title)
    fig.colorbar(mesh, ax=ax, label="loss (nats)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


@stage_main
def main(argv: list[str] | None = None) -> None:
    start = start_stage(argv, __doc__, "landscape", ["persist.landscape", "persist.task_a", "runtime"])
    ctx, cfg, runtime, out = start.ctx, start.config["persist.landscape"], start.config["runtime"], start.out
    if start.task_a_failed("metadata.json", {"slices": []}):
        return
    weights_sha = file_sha256(ctx.out("task_a") / "model.safetensors")

    import torch
    from torch import nn

    from harness.measurements.landscape import (
        LossGrid,
        direction_cosine,
        direction_sha256,
        filter_normalized_direction,
        grid_axis,
        loss_grid,
    )
    from harness.training.device import make_deterministic, resolve_device

    modules = [STAGE_MODULE, ctx.arch.builder.partition(":")[0], ctx.dataset.loader.partition(":")[0]]
    run_id = ctx.run_id(start.params, modules, {"task_a_weights": weights_sha})
    cache = cache_root() / "persist_landscape" / run_id
    cache.mkdir(parents=True, exist_ok=True)
    device = resolve_device(runtime.device)
    make_deterministic(ctx.run.seed, runtime.deterministic)
    model = load_task_a_network(ctx, device)
    x, y = seeded_subset(task_arrays(ctx, "task_a")["train"], cfg.eval_samples, ctx.split_seed)
    inputs, targets = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    loss_fn = nn.CrossEntropyLoss(reduction="none")

    slices, resumed, timings = [], {}, {}
    for k in range(cfg.slices):
        s1, s2 = direction_seeds(ctx.run.seed, k)
        d1 = filter_normalized_direction(model, s1, ignore=cfg.ignore)
        d2 = filter_normalized_direction(model, s2, ignore=cfg.ignore)
        partial = cache / f"slice_{k}.npz"
        done = None
        if open_sealed(partial) is not None:
            with np.load(partial) as saved:
                done = LossGrid(saved["loss"], saved["stderr"])
            resumed[k] = int(np.isfinite(done.loss).sum())
        state = {"grid": done, "last_save": time.monotonic()}
        if done is None:
            nan = np.full((cfg.resolution, cfg.resolution), np.nan)
            state["grid"] = LossGrid(nan, nan.copy())

        def on_point(i: int, j: int, value: float, err: float, state=state, partial=partial) -> None:
            state["grid"].loss[i, j], state["grid"].stderr[i, j] = value, err
            if time.monotonic() - state["last_save"] >= cfg.save_every_seconds:
                _save_partial(partial, *state["grid"])
                state["last_save"] = time.monotonic()

        started = time.perf_counter()
        grid = loss_grid(
            model,
            loss_fn,
            inputs,
            targets,
            d1,
            d2,
            resolution=cfg.resolution,
            span=cfg.span,
            batch_size=cfg.batch_size,
            points_per_batch=cfg.points_per_batch,
            done=done,
            on_point=on_point,
        )
        _save_partial(partial, *grid)
        np.save(out / f"slice_{k}_loss.npy", grid.loss)
        np.save(out / f"slice_{k}_stderr.npy", grid.stderr)
        centre = grid.loss[cfg.resolution // 2, cfg.resolution // 2]
        _plot(out / f"slice_{k}.png", grid.loss, cfg.span, f"{ctx.run.key} slice {k}")
        timings[k] = {"points_resumed": resumed.get(k, 0), "seconds": round(time.perf_counter() - started, 3)}
        slices.append(
            {
                "index": k,
                "direction_seeds": [s1, s2],
                "direction_sha256": [direction_sha256(d1), direction_sha256(d2)],
                "direction_cosine": direction_cosine(d1, d2),
                "loss_min": float(np.nanmin(grid.loss)),
                "loss_max": float(np.nanmax(grid.loss)),
                "loss_centre": float(centre),
                "median_stderr": float(np.median(grid.stderr)),
                "finite": bool(np.isfinite(grid.loss).all()),
            }
        )
    write_json(
        out / "metadata.json",
        {
            "status": "ok",
            "resolution": cfg.resolution,
            "span": cfg.span,
            "axis": "rows over α (direction 1), columns over β (direction 2), harness.measurements.landscape.grid_axis(G, span): linspace(−span, span, G) for odd G, step span/(G/2) from −span for even G; θ at index G // 2",
            "axis_values": grid_axis(cfg.resolution, cfg.span).tolist(),
            "loss": "mean cross-entropy (nats) over the evaluation subset; stderr = its standard error",
            "eval_samples": len(y),
            "eval_subset_seed": ctx.split_seed,
            "direction_policy": {"ignore": cfg.ignore, "norm": "per output filter/neuron, Frobenius"},
            "batchnorm": BATCHNORM_POLICY,
            "slices": slices,
        },
    )
    start.prov.add(run_id=run_id, device=device_description(device), task_a_weights_sha256=weights_sha)
    start.prov.add_run(slices=timings)
    start.prov.write(out / "provenance.json")
    print(
        f"persist_landscape@{ctx.run.key}: {cfg.slices} slices of {cfg.resolution}², resumed {resumed or 'none'}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
