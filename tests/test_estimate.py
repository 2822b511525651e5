"""Cost estimates of a profile from measured step times."""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness.params import validate_params
from harness.pipeline.estimate import estimate_train, render_estimate
from harness.pipeline.selection import train_pairs


def _write_costs(repo: Path, name: str, rows: list[dict], machine: dict) -> None:
    (repo / "docs").mkdir(parents=True, exist_ok=True)
    (repo / "docs" / name).write_text(json.dumps({"machine": machine, "steps": rows}))


def test_estimate_from_measured_step_times(tmp_path: Path, registries):
    params = validate_params(registries.profiles["full"].params, "full")
    rows = [{"architecture": "mlp_2", "size": "full", "shape": [3072], "harness_step_ms": 10.0, "batch": 64}]
    _write_costs(tmp_path, "benchmarks-cuda.json", rows, {"gpu": "Test GPU"})
    costs = {c.stage: c for c in estimate_train(registries, params, "cuda", tmp_path)}
    # CIFAR-100: 60,000 - 10,000 official test - 6,000 validation = 44,000 training images
    steps = 100 * math.ceil(44_000 / 128)
    assert costs["train@mlp_2-cifar100"].steps == steps
    assert math.isclose(costs["train@mlp_2-cifar100"].seconds, steps * 0.010 * 128 / 64)
    assert costs["train@mlp_2-cifar10"].seconds == costs["train@mlp_2-cifar100"].seconds  # same input shape
    assert costs["train@mlp_4-cifar100"].seconds is None  # unmeasured: listed, not guessed
    text = render_estimate(registries, params, tmp_path)
    n = len(train_pairs(registries, "full"))
    assert "Test GPU" in text and f"GPU-hours for 2 of {n} stages" in text and "unmeasured on cuda" in text
    assert "cpu: no measurements" in text
