"""Configuration of the shared training loop (no torch import: cheap to validate)."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


def _wants_number(annotation: Any) -> bool:
    """Whether a field's type is a number, or a list/tuple/dict/optional of numbers."""
    if annotation in (int, float):
        return True
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, dict, typing.Union, types.UnionType, typing.Annotated):
        return any(_wants_number(a) for a in typing.get_args(annotation) if a is not type(None))
    return False


def _booleans(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, (list, tuple)):
        return any(_booleans(v) for v in value)
    if isinstance(value, dict):
        return any(_booleans(v) for v in value.values())
    return False


def reject_booleans_for_numbers(model: type[BaseModel], value: Any, field_name: str | None) -> Any:
    """Pydantic reads ``epochs: true`` as 1 and ``lr: true`` as 1.0; a boolean where params.yaml expects a
    number is a typo, refused here (the body of a ``field_validator("*", mode="before")``; non-finite
    floats are refused by ``allow_inf_nan=False``).

    Raises:
        ValueError: ``value`` is or holds a boolean and the field's type is a number (or a list of them).
    """
    field = model.model_fields.get(field_name or "")
    if field is not None and _wants_number(field.annotation) and _booleans(value):
        raise ValueError(f"expected a number, got a boolean ({value!r})")
    return value


class TrainConfig(BaseModel):
    """How one network is trained: the ``train`` section of params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        return reject_booleans_for_numbers(cls, value, info.field_name)

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
