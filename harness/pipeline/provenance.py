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
    """Collects provenance during a stage and writes it as JSON beside the outputs."""

    def __init__(self, stage: str, entries: dict[str, Any], params: dict[str, Any]) -> None:
        self.started = time.time()
        self.record: dict[str, Any] = {
            "stage": stage,
            "entries": entries,
            "params": params,
            "git": git_commit(),
            "packages": package_versions(),
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
        }

    def add(self, **fields: Any) -> None:
        self.record.update(fields)

    def write(self, path: str | Path) -> None:
        self.record["wall_time_s"] = round(time.time() - self.started, 3)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.record, indent=2, sort_keys=True, default=str) + "\n")
