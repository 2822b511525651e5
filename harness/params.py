"""Typed schema of params.yaml, the single source of truth every stage reads.

Each stage validates only the sections it reads (and declares exactly those as DVC params),
so ``dvc exp run -S train.lr=0.01`` re-runs only the stages that read ``train``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.registry.yaml_loader import load_yaml_strict
from harness.training.config import TrainConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class SurveySection(_Section):
    """Which survey this checkout runs."""

    profile: str
    """Name of the preset in registry/surveys.yaml that selected the stages of dvc.yaml."""


class DataSection(_Section):
    """Where real datasets live."""

    root: str
    """Folder holding the real datasets (each in its entry's ``data_dir``); relative to the repo."""


class RuntimeSection(_Section):
    """Where and how reproducibly stages compute."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto`` uses CUDA when present, else the CPU."""
    seed: int = 0
    """Base seed: data splits, initialisation and shuffling derive from it."""
    deterministic: bool = True
    """Ask PyTorch for deterministic kernels (bit-identical reruns on the same device)."""


class ReportSection(_Section):
    """The survey report."""

    title: str = "Deep-learning science survey"
    """Heading of reports/index.html."""


class SurveyParams(_Section):
    """The whole params.yaml."""

    survey: SurveySection
    data: DataSection
    runtime: RuntimeSection
    train: TrainConfig
    report: ReportSection


SECTIONS: dict[str, type[BaseModel]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in SurveyParams.model_fields.items()
}


class ParamsError(ValueError):
    """params.yaml (or a profile's preset) does not match the schema."""


def _format(err: ValidationError, origin: str) -> str:
    lines = [f"{origin}: invalid parameters"]
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"])
        got = f" (got {e['input']!r})" if e["type"] != "missing" else ""
        lines.append(f"  - field '{field}': {e['msg']}{got}")
    return "\n".join(lines)


def validate_params(raw: Any, origin: str) -> SurveyParams:
    """Validate a whole params mapping; the error names the origin and every bad field."""
    try:
        return SurveyParams.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_format(err, origin)) from None


def read_section(name: str, path: str | Path = "params.yaml") -> Any:
    """Read and validate one section of params.yaml into its typed model."""
    raw = load_yaml_strict(path) or {}
    if name not in raw:
        raise ParamsError(f"{path}: missing section '{name}'")
    try:
        return SECTIONS[name].model_validate(raw[name])
    except ValidationError as err:
        raise ParamsError(_format(err, f"{path} [{name}]").replace("field '", f"field '{name}.")) from None


def read_params(path: str | Path = "params.yaml") -> SurveyParams:
    """Read and validate the whole params.yaml."""
    return validate_params(load_yaml_strict(path), str(path))
