"""Declared rules that feed a dataset's samples to an architecture's input (never applied silently).

A rule is a short list of named steps, decided from the two entries alone: flatten (image → vector),
repeat_channels (grayscale → the architecture's declared channel count), resize (bilinear, to the
architecture's declared resolution). Combinations without a rule are refused with a clear reason.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from harness.registry.schema import JOINABLE_MODALITIES, ArchitectureEntry, DatasetEntry


class Adaptation(NamedTuple):
    """Steps applied in order, and the per-sample shape the architecture then receives."""

    steps: tuple[str, ...]
    shape: list[int]


class IncompatibleInput(ValueError):
    """No declared rule joins this dataset to this architecture."""


def plan_adaptation(
    dataset: DatasetEntry, arch: ArchitectureEntry, size: Literal["tiny", "full"] = "full"
) -> Adaptation:
    """The declared rule joining ``dataset`` to ``arch`` built at ``size``, or ``IncompatibleInput`` saying
    why not. Images are resized to ``arch.image_size`` (at tiny size ``arch.tiny_image_size`` where given)."""
    if (dataset.modality, arch.input) not in JOINABLE_MODALITIES:
        raise IncompatibleInput(
            f"no declared rule adapts {dataset.modality} data to an architecture taking {arch.input} input"
        )
    shape = list(dataset.shape)
    if dataset.modality == "image" and arch.input == "vector":
        return Adaptation(("flatten",), [shape[0] * shape[1] * shape[2]])
    if arch.input != "image":
        return Adaptation((), shape)
    steps: list[str] = []
    channels, side = shape[0], shape[1]
    if arch.image_channels is not None and arch.image_channels != channels:
        if channels != 1:
            raise IncompatibleInput(
                f"the architecture takes {arch.image_channels}-channel images and the dataset has {channels}: "
                "only grayscale images are adapted (by repeating the channel)"
            )
        steps.append("repeat_channels")
        channels = arch.image_channels
    target = arch.tiny_image_size if size == "tiny" and arch.tiny_image_size is not None else arch.image_size
    if target is not None and target != side:
        steps.append("resize")
        side = target
    return Adaptation(tuple(steps), [channels, side, side])
