"""`make gpu-check`: one clear failure without a GPU, and its CPU-sized twin on the micro profile."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from harness.pipeline.estimate import load_step_costs
from tests.conftest import REPO


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible: the full check would run")
def test_full_size_without_a_gpu_fails_with_one_clear_message():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CUDA GPU is visible" in lines[0] and "--device cpu" in lines[0]


def test_cpu_twin_runs_every_check_on_the_micro_profile(tmp_path):
    out = tmp_path / "gpu-check.md"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.gpu_check",
            "--device",
            "cpu",
            "--profile",
            "micro",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.with_suffix(".json").read_text())
    kinds = {r["check"] for r in report["checks"]}
    assert kinds == {"train", "curvature", "landscape", "ksg", "phi_capture"}
    assert not report["failures"] and all(r["status"] == "ok" for r in report["checks"])
    assert all(r["bit_identical"] for r in report["steps"])
    assert report["ksg"]["n"] == 10_000 and report["ksg"]["d"] == 64
    costs, device = load_step_costs(out.with_suffix(".json"))  # what `harness estimate` reads
    assert len(costs) == len(report["steps"]) and device
    assert "# gpu-check" in out.read_text()
