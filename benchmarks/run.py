"""Benchmark suite: hot paths measured side by side in one run, written with the machine's description.

    python -m benchmarks.run --device cpu --out docs/benchmarks.md
    python -m benchmarks.run --device cuda --out docs/benchmarks-cuda-hot-paths.md   # on a GPU machine

Targets live here as ratios, never in timed unit tests. Experiments add their sections.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics as stats_lib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def machine_description(device: str) -> dict[str, object]:
    import torch

    desc: dict[str, object] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "device": device,
    }
    cpuinfo = Path("/proc/cpuinfo")
    models = (
        [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.startswith("model name")
        ]
        if cpuinfo.exists()
        else []
    )
    if models:
        desc["cpu_model"] = models[0]
    if device == "cuda":
        desc["gpu"] = torch.cuda.get_device_name(0)
    return desc


def _interleaved(a, b, repeats: int, sync) -> tuple[float, float]:
    """Median seconds of ``a`` and of ``b``, alternated call by call after one warm-up each, so that
    load from elsewhere on a noisy machine hits both alike."""
    a(), b()
    sync()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in ((a, samples[0]), (b, samples[1])):
            t = time.perf_counter()
            fn()
            sync()
            out.append(time.perf_counter() - t)
    return stats_lib.median(samples[0]), stats_lib.median(samples[1])


def _compare_steps(model, shape, num_classes: int, device: str, batch: int, sync) -> tuple[float, float, int]:
    """Seconds per step: a plain shuffled PyTorch epoch, and the harness loop's epoch, on the same model."""
    import torch

    from harness.training.config import TrainConfig
    from harness.training.loop import Split, Splits, train_classifier

    # one short epoch: the harness's per-epoch costs (validation, best copy) are included. Its length
    # and the repeats adapt so a large model on a CPU still measures in about a minute: ~0.5 s an
    # epoch (2 to 100 steps), 5 alternating repeats for fast steps, down to 1 for steps over 0.5 s.
    probe = torch.randn(batch, *shape, device=device)
    for _ in range(2):  # the first pass warms up allocators and kernels
        t = time.perf_counter()
        model(probe).sum().backward()
        sync()
    probe_s = max(time.perf_counter() - t, 1e-6)
    steps = int(min(100, max(2, 0.5 / probe_s)))
    repeats = 5 if probe_s < 0.05 else 3 if probe_s < 0.5 else 1
    model.zero_grad(set_to_none=True)
    x = torch.randn(batch * steps, *shape, device=device)
    y = torch.randint(0, num_classes, (batch * steps,), device=device)
    cfg = TrainConfig(epochs=1, batch_size=batch, lr=1e-3)
    # the plain loop does the same training: same optimizer settings and cosine schedule
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn = torch.nn.CrossEntropyLoss()

    def bare_epoch() -> None:
        order = torch.randperm(len(y), device=device)
        for i in range(steps):
            idx = order[i * batch : (i + 1) * batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
            sched.step()

    splits = Splits(Split(x, y), Split(x[:batch], y[:batch]), Split(x[:batch], y[:batch]))
    bare, loop = _interleaved(
        bare_epoch, lambda: train_classifier(model, splits, cfg, seed=0, progress=False), repeats, sync
    )
    return bare / steps, loop / steps, steps


def bench_training_step(device: str, profiles: list[str], batch: int = 64) -> list[dict[str, object]]:
    """Forward+backward+SGD step of every architecture each profile trains, once per input shape.

    The embedded profile runs at tiny size, the others at full size. The harness loop and a plain
    PyTorch epoch run the same model, data and optimizer in this process; their ratio is the loop's
    overhead per step. The harness step times feed `harness estimate` (keyed by architecture, size
    and input shape, so CIFAR-10 and CIFAR-100 share one measurement).
    """
    import torch

    from harness.models.build import build_architecture, trainable_parameter_count
    from harness.pipeline.selection import train_pairs
    from harness.registry.adaptation import plan_adaptation
    from harness.registry.load import load_registries

    reg = load_registries(REPO / "registry")
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rows: list[dict[str, object]] = []
    done: set[tuple[str, str, tuple[int, ...]]] = set()
    for profile in profiles:
        size = "tiny" if profile == "embedded" else "full"
        for pair in train_pairs(reg, profile):
            arch, ds = reg.architectures[pair.arch], reg.datasets[pair.dataset]
            shape = plan_adaptation(ds, arch, size).shape
            if (pair.arch, size, tuple(shape)) in done:
                continue
            done.add((pair.arch, size, tuple(shape)))
            torch.manual_seed(0)
            model = build_architecture(arch, ds, size).to(device)
            bare, loop, steps = _compare_steps(model, shape, ds.num_classes, device, batch, sync)
            rows.append(
                {
                    "architecture": pair.arch,
                    "dataset": pair.dataset,
                    "shape": shape,
                    "size": size,
                    "device": device,
                    "batch": batch,
                    "steps": steps,
                    "params": trainable_parameter_count(model),
                    "bare_step_ms": 1e3 * bare,
                    "harness_step_ms": 1e3 * loop,
                    "ratio": loop / bare,
                }
            )
            print(f"  {pair.arch} {size} {shape}: {1e3 * loop:.2f} ms/step", file=sys.stderr)
            del model
    return rows


def bench_landscape(device: str) -> list[dict[str, object]]:
    """Loss-grid evaluation vs the same number of plain forward passes over the same samples (the floor),
    point loop vs vmap-batched points, and a Hessian-vector product vs one gradient, side by side."""
    import torch

    from harness.models.mlp import build_mlp
    from harness.models.resnet import build_resnet

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    cases = [
        ("resnet18 (width 16), 3x32x32", build_resnet(3, 32, 10, 18, 16), [3, 32, 32], 256),
        ("mlp 784-512-512-10", build_mlp(784, 10, 2, 512), [784], 512),
    ]
    return [_landscape_case(label, model, shape, n, device, sync) for label, model, shape, n in cases]


def _landscape_case(label: str, model, shape: list[int], n: int, device: str, sync) -> dict[str, object]:
    import torch
    from torch import nn

    from harness.measurements.curvature import _hvp_closure
    from harness.measurements.landscape import filter_normalized_direction, loss_grid

    torch.manual_seed(0)
    model = model.to(device).eval()
    x, y = torch.randn(n, *shape, device=device), torch.randint(0, 10, (n,), device=device)
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    d1, d2 = filter_normalized_direction(model, 1), filter_normalized_direction(model, 2)
    res = 5  # 25 points

    def plain() -> None:
        with torch.no_grad():
            for _ in range(res * res):
                loss_fn(model(x), y).mean().item()

    def inplace_loop() -> None:
        """The loss-landscapes library's method: perturb the live parameters in place at every point,
        evaluate, and restore them at the end."""
        axis = torch.linspace(-1, 1, res).tolist()
        params = dict(model.named_parameters())
        saved = {k: p.detach().clone() for k, p in params.items()}
        with torch.no_grad():
            for a in axis:
                for b in axis:
                    for k, p in params.items():
                        p.copy_(saved[k] + a * d1[k] + b * d2[k])
                    loss_fn(model(x), y).mean().item()
            for k, p in params.items():
                p.copy_(saved[k])

    grid_s, plain_s = _interleaved(
        lambda: loss_grid(model, loss_fn, x, y, d1, d2, resolution=res), plain, 3, sync
    )
    _, inplace_s = _interleaved(
        lambda: loss_grid(model, loss_fn, x, y, d1, d2, resolution=res), inplace_loop, 3, sync
    )
    batched_s, _ = _interleaved(
        lambda: loss_grid(model, loss_fn, x, y, d1, d2, resolution=res, points_per_batch=5),
        lambda: None,
        3,
        sync,
    )
    hvp, params = _hvp_closure(model, nn.CrossEntropyLoss(), x, y)
    vs = [torch.randn_like(p) for p in params]

    def gradient() -> None:
        torch.autograd.grad(nn.CrossEntropyLoss()(model(x), y), params)

    hvp_s, grad_s = _interleaved(lambda: hvp(vs), gradient, 5, sync)
    return {
        "model": label,
        "samples": n,
        "grid_points": res * res,
        "grid_over_plain": grid_s / plain_s,
        "inplace_over_plain": inplace_s / plain_s,
        "batched_over_loop": batched_s / grid_s,
        "hvp_ms": 1e3 * hvp_s,
        "grad_ms": 1e3 * grad_s,
        "hvp_over_grad": hvp_s / grad_s,
    }


def bench_statistics() -> list[dict[str, object]]:
    """The incremental-value permutation test (batched SVD ridge over all permutations) against a loop
    that calls ``loao_ridge`` once per permutation on the same permuted features (first 50, scaled)."""
    import numpy as np

    from harness.statistics.loao import _residualize, incremental_value_test, loao_ridge

    rows = []
    for n_groups in (6, 19):
        rng = np.random.default_rng(0)
        log_params = rng.uniform(8, 17, n_groups)
        topology = np.column_stack([log_params + rng.normal(size=n_groups) for _ in range(4)])
        target = rng.uniform(0, 1, n_groups)
        groups = np.arange(n_groups)
        start = time.perf_counter()
        incremental_value_test(topology, log_params, target, groups, n_permutations=1000, seed=0)
        batched = time.perf_counter() - start
        fitted, resid = _residualize(topology, log_params)
        loop_n = 50
        start = time.perf_counter()
        for _ in range(loop_n):
            feats = np.column_stack([log_params, fitted + resid[rng.permutation(n_groups)]])
            loao_ridge(feats, target, groups)
        loop = (time.perf_counter() - start) * 1000 / loop_n
        rows.append(
            {
                "architectures": n_groups,
                "features": 5,
                "batched_s": batched,
                "loop_s_per_1000": loop,
                "loop_over_batched": loop / batched,
            }
        )
    return rows


def ckdtree_ksg(x, y, k: int = 5) -> float:
    """The straightforward KSG (algorithm 1) with scipy's cKDTree: Chebyshev metric, k+1 joint neighbours
    (the point itself included), marginal counts by ``query_ball_point`` just inside the joint distance."""
    import numpy as np
    from scipy.spatial import cKDTree
    from scipy.special import digamma

    n = len(x)
    joint = np.hstack([x, y])
    radius = np.nextafter(cKDTree(joint).query(joint, k + 1, p=np.inf)[0][:, -1], 0)
    nx = cKDTree(x).query_ball_point(x, radius, p=np.inf, return_length=True) - 1
    ny = cKDTree(y).query_ball_point(y, radius, p=np.inf, return_length=True) - 1
    return float(digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1)))


_KSG_MEMORY_PROBE = """
import re, time, numpy as np, torch
from pathlib import Path
from harness.measurements.mutual_information import correlated_gaussians, ksg_mutual_information
def status_mib(key):
    return int(re.search(key + r":\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 1024
x, y = correlated_gaussians({n}, {d}, 0.5, 0)
before = status_mib("VmRSS")
Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark (VmHWM) to the current RSS
start = time.perf_counter()
ksg_mutual_information(x, y, device="{device}")
if "{device}" == "cuda":
    torch.cuda.synchronize()
    print(time.perf_counter() - start, torch.cuda.max_memory_allocated() / 2**20)
else:
    print(time.perf_counter() - start, status_mib("VmHWM") - before)
"""


def bench_mutual_information(device: str) -> dict[str, object]:
    """KSG against the cKDTree reference, its memory at N = 10,000 and d = 64, and the pairwise-MI cost model."""
    import numpy as np
    import torch

    from harness.measurements.mutual_information import correlated_gaussians, pairwise_ksg, prepare_samples

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    x, y = correlated_gaussians(5000, 16, 0.5, seed=0)
    x = prepare_samples(x, standardize=False, noise=1e-10, seed=0)
    y = prepare_samples(y, standardize=False, noise=1e-10, seed=1)
    results: dict[str, float] = {}

    def ours(dtype=torch.float64, key="float64"):
        from harness.measurements.mutual_information import ksg_local_terms

        results[key] = float(ksg_local_terms(x, y, device=device, dtype=dtype).mean())

    def reference():
        results["reference"] = ckdtree_ksg(x, y)

    torch_s, reference_s = _interleaved(ours, reference, repeats=2, sync=sync)
    float32_s, _ = _interleaved(lambda: ours(torch.float32, "float32"), lambda: None, repeats=2, sync=sync)
    probe = subprocess.run(
        [sys.executable, "-c", _KSG_MEMORY_PROBE.format(n=10000, d=64, device=device)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    big_s, big_mib = (float(v) for v in probe.stdout.split())
    # pairwise cost model t(n) = a·n (each module's distances) + b·n(n−1)/2 (each pair's neighbour search)
    times = {}
    for n_modules in (3, 6):
        modules = [np.random.default_rng(i).standard_normal((10000, 64)) for i in range(n_modules)]
        sync()
        start = time.perf_counter()
        pairwise_ksg(modules, device=device)
        sync()
        times[str(n_modules)] = time.perf_counter() - start
    per_pair = (times["6"] - 2 * times["3"]) / 9
    per_module = times["3"] / 3 - per_pair
    return {
        "n": 5000,
        "d": 16,
        "reference_s": reference_s,
        "torch_float64_s": torch_s,
        "torch_float32_s": float32_s,
        "speedup_float64": reference_s / torch_s,
        "speedup_float32": reference_s / float32_s,
        "max_abs_diff_float64": abs(results["float64"] - results["reference"]),
        "max_abs_diff_float32": abs(results["float32"] - results["reference"]),
        "estimate_nats": results["reference"],
        "n10k_d64_s": big_s,
        "n10k_d64_peak_mib": big_mib,
        "pairwise_n10k_d64_s": times,
        "per_module_s": per_module,
        "per_pair_s": per_pair,
        "projected_144_modules_h": (144 * per_module + 144 * 143 / 2 * per_pair) / 3600,
    }


def bench_capacity() -> dict[str, object]:
    """GENESIS: trainings and epochs the capacity search spends vs a linear sweep over N, and ensembles of
    a tiny MLP and a tiny ViT trained together (``harness.training.ensemble``: stacked parameters,
    ``torch.func``) vs one after another."""
    import numpy as np
    import torch

    from harness.measurements.capacity import memorization_capacity
    from harness.models.mlp import build_mlp
    from harness.training.config import TrainConfig
    from harness.training.memorize import memorize

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((4096, 16)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 4, 4096))
    cfg = TrainConfig(
        epochs=100, batch_size=128, optimizer="adam", lr=0.01, weight_decay=0.0, schedule="constant"
    )
    n_min, n_max, precision = 16, 4096, 16

    def trainer(log):
        def fits(n: int) -> bool:
            torch.manual_seed(0)
            run = memorize(build_mlp(16, 4, 2, 32), x[:n], y[:n], cfg, seed=0)
            log.append((n, run.epochs))
            return run.fitted

        return fits

    search_log: list[tuple[int, int]] = []
    t0 = time.perf_counter()
    found = memorization_capacity(trainer(search_log), n_min, n_max, precision)
    search_s = time.perf_counter() - t0
    linear_log: list[tuple[int, int]] = []
    fits = trainer(linear_log)
    t0 = time.perf_counter()
    n = n_min
    while n <= n_max and fits(n):  # the naive sweep: every precision step up to the first failure
        n += precision
    linear_s = time.perf_counter() - t0

    # ensembles: M networks on one sample set (genesis_information), stacked vs one after another, each
    # member with its own labels, initialization and batch order, early stop at 100% as in the stage
    from harness.models.vision import build_vit
    from harness.training.ensemble import memorize_ensemble

    members, n_train = 32, 128
    images = torch.from_numpy(rng.standard_normal((n_train, 3, 8, 8)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 4, (members, n_train)))
    networks = {
        "mlp (4 hidden layers of 32, 192 inputs)": (lambda: build_mlp(192, 4, 4, 32), images.flatten(1)),
        "vit (2 layers, width 16, 4 patches of 8x8x3)": (
            lambda: build_vit(3, 8, 4, patch_size=4, embed_dim=16, depth=2, num_heads=2),
            images,
        ),
    }
    ensembles = {}
    for name, (make, inputs) in networks.items():

        def build(m: int, make=make) -> torch.nn.Module:
            torch.manual_seed(m)
            return make()

        def one_by_one(build=build, inputs=inputs) -> None:
            memorize_ensemble(build, inputs, labels, cfg, seeds=list(range(members)), stacked=False)

        def stacked(build=build, inputs=inputs) -> None:
            memorize_ensemble(build, inputs, labels, cfg, seeds=list(range(members)), stacked=True)

        sequential_s, stacked_s = _interleaved(one_by_one, stacked, 1, lambda: None)
        ensembles[name] = {
            "sequential_s": sequential_s,
            "stacked_s": stacked_s,
            "speedup": sequential_s / stacked_s,
        }
    return {
        "capacity": found["n_max"],
        "n_range": [n_min, n_max],
        "precision": precision,
        "search_trainings": len(search_log),
        "search_epochs": sum(e for _, e in search_log),
        "search_s": search_s,
        "linear_trainings": len(linear_log),
        "linear_epochs": sum(e for _, e in linear_log),
        "linear_s": linear_s,
        "linear_first_failure": linear_log[-1][0] if linear_log else None,
        "members": members,
        "n_train": n_train,
        "ensembles": ensembles,
    }


def _watch_memory(pid: int, interval: float = 0.05) -> tuple[int, int]:
    """Sample the process tree under ``pid`` until it exits: (largest single process RSS, largest total), bytes."""
    import psutil

    root = psutil.Process(pid)
    peak_one = peak_all = 0
    while root.is_running() and root.status() != psutil.STATUS_ZOMBIE:
        rss = []
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # exited between listing and reading
                rss.append(p.memory_info().rss)
        if rss:
            peak_one, peak_all = max(peak_one, max(rss)), max(peak_all, sum(rss))
        time.sleep(interval)
    return peak_one, peak_all


def _survey_run(command: list[str], label: str, profile: str = "embedded") -> dict[str, object]:
    """Wall time and peak memory of ``command`` over the whole embedded survey in a fresh scratch copy of
    the repo (no results, no DVC cache), then the wall time of the same command again (nothing to do)."""
    from harness.pipeline.workspace import copy_working_tree

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@localhost",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@localhost",
        }
        dst = copy_working_tree(REPO, Path(tmp) / "repo", env)
        synced = subprocess.run(
            ["harness", "sync", "--profile", profile], cwd=dst, env=env, capture_output=True, text=True
        )
        if synced.returncode != 0:
            raise RuntimeError(f"harness sync --profile {profile} failed in {dst}:\n{synced.stderr}")
        t = time.perf_counter()
        proc = subprocess.Popen(
            command, cwd=dst, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        peak_stage, peak_tree = _watch_memory(proc.pid)
        out, _ = proc.communicate()
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{out}")
        stages = out.count("Running stage")
        t = time.perf_counter()
        again = subprocess.run(command, cwd=dst, env=env, capture_output=True, text=True, check=True)
        noop = time.perf_counter() - t
        assert "Running stage" not in again.stdout + again.stderr, again.stdout
        status = subprocess.run(["dvc", "status"], cwd=dst, env=env, capture_output=True, text=True)
        assert "up to date" in status.stdout, status.stdout
        extra: dict[str, float] = {}
        if label == "dvc repro":
            t = time.perf_counter()
            subprocess.run(["python", "-m", "harness.stages.check"], cwd=dst, env=env, check=True)
            extra["check_stage_s"] = time.perf_counter() - t
            t = time.perf_counter()
            subprocess.run(["python", "-c", "import torch"], cwd=dst, env=env, check=True)
            extra["import_torch_s"] = time.perf_counter() - t
    return {
        "command": " ".join(command),
        "wall_s": wall,
        "noop_s": noop,
        "stages": stages,
        "peak_stage_rss_mib": peak_stage / 2**20,
        "peak_tree_rss_mib": peak_tree / 2**20,
        **extra,
    }


def bench_embedded_survey(jobs: int, serial: bool = True, profile: str = "embedded") -> dict[str, object]:
    """The whole embedded survey side by side in one run: `harness run --jobs N` (Dask workers), then a
    plain serial `dvc repro` (unless ``serial`` is false), each from scratch; both must leave `dvc status`
    clean."""
    parallel = _survey_run(["harness", "run", "--jobs", str(jobs)], "harness run", profile)
    reference = _survey_run(["dvc", "repro"], "dvc repro", profile) if serial else None
    return {"budget_s": 15 * 60, "jobs": jobs, "profile": profile, "parallel": parallel, "serial": reference}


def render(
    desc: dict[str, object],
    steps: list[dict[str, object]],
    survey: dict[str, object] | None,
    landscape: list[dict[str, object]] | None = None,
    statistics: list[dict[str, object]] | None = None,
    information: dict[str, object] | None = None,
    capacity: dict[str, object] | None = None,
) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks.run`); numbers are measured, not typed.",
        "Ratios compare two things measured side by side in the same run.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in desc.items()],
        "",
        "## Training step: harness loop vs a bare PyTorch step",
        "",
        "Same model, data, optimizer (SGD, momentum 0.9, weight decay 5e-4) and cosine schedule, batch 64, "
        "one shuffled epoch of the stated steps (about 0.5 s, at least 2), alternating harness and plain epochs, "
        "median of 5 (3 for steps over 50 ms, 1 over 0.5 s). Ratio = harness step / plain step; target <= 1.10. "
        "The harness epoch also runs its validation and final test passes (one 64-sample forward each) and "
        "copies the best weights: in a 2-step epoch that is about a third of a step per step (ratios near 1.3 "
        "for the large models measured on the CPU), in a real CIFAR epoch (about 350 steps) under 1%. "
        "`harness estimate` uses the harness step times.",
        "",
        "| architecture | input (as measured on) | size | params | steps | bare step (ms) | harness step (ms) | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['architecture']} | {'x'.join(map(str, r['shape']))} ({r['dataset']}) | {r['size']} | {r['params']:,} | {r['steps']} | "
        f"{r['bare_step_ms']:.3f} | {r['harness_step_ms']:.3f} | {r['ratio']:.2f} |"
        for r in steps
    ]
    if landscape:
        lines += [
            "",
            "## Loss landscapes and curvature (PERSIST hot paths)",
            "",
            "A 5x5 grid with `loss_grid` vs 25 plain forward passes over the same samples (target: <= 1.10), "
            "a point-by-point in-place perturbation loop (the loss-landscapes library's method) vs the same "
            "plain forwards, the grid with 5 points per vmap batch vs the point loop (on a GPU batching should "
            "win by >= 5x for models up to ~5M parameters; on a CPU it does not), and one exact Hessian-vector "
            "product vs one gradient (forward + backward) on the same batch. Alternating, medians.",
            "",
            "| model | samples | grid / plain forwards | in-place loop / plain | batched / loop | HVP (ms) | "
            "gradient (ms) | HVP / gradient |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['model']} | {r['samples']} | {r['grid_over_plain']:.2f} | {r['inplace_over_plain']:.2f} | "
            f"{r['batched_over_loop']:.2f} | "
            f"{r['hvp_ms']:.1f} | {r['grad_ms']:.1f} | {r['hvp_over_grad']:.2f} |"
            for r in landscape
        ]
    if statistics:
        lines += [
            "",
            "## PERSIST statistics: the LOAO permutation test",
            "",
            "`incremental_value_test` with 1,000 permutations (B's refits, the A2 noise draws, A and B once; "
            "each refit = LOAO with an inner leave-one-architecture-out choice of α over the 13 default penalties), one row "
            "per architecture, 4 topology features + log params; against a loop of `loao_ridge` calls, one per "
            "permutation (50 timed, scaled to 1,000, B's refits only).",
            "",
            "| architectures | batched test, all of it (s) | loop, B's 1,000 refits (s) | loop / batched |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['architectures']} | {r['batched_s']:.2f} | {r['loop_s_per_1000']:.2f} | {r['loop_over_batched']:.1f} |"
            for r in statistics
        ]
    if information:
        r = information
        lines += [
            "",
            "## PHI: KSG mutual information",
            "",
            f"`ksg_mutual_information` (algorithm 1, k = 5, chunked brute-force max-norm distances in PyTorch) against "
            f"a straightforward scipy cKDTree KSG (Chebyshev; k+1 joint neighbours; marginal counts by "
            f"`query_ball_point`), N = {r['n']:,}, d = {r['d']} per variable (32 joint), correlated Gaussians "
            f"(ρ = 0.5), alternating, medians of 2. Target: identical to 1e-9 in float64 and >= 5x faster.",
            "",
            "| implementation | seconds | speed-up vs cKDTree | abs. difference (nats) |",
            "|---|---|---|---|",
            f"| cKDTree reference | {r['reference_s']:.2f} | 1.0 | 0 (estimate {r['estimate_nats']:.6f}) |",
            f"| torch float64 | {r['torch_float64_s']:.3f} | {r['speedup_float64']:.1f} | {r['max_abs_diff_float64']:.1e} |",
            f"| torch float32 | {r['torch_float32_s']:.3f} | {r['speedup_float32']:.1f} | {r['max_abs_diff_float32']:.1e} |",
            "",
            "float32 distances are exact differences rounded once, so neighbour counts (and the estimate) change "
            "only where two distances tie within float32 resolution; its tolerance is therefore stated per run, "
            "not guaranteed (float64 is the default).",
            "",
            f"- N = 10,000, d = 64 per variable: {r['n10k_d64_s']:.1f} s, peak memory above the process before the call "
            f"{r['n10k_d64_peak_mib']:.0f} MiB (budget 2 GiB)",
            f"- pairwise MI, N = 10,000, d = 64 (`pairwise_ksg`, each module's distances shared by its pairs): "
            f"3 modules {r['pairwise_n10k_d64_s']['3']:.1f} s, 6 modules {r['pairwise_n10k_d64_s']['6']:.1f} s; "
            f"fitted cost {r['per_module_s']:.2f} s per module + {r['per_pair_s']:.2f} s per pair, so 144 modules "
            f"(10,296 pairs) project to {r['projected_144_modules_h']:.1f} h on this machine",
        ]
    if capacity:
        r = capacity
        lines += [
            "",
            "## GENESIS: the capacity search",
            "",
            f"One search (`memorization_capacity`) for a tiny MLP (2 hidden layers of 32) memorizing random "
            f"4-class labels of 16-dimensional Gaussian inputs (Adam, lr 0.01, batch 128, up to 100 epochs, "
            f"early stop at 100%), N in {r['n_range']} with precision {r['precision']}, against the naive "
            f"linear sweep N = {r['n_range'][0]}, {r['n_range'][0] + r['precision']}, … up to the first failure "
            f"(same trainer). Capacity found: {r['capacity']}.",
            "",
            "| method | trainings | epochs | seconds |",
            "|---|---|---|---|",
            f"| doubling + bisection | {r['search_trainings']} | {r['search_epochs']} | {r['search_s']:.1f} |",
            f"| linear sweep | {r['linear_trainings']} | {r['linear_epochs']} | {r['linear_s']:.1f} |",
            "",
            f"The linear sweep's first failure is at N = {r.get('linear_first_failure')}"
            + (
                " (below the search's answer: success is not monotone in N near the threshold for one seed, "
                "so the threshold is a band, and the median over seeds is what the report uses)."
                if (r.get("linear_first_failure") or 0) < r["capacity"]
                else "."
            ),
            "",
            f"Ensembles ({r['members']} networks on the same {r['n_train']} random images, each with its own "
            "labels, initialization and batch order, the same budget with early stop; `genesis_information` "
            "trains 256): one after another (`memorize`) vs stacked (`torch.func.stack_module_state` + `vmap`, "
            "one Adam over the stacks, elementwise and so independent per member); alternating, one run each:",
            "",
            "| network | one after another (s) | stacked (s) | speed-up |",
            "|---|---|---|---|",
            *(
                f"| {name} | {e['sequential_s']:.1f} | {e['stacked_s']:.1f} | {e['speedup']:.2f}x |"
                for name, e in r.get("ensembles", {}).items()
            ),
            "",
            "`memorize_ensemble` stacks every network without buffers (both of these); networks with "
            "batch-norm statistics (the WRNs) train one after another.",
        ]
    if survey and "parallel" in survey:
        par, ser = survey["parallel"], survey["serial"]
        runs = [r for r in (par, ser) if r]
        lines += [
            "",
            f"## Whole survey: `harness run` beside `dvc repro` ({survey.get('profile', 'embedded')} profile, "
            "from scratch)",
            "",
            "| command | stages run | wall time | vs the 15-minute target | no-op rerun | peak RSS, one process | peak RSS, tree |",
            "|---|---|---|---|---|---|---|",
            *(
                f"| `{r['command']}` | {r['stages']} | {r['wall_s'] / 60:.1f} min | "
                f"{100 * r['wall_s'] / survey['budget_s']:.0f}% | {r['noop_s']:.1f} s | "
                f"{r['peak_stage_rss_mib']:.0f} MiB | {r['peak_tree_rss_mib']:.0f} MiB |"
                for r in runs
            ),
            "",
            (
                f"`harness run` with {survey['jobs']} Dask workers is {ser['wall_s'] / par['wall_s']:.2f}× "
                "faster than the serial `dvc repro` (measured one after the other in this run); both leave "
                f"`dvc status` clean. Stage start-up: `import torch` {ser['import_torch_s']:.2f} s; the "
                f"`check` stage (every registry, every builder) {ser['check_stage_s']:.2f} s."
                if ser
                else f"`harness run` with {survey['jobs']} Dask workers; the serial `dvc repro` was not "
                "measured in this run (`--skip-serial`). It leaves `dvc status` clean."
            ),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", default="docs/benchmarks.md")
    parser.add_argument(
        "--skip-survey", action="store_true", help="skip the whole embedded `dvc repro` timing"
    )
    parser.add_argument(
        "--survey-profile", default="embedded", help="profile of the whole-survey timing (micro: minutes)"
    )
    parser.add_argument(
        "--skip-serial", action="store_true", help="time only `harness run` in the embedded survey timing"
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="`harness run --jobs` for the survey timing"
    )
    parser.add_argument(
        "--profiles",
        help="comma-separated profiles whose training steps to time (default: embedded,full on cpu; full on cuda)",
    )
    parser.add_argument(
        "--only",
        choices=["steps", "landscape", "statistics", "information", "capacity", "survey"],
        action="append",
        help="re-measure only these parts (repeatable); the others are kept from the existing JSON",
    )
    args = parser.parse_args(argv)
    desc = machine_description(args.device)
    profiles = (
        args.profiles.split(",")
        if args.profiles
        else (["full"] if args.device == "cuda" else ["embedded", "full"])
    )
    only = set(args.only or ["steps", "landscape", "statistics", "information", "capacity", "survey"])
    previous_path = Path(args.out).with_suffix(".json")
    previous = json.loads(previous_path.read_text()) if args.only and previous_path.exists() else {}
    steps = bench_training_step(args.device, profiles) if "steps" in only else previous.get("steps", [])
    landscape = bench_landscape(args.device) if "landscape" in only else previous.get("landscape")
    statistics = bench_statistics() if "statistics" in only else previous.get("statistics")
    information = (
        bench_mutual_information(args.device) if "information" in only else previous.get("information")
    )
    capacity = bench_capacity() if "capacity" in only else previous.get("capacity")
    measure_survey = "survey" in only and not args.skip_survey
    survey = (
        bench_embedded_survey(args.jobs, not args.skip_serial, args.survey_profile)
        if measure_survey
        else previous.get("survey")
    )
    text = render(desc, steps, survey, landscape, statistics, information, capacity)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(
        json.dumps(
            {
                "machine": desc,
                "steps": steps,
                "landscape": landscape,
                "statistics": statistics,
                "information": information,
                "capacity": capacity,
                "survey": survey,
            },
            indent=2,
        )
    )
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
