"""Cost estimate of a profile's stages, from per-step costs measured by `make bench`.

cost(train@A-D) ≈ epochs × ⌈n_train / batch⌉ × t_step(A, D, size, device) × batch / batch_measured
(step time scales roughly linearly with batch size at these sizes; the per-epoch validation pass is
not included). Measurements come from docs/benchmarks.json (CPU, `make bench`) and
docs/benchmarks-cuda.json (a GPU, `make bench DEVICE=cuda`); a pair with no measurement is listed
as unmeasured rather than guessed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

from harness.params import SurveyParams
from harness.pipeline.selection import train_pairs
from harness.registry.adaptation import plan_adaptation
from harness.registry.load import Registries

COST_FILES = {"cpu": "docs/benchmarks.json", "cuda": "docs/benchmarks-cuda.json"}


class StageCost(NamedTuple):
    stage: str
    steps: int
    seconds: float | None
    """None when no step cost was measured for this (architecture, size, input) on the device, or the
    dataset's size is set by its files (``samples: null``)."""


StepKey = tuple[str, str, tuple[int, ...]]


def load_step_costs(path: str | Path) -> tuple[dict[StepKey, tuple[float, int]], str]:
    """(architecture, size, input shape) -> (seconds per harness step, batch measured), and the device."""
    path = Path(path)
    if not path.exists():
        return {}, ""
    data = json.loads(path.read_text())
    machine = data.get("machine", {})
    device = str(machine.get("gpu") or machine.get("cpu_model") or machine.get("cpu") or "")
    costs = {
        (r["architecture"], r["size"], tuple(r["shape"])): (r["harness_step_ms"] / 1e3, int(r["batch"]))
        for r in data.get("steps", [])
    }
    return costs, device


def estimate_train(
    reg: Registries, params: SurveyParams, device: str, repo: str | Path = "."
) -> list[StageCost]:
    """Per-stage cost of the profile's train stages on ``device`` ("cpu" or "cuda")."""
    costs, _ = load_step_costs(Path(repo) / COST_FILES[device])
    cfg = params.train
    out = []
    for pair in train_pairs(reg, params.survey.profile):
        ds = reg.datasets[pair.dataset]
        n_train = ds.split.train_samples(ds.samples)
        steps = 0 if n_train is None else cfg.epochs * math.ceil(n_train / cfg.batch_size)
        shape = tuple(plan_adaptation(ds, reg.architectures[pair.arch]).shape)
        measured = costs.get((pair.arch, cfg.size, shape))
        seconds = (
            None if measured is None or not steps else steps * measured[0] * cfg.batch_size / measured[1]
        )
        out.append(StageCost(f"train@{pair.key}", steps, seconds))
    return out


def render_estimate(reg: Registries, params: SurveyParams, repo: str | Path = ".") -> str:
    """A few lines for the terminal: total hours per device and the stages nobody has measured yet."""
    lines = [f"Cost estimate for profile {params.survey.profile!r} (train stages; from measured step times):"]
    for device, unit in (("cuda", "GPU-hours"), ("cpu", "CPU-hours")):
        rows = estimate_train(reg, params, device, repo)
        _, machine = load_step_costs(Path(repo) / COST_FILES[device])
        known = [r for r in rows if r.seconds is not None]
        if not known:
            lines.append(
                f"  {device}: no measurements in {COST_FILES[device]} (run `make bench DEVICE={device}`)"
            )
            continue
        total = sum(r.seconds for r in known) / 3600  # type: ignore[misc]
        slowest = max(known, key=lambda r: r.seconds or 0.0)
        lines.append(
            f"  {device} ({machine}): {total:.2f} {unit} for {len(known)} of {len(rows)} stages; "
            f"longest {slowest.stage} {slowest.seconds / 3600:.2f} h"
        )  # type: ignore[operator]
        missing = [r.stage for r in rows if r.seconds is None]
        if missing:
            lines.append(f"    unmeasured on {device}: {', '.join(missing)}")
    return "\n".join(lines)
