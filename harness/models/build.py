"""Instantiate a registry architecture for a registry dataset."""

from __future__ import annotations

from typing import Literal

import numpy as np
from torch import nn

from harness.data.arrays import ArrayDataset
from harness.registry.adaptation import plan_adaptation
from harness.registry.load import resolve_code_ref
from harness.registry.schema import ArchitectureEntry, DatasetEntry


def builder_kwargs(
    arch: ArchitectureEntry, dataset: DatasetEntry, size: Literal["tiny", "full"]
) -> dict[str, object]:
    """The keyword arguments the builder is called with: entry kwargs (+ tiny overrides) plus the
    dataset-derived inputs of the architecture's input kind."""
    shape = plan_adaptation(dataset, arch, size).shape
    kwargs: dict[str, object] = dict(arch.kwargs)
    if size == "tiny":
        kwargs.update(arch.tiny)
    if arch.input in ("vector", "graph"):
        kwargs.update(in_features=shape[0])
    elif arch.input == "image":
        kwargs.update(in_channels=shape[0], image_size=shape[1])
    elif arch.input == "sequence":
        kwargs.update(vocab_size=dataset.vocab_size, seq_len=shape[0])
    kwargs["num_classes"] = dataset.num_classes
    return kwargs


def build_architecture(
    arch: ArchitectureEntry, dataset: DatasetEntry, size: Literal["tiny", "full"] = "full"
) -> nn.Module:
    """Build ``arch`` with the input and output sizes of ``dataset`` (seed torch first)."""
    return resolve_code_ref(arch.builder)(**builder_kwargs(arch, dataset, size))


def trainable_parameter_count(model: nn.Module) -> int:
    """Number of trainable scalar parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def bind_to_data(model: nn.Module, data: ArrayDataset, inputs: np.ndarray) -> tuple[nn.Module, np.ndarray]:
    """What the training loop feeds the model. Graphs: the network is bound to the whole graph
    (``NodeClassifier``) and the samples become node ids (N, 1); other data pass through unchanged."""
    if data.edge_index is None:
        return model, inputs
    import torch

    from harness.models.graph import NodeClassifier

    bound = NodeClassifier(model, torch.from_numpy(inputs), torch.from_numpy(data.edge_index))
    return bound, np.arange(len(inputs), dtype=np.int64)[:, None]


def load_matching_state(model: nn.Module, state: dict) -> tuple[list[str], list[str]]:
    """Copy into ``model`` every tensor of ``state`` whose name and shape match one of its own (transfer
    to a task with another head). Returns (copied names, names of the model's tensors left as they were)."""
    own = model.state_dict()
    copied = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    model.load_state_dict(copied, strict=False)
    return sorted(copied), sorted(set(own) - set(copied))
