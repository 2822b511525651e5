"""What every PERSIST stage of one seeded run shares: its registry entries, task data and network.

Tasks: the dataset entry's ``tasks.task_a`` / ``tasks.task_b`` classes, each relabelled 0..n−1 and split
(train/val/test) with ``runtime.seed``, so every run of a dataset sees the same examples. The network has
one shared head of max(n_A, n_B) outputs (the single-head setting): task B reuses the outputs task A
trained, which is what makes forgetting measurable without task labels at test time.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.data.adapt import adapt_inputs
from harness.data.arrays import class_subset, split_dataset
from harness.data.load import load_dataset
from harness.integrity import load_output_weights, read_output_json
from harness.params import read_section
from harness.pipeline.paths import persist_dir
from harness.pipeline.provenance import Provenance
from harness.pipeline.selection import Run, parse_run
from harness.registry.adaptation import plan_adaptation
from harness.registry.load import Problem, Registries, RegistryError
from harness.registry.schema import ArchitectureEntry, DatasetEntry
from harness.stages.common import checked_pair, code_version, stable_hash, write_json


@dataclass
class PersistRun:
    """One run's registry entries and the identity of its inputs (for caches and provenance)."""

    run: Run
    reg: Registries
    arch: ArchitectureEntry
    dataset: DatasetEntry
    data_root: str
    split_seed: int
    entries: dict[str, Any]

    @property
    def head_size(self) -> int:
        tasks = self.dataset.tasks
        return max(len(tasks.task_a), len(tasks.task_b))

    def out(self, part: str) -> Path:
        return Path(persist_dir(self.run.key, part))

    def run_id(self, params: dict[str, Any], modules: list[str], upstream: dict[str, str]) -> str:
        """Cache key of a stage: entries, the params it reads, its code and its inputs' hashes."""
        return stable_hash(
            {"entries": self.entries, "params": params, "code": code_version(modules), "upstream": upstream}
        )


def open_run(key: str) -> PersistRun:
    """Validate the run's entries (one clear error before any work) and read the shared params."""
    run = parse_run(key)
    reg, entries = checked_pair(run.arch, run.dataset)
    ds = reg.datasets[run.dataset]
    if ds.tasks is None:
        raise RegistryError(
            [Problem("registry/datasets.yaml", run.dataset, "tasks", "expected {task_a, task_b} for PERSIST")]
        )
    entries["seed"] = run.seed
    data_root, runtime = read_section("data").root, read_section("runtime")
    return PersistRun(run, reg, reg.architectures[run.arch], ds, data_root, runtime.seed, entries)


def task_arrays(
    ctx: PersistRun, task: Literal["task_a", "task_b"]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{train, val, test} → (inputs adapted to the architecture built at ``persist.task_a.size``, as every
    PERSIST stage builds it; labels 0..n−1) of one task."""
    data = load_dataset(ctx.run.dataset, ctx.dataset, ctx.data_root)
    data = class_subset(data, getattr(ctx.dataset.tasks, task))
    split = ctx.dataset.split
    idx = split_dataset(data, split.val_fraction, split.test_fraction, seed=ctx.split_seed)
    size = read_section("persist.task_a").size
    inputs = adapt_inputs(data.inputs, plan_adaptation(ctx.dataset, ctx.arch, size))
    return {name: (inputs[rows], data.targets[rows]) for name, rows in idx._asdict().items()}


def seeded_subset(
    arrays: tuple[np.ndarray, np.ndarray], size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed subset of ``size`` examples (all of them when fewer), drawn with ``seed``, in index order."""
    x, y = arrays
    if size >= len(y):
        return x, y
    rows = np.sort(np.random.default_rng(seed).choice(len(y), size=size, replace=False))
    return x[rows], y[rows]


def build_network(ctx: PersistRun, size: Literal["tiny", "full"]):
    """The architecture with the shared task head (seed torch first for a reproducible initialisation)."""
    from harness.models.build import build_architecture

    return build_architecture(ctx.arch, ctx.dataset.model_copy(update={"num_classes": ctx.head_size}), size)


def load_task_a_network(ctx: PersistRun, device):
    """The task-A network from ``persist_task_a``'s best checkpoint, on ``device``, in eval mode; in
    channels_last on CUDA when it is convolutional (``preferred_memory_format``)."""

    from harness.training.device import preferred_memory_format

    cfg = read_section("persist.task_a")
    model = build_network(ctx, cfg.size)
    model.load_state_dict(load_output_weights(ctx.out("task_a") / "model.safetensors"))
    return preferred_memory_format(model.to(device), device).eval()


@dataclass
class StageStart:
    """A PERSIST stage after its checks: the run, the params it read, its output folder, its provenance."""

    args: argparse.Namespace
    ctx: PersistRun
    config: dict[str, Any]
    """params subsection name → its typed model."""
    out: Path
    prov: Provenance

    @property
    def params(self) -> dict[str, Any]:
        return {name: c.model_dump() for name, c in self.config.items()}

    def task_a_failed(self, filename: str, payload: dict[str, Any]) -> bool:
        """When the run's task-A training did not finish, record that (``filename`` with the status and
        ``payload``) instead of measuring, and say so: a diverged run is recorded, not fatal."""
        status = read_output_json(self.ctx.out("task_a") / "metrics.json")["status"]
        if status == "ok":
            return False
        write_json(self.out / filename, {"status": status, **payload})
        self.prov.write(self.out / "provenance.json")
        print(f"{self.prov.record['stage']}: task A {status}; nothing measured (recorded)")
        return True


def start_stage(argv: list[str] | None, description: str, part: str, sections: list[str]) -> StageStart:
    """Parse ``<arch>-<dataset>-s<seed>``, validate the run's entries and read ``sections`` of params.yaml,
    all before any work; create the output folder."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("key", help="ARCH-DATASET-s<seed>")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    ctx = open_run(args.key)
    config = {name: read_section(name) for name in sections}
    out = ctx.out(part)
    out.mkdir(parents=True, exist_ok=True)
    prov = Provenance(
        f"persist_{part}@{args.key}", ctx.entries, {n: c.model_dump() for n, c in config.items()}
    )
    return StageStart(args, ctx, config, out, prov)
