"""`make gpu-check`: run before launching the full survey on a GPU machine. In a few minutes it tries every
piece of the survey that can break at full size on this card, and measures what `harness estimate` needs.

    python -m benchmarks.gpu_check                                   # full profile, full size, CUDA
    python -m benchmarks.gpu_check --device cpu --profile micro --out /tmp/gpu-check.md   # the CPU twin

Checks (each one ok or failed with its error; the script carries on and exits 1 if any failed):
- ``train``: every architecture of every experiment's selection of the profile, built at the profile's
  size, trains a few harness steps (``train_classifier``) in deterministic mode, twice from the same
  seed; the two final states must be bit-identical. Records the step time (the estimate's unit cost) and
  the peak memory.
- ``curvature``: every PERSIST network on the profile's ``persist.curvature.samples`` inputs: Hutchinson
  probes and power iterations (two of each: every Hessian-vector product has the same cost) and the
  Fisher information on one full chunk of its memory budget (``fisher_memory_gib``), whose peak must
  stay within the budget beside the model (on CUDA, where the allocator reports it).
- ``landscape``: one block of grid points of the first PERSIST network, the point loop against vmap-
  batched points, and plain forward passes contiguous against channels_last.
- ``ksg``: KSG mutual information at N = 10,000, d = 64 per variable on the device, and the device's
  estimate against the CPU's on a small case.
- ``phi_capture``: module activations of every PHI network for each partition scheme of the profile.
Writes ``--out`` (.md) and the same name with .json; `harness estimate` reads the JSON's ``steps``.
Exit status: 0 all ok, 1 a check failed, 2 no GPU for ``--device cuda``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.run import REPO, machine_description

KSG_N, KSG_D = 10_000, 64


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_mib(device) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None


def _reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def synthetic(arch, dataset, size: str, n: int, device, seed: int = 0):
    """(network, inputs, targets): random content of the dataset's real shape; a graph network is bound to
    a random graph of ``n`` nodes and takes node ids, as the harness trains it (``bind_to_data``)."""
    import torch

    from harness.models.build import build_architecture
    from harness.models.graph import NodeClassifier
    from harness.registry.adaptation import plan_adaptation

    gen = torch.Generator().manual_seed(seed)
    shape = plan_adaptation(dataset, arch, size).shape
    torch.manual_seed(seed)
    model = build_architecture(arch, dataset, size)
    if arch.input == "sequence":
        x = torch.randint(0, dataset.vocab_size, (n, *shape), generator=gen)
    elif arch.input == "graph":
        features = torch.randn(n, *shape, generator=gen)
        ring = torch.arange(n)
        edges = torch.cat(
            [torch.stack([ring, (ring + 1) % n]), torch.randint(0, n, (2, 4 * n), generator=gen)], 1
        )
        model = NodeClassifier(model, features, torch.cat([edges, edges.flip(0)], 1))
        x = ring[:, None]
    else:
        x = torch.randn(n, *shape, generator=gen)
    y = torch.randint(0, dataset.num_classes, (n,), generator=gen)
    return model.to(device), x.to(device), y.to(device)


class Checks:
    """Runs named checks, records each (ok or failed with the error's last line), never stops early."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def run(self, check: str, subject: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        started = time.perf_counter()
        try:
            result = fn()
            record = {"check": check, "subject": subject, "status": "ok", **result}
        except Exception as err:  # a failure is a finding: record it and go on
            lines = traceback.format_exception_only(type(err), err)
            record = {"check": check, "subject": subject, "status": "failed", "error": lines[-1].strip()}
            result = None
        record["seconds"] = round(time.perf_counter() - started, 3)
        self.records.append(record)
        mark = "ok" if record["status"] == "ok" else f"FAILED: {record['error']}"
        print(f"  {check} {subject}: {mark} ({record['seconds']:.1f} s)", file=sys.stderr, flush=True)
        return result

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] != "ok"]


def check_training(reg, pair, size: str, device, batch: int, steps: int) -> Callable[[], dict[str, Any]]:
    import torch

    from harness.models.build import trainable_parameter_count
    from harness.registry.adaptation import plan_adaptation
    from harness.training.config import TrainConfig
    from harness.training.device import make_deterministic
    from harness.training.loop import Split, Splits, train_classifier

    arch, dataset = reg.architectures[pair.arch], reg.datasets[pair.dataset]

    def fn() -> dict[str, Any]:
        states, seconds = [], []
        for _ in range(2):
            make_deterministic(0, True)
            model, x, y = synthetic(arch, dataset, size, batch * steps, device)
            splits = Splits(Split(x, y), Split(x[:batch], y[:batch]), Split(x[:batch], y[:batch]))
            cfg = TrainConfig(epochs=1, batch_size=batch, lr=0.01)
            _reset_peak(device)
            _sync(device)
            t = time.perf_counter()
            train_classifier(model, splits, cfg, seed=0, progress=False)
            _sync(device)
            seconds.append(time.perf_counter() - t)
            states.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        identical = states[0].keys() == states[1].keys() and all(
            torch.equal(states[0][k], states[1][k]) for k in states[0]
        )
        if not identical:
            raise AssertionError("two deterministic runs from one seed ended with different weights")
        return {
            "architecture": pair.arch,
            "dataset": pair.dataset,
            "shape": list(plan_adaptation(dataset, arch, size).shape),
            "size": size,
            "device": device.type,
            "batch": batch,
            "steps": steps,
            "params": trainable_parameter_count(model),
            "harness_step_ms": 1e3 * seconds[1] / steps,  # with one validation and one test pass
            "peak_mib": _peak_mib(device),
            "bit_identical": True,
        }

    return fn


def check_curvature(reg, pair, size: str, cfg, device) -> Callable[[], dict[str, Any]]:
    from torch import nn

    from harness.measurements.curvature import (
        fisher_chunk,
        fisher_information,
        hessian_top_eigenvalue,
        hessian_trace,
    )
    from harness.training.device import make_deterministic, preferred_memory_format

    def fn() -> dict[str, Any]:
        make_deterministic(0, True)
        arch, dataset = reg.architectures[pair.arch], reg.datasets[pair.dataset]
        model, x, y = synthetic(arch, dataset, size, cfg.samples, device)
        model = preferred_memory_format(model, device).eval()
        loss_fn = nn.CrossEntropyLoss()
        _reset_peak(device)
        t = time.perf_counter()
        hessian_trace(model, loss_fn, x, y, samples=2)
        hessian_top_eigenvalue(model, loss_fn, x, y, max_iterations=2)
        _sync(device)
        hvp_s = (time.perf_counter() - t) / 4  # 4 HVPs and their 2 closures: an upper bound per HVP
        hvp_peak = _peak_mib(device)
        budget = cfg.fisher_memory_gib * 2**30
        chunk = fisher_chunk(model, x, reg.datasets[pair.dataset].num_classes, budget)
        _reset_peak(device)
        base = _peak_mib(device)
        t = time.perf_counter()
        fisher = fisher_information(model, x[: chunk[0]], memory_budget_gib=cfg.fisher_memory_gib)
        _sync(device)
        fisher_s = (time.perf_counter() - t) / chunk[0]
        extra = None if base is None else _peak_mib(device) - base
        if extra is not None and extra > 1.25 * budget / 2**20:
            raise AssertionError(f"Fisher peak {extra:.0f} MiB over its {cfg.fisher_memory_gib} GiB budget")
        if not math.isfinite(fisher.trace):
            raise AssertionError(f"non-finite Fisher trace {fisher.trace}")
        return {
            "architecture": pair.arch,
            "samples": cfg.samples,
            "hvp_s": hvp_s,
            "hvp_peak_mib": hvp_peak,
            "fisher_chunk": list(fisher.chunk),
            "fisher_s_per_input": fisher_s,
            "fisher_peak_extra_mib": extra,
        }

    return fn


def check_landscape(reg, pair, size: str, cfg, device) -> Callable[[], dict[str, Any]]:
    import numpy as np
    import torch
    from torch import nn

    from harness.measurements.landscape import LossGrid, filter_normalized_direction, loss_grid
    from harness.training.device import is_convolutional, preferred_memory_format

    def fn() -> dict[str, Any]:
        arch, dataset = reg.architectures[pair.arch], reg.datasets[pair.dataset]
        model, x, y = synthetic(arch, dataset, size, cfg.eval_samples, device)
        model = preferred_memory_format(model, device).eval()  # as the landscape stage runs it
        loss_fn = nn.CrossEntropyLoss(reduction="none")
        d1, d2 = filter_normalized_direction(model, 1), filter_normalized_direction(model, 2)
        block = 8
        todo = np.zeros((cfg.resolution, cfg.resolution))
        todo.flat[:block] = np.nan  # one block of grid points left to compute
        done = LossGrid(todo, todo.copy())
        times = {}
        for ppb in (1, block, 1, block):  # alternated: the second of each is timed
            _sync(device)
            t = time.perf_counter()
            grid = loss_grid(
                model, loss_fn, x, y, d1, d2, cfg.resolution, cfg.span,
                batch_size=cfg.batch_size, points_per_batch=ppb, done=done,
            )  # fmt: skip
            _sync(device)
            times[ppb] = time.perf_counter() - t
        if not np.isfinite(grid.loss.flat[:block]).all():
            raise AssertionError("non-finite loss on the grid block")

        def forwards() -> float:
            with torch.no_grad():
                _sync(device)
                t = time.perf_counter()
                for _ in range(block):
                    for i in range(0, len(x), cfg.batch_size):
                        model(x[i : i + cfg.batch_size])
                _sync(device)
                return time.perf_counter() - t

        model.to(memory_format=torch.contiguous_format)
        forwards()
        contiguous = forwards()
        model.to(memory_format=torch.channels_last)
        forwards()
        channels_last = forwards()
        return {
            "architecture": pair.arch,
            "points": block,
            "eval_samples": cfg.eval_samples,
            "loop_s": times[1],
            "vmap_s": times[block],
            "vmap_over_loop": times[block] / times[1],
            "convolutional": is_convolutional(model),
            "forward_contiguous_s": contiguous,
            "forward_channels_last_s": channels_last,
            "channels_last_speedup": contiguous / channels_last,
        }

    return fn


def check_ksg(device) -> Callable[[], dict[str, Any]]:
    import numpy as np

    from harness.measurements.mutual_information import ksg_mutual_information

    def fn() -> dict[str, Any]:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((KSG_N, KSG_D))
        y = 0.5 * x + rng.standard_normal((KSG_N, KSG_D))
        t = time.perf_counter()
        value = ksg_mutual_information(x, y, device=device)
        seconds = time.perf_counter() - t
        small_x, small_y = x[:2000, :16], y[:2000, :16]
        here = ksg_mutual_information(small_x, small_y, device=device)
        cpu = ksg_mutual_information(small_x, small_y, device="cpu")
        if abs(here - cpu) > 1e-9:
            raise AssertionError(f"KSG on {device}: {here} vs CPU {cpu}")
        return {"n": KSG_N, "d": KSG_D, "seconds": seconds, "nats": value, "device_vs_cpu": abs(here - cpu)}

    return fn


def check_capture(reg, pair, size: str, schemes: dict[str, dict], device) -> Callable[[], dict[str, Any]]:
    from harness.measurements.modules import SchemeNotApplicable, capture_modules

    def fn() -> dict[str, Any]:
        model, x, _ = synthetic(reg.architectures[pair.arch], reg.datasets[pair.dataset], size, 64, device)
        modules: dict[str, int | str] = {}
        for name, kwargs in schemes.items():
            try:
                modules[name] = len(capture_modules(model, x, **kwargs))
            except SchemeNotApplicable:
                modules[name] = "not applicable"
        return {"architecture": pair.arch, "dataset": pair.dataset, "modules": modules}

    return fn


def _mib(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _table(title: str, header: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return []
    out = ["", f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    card = m.get("gpu") or m.get("cpu_model") or m.get("cpu")
    lines = [
        "# gpu-check",
        "",
        f"`make gpu-check` on {card} (torch {m['torch']}, {m['device']}): profile `{report['profile']}` at "
        f"size `{report['size']}`, {report['seconds']:.0f} s, {len(report['failures'])} failed of "
        f"{len(report['checks'])} checks. Step times feed `harness estimate`.",
        "",
    ]
    failed = [[r["check"], r["subject"], r["error"]] for r in report["failures"]]
    lines += _table("Failed", ["check", "subject", "error"], failed)
    lines += _table(
        "Training: a few deterministic harness steps, twice",
        ["architecture", "shape", "params", "ms/step", "peak MiB", "bit-identical"],
        [
            [r["architecture"], "x".join(map(str, r["shape"])), f"{r['params']:,}", f"{r['harness_step_ms']:.2f}",
             _mib(r["peak_mib"]), r["bit_identical"]]
            for r in report["steps"]
        ],
    )  # fmt: skip
    lines += _table(
        "Curvature at the profile's sample count",
        ["architecture", "samples", "s per HVP (with setup)", "Fisher chunk (inputs, labels)", "Fisher s/input", "Fisher peak MiB"],
        [
            [r["architecture"], r["samples"], f"{r['hvp_s']:.3f}", tuple(r["fisher_chunk"]),
             f"{r['fisher_s_per_input']:.4f}", _mib(r["fisher_peak_extra_mib"])]
            for r in report["curvature"]
        ],
    )  # fmt: skip
    if report["landscape"]:
        r = report["landscape"]
        lines += [
            "",
            f"## Landscape block ({r['architecture']}, {r['points']} points × {r['eval_samples']} samples)",
            "",
            f"vmap-batched points take {r['vmap_over_loop']:.2f}× the point loop ({r['vmap_s']:.3f} s vs "
            f"{r['loop_s']:.3f} s); plain forwards in channels_last are {r['channels_last_speedup']:.2f}× "
            f"as fast as contiguous ({r['forward_channels_last_s']:.3f} s vs {r['forward_contiguous_s']:.3f} s).",
        ]
    if report["ksg"]:
        r = report["ksg"]
        lines += [
            "",
            f"## KSG: N = {r['n']}, d = {r['d']}: {r['seconds']:.2f} s; device vs CPU {r['device_vs_cpu']:.1e}",
        ]
    if report["phi_capture"]:
        lines += ["", "## PHI module capture (modules per scheme)", ""]
        lines += [f"- {r['architecture']}: {r['modules']}" for r in report["phi_capture"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--profile", default="full", help="survey profile whose selections to check (default full)"
    )
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="default cuda")
    parser.add_argument(
        "--out", default=str(REPO / "docs" / "benchmarks-cuda.md"), help="markdown; JSON beside"
    )
    parser.add_argument("--batch", type=int, default=32, help="training batch of the step check")
    parser.add_argument("--steps", type=int, default=4, help="training steps per run")
    args = parser.parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            f"gpu-check: no CUDA GPU is visible (torch {torch.__version__}, built for CUDA "
            f"{torch.version.cuda}; torch.cuda.is_available() is False). Run it on the GPU machine that will "
            "run the survey; the CPU-sized twin is `python -m benchmarks.gpu_check --device cpu --profile micro "
            "--out /tmp/gpu-check.md`.",
            file=sys.stderr,
        )
        return 2
    from harness.params import validate_params
    from harness.pipeline.selection import genesis_pairs, persist_pairs, phi_pairs, train_pairs
    from harness.registry.adaptation import plan_adaptation
    from harness.registry.load import load_registries

    reg = load_registries(REPO / "registry")
    if args.profile not in reg.profiles:
        print(
            f"gpu-check: unknown profile {args.profile!r}; registry/surveys.yaml has {sorted(reg.profiles)}"
        )
        return 2
    params = validate_params(
        reg.profiles[args.profile].params, f"registry/surveys.yaml: profile {args.profile!r}"
    )
    size = params.train.size
    device = torch.device(args.device)
    started = time.perf_counter()
    checks = Checks()
    steps, curvature, capture = [], [], []
    seen: set[tuple[str, tuple[int, ...]]] = set()
    selections = [train_pairs, persist_pairs, phi_pairs, genesis_pairs]
    for pair in (p for select in selections for p in select(reg, args.profile)):
        shape = tuple(plan_adaptation(reg.datasets[pair.dataset], reg.architectures[pair.arch], size).shape)
        if (pair.arch, shape) in seen:
            continue
        seen.add((pair.arch, shape))
        row = checks.run("train", pair.key, check_training(reg, pair, size, device, args.batch, args.steps))
        if row:
            steps.append(row)
    persist = persist_pairs(reg, args.profile)
    for pair in {p.arch: p for p in persist}.values():
        row = checks.run(
            "curvature", pair.key, check_curvature(reg, pair, size, params.persist.curvature, device)
        )
        if row:
            curvature.append(row)
    landscape = None
    if persist:  # resnet18 (the estimate's reference, convolutional) where the profile has it
        block = next((p for p in persist if p.arch == "resnet18"), persist[0])
        landscape = checks.run(
            "landscape", block.key, check_landscape(reg, block, size, params.persist.landscape, device)
        )
    ksg = checks.run("ksg", f"N={KSG_N} d={KSG_D}", check_ksg(device))
    phi = reg.profiles[args.profile].phi
    schemes = {k: reg.measurements[k].kwargs for k in (phi.measurements if phi else [])}
    for pair in {p.arch: p for p in phi_pairs(reg, args.profile)}.values():
        row = checks.run("phi_capture", pair.key, check_capture(reg, pair, size, schemes, device))
        if row:
            capture.append(row)
    report = {
        "machine": machine_description(args.device),
        "profile": args.profile,
        "size": size,
        "seconds": time.perf_counter() - started,
        "checks": checks.records,
        "failures": checks.failed,
        "steps": steps,
        "curvature": curvature,
        "landscape": landscape,
        "ksg": ksg,
        "phi_capture": capture,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report))
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, default=str))
    print(
        f"gpu-check: {len(checks.failed)} of {len(checks.records)} checks failed; wrote {out}",
        file=sys.stderr,
    )
    return 1 if checks.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
