"""Configuration of the shared training loop (no torch import: cheap to validate)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    """How one network is trained: the ``train`` section of params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    epochs: int = Field(ge=1)
    """Passes over the training split."""
    batch_size: int = Field(ge=1)
    """Mini-batch size."""
    optimizer: Literal["sgd", "adam"] = "sgd"
    """SGD with momentum (default, as in the research plan) or Adam."""
    lr: float = Field(gt=0)
    """Peak learning rate."""
    momentum: float = Field(default=0.9, ge=0, lt=1)
    """SGD momentum (ignored by Adam)."""
    weight_decay: float = Field(default=5e-4, ge=0)
    """L2 weight decay."""
    schedule: Literal["cosine", "constant"] = "cosine"
    """Learning-rate schedule over all steps: cosine annealing to zero, or constant."""
    eval_every_epochs: int = Field(default=1, ge=1)
    """Evaluate on the validation split (and keep the best checkpoint) every N epochs."""
    checkpoint_every_epochs: int = Field(default=1, ge=1)
    """Write the resumable state every N epochs."""
    size: Literal["tiny", "full"] = "tiny"
    """Build architectures with their ``tiny`` overrides (CPU) or at full research-plan size."""
