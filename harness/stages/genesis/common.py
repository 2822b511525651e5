"""What every GENESIS pair stage shares: its checked entries, the params it reads, and its inputs."""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from harness.data.adapt import adapt_inputs
from harness.data.load import load_dataset
from harness.params import read_section
from harness.pipeline.selection import Pair, parse_pair
from harness.registry.adaptation import plan_adaptation
from harness.registry.load import Registries
from harness.registry.schema import ArchitectureEntry, DatasetEntry
from harness.stages.common import checked_pair


@dataclass
class GenesisPair:
    """One GENESIS pair after its checks."""

    key: str
    pair: Pair
    reg: Registries
    arch: ArchitectureEntry
    dataset: DatasetEntry
    config: dict[str, Any]
    """params section name → its typed model."""
    entries: dict[str, Any]

    @property
    def params(self) -> dict[str, Any]:
        return {name: c.model_dump() for name, c in self.config.items()}

    @functools.cached_property
    def data(self):
        """The dataset entry's arrays, loaded once per stage (a capacity stage adapts them per budget)."""
        return load_dataset(self.pair.dataset, self.dataset, read_section("data").root)

    def inputs(self, size: Literal["tiny", "full"]) -> np.ndarray:
        """Every sample of the dataset as the architecture built at ``size`` takes it (memorization has no
        held-out split)."""
        return adapt_inputs(self.data.inputs, plan_adaptation(self.dataset, self.arch, size))


def start_genesis_stage(argv: list[str] | None, description: str, sections: list[str]) -> GenesisPair:
    """Parse ``<arch>-<dataset>``, check its entries and read ``sections``, before any work."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("key", help="ARCH-DATASET, two registry keys")
    key = parser.parse_args(argv).key
    pair = parse_pair(key)
    reg, entries = checked_pair(pair.arch, pair.dataset)
    config = {name: read_section(name) for name in sections}
    return GenesisPair(
        key, pair, reg, reg.architectures[pair.arch], reg.datasets[pair.dataset], config, entries
    )
