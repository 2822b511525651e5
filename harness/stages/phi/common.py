"""What every PHI stage of one (architecture, dataset) pair shares: its entries, data splits and network.

The splits are the dataset entry's train/val/test split with ``runtime.seed`` (as in ``train``): the
network trains on ``train``; each module's PCA is fitted on ``val``; the MI probes are drawn from ``test``.
Graph data bind the network to the whole graph and the samples become node ids.
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.adapt import adapt_inputs
from harness.data.arrays import class_subset, split_dataset
from harness.data.load import load_dataset
from harness.params import read_section
from harness.pipeline.paths import phi_dir
from harness.pipeline.provenance import Provenance
from harness.pipeline.selection import Pair, parse_pair
from harness.registry.adaptation import plan_adaptation
from harness.registry.load import Registries
from harness.registry.schema import ArchitectureEntry, DatasetEntry
from harness.stages.common import checked_pair, code_version, dataset_hashes, stable_hash


@dataclass
class PhiPair:
    """One PHI pair after its checks: entries, the params it read, output folder and provenance."""

    args: argparse.Namespace
    pair: Pair
    reg: Registries
    arch: ArchitectureEntry
    dataset: DatasetEntry
    config: dict[str, Any]
    """params section name → its typed model."""
    entries: dict[str, Any]
    out: Path
    prov: Provenance

    @property
    def params(self) -> dict[str, Any]:
        return {name: c.model_dump() for name, c in self.config.items()}

    def run_id(self, modules: list[str], upstream: dict[str, str] | None = None) -> str:
        """Cache key: entries, params read, code and upstream hashes."""
        payload = {"entries": self.entries, "params": self.params, "code": code_version(modules)}
        return stable_hash({**payload, "upstream": upstream or {}})

    @property
    def size(self) -> str:
        """The size every PHI network of this pair is built at: ``phi.train.size`` (tiny | full)."""
        return self.config["phi.train"].size

    @functools.cached_property
    def data(self):
        """The dataset entry's arrays, loaded once per stage."""
        return load_dataset(self.pair.dataset, self.dataset, read_section("data").root)

    def _split(
        self, data, samples: np.ndarray, entry: DatasetEntry | None = None
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{train, val, test} → (samples, labels), split with ``runtime.seed`` as every stage splits."""
        split = (entry or self.dataset).split
        idx = split_dataset(data, split.val_fraction, split.test_fraction, seed=read_section("runtime").seed)
        return {name: (samples[rows], data.targets[rows]) for name, rows in idx._asdict().items()}

    def task_splits(self, task: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{train, val, test} → (model inputs, labels 0..n−1) of the dataset entry's ``task`` classes."""
        data = class_subset(self.data, getattr(self.dataset.tasks, task))
        return self._split(
            data, adapt_inputs(data.inputs, plan_adaptation(self.dataset, self.arch, self.size))
        )

    def other_dataset_splits(self, key: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{train, val, test} → (model inputs, labels) of another (non-graph) dataset ``key`` fed to this
        pair's architecture, split as every stage splits."""
        entry = self.reg.datasets[key]
        data = load_dataset(key, entry, read_section("data").root)
        return self._split(
            data, adapt_inputs(data.inputs, plan_adaptation(entry, self.arch, self.size)), entry
        )

    def splits(self) -> tuple[Any, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """(the network built for this data, {train, val, test} → (model inputs, labels))."""
        from harness.models.build import bind_to_data, build_architecture

        model = build_architecture(self.arch, self.dataset, self.size)
        inputs = adapt_inputs(self.data.inputs, plan_adaptation(self.dataset, self.arch, self.size))
        model, samples = bind_to_data(model, self.data, inputs)
        return model, self._split(self.data, samples)


def schemes_arg(parser) -> None:
    """``--schemes k1,k2``: the partition-scheme registry keys a stage measures."""
    parser.add_argument(
        "--schemes", type=lambda s: [k for k in s.split(",") if k], default=[], help="partition-scheme keys"
    )


def start_phi_stage(
    argv: list[str] | None, description: str, part: str, sections: list[str], extra_args=None
) -> PhiPair:
    """Parse ``<arch>-<dataset>``, validate its entries and read ``sections``, before any work."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("key", help="ARCH-DATASET, two registry keys")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    if extra_args:
        extra_args(parser)
    args = parser.parse_args(argv)
    pair = parse_pair(args.key)
    also = {("measurements", m) for m in getattr(args, "schemes", [])}
    target = getattr(args, "target", None)
    if target:
        also.add(("datasets", target))
    reg, entries = checked_pair(pair.arch, pair.dataset, also)
    config = {name: read_section(name) for name in sections}
    entries["measurements"] = {m: reg.entry_hash("measurements", m) for m in getattr(args, "schemes", [])}
    if target and target != pair.dataset:
        entries["target"] = dataset_hashes(reg, target)
    out = Path(phi_dir(pair.key, part))
    out.mkdir(parents=True, exist_ok=True)
    prov = Provenance(f"phi_{part}@{args.key}", entries, {n: c.model_dump() for n, c in config.items()})
    return PhiPair(
        args, pair, reg, reg.architectures[pair.arch], reg.datasets[pair.dataset], config, entries, out, prov
    )


def checkpoint_reached(record: dict) -> bool:
    """Whether ``phi_train`` saved finite weights at this checkpoint (not "not reached", not "diverged")."""
    return record.get("status") not in ("not reached", "diverged")


def checkpoint_name(fraction: float) -> str:
    """File stem of the checkpoint at ``fraction`` of training, in percent: ``p025`` for 0.25."""
    return f"p{fraction * 100:03.0f}" if float(fraction * 100).is_integer() else f"p{fraction * 100:07.3f}"
