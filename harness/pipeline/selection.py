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


class Run(NamedTuple):
    """One seeded PERSIST run of an (architecture, dataset) pair."""

    arch: str
    dataset: str
    seed: int

    @property
    def pair(self) -> Pair:
        return Pair(self.arch, self.dataset)

    @property
    def key(self) -> str:
        """The stage-name key, e.g. ``cnn_small-digits-s0``."""
        return f"{self.arch}-{self.dataset}-s{self.seed}"


def parse_run(key: str) -> Run:
    pair_key, sep, seed = key.rpartition("-s")
    if not sep or not seed.isdigit():
        raise ValueError(f"expected ARCH-DATASET-s<seed>, got {key!r}")
    pair = parse_pair(pair_key)
    return Run(pair.arch, pair.dataset, int(seed))


def _profile(reg: Registries, profile: str):
    if profile not in reg.profiles:
        raise ParamsError(
            f"params survey.profile = {profile!r} is not a profile of registry/surveys.yaml "
            f"(known: {sorted(reg.profiles)})"
        )
    return reg.profiles[profile]


def _pairs(reg: Registries, sel) -> list[Pair]:
    archs = list(reg.architectures) if sel.architectures == "all" else sel.architectures
    archs = [a for a in archs if a not in sel.exclude]
    if sel.experiments:
        archs = [a for a in archs if set(reg.architectures[a].experiments) & set(sel.experiments)]
    return [
        Pair(a, d) for d in sel.datasets for a in archs if compatible(reg.architectures[a], reg.datasets[d])
    ]


def persist_pairs(reg: Registries, profile: str) -> list[Pair]:
    """(architecture, dataset) pairs of the profile's ``persist`` selection (none when it has none)."""
    sel = _profile(reg, profile).persist
    return [] if sel is None else _pairs(reg, sel)


def phi_pairs(reg: Registries, profile: str) -> list[Pair]:
    """(architecture, dataset) pairs of the profile's ``phi`` selection (none when it has none)."""
    sel = _profile(reg, profile).phi
    return [] if sel is None else _pairs(reg, sel)


def genesis_pairs(reg: Registries, profile: str) -> list[Pair]:
    """(architecture, dataset) pairs of the profile's ``genesis`` selection (none when it has none)."""
    sel = _profile(reg, profile).genesis
    return [] if sel is None else _pairs(reg, sel)


def phi_transfer_targets(reg: Registries, profile: str) -> dict[str, str]:
    """Each PHI dataset → the dataset ``phi_transfer`` fine-tunes on (itself: its task A → task B)."""
    sel = _profile(reg, profile).phi
    if sel is None:
        return {}
    return {d: sel.transfer_targets.get(d, d) for d in sel.datasets}


def train_pairs(reg: Registries, profile: str) -> list[Pair]:
    """Architectures × datasets of the profile's ``train`` selection.

    Only pairs joined by a declared adaptation rule are kept (an explicitly listed architecture that
    can take none of the datasets is a registry error). Names do not depend on the order of entries.
    """
    return _pairs(reg, _profile(reg, profile).train)


def profile_datasets(reg: Registries, profile: str) -> list[str]:
    """Every dataset a stage of the profile reads (each has a ``data@<dataset>`` stage), in first-use
    order: training pairs, PERSIST, PHI, GENESIS pairs, PHI transfer targets, the double-descent set."""
    genesis = _profile(reg, profile).genesis
    pairs = (
        train_pairs(reg, profile)
        + persist_pairs(reg, profile)
        + phi_pairs(reg, profile)
        + genesis_pairs(reg, profile)
    )
    return list(
        dict.fromkeys(
            [p.dataset for p in pairs]
            + list(phi_transfer_targets(reg, profile).values())
            + (
                [genesis.double_descent.dataset]
                if genesis is not None and genesis.double_descent is not None
                else []
            )
        )
    )
