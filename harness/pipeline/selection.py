"""Which (architecture, dataset) pairs each stage kind runs over, for a profile."""

from __future__ import annotations

from typing import NamedTuple

from harness.params import ParamsError
from harness.registry.load import Registries, compatible


class Pair(NamedTuple):
    arch: str
    dataset: str

    @property
    def key(self) -> str:
        """The stage-name key, e.g. ``mlp_2-digits`` (registry keys never contain ``-``)."""
        return f"{self.arch}-{self.dataset}"


def parse_pair(key: str) -> Pair:
    arch, sep, dataset = key.partition("-")
    if not sep or not arch or not dataset or "-" in dataset:
        raise ValueError(f"expected ARCH-DATASET (two registry keys joined by '-'), got {key!r}")
    return Pair(arch, dataset)


def train_pairs(reg: Registries, profile: str) -> list[Pair]:
    """Architectures × datasets of the profile's ``train`` selection.

    Only pairs joined by a declared adaptation rule are kept (an explicitly listed architecture that
    can take none of the datasets is a registry error). Names do not depend on the order of entries.
    """
    if profile not in reg.profiles:
        raise ParamsError(
            f"params survey.profile = {profile!r} is not a profile of registry/surveys.yaml "
            f"(known: {sorted(reg.profiles)})"
        )
    sel = reg.profiles[profile].train
    archs = list(reg.architectures) if sel.architectures == "all" else sel.architectures
    if sel.experiments:
        archs = [a for a in archs if set(reg.architectures[a].experiments) & set(sel.experiments)]
    return [
        Pair(a, d) for d in sel.datasets for a in archs if compatible(reg.architectures[a], reg.datasets[d])
    ]
