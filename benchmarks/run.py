"""Benchmark suite: hot paths measured side by side in one run, written with the machine's description.

    python -m benchmarks.run --device cpu --out docs/benchmarks.md
    python -m benchmarks.run --device cuda --out docs/benchmarks-cuda.md   # on a GPU machine

Targets live here as ratios, never in timed unit tests. Experiments add their sections.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
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
    return statistics.median(samples[0]), statistics.median(samples[1])


def _compare_steps(model, shape, num_classes: int, device: str, batch: int, sync) -> tuple[float, float, int]:
    """Seconds per step: a plain shuffled PyTorch epoch, and the harness loop's epoch, on the same model."""
    import torch

    from harness.training.config import TrainConfig
    from harness.training.loop import Split, Splits, train_classifier

    # one short epoch: the harness's per-epoch costs (validation, best copy) are included. Its length
    # adapts so a large model on a CPU still measures in seconds: about 0.5 s per epoch, 3 to 100 steps.
    probe = torch.randn(batch, *shape, device=device)
    for _ in range(2):  # the first pass warms up allocators and kernels
        t = time.perf_counter()
        model(probe).sum().backward()
        sync()
    steps = int(min(100, max(3, 0.5 / max(time.perf_counter() - t, 1e-6))))
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
        bare_epoch, lambda: train_classifier(model, splits, cfg, seed=0, progress=False), 5, sync
    )
    return bare / steps, loop / steps, steps


def bench_training_step(device: str, batch: int = 64) -> list[dict[str, object]]:
    """Forward+backward+SGD step of every (architecture, dataset) pair the profiles train on this device.

    CPU: the embedded profile's pairs at tiny size and the full profile's at full size; CUDA: the full
    profile's. The harness loop and a bare PyTorch epoch run the same model, data and optimizer in
    this process; their ratio is the loop's overhead per step. The harness step times feed
    `harness estimate`.
    """
    import torch

    from harness.models.build import build_architecture, trainable_parameter_count
    from harness.pipeline.selection import train_pairs
    from harness.registry.load import load_registries

    reg = load_registries(REPO / "registry")
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    plan = [("full", "full")] if device == "cuda" else [("embedded", "tiny"), ("full", "full")]
    rows = []
    for profile, size in plan:
        for pair in train_pairs(reg, profile):
            arch, ds = reg.architectures[pair.arch], reg.datasets[pair.dataset]
            shape = [int(torch.tensor(ds.shape).prod())] if arch.input == "vector" else ds.shape
            torch.manual_seed(0)
            model = build_architecture(arch, ds, size).to(device)
            bare, loop, steps = _compare_steps(model, shape, ds.num_classes, device, batch, sync)
            rows.append(
                {
                    "architecture": pair.arch,
                    "dataset": pair.dataset,
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
    return rows


def bench_embedded_survey() -> dict[str, object]:
    """Wall time and peak memory of the whole embedded `dvc repro`, in a scratch copy of the repo."""
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
        subprocess.run(
            ["harness", "sync", "--profile", "embedded"], cwd=dst, env=env, check=True, capture_output=True
        )
        t = time.perf_counter()
        proc = subprocess.run(["dvc", "repro"], cwd=dst, env=env, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        stages = proc.stdout.count("Running stage")
        t = time.perf_counter()
        subprocess.run(["python", "-m", "harness.stages.check"], cwd=dst, env=env, check=True)
        check_s = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run(["python", "-c", "import torch"], cwd=dst, env=env, check=True)
        torch_s = time.perf_counter() - t
    return {
        "wall_s": wall,
        "stages": stages,
        "peak_rss_mib": peak_kib / 1024,
        "budget_s": 20 * 60,
        "check_stage_s": check_s,
        "import_torch_s": torch_s,
    }


def render(desc: dict[str, object], steps: list[dict[str, object]], survey: dict[str, object] | None) -> str:
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
        "one shuffled epoch of the stated steps (about 0.5 s), "
        "alternating, median of 5; ratio = harness step / bare step (target: <= 1.10 where a step does real compute; "
        "for sub-millisecond steps the loop's fixed per-epoch costs dominate). `harness estimate` "
        "uses the harness step times.",
        "",
        "| architecture | dataset | size | params | steps | bare step (ms) | harness step (ms) | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['architecture']} | {r['dataset']} | {r['size']} | {r['params']:,} | {r['steps']} | "
        f"{r['bare_step_ms']:.3f} | {r['harness_step_ms']:.3f} | {r['ratio']:.2f} |"
        for r in steps
    ]
    if survey:
        lines += [
            "",
            "## Embedded survey (`dvc repro`, default profile)",
            "",
            f"- wall time: {survey['wall_s']:.1f} s for {survey['stages']} stages "
            f"({100 * survey['wall_s'] / survey['budget_s']:.1f}% of the 20-minute budget)",
            f"- peak resident memory of the largest stage process: {survey['peak_rss_mib']:.0f} MiB",
            f"- stage start-up: `import torch` {survey['import_torch_s']:.2f} s; "
            f"the `check` stage (validates every registry, imports every builder) {survey['check_stage_s']:.2f} s",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", default="docs/benchmarks.md")
    parser.add_argument(
        "--skip-survey", action="store_true", help="skip the whole embedded `dvc repro` timing"
    )
    args = parser.parse_args(argv)
    desc = machine_description(args.device)
    steps = bench_training_step(args.device)
    survey = None if args.skip_survey else bench_embedded_survey()
    text = render(desc, steps, survey)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(
        json.dumps({"machine": desc, "steps": steps, "survey": survey}, indent=2)
    )
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
