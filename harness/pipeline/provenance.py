"""Provenance written beside every stage output: what was computed, from what, where, by which code."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = (
    "torch",
    "torchvision",
    "timm",
    "transformers",
    "torch-geometric",
    "numpy",
    "scipy",
    "scikit-learn",
    "ripser",
    "gudhi",
    "pydantic",
    "dvc",
    "dvclive",
)


def git_commit(cwd: str | Path = ".") -> dict[str, Any]:
    """HEAD commit and whether the work tree had uncommitted changes (None outside a git repo)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=cwd,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        return {"commit": sha, "dirty": dirty}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_description(device: Any) -> dict[str, Any]:
    desc: dict[str, Any] = {
        "device": str(device),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": sys.version.split()[0],
    }
    import torch

    if str(device).startswith("cuda"):
        desc["gpu"] = torch.cuda.get_device_name(device)
        desc["cuda"] = torch.version.cuda
    else:
        # CPU kernels' results depend on how many threads split a reduction (a conv network trained with
        # 1 and with 2 threads ends with different weights), so the count is part of what reproduces
        desc["cpu_threads"] = torch.get_num_threads()
    return desc


class Provenance:
    """Collects provenance during a stage and writes it as JSON beside the outputs.

    Two records: ``provenance.json`` beside the outputs holds what determines them (stage, registry
    entries, params, package versions, device, run id, seeds) and is the same on every re-run of the
    same inputs; the run record (:func:`~harness.pipeline.paths.run_record`) holds what differs from
    run to run — start time, wall time, git commit, and whatever the stage adds with :meth:`add_run`
    (how much was resumed). Downstream stages depend on the former only."""

    def __init__(self, stage: str, entries: dict[str, Any], params: dict[str, Any]) -> None:
        self.started = time.time()
        self.record: dict[str, Any] = {
            "stage": stage,
            "entries": entries,
            "params": params,
            "packages": package_versions(),
        }
        self.run: dict[str, Any] = {
            "stage": stage,
            "git": git_commit(),
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
        }

    def add(self, **fields: Any) -> None:
        """Fields that are the same whenever the inputs are (device, run id, seeds, split sizes)."""
        self.record.update(fields)

    def add_run(self, **fields: Any) -> None:
        """Fields that may differ between runs of the same inputs (timings, resume counts)."""
        self.run.update(fields)

    def write(self, path: str | Path) -> None:
        """Write provenance to ``path`` and the run record to ``run_record(stage)``."""
        from harness.pipeline.paths import run_record

        self.run["wall_time_s"] = round(time.time() - self.started, 3)
        for target, record in ((Path(path), self.record), (Path(run_record(self.record["stage"])), self.run)):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
